"""Ad-hoc SQL on the serving copy: read-only, never touching the writer's file.

The first ``limit`` rows come back as Python values; the rest of the result is only counted, in
Arrow batches that are dropped as they arrive, so ``select *`` on a million-row table answers
at once with "showing 100 of 1,000,000 rows".
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings
from pipelines.core.warehouse import connect_settings
from pipelines.engines.connection import Connection, EngineError

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


def fetch(con: Connection, sql: str, limit: int | None = DEFAULT_LIMIT) -> QueryResult:
    """The result of ``sql`` on ``con``: the first ``limit`` rows and the total row count."""
    try:
        # execute, not sql(): only execute's error quotes the line with a caret under the bad token
        cursor = con.execute(sql)
        if cursor.description is None:  # a statement without a result (set, pragma ...)
            return QueryResult([], [], [], 0)
        columns = [d[0] for d in cursor.description]
        types = [str(d[1]) for d in cursor.description]
        if limit is None:
            rows = cursor.fetchall()
            return QueryResult(columns, types, rows, len(rows))
        rows = cursor.fetchmany(limit + 1)
        total = len(rows)
        if total > limit:
            rows, total = rows[:limit], total + _count_rest(cursor)
        else:
            cursor.fetchall()  # an empty fetch ends the result: DuckDB 2 keeps the connection busy until then
        return QueryResult(columns, types, rows, total)
    except EngineError as exc:
        # DuckDB's whole message: the "Did you mean", the candidate columns and the caret under the
        # offending token are what lets an analyst fix the query without the docs.
        raise KontorError("query failed: " + str(exc).rstrip()) from exc


def _count_rest(cursor: Connection) -> int:
    """Rows left in the result, counted in Arrow batches that are dropped as they come (pyarrow
    loads only here: 0.2 s that a small result does not pay)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "an extra copy": of one batch at a time, which is the point
        reader = cursor.to_arrow_reader(_BATCH_ROWS)
    return sum(batch.num_rows for batch in reader)
