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

A third scan finds what assumes DuckDB without importing it: its catalog functions
(``duckdb_tables()`` and the like, in SQL templates and in Python strings other than docstrings:
``pipelines.engines.catalog`` asks them), Splink's backends created in place (``DuckDBAPI(``,
``SparkAPI(``, Kontor's ``DuckDBSplink(``/``SparkSplink(``: ``Engine.splink()`` builds them, the
entity stage takes one as a parameter) and DuckDB's relation API (``from_arrow``, ``insert_into``,
``.pl()``, ``as_duckdbpyrelation`` ... anywhere; ``sql``, ``table``, ``query`` ... on a receiver
named like a connection: rows move through ``connection.insert_arrow``/``fetch_arrow``/
``fetch_polars`` and ``execute``). It has no allowlist.
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


# DuckDB's catalog functions, Splink's backends created in place, Splink's DuckDB-only relation
_DUCKDB_ONLY_TEXT = re.compile(r"\bduckdb_(tables|views|columns|schemas|databases|constraints|indexes|functions|settings"
                               r"|types|dependencies|extensions|sequences|memory|temporary_files)\s*\(|\bas_duckdbpyrelation\b"
                               r"|\b(DuckDBAPI|SparkAPI)\s*\(")
# DuckDB's relation API: names no other library here uses for something else
RELATION_API = {"from_arrow", "from_df", "from_query", "from_parquet", "from_csv_auto", "insert_into",
                "to_arrow_table", "fetchdf", "fetch_df", "fetch_record_batch", "pl", "as_duckdbpyrelation"}
# ... and names that are DuckDB's relation API on a connection (Spark's session and sqlglot's
# expressions have a ``sql``, an entity spec a ``table``)
RELATION_ON_CONNECTION = {"sql", "table", "view", "query", "values", "arrow", "read_csv", "read_parquet", "read_json"}
CONNECTION_NAMES = {"con", "conn", "connection", "cur", "cursor", "duck", "warehouse"}
# Splink's backends and Kontor's wrappers of them: built by an engine (``Engine.splink()``) only
BACKEND_BUILDERS = SPLINK_BACKENDS | {"DuckDBSplink", "SparkSplink"}


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def duckdb_assumptions(path: Path) -> list[str]:
    """``line: what`` for each use of DuckDB's catalog functions, relation API or Splink's backends
    in ``path`` (a ``.sql`` template: its text; Python: its strings but docstrings, and its calls)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".sql":
        return [f"{n}: {m.group(0)}" for n, line in enumerate(text.splitlines(), 1)
                for m in [_DUCKDB_ONLY_TEXT.search(line)] if m]
    tree = ast.parse(text, str(path))
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found += [(node.lineno, m.group(0)) for m in _DUCKDB_ONLY_TEXT.finditer(node.value)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            named = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", None)
            if (node.func.attr in RELATION_API | BACKEND_BUILDERS
                    or (node.func.attr in RELATION_ON_CONNECTION and named in CONNECTION_NAMES)):
                found.append((node.lineno, f".{node.func.attr}("))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BACKEND_BUILDERS:
            found.append((node.lineno, f"{node.func.id}("))
    return [f"{line}: {what}" for line, what in sorted(found)]


def test_the_scan_sees_duckdb_assumptions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Docs may name duckdb_tables() and DuckDBAPI(...)."""\n'
        "def f(con, spec, session, expression):\n"
        '    """nor is a function docstring a finding: duckdb_columns()"""\n'
        "    con.execute('select count(*) from duckdb_tables() where schema_name = ?')\n"
        "    rows = con.sql('select 1').fetchall()\n"
        "    con.from_arrow(batch).insert_into('t')\n"
        "    frame = self.con.table('x').pl()\n"
        "    api = splink.DuckDBAPI(connection=con)\n"
        "    api = SparkAPI(spark_session=session)\n"
        "    predictions.as_duckdbpyrelation()\n"
        "    # a comment on duckdb_views() is no finding\n"
        "    spec.table('standardised'); session.sql('select 1'); expression.sql('duckdb')\n"
        "    con.execute('select * from information_schema.tables')\n"
        "    backend = DuckDBSplink(con); engine.splink()\n")
    assert [f.split(":")[0] for f in duckdb_assumptions(sample)] == ["4", "5", "6", "6", "7", "7", "8", "9", "10", "14"]
    template = tmp_path / "sample.sql"
    template.write_text("-- all relations\nselect schema_name from duckdb_schemas()\nselect 1 from information_schema.tables\n")
    assert duckdb_assumptions(template) == ["2: duckdb_schemas("]


def duckdb_findings() -> dict[str, list[str]]:
    files = [*(REPO / "pipelines").rglob("*.py"), *(REPO / "pipelines").rglob("*.sql"), *(REPO / "assets").rglob("*.py")]
    out = {}
    for path in sorted(files):
        name = path.relative_to(REPO).as_posix()
        if not name.startswith(ENGINES) and (found := duckdb_assumptions(path)):
            out[name] = found
    return out


def test_nothing_outside_the_engine_assumes_duckdb():
    found = duckdb_findings()
    assert not found, ("outside pipelines/engines/, ask pipelines.engines.catalog what the warehouse holds, move rows "
                       "with pipelines.engines.connection's insert_arrow/fetch_arrow/fetch_polars, and take Splink's "
                       f"backend as a parameter (Engine.splink() builds it): {found}")
