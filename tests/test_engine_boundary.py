"""Only the engine package knows the engine (issue 14): outside ``pipelines/engines/`` no module of
``pipelines/`` or ``assets/`` imports ``duckdb`` or one of Splink's backends (``DuckDBAPI``,
``SparkAPI``, ``splink.backends``/``splink.internals.<engine>``). The stages take a connection
typed ``pipelines.engines.connection.Connection``, catch ``EngineError``/``CatalogError``, open
databases with ``connect``, and get Splink's backend from ``pipelines.engines.splink_backend``.

An AST scan finds the imports (at module level, in functions and under ``TYPE_CHECKING``) and
doctest lines that import them. ``ALLOWED`` names each file that still may, with the reason; a new
file fails, and so does an entry whose file no longer needs it (remove it, so it stays out).

A second scan keeps the ``Connection`` protocol honest: what a function calls on a parameter typed
``Connection`` (and on the cursor ``execute`` returns) must be a member of the protocol, so a new
DuckDB call is added there, where every engine sees the demand.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb

from pipelines.engines.connection import (TRANSIENT_ERRORS, CatalogError, Connection, EngineError, EngineIOError,
                                          InvalidInputError, connect)

REPO = Path(__file__).resolve().parents[1]
ENGINES = "pipelines/engines/"

# file -> why it still imports the engine directly; remove an entry when the file stops
ALLOWED: dict[str, str] = {}

SPLINK_BACKENDS = {"DuckDBAPI", "SparkAPI"}
_SPLINK_ENGINE_MODULE = re.compile(r"^splink\.(backends|internals\.(duckdb|spark|postgres|sqlite|athena))(\.|$)")
_DOCTEST_IMPORT = re.compile(r">>>.*\b(import\s+duckdb\b|from\s+duckdb\b|import\s+.*\b(DuckDBAPI|SparkAPI)\b)")


def engine_imports(path: Path) -> list[str]:
    """``line: what`` for each import of the engine in ``path`` (code and doctests)."""
    text = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "duckdb" or _SPLINK_ENGINE_MODULE.match(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "duckdb" or _SPLINK_ENGINE_MODULE.match(node.module):
                found.append(f"{node.lineno}: from {node.module} import ...")
            elif node.module.split(".")[0] == "splink":
                found += [f"{node.lineno}: from {node.module} import {a.name}" for a in node.names
                          if a.name in SPLINK_BACKENDS]
    found += [f"{n}: doctest {line.strip()}" for n, line in enumerate(text.splitlines(), 1) if _DOCTEST_IMPORT.search(line)]
    return found


def findings() -> dict[str, list[str]]:
    out = {}
    for path in sorted([*(REPO / "pipelines").rglob("*.py"), *(REPO / "assets").rglob("*.py")]):
        name = path.relative_to(REPO).as_posix()
        if not name.startswith(ENGINES):
            imports = engine_imports(path)
            if imports:
                out[name] = imports
    return out


def test_the_scan_sees_engine_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import duckdb\n"
        "from duckdb import CatalogException\n"
        "from splink import DuckDBAPI, Linker\n"
        "from splink.backends.spark import SparkAPI\n"
        "def f():\n"
        "    import duckdb.typing\n"
        "'''\n>>> import duckdb\n'''\n"
        "from splink import Linker, SettingsCreator\n"
        "from pipelines.engines.connection import Connection\n"
        "x = 'import duckdb'\n"
        "con.execute('select * from duckdb_tables()')\n")
    assert [f.split(":")[0] for f in engine_imports(sample)] == ["1", "2", "3", "4", "6", "8"]


def test_no_new_engine_imports():
    new = {f: imports for f, imports in findings().items() if f not in ALLOWED}
    assert not new, ("only pipelines/engines/ imports duckdb or Splink's backends: type a connection as "
                     "pipelines.engines.connection.Connection, catch its EngineError/CatalogError, open one "
                     f"with its connect, take Splink's backend from pipelines.engines.splink_backend: {new}")


def test_the_allowlist_only_shrinks():
    stale = sorted(set(ALLOWED) - set(findings()))
    assert not stale, f"remove from ALLOWED, these no longer import the engine: {stale}"


RETURNS_ITSELF = {"execute", "executemany", "cursor", "register", "unregister"}


def connection_calls(path: Path) -> list[tuple[int, str]]:
    """(line, member) for each attribute a function of ``path`` takes from a parameter annotated
    with ``pipelines.engines.connection.Connection`` (under its local name), or from what its
    ``execute``/``cursor``/... returned."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    local = {a.asname or a.name for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and n.module == "pipelines.engines.connection"
             for a in n.names if a.name == "Connection"}

    def annotated(arg: ast.arg) -> bool:
        a = arg.annotation
        return (isinstance(a, ast.Name) and a.id in local) or (isinstance(a, ast.Constant) and a.value in local)

    out = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs] if annotated(a)}

            def is_connection(node: ast.AST) -> bool:
                if isinstance(node, ast.Name):
                    return node.id in params
                return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in RETURNS_ITSELF and is_connection(node.func.value))

            if params:
                out += [(node.lineno, node.attr) for node in ast.walk(fn)
                        if isinstance(node, ast.Attribute) and is_connection(node.value)]
    return out


def test_the_call_scan_sees_calls_on_a_connection(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from pipelines.engines.connection import Connection as Con\n"
        "from pipelines.sources.spec import Connection\n"
        "def f(con: Con, other: Connection, cur: 'Con'):\n"
        "    con.execute('select 1').fetchall()\n"
        "    other.url_env\n"
        "    cur.cursor().pl()\n")
    assert sorted(connection_calls(sample)) == [(4, "execute"), (4, "fetchall"), (6, "cursor"), (6, "pl")]


def test_the_stages_call_only_what_the_protocol_names():
    members = {n for n in dir(Connection) if not n.startswith("_")}
    outside = {f"{path.relative_to(REPO).as_posix()}:{line}": attr
               for path in sorted([*(REPO / "pipelines").rglob("*.py"), *(REPO / "assets").rglob("*.py")])
               for line, attr in connection_calls(path) if attr not in members}
    assert not outside, ("a call on a connection that pipelines/engines/connection.py's Connection does not name; "
                         f"add it there (every engine must then offer it): {outside}")


def test_the_neutral_names_are_duckdb_s_own_classes():
    # an `except EngineError` must catch exactly what `except duckdb.Error` did
    assert EngineError is duckdb.Error
    assert CatalogError is duckdb.CatalogException and issubclass(CatalogError, EngineError)
    assert InvalidInputError is duckdb.InvalidInputException
    assert EngineIOError is duckdb.IOException
    assert set(TRANSIENT_ERRORS) == {duckdb.ConnectionException, duckdb.IOException, duckdb.OutOfMemoryException}


def test_a_duckdb_connection_offers_everything_the_protocol_names(tmp_path):
    # runtime_checkable: every member of Connection must exist on DuckDB's connection
    with connect() as con:
        assert isinstance(con, Connection)
        assert con.execute("select current_setting('autoinstall_known_extensions')").fetchone() == (False,)
    with connect(tmp_path / "sub" / "w.duckdb", threads=1) as con:
        assert con.execute("select current_setting('threads')").fetchone() == (1,)
    assert not isinstance(object(), Connection)
