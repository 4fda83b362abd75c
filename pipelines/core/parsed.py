"""sqlglot's ``parse`` and ``parse_one``, remembered: the same text is parsed once.

Parsing is most of what ``kontor check`` and loading the definitions compute (a report's SQL alone
was parsed three times: its relations, its syntax, its personal columns). Each text is parsed once
per process; with a folder set (``remember_in``, ``target/.cache/sqlglot/`` for ``kontor check``
and the definitions), once per content: the tree is kept in sqlglot's own serialisation
(``Expression.dump``), which reads back about four times faster than the text parses. The key is
the sha256 of the text, the dialect and sqlglot's version: an edited file has another key, so an
entry is never stale, only unused. Callers get their own copy of the tree. A text that does not
parse is never remembered: its error is raised again, as sqlglot words it. ``parses_to_one_query``
answers from the serialisation alone, so a model compiled for a run (which reads no tree) builds none.

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

# Per text: its trees, handed out as copies, or (with a folder) their serialisation, loaded anew
# for each caller: loading is cheaper than copying a tree, and the first caller gets the trees
# just read or parsed without a copy (a run of 200 models: 200 copies, ~0.1 s, fewer).
_trees: dict[tuple[str, str, str], list[exp.Expression | None] | str] = {}
_folder: list[Path] = []
FORMAT = "1"


def remember_in(folder: Path | None) -> None:
    """Keep parsed trees in ``folder`` from now on (None: in this process only)."""
    _folder[:] = [folder] if folder is not None else []


def parse(sql: str, read: str = "duckdb") -> list[exp.Expression | None]:
    """``sqlglot.parse(sql, read=read)``."""
    return _parsed("many", sql, read)


def parse_one(sql: str, read: str = "duckdb") -> exp.Expression:
    """``sqlglot.parse_one(sql, read=read)``."""
    return _parsed("one", sql, read)[0]


def parses_to_one_query(sql: str, read: str = "duckdb") -> bool:
    """True when ``parse(sql, read)`` is remembered (in this process or the folder) as exactly one
    query (a SELECT, a UNION ...), told from its serialisation without building the tree: a caller
    that needs the tree only later (a run reads no model's tree) parses it then, from memory."""
    key = ("many", read, sql)
    kept = _trees.get(key)
    if kept is None:
        digest = hashlib.sha256(f"{FORMAT}\0{sqlglot.__version__}\0many\0{read}\0{sql}".encode()).hexdigest()
        kept = _read(digest)
        if kept is None:
            return False
    if not isinstance(kept, str):
        trees = [t for t in kept if t is not None]
        return len(trees) == 1 and isinstance(trees[0], exp.Query)
    try:
        dumps = [d for d in json.loads(kept) if d is not None]
        name = dumps[0][0]["c"] if len(dumps) == 1 else ""      # sqlglot.serde: "c", the node's class
    except (ValueError, LookupError, TypeError):
        return False
    module, _, qualname = str(name).rpartition(".")     # e.g. sqlglot.expressions.query.Select
    found = getattr(exp, qualname, None) if qualname.isidentifier() else None
    if not (isinstance(found, type) and issubclass(found, exp.Query) and found.__module__ == (module or exp.__name__)):
        return False
    _trees[key] = kept            # read from the folder: parse() loads it from memory
    return True


def _parsed(kind: str, sql: str, read: str) -> list[exp.Expression | None]:
    """The caller's own trees of ``sql``."""
    key = (kind, read, sql)
    kept = _trees.get(key)
    if isinstance(kept, str):
        trees = _load(kept)
        if trees is not None:
            return trees
    elif kept is not None:
        return [t.copy() if t is not None else None for t in kept]
    digest = hashlib.sha256(f"{FORMAT}\0{sqlglot.__version__}\0{kind}\0{read}\0{sql}".encode()).hexdigest()
    text = _read(digest)
    trees = _load(text) if text is not None else None
    if trees is None:
        trees = sqlglot.parse(sql, read=read) if kind == "many" else [sqlglot.parse_one(sql, read=read)]
        text = _write(digest, trees)
    if text is not None:
        _trees[key] = text
        return trees
    _trees[key] = trees
    return [t.copy() if t is not None else None for t in trees]


def _path(digest: str) -> Path | None:
    return _folder[0] / digest[:2] / f"{digest}.json" if _folder else None


def _read(digest: str) -> str | None:
    path = _path(digest)
    if path is None or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _load(text: str) -> list[exp.Expression | None] | None:
    try:
        return [exp.Expression.load(tree) if tree is not None else None for tree in json.loads(text)]
    except Exception:  # noqa: BLE001  a damaged entry is parsed again, never trusted
        return None


def _write(digest: str, trees: list[exp.Expression | None]) -> str | None:
    """Remember ``trees`` in the folder; their serialisation, or None (no folder, or not written)."""
    path = _path(digest)
    if path is None:
        return None
    try:
        text = json.dumps([t.dump() if t is not None else None for t in trees])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)      # whole or absent, whoever else writes the same entry
    except (OSError, TypeError, ValueError):
        return None                # a read-only target, a tree sqlglot cannot serialise: parsed next time
    return text
