"""sqlglot's ``parse`` and ``parse_one``, remembered: the same text is parsed once.

Parsing is most of what ``kontor check`` and loading the definitions compute (a report's SQL alone
was parsed three times: its relations, its syntax, its personal columns). Each text is parsed once
per process; with a folder set (``remember_in``, ``target/.cache/sqlglot/`` for ``kontor check``
and the definitions), once per content: the tree is kept in sqlglot's own serialisation
(``Expression.dump``), which reads back about four times faster than the text parses. The key is
the sha256 of the text, the dialect and sqlglot's version: an edited file has another key, so an
entry is never stale, only unused. Callers get their own copy of the tree. A text that does not
parse is never remembered: its error is raised again, as sqlglot words it.

>>> parse_one("select a from t").sql()
'SELECT a FROM t'
>>> parse_one("select a from t") is parse_one("select a from t")
False
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import sqlglot
from sqlglot import exp

_trees: dict[tuple[str, str, str], list[exp.Expression | None]] = {}
_folder: list[Path] = []
FORMAT = "1"


def remember_in(folder: Path | None) -> None:
    """Keep parsed trees in ``folder`` from now on (None: in this process only)."""
    _folder[:] = [folder] if folder is not None else []


def parse(sql: str, read: str = "duckdb") -> list[exp.Expression | None]:
    """``sqlglot.parse(sql, read=read)``."""
    return [t.copy() if t is not None else None for t in _parsed("many", sql, read)]


def parse_one(sql: str, read: str = "duckdb") -> exp.Expression:
    """``sqlglot.parse_one(sql, read=read)``."""
    return _parsed("one", sql, read)[0].copy()


def _parsed(kind: str, sql: str, read: str) -> list[exp.Expression | None]:
    key = (kind, read, sql)
    trees = _trees.get(key)
    if trees is None:
        digest = hashlib.sha256(f"{FORMAT}\0{sqlglot.__version__}\0{kind}\0{read}\0{sql}".encode()).hexdigest()
        trees = _read(digest)
        if trees is None:
            trees = sqlglot.parse(sql, read=read) if kind == "many" else [sqlglot.parse_one(sql, read=read)]
            _write(digest, trees)
        _trees[key] = trees
    return trees


def _path(digest: str) -> Path | None:
    return _folder[0] / digest[:2] / f"{digest}.json" if _folder else None


def _read(digest: str) -> list[exp.Expression | None] | None:
    path = _path(digest)
    if path is None or not path.is_file():
        return None
    try:
        return [exp.Expression.load(tree) if tree is not None else None
                for tree in json.loads(path.read_text(encoding="utf-8"))]
    except Exception:  # noqa: BLE001  a damaged entry is parsed again, never trusted
        return None


def _write(digest: str, trees: list[exp.Expression | None]) -> None:
    path = _path(digest)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps([t.dump() if t is not None else None for t in trees]), encoding="utf-8")
        os.replace(tmp, path)      # whole or absent, whoever else writes the same entry
    except (OSError, TypeError, ValueError):
        pass                       # a read-only target, a tree sqlglot cannot serialise: parsed next time
