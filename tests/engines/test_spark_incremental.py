"""Incremental models on Spark (``SparkEngine.merge`` through ``on_engine.build_model``): Spark's
Parquet tables have no ``MERGE INTO``, so the merged table is built beside the old one and swapped
in; the result must be DuckDB's (``pipelines/models/materialize.py``) for merge and append."""
from __future__ import annotations

import duckdb
import pytest

from conftest import make_project

pytestmark = pytest.mark.spark

MODEL = """{{ config(materialized='incremental', unique_key=%s) }}
{%% if is_incremental() %%}
select * from (values (2, 'B'), (3, 'c'), (null, 'n2')) t(id, v)
{%% else %%}
select * from (values (1, 'a'), (2, 'b'), (null, 'n1')) t(id, v)
{%% endif %%}
"""


@pytest.mark.parametrize("key", ["'id'", "none"])
def test_incremental_model_merges_as_on_duckdb(spark, tmp_path, key):
    from pipelines.definitions import compile_models
    from pipelines.engines.engine import SparkEngine
    from pipelines.models.materialize import materialize
    from pipelines.models.on_engine import build_model

    settings = make_project(tmp_path)
    folder = settings.project_dir / "models" / "kontor_incr_test"
    folder.mkdir()
    (folder / "inc.sql").write_text(MODEL % key)
    compiled = compile_models(settings)
    engine = SparkEngine(spark)
    con = duckdb.connect()
    first = build_model(engine, compiled, "inc")
    assert first.kind == "incremental (full)" and first.rows == 3
    second = build_model(engine, compiled, "inc")
    materialize(con, compiled, "inc")
    on_duckdb = materialize(con, compiled, "inc")
    query = "select id, v from kontor_incr_test.inc"
    rows = sorted(engine.to_arrow(query).to_pylist(), key=repr)
    assert rows == sorted(con.sql(query).to_arrow_table().to_pylist(), key=repr)
    if key == "none":
        assert second.kind == "incremental (append)" and second.rows == on_duckdb.rows == 6
    else:
        # 2 replaced, 3 added, NULL keys matched as DuckDB's "is not distinct from" matches them
        assert second.kind == "incremental (merge)" and "table rewritten" in second.detail
        assert rows == sorted([{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}, {"id": None, "v": "n2"}], key=repr)
    full = build_model(engine, compiled, "inc", full_refresh=True)
    assert full.kind == "incremental (full)" and full.rows == 3
    spark.sql("drop schema kontor_incr_test cascade")
