"""Splink's backend for each engine: the entity stage builds its linkers on what these return.

Splink runs its own SQL through a "database API" object; which one follows from the engine, so it
is built here and the entity stage takes it as given (``matching`` on DuckDB, ``entities/spark.py``
on Spark). Splink is imported only when a backend is asked for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pipelines.engines.connection import Connection


def on_duckdb(con: "Connection", output_schema: str) -> Any:
    """Splink's ``DuckDBAPI`` on the warehouse connection, its tables in ``output_schema``."""
    from splink import DuckDBAPI

    return DuckDBAPI(connection=con, output_schema=output_schema)


def on_spark(session: "SparkSession", break_lineage_method: str) -> Any:
    """Splink's ``SparkAPI`` on ``session``, with Kontor's UDFs standing in for DuckDB's functions
    (Splink's jar functions are not used, so nothing is downloaded)."""
    from splink import SparkAPI

    from pipelines.engines.spark_functions import register

    register(session)
    return SparkAPI(spark_session=session, break_lineage_method=break_lineage_method, register_udfs_automatically=False)
