"""Remembered verdicts of ``kontor check`` on expectation files, so an unchanged file is not judged again.

Judging a rule needs Great Expectations (its registry and pydantic models): importing GX alone
takes about 5 s, most of ``kontor check``. A suite's verdict depends only on the suite as
written (rules, arguments, their lines), the columns and types of the relation it gates, the
other assets of the project, and the code that judges it (Kontor's quality package, the GX and
DuckDB versions). All of that goes into the key; a hit returns the same problems, so a check
after an unrelated edit needs no GX at all. The file lives in ``target/`` (rebuildable): deleting
it costs one slow check, never a wrong answer.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import duckdb

from pipelines.core.errors import Problem

_VERSION = 1


@functools.cache
def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for dist in ("great_expectations", "duckdb", "pydantic"):
        try:
            digest.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist}=none".encode())
    return digest.hexdigest()


class SuiteVerdicts:
    """``get(key)`` / ``put(key, problems)``; ``save()`` keeps earlier verdicts too (an edit undone
    is a hit), up to ``KEEP`` of them."""

    KEEP = 2000

    def __init__(self, path: Path):
        self.path = path
        self.code = code_fingerprint()
        self.used: dict[str, list[list]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ok = data.get("version") == _VERSION and data.get("code") == self.code
            self.known: dict[str, list[list]] = data["verdicts"] if ok else {}
        except (OSError, ValueError, KeyError, AttributeError):
            self.known = {}

    @staticmethod
    def key(suite, known: dict[str, str], untyped: dict[str, list[str]], con: duckdb.DuckDBPyConnection) -> str:
        from pipelines.core.sql import table as qtable

        try:
            shape = con.execute(f"describe {qtable(suite.relation)}").fetchall()
        except duckdb.Error as exc:
            shape = [("error", str(exc))]
        parts = [repr(suite), sorted(known.items()), sorted(untyped.items()), [list(map(str, r[:2])) for r in shape]]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()

    def get(self, key: str) -> list[Problem] | None:
        found = self.known.get(key)
        if found is None:
            return None
        self.used[key] = found
        return [Problem(*p) for p in found]

    def put(self, key: str, problems: list[Problem]) -> None:
        self.used[key] = [[p.file, p.line, p.message] for p in problems]

    def save(self) -> None:
        if all(self.known.get(k) == v for k, v in self.used.items()):
            return
        earlier = {k: v for k, v in self.known.items() if k not in self.used}
        keep = dict(list(earlier.items())[-max(0, self.KEEP - len(self.used)):]) if self.KEEP > len(self.used) else {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"version": _VERSION, "code": self.code,
                                               "verdicts": {**keep, **self.used}}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only target only makes the next check slow
