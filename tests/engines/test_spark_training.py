"""Training the entity model on Spark: the same model shape as on DuckDB, and a model trained on
Spark scores the same pairs on both engines.

On the demo (scale 0.1, the ``spark_demo`` fixture), the supplier records standardised on DuckDB are
copied into Spark's catalog (the parity tests show Spark's own standardisation gives the same
rows) and ``matching.train`` runs on Splink's SparkAPI (``spark_train.OnSpark``). The model comes
back in DuckDB's dialect: with its numbers set aside it is the model DuckDB trained, SQL for SQL.
Scored on DuckDB and on Spark it gives the same pairs (|Δp| < 1e-9); its parameters are Spark's own
estimates (u is sampled by the engine's random pairs), so its pairs are compared with those of the
DuckDB-trained model only for overlap.
"""
from __future__ import annotations

import json
import shutil
import time

import pytest

pytestmark = pytest.mark.spark

ENTITY = "supplier"
TOLERANCE = 1e-9
NUMBERS = ("m_probability", "u_probability", "probability_two_random_records_match")
LINKER = ("linker_uid",)        # Splink's random name of the linker that trained it


def _without_numbers(value):
    if isinstance(value, dict):
        return {k: _without_numbers(v) for k, v in value.items() if k not in NUMBERS + LINKER}
    if isinstance(value, list):
        return [_without_numbers(v) for v in value]
    return value


def _unestimated(model: dict) -> set[tuple[str, int, str]]:
    """(comparison, level, parameter) of the non-null levels without an m or u."""
    return {(c["output_column_name"], i, k) for c in model["comparisons"] for i, level in enumerate(c["comparison_levels"])
            if not level.get("is_null_level") for k in ("m_probability", "u_probability") if level.get(k) is None}


@pytest.fixture(scope="module")
def trained(spark_demo, tmp_path_factory):
    from pipelines.definitions import compile_entities
    from pipelines.engines.engine import copy_tables
    from pipelines.entities import matching
    from pipelines.entities.spark_train import OnSpark

    spec = compile_entities(spark_demo.settings, spark_demo.compiled).entities[ENTITY]
    schema, name = spec.table("standardised").split(".")
    copy_tables(spark_demo.duck, spark_demo.engine, [(schema, name)], tmp_path_factory.mktemp("train_to_spark"))
    started = time.perf_counter()
    model, log = matching.train(spark_demo.duck.con, spec, spark_demo.engine.splink(), on=OnSpark(spark_demo.engine.spark, spec))
    print(f"\n{ENTITY}: trained on Spark in {time.perf_counter() - started:.1f} s; sessions {log['sessions']}")
    rows = spark_demo.duck.con.execute("select model from entities._models where entity = ? order by version desc limit 1",
                                       [ENTITY]).fetchall()
    return spark_demo, spec, model, log, json.loads(rows[0][0])


def test_a_model_trained_on_spark_is_kept_in_duckdbs_dialect(trained):
    from splink import SettingsCreator

    _, _, model, log, on_duckdb = trained
    assert model["sql_dialect"] == "duckdb"
    assert _without_numbers(model) == _without_numbers(on_duckdb)
    SettingsCreator.from_path_or_dict(model).get_settings("duckdb")     # Splink takes it
    # Spark estimated what DuckDB estimated, level for level
    assert _unestimated(model) == _unestimated(on_duckdb)
    assert len(_unestimated(model)) < sum(len(c["comparison_levels"]) for c in model["comparisons"])
    assert 0 < model["probability_two_random_records_match"] < 1
    assert log["engine"] == "spark"
    assert log["u_sampling"]["min_count_per_level"] == trained[1].training["u_min_count_per_level"]
    assert any("failed" not in s and "skipped" not in s for s in log["sessions"]), log["sessions"]


@pytest.fixture(scope="module")
def both_engines(trained, tmp_path_factory):
    """The Spark-trained model's pairs scored on DuckDB (a writable copy of the demo warehouse)
    and on Spark; and the DuckDB-trained model's pairs, as the demo run scored them."""
    from pipelines.core.warehouse import connect
    from pipelines.engines.engine import DuckDBEngine
    from pipelines.entities import matching
    from pipelines.entities.spark import predict_on_spark

    demo, spec, model, _, _ = trained
    before = {(r["unique_id_l"], r["unique_id_r"]): r["match_probability"]
              for r in demo.duck.to_arrow(f"select * from {spec.table('pairs')}").to_pylist()}
    copy = tmp_path_factory.mktemp("train_duckdb") / "warehouse.duckdb"
    shutil.copy(demo.settings.warehouse_path, copy)
    con = connect(copy)
    try:
        matching.predict(con, spec, model, DuckDBEngine(con).splink())
        duck = {(r[0], r[1]): r[2] for r in con.execute(
            f"select unique_id_l, unique_id_r, match_probability from {spec.table('pairs')}").fetchall()}
    finally:
        con.close()
    spark = {(r["unique_id_l"], r["unique_id_r"]): r["match_probability"]
             for r in predict_on_spark(demo.engine.splink(), spec, model).toArrow().to_pylist()}
    return spec, before, duck, spark


def test_a_spark_trained_model_scores_the_same_pairs_on_duckdb_and_spark(both_engines):
    _, _, duck, spark = both_engines
    assert len(duck) > 0
    assert duck.keys() == spark.keys(), (sorted(duck.keys() - spark.keys())[:5], sorted(spark.keys() - duck.keys())[:5])
    delta = max(abs(duck[k] - spark[k]) for k in duck)
    print(f"\n{ENTITY}: {len(duck)} pairs, max |dp| {delta:.3g}")
    assert delta < TOLERANCE


def test_spark_and_duckdb_training_match_nearly_the_same_pairs(both_engines):
    spec, before, duck, _ = both_engines
    threshold = spec.thresholds["match_probability"]
    matched_duckdb_model = {k for k, p in before.items() if p >= threshold}
    matched_spark_model = {k for k, p in duck.items() if p >= threshold}
    jaccard = len(matched_duckdb_model & matched_spark_model) / len(matched_duckdb_model | matched_spark_model)
    print(f"\n{ENTITY}: matched pairs {len(matched_duckdb_model)} (DuckDB-trained) / {len(matched_spark_model)} "
          f"(Spark-trained), Jaccard {jaccard:.4f}")
    assert matched_duckdb_model
    assert jaccard >= 0.95
