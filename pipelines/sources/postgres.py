"""PostgreSQL as a source: a query read into Arrow through ADBC, no DuckDB extension needed."""
from __future__ import annotations

import pyarrow as pa

from pipelines.core.errors import SourceFileError


def fetch_arrow(url: str, query: str, display: str) -> pa.Table:
    import adbc_driver_postgresql.dbapi as pg

    try:
        with pg.connect(url) as conn, conn.cursor() as cur:
            cur.execute(query)
            return cur.fetch_arrow_table()
    except Exception as exc:  # ADBC raises driver-specific errors; all mean "could not read"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceFileError(display, f"query failed ({first})",
                              "check the connection URL, that the server is up and the query runs in psql") from exc
