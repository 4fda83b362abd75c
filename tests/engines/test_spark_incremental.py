"""Incremental models on Spark (``SparkEngine.merge`` through ``on_engine.build_model``): Spark's
Parquet tables have no ``MERGE INTO``, so the merged table is built beside the old one and swapped
in; the result must be DuckDB's (``pipelines/models/materialize.py``) for merge and append."""
from __future__ import annotations

import duckdb
import pytest

from conftest import make_project

pytestmark = pytest.mark.spark

MODEL = """{{ config(materialized='incremental', %s) }}
{%% if is_incremental() %%}
select * from (values (2, 'B'), (3, 'c'), (null, 'n2')) t(id, v)
{%% else %%}
select * from (values (1, 'a'), (2, 'b'), (null, 'n1')) t(id, v)
{%% endif %%}
"""


@pytest.mark.parametrize("key", ["unique_key='id'", "incremental_strategy='append'"])
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
    assert rows == sorted(con.cursor().sql(query).to_arrow_table().to_pylist(), key=repr)
    if "append" in key:
        assert second.kind == "incremental (append)" and second.rows == on_duckdb.rows == 6
    else:
        # 2 replaced, 3 added, NULL keys matched as DuckDB's "is not distinct from" matches them
        assert second.kind == "incremental (merge)" and "table rewritten" in second.detail
        assert rows == sorted([{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}, {"id": None, "v": "n2"}], key=repr)
    full = build_model(engine, compiled, "inc", full_refresh=True)
    assert full.kind == "incremental (full)" and full.rows == 3
    spark.sql("drop schema kontor_incr_test cascade")


SNAPSHOT = """{{ config(materialized='snapshot', unique_key='id', strategy='timestamp', updated_at='ts',
              invalidate_hard_deletes=true) }}
select id, v, ts from kontor_snap_src.src
"""
DAYS = [
    [(1, "a", "2024-01-01"), (2, "b", "2024-01-01"), (3, "c", "2024-01-01")],
    [(1, "a", "2024-01-01"), (2, "B", "2024-01-02"), (4, "d", "2024-01-02")],     # 2 changed, 3 gone, 4 new
    [(1, "A", "2024-01-03"), (2, "B", "2024-01-02"), (4, "d", "2024-01-02")],     # 1 changed
]


def test_snapshot_keeps_the_same_history_as_on_duckdb(spark, tmp_path):
    from pipelines.definitions import compile_models
    from pipelines.engines.engine import SparkEngine
    from pipelines.models.materialize import materialize
    from pipelines.models.on_engine import build_model

    settings = make_project(tmp_path)
    folder = settings.project_dir / "models" / "snapshots"
    folder.mkdir()
    (folder / "kontor_snap_test.sql").write_text(SNAPSHOT)
    compiled = compile_models(settings)
    engine, con = SparkEngine(spark), duckdb.connect()
    con.execute("create schema kontor_snap_src")
    spark.sql("create schema if not exists kontor_snap_src")
    details = []
    for rows in DAYS:
        values = ", ".join(f"({i}, '{v}', timestamp '{ts}')" for i, v, ts in rows)
        con.cursor().execute(f"create or replace table kontor_snap_src.src as select * from (values {values}) t(id, v, ts)")
        spark.sql("drop table if exists kontor_snap_src.src")
        spark.sql(f"create table kontor_snap_src.src using parquet as select * from (values {values}) t(id, v, ts)")
        details.append(build_model(engine, compiled, "kontor_snap_test").detail)
        materialize(con, compiled, "kontor_snap_test")
    # valid_to of a hard delete is "now", which differs between the two builds: compared as open or closed
    query = ("select id, v, ts, valid_from, valid_to is null as open, valid_to from snapshots.kontor_snap_test "
             "order by id, valid_from")
    on_spark = [r[:5] for r in engine.to_arrow(query).to_pylist() for r in [tuple(r.values())]]
    on_duckdb = [r[:5] for r in con.cursor().execute(query).fetchall()]
    assert on_spark == on_duckdb
    assert len(on_duckdb) == 6 and sum(r[4] for r in on_duckdb) == 3     # 1 (twice), 2 (twice), 3, 4; 3 closed
    closes = {(r[0], r[3]): r[5] for r in con.cursor().execute(query).fetchall()}
    spark_closes = {(r["id"], r["valid_from"]): r["valid_to"] for r in engine.to_arrow(query).to_pylist()}
    assert {k: v for k, v in closes.items() if k[0] != 3} == {k: v for k, v in spark_closes.items() if k[0] != 3}
    assert details[0] == "first snapshot" and "rebuilt" in details[1]
    spark.sql("drop schema kontor_snap_src cascade")
    spark.sql("drop schema snapshots cascade")
