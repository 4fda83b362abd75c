"""dbt tests on a source no seed or model of the project builds (an EL tool or a loader script
filled it): ``tests/fixtures/dbt_loaded_source``, whose ``load.sql`` creates ``raw.customers``
and ``raw.orders`` in the warehouse before the run, as a loader would.

As ``dbt build`` runs them: the source is an external asset the models reading it depend on; its
tests are asset checks judged in the model layer's step before those models; a failed error test
leaves the models below the source unbuilt (their own tests not run) and fails the run, a warn
test only warns. Expected outcomes follow from ``load.sql``'s rows (one NULL name added below).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.run import run_pipeline

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dbt_loaded_source"

SOURCE_TESTS = {
    ("raw/customers", "source_unique_shop_db_customers_id"),
    ("raw/customers", "source_not_null_shop_db_customers_id"),
    ("raw/customers", "source_not_null_shop_db_customers_name"),
    ("raw/orders", "orders_not_empty"),
    ("raw/orders", "source_unique_shop_db_orders_id"),
    ("raw/orders", "source_not_null_shop_db_orders_customer_id"),
    ("raw/orders", "source_relationships_shop_db_orders_customer_id__id__source_shop_db_customers_"),
}
MODELS = {"main/stg_customers", "main/stg_orders", "main/customer_revenue"}


def project(tmp_path: Path, null_name: bool = False, severity: str | None = None) -> Path:
    """The fixture, its sources loaded into the warehouse (``null_name``: one customer without a
    name); ``severity`` given to the not_null test of ``customers.name``."""
    root = tmp_path / "shop"
    shutil.copytree(FIXTURE, root)
    if severity:
        sources = root / "models" / "_sources.yml"
        text = sources.read_text()
        old = "          - name: name\n            data_tests:\n              - not_null\n"
        assert old in text
        sources.write_text(text.replace(old, "          - name: name\n            data_tests:\n              - not_null:\n"
                                             f"                  config:\n                    severity: {severity}\n"))
    settings = load_settings(root, env={"HOME": str(root)})
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute((root / "load.sql").read_text())
        if null_name:
            con.execute("insert into raw.customers values (4, null, 'DE')")
    finally:
        con.close()
    return root


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_passing_source_tests_are_asset_checks_judged_before_the_models(tmp_path):
    root = project(tmp_path)
    settings = load_settings(root, env={"HOME": str(root)})
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    source = graph.get(dg.AssetKey(["raw", "customers"]))
    assert not source.is_executable                                  # loaded outside the project
    assert dg.AssetKey(["raw", "customers"]) in graph.get(dg.AssetKey(["main", "stg_customers"])).parent_keys
    result = defs.resolve_job_def(ALL_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                              raise_on_error=False)
    assert result.success
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert {k: evaluations.get(k) for k in SOURCE_TESTS} == {k: True for k in SOURCE_TESTS}
    steps = {e.step_key for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert steps == {"sql_models"}                                    # in the model layer's step
    # kept as model tests' results are, judged before the first model was built
    kept = rows(settings.warehouse_path, "select asset, rule, success, checked_at from kontor.gate_results")
    assert {(a, r) for a, r, ok, _ in kept if a.startswith("raw/") and ok} == SOURCE_TESTS
    first_model = min(t for a, _, _, t in kept if a == "main/stg_orders")
    assert max(t for a, _, _, t in kept if a.startswith("raw/")) <= first_model
    # store_failures writes where dbt writes (nothing failed: no rows)
    assert rows(settings.warehouse_path, 'select count(*) from main_dbt_test__audit.'
                                         'source_not_null_shop_db_orders_customer_id') == [(0,)]
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} >= MODELS


def test_a_failing_error_source_test_skips_the_models_reading_it_and_fails_the_run(tmp_path):
    root = project(tmp_path, null_name=True)
    settings = load_settings(root, env={"HOME": str(root)})
    outcome = run_pipeline(settings, None, history=False)
    assert not outcome.success
    assert outcome.gate_failures == ["raw/customers: check 'source_not_null_shop_db_customers_name' failed "
                                     "(1 of 4 rows unexpected)"]
    assert "main/stg_orders" in outcome.materialized                      # reads only raw.orders
    assert not {"main/stg_customers", "main/customer_revenue"} & set(outcome.materialized)
    assert {"main/stg_customers", "main/customer_revenue"} <= set(outcome.skipped)
    tables = {t for (t,) in rows(settings.warehouse_path, "select table_name from information_schema.tables "
                                                          "where table_schema = 'main'")}
    assert "stg_orders" in tables and not {"stg_customers", "customer_revenue"} & tables
    # the other source's tests and the built model's tests still ran
    judged = {(a, r): ok for a, r, ok in rows(settings.warehouse_path, "select asset, rule, success from kontor.gate_results")}
    assert judged[("raw/orders", "source_unique_shop_db_orders_id")] is True
    assert judged[("main/stg_orders", "unique_stg_orders_order_id")] is True


def test_a_failing_error_source_test_per_model_steps_skips_the_same_models(tmp_path):
    root = project(tmp_path, null_name=True)
    settings = load_settings(root, env={"HOME": str(root), "KONTOR_MODELS_IN_ONE_STEP": "0"})
    outcome = run_pipeline(settings, None, history=False)
    assert not outcome.success
    assert "main/stg_orders" in outcome.materialized
    assert not {"main/stg_customers", "main/customer_revenue"} & set(outcome.materialized)


def test_a_failing_warn_source_test_builds_everything(tmp_path):
    root = project(tmp_path, null_name=True, severity="warn")
    settings = load_settings(root, env={"HOME": str(root)})
    outcome = run_pipeline(settings, None, history=False)
    assert outcome.success, outcome.failures + outcome.gate_failures
    assert outcome.gate_warnings == ["raw/customers: check 'source_not_null_shop_db_customers_name' failed "
                                     "(1 of 4 rows unexpected)"]
    assert MODELS <= set(outcome.materialized)


@pytest.mark.parametrize("threshold, passes", [(">1", True), (">0", False)])
def test_error_if_and_where_work_on_a_source_as_on_a_model(tmp_path, threshold, passes):
    root = project(tmp_path, null_name=True)
    sources = root / "models" / "_sources.yml"
    sources.write_text(sources.read_text().replace(
        "              - not_null\n",
        f"              - not_null:\n                  config:\n                    error_if: '{threshold}'\n"
        "                    warn_if: '>5'\n"))
    settings = load_settings(root, env={"HOME": str(root)})
    outcome = run_pipeline(settings, None, history=False)
    assert outcome.success is passes
    assert ("main/customer_revenue" in outcome.materialized) is passes
    # where: the NULL row left out, the test passes even at error_if > 0
    sources.write_text(sources.read_text().replace(f"error_if: '{threshold}'", f"error_if: '{threshold}'\n"
                                                   "                    where: \"country <> 'DE' or id < 4\""))
    assert run_pipeline(settings, None, history=False).success


def test_kontor_check_no_longer_refuses_them(tmp_path):
    from pipelines.check import check_project

    root = project(tmp_path)
    problems, _ = check_project(load_settings(root, env={"HOME": str(root)}))
    assert [str(p) for p in problems] == []


@pytest.mark.spark
def test_on_spark_source_tests_take_the_spark_gate(tmp_path):
    """engine = "spark": the source is copied to Spark with what the models read, its tests judged
    there (GX's Spark engine), with the same outcome: the reading models skipped, the others built."""
    root = project(tmp_path, null_name=True)
    settings = load_settings(root, env={"HOME": str(root), "KONTOR_ENGINE": "spark"})
    outcome = run_pipeline(settings, None, history=False)
    assert not outcome.success
    assert outcome.gate_failures == ["raw/customers: check 'source_not_null_shop_db_customers_name' failed "
                                     "(1 of 4 rows unexpected)"]
    assert "main/stg_orders" in outcome.materialized
    assert not {"main/stg_customers", "main/customer_revenue"} & set(outcome.materialized)
    judged = {(a, r): ok for a, r, ok in rows(settings.warehouse_path, "select asset, rule, success from kontor.gate_results")}
    assert judged[("raw/orders", "source_relationships_shop_db_orders_customer_id__id__source_shop_db_customers_")] is True


def judged(root: Path) -> set[tuple[str, str]]:
    return {(a, r) for a, r in rows(load_settings(root, env={"HOME": str(root)}).warehouse_path,
                                    "select asset, rule from kontor.gate_results")}


@pytest.mark.parametrize("select, tests, models", [
    # dbt build --select source:shop_db.customers: the source's tests alone (before: refused)
    (["raw/customers"], {t for t in SOURCE_TESTS if t[0] == "raw/customers"}, set()),
    # --select source:shop_db.customers+: its tests, then what reads it (before: the models only)
    (["raw/customers+"], {t for t in SOURCE_TESTS if t[0] == "raw/customers"}, {"main/stg_customers",
                                                                               "main/customer_revenue"}),
    (["raw/orders+"], {t for t in SOURCE_TESTS if t[0] == "raw/orders"}, {"main/stg_orders", "main/customer_revenue"}),
    # --select +stg_orders: the source above it is selected, so are its tests (before: none)
    (["+main/stg_orders"], {t for t in SOURCE_TESTS if t[0] == "raw/orders"}, {"main/stg_orders"}),
    # --select stg_orders: the source is not selected, nor its tests (as dbt's indirect selection)
    (["main/stg_orders"], set(), {"main/stg_orders"}),
])
def test_a_selection_runs_the_tests_of_the_sources_it_takes_in(tmp_path, select, tests, models):
    root = project(tmp_path)
    settings = load_settings(root, env={"HOME": str(root)})
    assert run_pipeline(settings, None, history=False).success     # everything once: the selection reads it
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("delete from kontor.gate_results")
    con.close()
    outcome = run_pipeline(settings, select, history=False)
    assert outcome.success, outcome.failures
    assert {a for a, _ in judged(root)} - {"raw/customers", "raw/orders"} <= models
    assert {t for t in judged(root) if t[0].startswith("raw/")} == tests
    assert set(outcome.materialized) - {"kontor/serving_copy"} == models
