"""One Spark session (local[2], 1 GB driver) for every spark-marked test of the run, from the
Dagster resource Kontor uses (``assets.spark.SparkResource``).

pyspark and Java are required here: a missing one fails these tests (``.ci/run`` installs both
and runs them as its second step, ``pytest -m spark``), it never skips them."""
from __future__ import annotations

import time
from dataclasses import dataclass

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


@dataclass
class SparkDemo:
    settings: object
    compiled: object
    duck: object          # DuckDBEngine on the demo warehouse (read-only)
    engine: object        # SparkEngine
    models: list          # what build_models built on Spark
    copied: dict


@pytest.fixture(scope="session")
def spark_demo(tmp_path_factory, spark):
    """The demo at scale 0.1 run on DuckDB (sources, staging, entities, marts); the tables the
    models read copied into Spark through Parquet, and the staging and marts models built there
    from the same compiled SQL through the engine object. Shared by the parity tests."""
    from conftest import make_project
    from pipelines.core.warehouse import connect
    from pipelines.definitions import ALL_JOB, build_definitions, compile_models
    from pipelines.demo import generate
    from pipelines.engines.engine import DuckDBEngine, SparkEngine, copy_tables
    from pipelines.models.on_engine import build_models, model_inputs

    root = tmp_path_factory.mktemp("parity")
    settings = make_project(root, with_models=True)
    generate(root / "data", scale=0.1, seed=7)
    defs = build_definitions(settings)
    selection = dg.AssetSelection.groups("raw", "staging", "entities", "marts").resolve(defs.resolve_asset_graph())
    result = defs.resolve_job_def(ALL_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                             asset_selection=list(selection))
    assert result.success
    compiled = compile_models(settings)
    con = connect(settings.warehouse_path, read_only=True)
    duck, engine = DuckDBEngine(con), SparkEngine(spark)
    copied = copy_tables(duck, engine, model_inputs(compiled), settings.target_dir / "tmp" / "to_spark")
    started = time.perf_counter()
    models = build_models(engine, compiled)
    print(f"\n{len(models)} models on Spark in {time.perf_counter() - started:.1f} s ({len(copied)} input tables copied)")
    yield SparkDemo(settings, compiled, duck, engine, models, copied)
    con.close()
