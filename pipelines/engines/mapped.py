"""Rows of a query, each extended by a Python function, inserted into a table: where the engine's
rows are.

The entity stage checks IBANs and VAT IDs in Python (``entities/id_checks.py``) over the distinct
values not seen before. On DuckDB they come into this process, are checked on a thread (the
caller's SQL runs meanwhile: DuckDB releases the GIL) and inserted when the caller asks. On Spark
(``SparkConnection``) the function runs on the executors (``SparkConnection.insert_mapped``:
``mapInArrow``) and Spark writes its output: no value is held by the driver, however many there
are. The function is the same on both engines; only where it runs differs.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable

from pipelines.engines.connection import Connection

if TYPE_CHECKING:
    from pipelines.engines.spark_connection import SparkConnection


def start_mapped_insert(con: Connection, table: str, query: str, fn: Callable[..., tuple]) -> Callable[[], None]:
    """Start ``insert into table`` of each row of ``query`` (DuckDB SQL) followed by the values of
    ``fn(*row)``, columns by position; returns the call that finishes it (inserts, on DuckDB; on
    Spark the rows are written before this returns). On Spark ``fn``'s module travels to the
    executors by value: it must import only what their Python has."""
    from pipelines.engines.spark_connection import SparkConnection

    if isinstance(con, SparkConnection):
        return _on_executors(con, table, query, fn)
    return _in_this_process(con, table, query, fn)


def _on_executors(spark: "SparkConnection", table: str, query: str, fn: Callable[..., tuple]) -> Callable[[], None]:
    """Spark's way (``SparkConnection.insert_mapped``): done when this returns."""
    spark.insert_mapped(table, query, fn)
    return lambda: None


def _in_this_process(con: Connection, table: str, query: str, fn: Callable[..., tuple]) -> Callable[[], None]:
    """DuckDB's way: the rows fetched, ``fn`` on a thread, the rows inserted by the call returned.
    (On Spark this was the way before ``insert_mapped``: ``benchmarks/spark_id_checks.py`` measures
    both.)"""
    rows = con.execute(query).fetchall()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kontor-mapped-insert")
    mapped = pool.submit(lambda: [(*row, *fn(*row)) for row in rows])
    pool.shutdown(wait=False)    # the thread ends with its one task; result() waits for it

    def finish() -> None:
        from pipelines.core.warehouse import insert_rows

        insert_rows(con, table, mapped.result())
    return finish
