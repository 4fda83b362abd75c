"""Splink's backend for each engine: the entity stage builds its linkers on what these give.

Splink runs its own SQL through a "database API" object; which one follows from the engine, so the
engine builds the backend (``DuckDBEngine.splink``, ``SparkEngine.splink``) and the entity stage
takes it as given: ``matching.train``, ``predict``, ``connected_components`` and
``cluster_studio`` on DuckDB, ``entities/spark.py`` and ``spark_train.py`` on Spark. A backend
hands out a fresh database API per linker (:meth:`api`): Splink caches the tables it computes on
its API object, and a linker built after the stage dropped its work schema must not find them.
Splink is imported only when an API is asked for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pipelines.engines.connection import Connection


class DuckDBSplink:
    """Splink's ``DuckDBAPI`` on the warehouse connection."""

    name = "duckdb"

    def __init__(self, con: "Connection"):
        self.con = con

    def api(self, work_schema: str) -> Any:
        """A new ``DuckDBAPI``, its tables in ``work_schema``."""
        from splink import DuckDBAPI

        return DuckDBAPI(connection=self.con, output_schema=work_schema)


class SparkSplink:
    """Splink's ``SparkAPI`` on a Spark session, with Kontor's UDFs standing in for DuckDB's
    functions (Splink's jar functions are not used, so nothing is downloaded)."""

    name = "spark"

    def __init__(self, session: "SparkSession", break_lineage_method: str = "persist"):
        self.session, self.break_lineage_method = session, break_lineage_method

    def api(self, work_schema: str | None = None) -> Any:
        """A new ``SparkAPI`` (its tables are temporary views: ``work_schema`` is not used).
        ``break_lineage_method`` is Splink's: "persist" keeps intermediate tables in memory,
        "parquet" needs a checkpoint directory."""
        from splink import SparkAPI

        from pipelines.engines.spark_functions import register

        register(self.session)
        return SparkAPI(spark_session=self.session, break_lineage_method=self.break_lineage_method,
                        register_udfs_automatically=False)
