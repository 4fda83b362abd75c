"""Ad-hoc SQL on the serving copy: read-only, never touching the writer's file.

The first ``limit`` rows come back as Python values; the rest of the result is only counted, in
Arrow batches that are dropped as they arrive, so ``select *`` on a million-row table answers
at once with "showing 100 of 1,000,000 rows".
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipelines.errors import KontorError
from pipelines.settings import Settings
from pipelines.warehouse import connect_settings

DEFAULT_LIMIT = 100
_BATCH_ROWS = 65_536


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]                      # DuckDB's type names, e.g. BIGINT, DECIMAL(14,2)
    rows: list[tuple[Any, ...]]
    total: int                            # rows the query returned, shown or not
    statements: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def run_query(settings: Settings, sql: str, limit: int | None = DEFAULT_LIMIT) -> QueryResult:
    """Run ``sql`` on the serving copy; keep at most ``limit`` rows (None: all), count the rest."""
    path = settings.serving_path
    if not path.is_file():
        raise KontorError(f"{settings.relative(path)} does not exist yet; fix: run `kontor run` once")
    con = connect_settings(settings, path, read_only=True)
    try:
        return fetch(con, sql, limit)
    finally:
        con.close()


def fetch(con: duckdb.DuckDBPyConnection, sql: str, limit: int | None = DEFAULT_LIMIT) -> QueryResult:
    """The result of ``sql`` on ``con``: the first ``limit`` rows and the total row count."""
    try:
        relation = _relation(con, sql)
        if relation is None:  # a statement without a result (set, pragma ...)
            return QueryResult([], [], [], 0)
        columns, types = list(relation.columns), [str(t) for t in relation.types]
        rows: list[tuple[Any, ...]] = []
        total = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = relation.to_arrow_reader(_BATCH_ROWS)
        for batch in reader:
            total += batch.num_rows
            room = batch.num_rows if limit is None else max(0, limit - len(rows))
            if room:
                part = batch.slice(0, room)
                # by position: a result may repeat a column name (select 1 as a, 2 as a)
                rows.extend(zip(*(part.column(i).to_pylist() for i in range(part.num_columns))))
        return QueryResult(columns, types, rows, total)
    except duckdb.Error as exc:
        # DuckDB's whole message: the "Did you mean", the candidate columns and the caret under the
        # offending token are what lets an analyst fix the query without the docs.
        raise KontorError("query failed: " + str(exc).rstrip()) from exc


def _relation(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """``con.sql(sql)``, lazy and streamable; on a parse or bind error, the error as ``execute``
    words it: ``sql`` leaves out the "LINE 1:" excerpt with the caret under the bad token. On a
    read-only connection running the statement again changes nothing."""
    try:
        return con.sql(sql)
    except duckdb.Error as lazy_error:
        try:
            con.execute(sql)
        except duckdb.Error as exc:
            raise exc from None
        raise lazy_error
