"""One Spark session (local[2], 1 GB driver) for every spark-marked test of the run, from the
Dagster resource Kontor uses (``assets.spark.SparkResource``).

pyspark and Java are required here: a missing one fails these tests (``.ci/run`` installs both
and runs them as its second step, ``pytest -m spark``), it never skips them."""
from __future__ import annotations

import time

import dagster as dg
import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from assets.spark import SparkResource

    resource = SparkResource(master="local[2]", driver_memory="1g",
                             warehouse_dir=str(tmp_path_factory.mktemp("spark_warehouse")),
                             conf={"spark.sql.shuffle.partitions": "2"})
    with dg.build_resources({"spark": resource}) as resources:
        started = time.perf_counter()
        session = resources.spark.session()
        print(f"\nSpark session started in {time.perf_counter() - started:.1f} s")
        yield session
