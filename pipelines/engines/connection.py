"""The warehouse connection as the stages see it: its type, its errors, and opening one.

The stages run SQL templates (DuckDB's dialect) on a connection handed to them. They annotate it
as :class:`Connection`, catch :data:`EngineError` and :data:`CatalogError`, and open a database
with :func:`connect`; none of them imports ``duckdb``. Today every connection is DuckDB's
(``SparkConnection`` in ``spark_connection.py`` runs the part the entity stage's standardisation
needs on Spark), so the names below are DuckDB's classes under engine-neutral names: an ``except
EngineError`` catches exactly what ``except duckdb.Error`` did.

Only this package imports ``duckdb`` (``tests/test_engine_boundary.py`` keeps it so). This module
imports neither sqlglot nor pyarrow: ``kontor query`` opens the serving copy through it and starts
light.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import duckdb

from pipelines.core.errors import KontorError
from pipelines.core.templates import template

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# An error the engine raised running a statement (DuckDB's base class: every one below is one).
EngineError = duckdb.Error
# A relation, schema or function that does not exist (``duckdb.CatalogException``).
CatalogError = duckdb.CatalogException
# Input the engine cannot read as asked: a CSV its parser rejects (``duckdb.InvalidInputException``).
InvalidInputError = duckdb.InvalidInputException
# The database file cannot be opened or written: another process holds its lock, the disk is full
# (``duckdb.IOException``).
EngineIOError = duckdb.IOException
# Errors that may go away when tried again later: connection lost, I/O, out of memory.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (duckdb.ConnectionException, duckdb.IOException,
                                                  duckdb.OutOfMemoryException)
# The engine library's version, for cache keys (what it computed may change with it).
VERSION: str = duckdb.__version__


@runtime_checkable
class Connection(Protocol):
    """What the stages call on a warehouse connection: DuckDB's DB-API-like surface, no more.

    ``execute`` returns the connection itself, a cursor whose rows the ``fetch*`` calls (and
    ``df``, ``to_arrow_reader``) read. ``register`` puts a Python object (an Arrow table, a pandas
    frame) in the catalog as a view; ``cursor`` is a second cursor on the same database for another
    thread. DuckDB's relation API is not part of it: rows go in and come out as Arrow through
    :func:`insert_arrow`, :func:`fetch_arrow` and :func:`fetch_polars`, and what the warehouse holds
    is asked of ``catalog``. A new call here is a new demand on every engine: ``SparkConnection``
    offers ``execute`` and ``fetchall``.
    """

    @property
    def description(self) -> list[tuple] | None: ...

    def execute(self, query: str, parameters: Any = None) -> Connection: ...

    def executemany(self, query: str, parameters: Any = None) -> Connection: ...

    def fetchone(self) -> tuple | None: ...

    def fetchmany(self, size: int = 1) -> list[tuple]: ...

    def fetchall(self) -> list[tuple]: ...

    def fetchnumpy(self) -> dict[str, Any]: ...

    def df(self) -> pd.DataFrame: ...

    def to_arrow_reader(self, batch_size: int = ...) -> pa.RecordBatchReader: ...

    def register(self, view_name: str, python_object: Any) -> Connection: ...

    def unregister(self, view_name: str) -> Connection: ...

    def cursor(self) -> Connection: ...

    def close(self) -> None: ...


def connect(path: Path | None = None, read_only: bool = False, memory_limit: str | None = None,
            threads: int | None = None) -> Connection:
    """A connection to a database file (None: a new in-memory database); ``memory_limit`` and
    ``threads`` as in ``[tool.kontor]`` (None: DuckDB's defaults). Past the limit DuckDB spills to
    ``<file>.tmp`` beside the file."""
    if path is None:
        con = duckdb.connect()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only)
    # Extensions are never downloaded at run time: a closed network must behave like this one.
    con.execute("set autoinstall_known_extensions = false; set autoload_known_extensions = false")
    try:
        set_limits(con, memory_limit, threads)
    except KontorError as exc:
        con.close()
        raise KontorError(f"pyproject.toml [tool.kontor]: {exc} (or set KONTOR_MEMORY_LIMIT)") from exc.__cause__
    return con


def insert_arrow(con: Connection, table: str, batch: pa.Table) -> None:
    """``insert into table`` the rows of ``batch``, columns by position (DuckDB's relation API;
    a ``SparkConnection`` offers the same ``from_arrow(batch).insert_into(table)``)."""
    con.from_arrow(batch).insert_into(table)


def fetch_arrow(con: Connection, query: str) -> pa.Table:
    """The rows of ``query`` as one Arrow table."""
    return con.sql(query).to_arrow_table()


def fetch_polars(con: Connection, query: str) -> Any:
    """The rows of ``query`` as a polars DataFrame (DuckDB converts through Arrow)."""
    return con.sql(query).pl()


def set_limits(con: Connection, memory_limit: str | None, threads: int | None) -> None:
    """DuckDB's ``memory_limit`` and ``threads`` on ``con`` (None: leave DuckDB's default)."""
    try:
        if memory_limit:
            con.execute(template(__file__, "set_memory_limit"), [memory_limit])
        if threads:
            con.execute(template(__file__, "set_threads"), [int(threads)])
    except EngineError as exc:
        raise KontorError(f"memory_limit = {memory_limit!r}: {str(exc).splitlines()[0]}; "
                          "fix: write a size such as \"4GB\" or \"500MB\"") from exc
