"""One Spark session (local[2], 1 GB driver) for every spark-marked test of the run.

pyspark and Java are required here: a missing one fails these tests (``.ci/run`` installs both
and runs them as its second step, ``pytest -m spark``), it never skips them."""
from __future__ import annotations

import time

import pytest


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from pipelines.engines.spark_session import SparkConfig, start_session

    started = time.perf_counter()
    session = start_session(SparkConfig(master="local[2]", driver_memory="1g",
                                        warehouse_dir=str(tmp_path_factory.mktemp("spark_warehouse")),
                                        conf={"spark.sql.shuffle.partitions": "2"}))
    print(f"\nSpark session started in {time.perf_counter() - started:.1f} s")
    yield session
    session.stop()
