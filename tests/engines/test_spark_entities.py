"""Parity of the entity stage on Spark: standardisation, scoring with a stored model, clusters.

On the demo (scale 0.1, the ``spark_demo`` fixture: run on DuckDB, staging models built on Spark
from the same SQL), the customer and supplier entities are standardised on Spark by the same
``standardise.py`` through ``SparkConnection``; every column of every row must equal DuckDB's.
Then the model trained on DuckDB (``entities._models``) scores the Spark-standardised records on
Splink's SparkAPI: the same pairs, |Δp| < 1e-9, the same gammas, and Splink's clusters at the
match threshold the same as on DuckDB.
"""
from __future__ import annotations

import json
import time

import duckdb
import pytest

pytestmark = pytest.mark.spark

ENTITIES = ("customer", "supplier")
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def on_spark(spark_demo):
    from pipelines.definitions import compile_entities
    from pipelines.entities.spark import standardise_on_spark

    entities = compile_entities(spark_demo.settings, spark_demo.compiled).entities
    relations = {name: cm.model.relation for name, cm in spark_demo.compiled.models.items()}
    rows = {}
    for name in ENTITIES:
        started = time.perf_counter()
        rows[name] = standardise_on_spark(spark_demo.engine.spark, entities[name], relations)
        print(f"\n{name}: {rows[name]} records standardised on Spark in {time.perf_counter() - started:.1f} s")
    return spark_demo, entities, rows


def _by_id(table) -> dict:
    return {row["unique_id"]: row for row in table.to_pylist()}


@pytest.mark.parametrize("name", ENTITIES)
def test_every_standardised_column_is_the_same_on_duckdb_and_spark(on_spark, name):
    demo, entities, rows = on_spark
    table = entities[name].table("standardised")
    left = demo.duck.to_arrow(f"select * from {table}")
    right = demo.engine.spark.table(table).toArrow()
    assert left.column_names == right.column_names
    assert left.num_rows == right.num_rows == rows[name] > 0
    duck, spark = _by_id(left), _by_id(right)
    assert duck.keys() == spark.keys()
    differences = {}
    for column in left.column_names:
        wrong = [(uid, duck[uid][column], spark[uid][column]) for uid in duck if duck[uid][column] != spark[uid][column]]
        if wrong:
            differences[column] = (len(wrong), wrong[:3])
        # a column that is empty everywhere would prove nothing
        assert any(r[column] is not None for r in duck.values()) or column in ("register_number", "register_number_valid",
                                                                                "register_key", "vat_id_valid", "iban_valid")
    print(f"\n{name}: {len(duck)} rows x {len(left.column_names)} columns compared")
    assert not differences, differences


def _model(demo, name: str) -> dict:
    rows = demo.duck.con.execute("select model from entities._models where entity = ? order by version desc limit 1",
                                 [name]).fetchall()
    return json.loads(rows[0][0])


@pytest.fixture(scope="module")
def scored(on_spark):
    from pipelines.entities.spark import predict_on_spark

    demo, entities, _ = on_spark
    out, plans = {}, {}
    for name in ENTITIES:
        started = time.perf_counter()
        pairs = predict_on_spark(demo.engine.splink(), entities[name], _model(demo, name))
        plans[name] = pairs._jdf.queryExecution().executedPlan().toString()
        out[name] = pairs.toArrow()
        print(f"\n{name}: {out[name].num_rows} pairs scored on Spark in {time.perf_counter() - started:.1f} s")
    return demo, entities, out, plans


@pytest.mark.parametrize("name", ENTITIES)
def test_a_duckdb_trained_model_scores_the_same_pairs_on_spark(scored, name):
    demo, entities, pairs, _ = scored
    duck = {(r["unique_id_l"], r["unique_id_r"]): r for r in demo.duck.to_arrow(f"select * from {entities[name].table('pairs')}").to_pylist()}
    spark = {(r["unique_id_l"], r["unique_id_r"]): r for r in pairs[name].to_pylist()}
    assert len(duck) > 0
    assert duck.keys() == spark.keys(), (sorted(duck.keys() - spark.keys())[:5], sorted(spark.keys() - duck.keys())[:5])
    delta = max(abs(duck[k]["match_probability"] - spark[k]["match_probability"]) for k in duck)
    print(f"\n{name}: {len(duck)} pairs, max |dp| {delta:.3g}")
    assert delta < TOLERANCE
    columns = [c for c in pairs[name].column_names if c.startswith("gamma_")] + ["system_l", "system_r", "match_key"]
    wrong = [(k, c) for k in duck for c in columns if duck[k][c] != spark[k][c]]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("name", ENTITIES)
def test_the_scoring_plan_runs_kontors_functions_in_the_jvm(scored, name):
    """Splink's comparisons call Kontor's string functions as the jar's Java UDFs: the executed
    plan of the scored pairs (Splink's persisted predictions within) has no Python UDF."""
    plan = scored[3][name]
    assert "kontor_jaro_winkler_similarity" in plan, plan[:3000]
    assert "ArrowEvalPython" not in plan and "BatchEvalPython" not in plan, plan[:3000]


def _partition(rows) -> set[frozenset]:
    groups: dict = {}
    for unique_id, cluster in rows:
        groups.setdefault(cluster, set()).add(unique_id)
    return {frozenset(g) for g in groups.values()}


@pytest.mark.parametrize("name", ENTITIES)
def test_splink_clusters_are_the_same_on_duckdb_and_spark(scored, name):
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    from pipelines.entities.spark import clusters_on_spark

    demo, entities, pairs, _ = scored
    spec = entities[name]
    threshold = spec.thresholds["match_probability"]
    session = demo.engine.spark
    on_spark = clusters_on_spark(demo.engine.splink(), session.table(spec.table("standardised")),
                                 session.createDataFrame(pairs[name].to_pandas()), threshold)
    spark = _partition(on_spark.toLocalIterator())
    con = duckdb.connect()
    nodes = demo.duck.to_arrow(f"select unique_id from {spec.table('standardised')}")
    edges = demo.duck.to_arrow(f"select unique_id_l, unique_id_r, match_probability from {spec.table('pairs')}")
    con.register("nodes", nodes)
    con.register("edges", edges)
    clusters = cluster_pairwise_predictions_at_threshold(
        "nodes", "edges", DuckDBAPI(connection=con), node_id_column_name="unique_id",
        edge_id_column_name_left="unique_id_l", edge_id_column_name_right="unique_id_r",
        threshold_match_probability=threshold)
    duck = _partition(con.execute(f"select unique_id, cluster_id from {clusters.physical_name}").fetchall())
    merged = [g for g in duck if len(g) > 1]
    print(f"\n{name}: {len(duck)} clusters on DuckDB ({len(merged)} with more than one record), "
          f"{len(spark)} on Spark, {len(duck & spark)} identical")
    assert merged, "no cluster merges two records: the comparison would prove little"
    assert duck == spark


def test_the_catalog_answers_alike_on_duckdb_and_spark(spark):
    """What the entity stage asks of ``pipelines.engines.catalog`` (which tables exist, which
    temporary tables), answered by DuckDB's catalog functions and by a ``SparkConnection`` alike."""
    from pipelines.engines import catalog
    from pipelines.engines.connection import connect
    from pipelines.engines.spark_connection import SparkConnection

    def answers(con) -> tuple[bool, ...]:
        con.execute("create schema if not exists kontor_probe")
        con.execute("create or replace table kontor_probe.t as select 1 as a")
        con.execute("create or replace view kontor_probe.v as select 1 as a")
        con.execute("create temp table _kontor_probe as select 1 as a")
        try:
            return (catalog.table_exists(con, "kontor_probe", "t"), catalog.table_exists(con, "kontor_probe", "v"),
                    catalog.table_exists(con, "kontor_probe", "missing"),
                    catalog.temp_table_exists(con, "_kontor_probe"), catalog.temp_table_exists(con, "_kontor_none"))
        finally:
            con.execute("drop table _kontor_probe")
            con.execute("drop schema kontor_probe cascade")

    with connect() as duck:
        on_duckdb = answers(duck)
    assert on_duckdb == (True, False, False, True, False)
    assert answers(SparkConnection(spark)) == on_duckdb


def test_a_parquet_table_is_copied_into_duckdb_from_its_own_files(spark, tmp_path):
    """``copy_to_duckdb`` reads a Spark Parquet table's own files (``SparkEngine.parquet_files``)
    instead of having Spark read and write every row into a copy; a view still goes through a
    copy Spark writes. The same rows arrive either way. A ``create table ... as ... order by``
    through ``SparkConnection`` leaves the sort out (a Parquet table keeps no order), not a LIMIT
    or OFFSET that needs it; the rows are the query's."""
    from pipelines.engines.connection import connect
    from pipelines.engines.engine import DuckDBEngine, SparkEngine, copy_to_duckdb
    from pipelines.engines.spark_connection import SparkConnection, _unordered
    import sqlglot

    con = SparkConnection(spark)
    con.execute("create schema if not exists kontor_copy")
    try:
        con.execute("create or replace table kontor_copy.t as select id, cast(id * 2 as varchar) as d, "
                    "timestamp '2026-01-02 03:04:05' as ts from generate_series(0, 49) as r(id) order by id desc")
        spark.sql("create or replace view kontor_copy.v as select * from kontor_copy.t")
        engine = SparkEngine(spark)
        files = engine.parquet_files("kontor_copy", "t")
        assert files and all(f.is_file() and f.suffix == ".parquet" for f in files)
        assert engine.parquet_files("kontor_copy", "v") is None
        with connect() as duck:
            copied = copy_to_duckdb(engine, DuckDBEngine(duck), [("kontor_copy", "t"), ("kontor_copy", "v")], tmp_path / "c")
            assert copied == {"kontor_copy.t": 50, "kontor_copy.v": 50}
            rows = [duck.execute(f"select id, d, ts from kontor_copy.{n} order by id").fetchall() for n in ("t", "v")]
        assert rows[0] == rows[1] and len(rows[0]) == 50 and rows[0][3][1] == "6"
    finally:
        spark.sql("drop schema kontor_copy cascade")
    tree = sqlglot.parse_one("select a from t order by a", read="duckdb")
    assert _unordered(tree).sql("duckdb") == "SELECT a FROM t"
    for kept in ("select a from t order by a limit 3", "select a from t order by a offset 2"):
        assert _unordered(sqlglot.parse_one(kept, read="duckdb")).sql("duckdb") == sqlglot.parse_one(kept, read="duckdb").sql("duckdb")
