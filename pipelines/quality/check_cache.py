"""Remembered verdicts of ``kontor check`` on expectation files, so an unchanged file is not judged again.

Judging a rule needs Great Expectations (its registry and pydantic models): importing GX alone
takes about 5 s, most of ``kontor check``. A suite's verdict depends only on the suite as
written (rules, arguments, their lines), the columns and types of the relation it gates, the
other assets of the project, and the code that judges it (Kontor's quality package, the GX and
DuckDB versions). All of that goes into the key; a hit returns the same problems, so a check
after an unrelated edit needs no GX at all. The columns and types come from the empty catalog
(``checking.empty_catalog``), whose building binds every model in DuckDB: what it found is kept
too, under what it was built from (``checking.catalog_inputs``) and the DuckDB and sqlglot
versions, so an unchanged project needs no catalog at all. The file lives in ``target/`` (rebuildable): deleting it costs one slow check,
never a wrong answer.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from pipelines.core.errors import Problem
from pipelines.engines.connection import VERSION as ENGINE_VERSION, Connection, EngineError

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
    KEEP_CATALOGS = 20      # the shapes of the last catalogs built (an edit undone finds its own)

    def __init__(self, path: Path):
        self.path = path
        self.code = code_fingerprint()
        self.used: dict[str, list[list]] = {}
        self.catalogs: dict[str, list] = {}
        self.catalogs_changed = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ok = data.get("version") == _VERSION and data.get("code") == self.code
            self.known: dict[str, list[list]] = data["verdicts"] if ok else {}
            catalogs = data.get("catalogs") if ok else None
            self.catalogs = dict(catalogs) if isinstance(catalogs, dict) else {}
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            self.known = {}

    @staticmethod
    def shapes(con: Connection) -> dict[tuple[str, str], list[list[str]]]:
        """(schema, table) -> its columns as ``[name, type]``, every relation of the catalog read in
        one query (``describe`` per suite binds each view again: most of a check's time in DuckDB)."""
        from pipelines.engines import catalog

        found: dict[tuple[str, str], list[list[str]]] = {}
        for schema, table, column, kind, _comment in catalog.columns(con):
            found.setdefault((schema, table), []).append([str(column), str(kind)])
        return found

    @staticmethod
    def _catalog_key(inputs: list) -> str:
        import sqlglot   # it writes the catalog's statements, with pipelines/core/sql.py

        from pipelines.core import sql

        writer = hashlib.sha256(Path(sql.__file__).read_bytes()).hexdigest()
        return hashlib.sha256(json.dumps([ENGINE_VERSION, sqlglot.__version__, writer, inputs]).encode()).hexdigest()

    def catalog(self, inputs: list) -> dict[tuple[str, str], list[list[str]]] | None:
        """``shapes`` of the empty catalog built from ``inputs`` (``checking.catalog_inputs``), as the
        last check that built it found; None when it was never built (or not with these DuckDB,
        sqlglot and quality code)."""
        found = self.catalogs.get(self._catalog_key(inputs))
        if not isinstance(found, list):
            return None
        try:
            return {(schema, table): [[str(c), str(k)] for c, k in cols] for schema, table, cols in found}
        except (TypeError, ValueError):     # a damaged entry: the catalog is built again
            return None

    def remember_catalog(self, inputs: list, con: Connection) -> dict[tuple[str, str], list[list[str]]]:
        """``shapes(con)`` of the empty catalog built from ``inputs``, kept for ``catalog``."""
        found = self.shapes(con)
        key = self._catalog_key(inputs)
        self.catalogs.pop(key, None)        # the newest last: the oldest are dropped first
        self.catalogs[key] = [[schema, table, cols] for (schema, table), cols in found.items()]
        self.catalogs_changed = True
        return found

    @staticmethod
    def key(suite, known: dict[str, str], untyped: dict[str, list[str]], catalog,
            shapes: dict[tuple[str, str], list[list[str]]] | None = None) -> str:
        """``catalog``: the empty catalog's connection, or a function opening it, used only when the
        relation is not among ``shapes`` (``SuiteVerdicts.shapes``: another spelling, none at all)
        to describe it on its own."""
        from pipelines.core.sql import render, table_expr, template

        shape = (shapes or {}).get(tuple(suite.relation.split(".")))
        if shape is None:
            con = catalog() if callable(catalog) else catalog
            try:
                rows = con.execute(render(template(__file__, "relation_shape"), relation=table_expr(suite.relation))).fetchall()
            except EngineError as exc:
                rows = [("error", str(exc))]
            shape = [list(map(str, r[:2])) for r in rows]
        parts = [repr(suite), sorted(known.items()), sorted(untyped.items()), shape]
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
        if all(self.known.get(k) == v for k, v in self.used.items()) and not self.catalogs_changed:
            return
        earlier = {k: v for k, v in self.known.items() if k not in self.used}
        keep = dict(list(earlier.items())[-max(0, self.KEEP - len(self.used)):]) if self.KEEP > len(self.used) else {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            catalogs = dict(list(self.catalogs.items())[-self.KEEP_CATALOGS:])
            tmp.write_text(json.dumps({"version": _VERSION, "code": self.code, "verdicts": {**keep, **self.used},
                                       "catalogs": catalogs}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only target only makes the next check slow
