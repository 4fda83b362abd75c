"""dbt tests are gates: ``tests/fixtures/dbt_native``'s generic tests (dbt's four, a package's,
with ``arguments:``/``config:``/legacy forms, ``where``), its singular test, ``severity``,
``warn_if``/``error_if`` and ``store_failures`` run as blocking Dagster asset checks through the
quality gate; an error stops what is downstream, as ``dbt build`` does.

Outcomes expected here follow from the seed files (counted in Python below); the same project
under dbt-duckdb 1.11 ``dbt build`` gave PASS=23 WARN=2 (8 nodes, 15 data tests, 2 unit tests) with
the same two warnings and the same test names.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.core.errors import ProjectError
from pipelines.run import run_pipeline
from pipelines.core.settings import load_settings

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dbt_native"
KONTOR_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dbt_project"


def copy(tmp_path: Path) -> Path:
    root = tmp_path / "cafe"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("target", "*.duckdb"))
    return root


def execute(root: Path):
    settings = load_settings(root, env={"HOME": str(root)})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    return settings, result


def checks(result) -> dict[str, tuple[bool, str]]:
    out = {}
    for e in result.get_asset_check_evaluations():
        out[e.check_name] = (e.passed, e.severity.value)
    return out


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy(tmp_path_factory.mktemp("tests"))
    settings, result = execute(root)
    return root, settings, result


def test_every_test_runs_as_an_asset_check_named_as_dbt_names_it(built):
    _, _, result = built
    assert result.success
    with open(FIXTURE / "data" / "lookup" / "stores.csv", newline="") as fh:
        unexpected_store = any(r["name"] not in ("Altstadt", "Hafen") for r in csv.DictReader(fh))
    assert unexpected_store      # the fixture's warn test has something to warn about
    assert checks(result) == {
        "not_null_raw_sales_note": (False, "WARN"),                                    # seed test, severity warn
        "cafe_checks_expression_is_true_stg_sales_amount_0": (True, "ERROR"),          # package test, arguments:
        "cafe_checks_at_most_rows_stg_sales_1000": (True, "ERROR"),                    # legacy top-level argument
        "accepted_values_stg_sales_is_refund__False__True__False": (True, "ERROR"),
        "not_null_stg_sales_sale_id": (True, "ERROR"), "unique_stg_sales_sale_id": (True, "ERROR"),
        "not_null_stg_sales_store_code": (True, "ERROR"), "not_null_stg_sales_sold_at": (True, "ERROR"),
        "relationships_stg_sales_store_code__cast_code_as_integer___ref_stores_": (True, "ERROR"),
        "unique_daily_sales_sold_on": (True, "ERROR"),
        "few_small_tickets": (True, "ERROR"), "few_small_tickets__warn": (True, "WARN"),
        "assert_net_below_gross": (True, "ERROR"),                                     # singular test
        "accepted_values_revenue_by_store_store_name__Altstadt__Hafen": (False, "WARN"),
        "refunds_count_against_gross": (True, "ERROR"), "vat_override": (True, "ERROR"),   # unit tests
        "source_not_null_pos_stores_code": (True, "ERROR"), "source_unique_pos_stores_code": (True, "ERROR"),
    }


def test_failing_counts_are_dbt_failures(built):
    root, settings, _ = built
    with open(FIXTURE / "data" / "raw_sales.csv", newline="") as fh:
        null_notes = sum(1 for r in csv.DictReader(fh) if r["note"] in ("", "null"))
    got = dict(query(settings.warehouse_path, "select rule, unexpected_count from kontor.gate_results "
                                              "where not success"))
    assert got == {"not_null_raw_sales_note": null_notes,
                   "accepted_values_revenue_by_store_store_name__Altstadt__Hafen": 1}


def test_store_failures_writes_the_failing_rows_where_dbt_does(built):
    root, settings, _ = built
    stored = query(settings.warehouse_path, "select sold_on, tickets, full_tickets from main_dbt_test__audit.few_small_tickets")
    expected = query(settings.warehouse_path, "select sold_on, tickets, full_tickets from main.daily_sales "
                                              "where tickets > full_tickets")
    assert stored == expected and len(stored) == 1


def test_nulls_in_a_not_null_column_fail_the_run_and_stop_downstream(tmp_path):
    root = copy(tmp_path)
    sales = root / "data" / "raw_sales.csv"
    lines = sales.read_text().splitlines()
    lines[2] = "," + lines[2].split(",", 1)[1]          # sale 2 and 5 lose their id
    lines[5] = "," + lines[5].split(",", 1)[1]
    sales.write_text("\n".join(lines) + "\n")
    settings = load_settings(root, env={"HOME": str(root)})
    outcome = run_pipeline(settings, None)
    assert not outcome.success
    assert any("not_null_stg_sales_sale_id" in g and "2 of" in g for g in outcome.gate_failures), outcome.gate_failures
    assert "main/stg_sales" in outcome.materialized
    assert "main/daily_sales" not in outcome.materialized          # downstream of the failed error test
    assert "main_finance/revenue_by_store" not in outcome.materialized


def test_error_if_turns_the_threshold_into_an_error(tmp_path):
    root = copy(tmp_path)
    marts = root / "transform" / "marts" / "_marts.yml"
    marts.write_text(marts.read_text().replace('error_if: ">10"', 'error_if: ">0"'))
    _, result = execute(root)
    assert not result.success
    assert checks(result)["few_small_tickets"] == (False, "ERROR")


def test_warn_severity_blocks_nothing(tmp_path):
    root = copy(tmp_path)
    staging = root / "transform" / "staging" / "_staging.yml"
    staging.write_text(staging.read_text().replace("values: [true, false]", "values: [true]")
                       .replace("quote: false", "quote: false\n              config: {severity: warn}"))
    _, result = execute(root)
    assert result.success
    assert checks(result)["accepted_values_stg_sales_is_refund__False__True"] == (False, "WARN")


def test_an_unknown_test_is_refused_at_its_line(tmp_path):
    root = copy(tmp_path)
    staging = root / "transform" / "staging" / "_staging.yml"
    staging.write_text(staging.read_text().replace("data_tests: [unique, not_null]", "data_tests: [uniqe, not_null]"))
    with pytest.raises(ProjectError) as err:
        execute(root)
    assert [str(p) for p in err.value.problems] == [
        "transform/staging/_staging.yml:14: unknown test 'uniqe'; did you mean 'unique'?"]


def test_an_error_inside_a_package_macro_names_the_macro_file_and_line(tmp_path):
    root = copy(tmp_path)
    macros = root / "dbt_packages" / "cafe_checks" / "macros" / "tests.sql"
    macros.write_text(macros.read_text().replace("{{ max_rows }}", "{{ exceptions.raise_compiler_error('max_rows must be > 0') if max_rows < 1 else max_rows }}"))
    staging = root / "transform" / "staging" / "_staging.yml"
    staging.write_text(staging.read_text().replace("max_rows: 1000", "max_rows: 0"))
    with pytest.raises(ProjectError) as err:
        execute(root)
    assert [str(p) for p in err.value.problems] == [
        "dbt_packages/cafe_checks/macros/tests.sql:12: max_rows must be > 0 (while rendering transform/staging/_staging.yml)"]


def test_data_tests_of_a_kontor_project_run_too(tmp_path):
    root = tmp_path / "jaffle"
    shutil.copytree(KONTOR_FIXTURE, root, ignore=shutil.ignore_patterns("target"))
    (root / "seeds" / "raw_customers.csv").write_text(
        (root / "seeds" / "raw_customers.csv").read_text() + ",Nobody,Known\n")
    settings = load_settings(root, env={})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    assert checks(result)["not_null_stg_customers_customer_id"] == (False, "ERROR")
    skipped = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "staging/stg_customers" in skipped and "marts/customers" not in skipped


def test_unit_tests_run_as_blocking_checks(built, tmp_path):
    _, _, result = built
    assert checks(result)["refunds_count_against_gross"] == (True, "ERROR")
    assert checks(result)["vat_override"] == (True, "ERROR")
    root = copy(tmp_path)
    marts = root / "transform" / "marts" / "_marts.yml"
    marts.write_text(marts.read_text().replace("gross: 7.00}", "gross: 13.00}"))   # as if refunds added up
    settings, result = execute(root)
    assert not result.success
    assert checks(result)["refunds_count_against_gross"] == (False, "ERROR")
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "refunds_count_against_gross")
    assert "13.00" in evaluation.description and "7.00" in evaluation.description


def test_kontor_check_reports_test_problems_before_any_run(tmp_path):
    from pipelines.check import check_project

    root = copy(tmp_path)
    assert check_project(load_settings(root, env={"HOME": str(root)}))[0] == []
    staging = root / "transform" / "staging" / "_staging.yml"
    staging.write_text(staging.read_text().replace("max_rows: 1000", "max_rows: 1000\n          severity: fatal"))
    marts = root / "transform" / "marts" / "_marts.yml"
    marts.write_text(marts.read_text().replace("    model: daily_sales\n    overrides:", "    model: daily_sale\n    overrides:"))
    problems, _ = check_project(load_settings(root, env={"HOME": str(root)}))
    assert [str(p) for p in problems] == [
        "transform/staging/_staging.yml:10: severity 'fatal': use error or warn",
        "transform/marts/_marts.yml:58: unit test 'vat_override' is for unknown model 'daily_sale'; did you mean 'daily_sales'?"]


def test_a_test_on_a_source_nothing_builds_runs_and_a_missing_table_fails_the_run(tmp_path):
    """A source no seed or model builds is loaded outside the project (tests/models/test_dbt_source_tests.py);
    when its table is not in the warehouse, its tests cannot run: the run fails naming it, the rest is built."""
    root = copy(tmp_path)
    sources = root / "transform" / "staging" / "_sources.yml"
    sources.write_text(sources.read_text() + "      - name: loyalty_cards\n        data_tests:\n          - at_most_rows:\n"
                                              "              max_rows: 5\n")
    outcome = run_pipeline(load_settings(root, env={"HOME": str(root)}), None, history=False)
    assert not outcome.success
    assert outcome.failures == ["main_raw/loyalty_cards: source table main_raw.loyalty_cards is not in the warehouse, "
                                "so its tests cannot run; fix: load it (the loader or EL tool that fills it) before the run"]
    assert {"main/stg_sales", "main/daily_sales", "main_finance/revenue_by_store"} <= set(outcome.materialized)


def test_dispatch_search_order_lets_the_project_override_a_package_macro(tmp_path):
    root = copy(tmp_path)
    (root / "dbt_project.yml").write_text((root / "dbt_project.yml").read_text() +
                                          "\ndispatch:\n  - macro_namespace: cafe_checks\n    search_order: [cafe, cafe_checks]\n")
    (root / "macros" / "strict.sql").write_text(
        "{% macro default__test_expression_is_true(model, expression, column_name) -%}\n"
        "select * from {{ model }} where not ({{ expression }}) or sale_id = 3\n{%- endmacro %}\n")
    _, result = execute(root)
    assert checks(result)["cafe_checks_expression_is_true_stg_sales_amount_0"] == (False, "ERROR")   # the project's


def test_a_test_towards_a_downstream_model_blocks_nothing_but_fails_the_run(tmp_path):
    """orders.customer_id -> customers: customers is built from orders, so dbt runs that test after
    both and blocks nothing with it; a failure still fails the run."""
    root = tmp_path / "jaffle"
    shutil.copytree(KONTOR_FIXTURE, root, ignore=shutil.ignore_patterns("target"))
    orders = root / "seeds" / "raw_orders.csv"
    header = orders.read_text().splitlines()[0].split(",")
    row = {"id": "900", "user_id": "999", "order_date": "2018-04-09", "status": "placed", "updated_at": "2018-04-09 10:00:00"}
    orders.write_text(orders.read_text() + ",".join(row[c] for c in header) + "\n")
    settings = load_settings(root, env={})
    outcome = run_pipeline(settings, None)
    assert not outcome.success
    assert any("relationships_orders_customer_id__customer_id__ref_customers_" in f and "1 of" in f
               for f in outcome.failures), outcome.failures
    assert "marts/customers" in outcome.materialized and "marts/fct_orders" in outcome.materialized


def execute_per_model(root: Path):
    settings = load_settings(root, env={"HOME": str(root), "KONTOR_MODELS_IN_ONE_STEP": "0"})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    return settings, result


def test_one_step_model_layer_gives_the_same_outcomes_as_a_step_per_model(built, tmp_path):
    _, settings, result = built                                     # the default: every model in one step
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert "sql_models" in steps and not any(s.startswith("main__") for s in steps)    # one step for the models
    _, per_model = execute_per_model(copy(tmp_path))
    assert per_model.success
    assert any(s.startswith("main__") for s in {e.step_key for e in per_model.all_events})
    assert checks(result) == checks(per_model)
    materialized = lambda r: sorted(e.asset_key.to_user_string() for e in r.get_asset_materialization_events())  # noqa: E731
    assert materialized(result) == materialized(per_model)
    assert len(query(settings.warehouse_path, "select * from main_dbt_test__audit.few_small_tickets")) == 1


def test_one_step_skips_only_what_is_downstream_of_a_failed_test(tmp_path):
    root = copy(tmp_path)
    sales = root / "data" / "raw_sales.csv"
    lines = sales.read_text().splitlines()
    lines[2] = "," + lines[2].split(",", 1)[1]
    sales.write_text("\n".join(lines) + "\n")
    snapshot = root / "snapshots" / "stores_history.sql"          # independent of stg_sales: still built
    settings = load_settings(root, env={"HOME": str(root)})
    outcome = run_pipeline(settings, None)
    assert not outcome.success
    assert snapshot.is_file() and "snapshots/stores_history" in outcome.materialized
    assert "main/stg_sales" in outcome.materialized
    assert not {"main/daily_sales", "main/sales_log", "main/refunds", "main_finance/revenue_by_store"} & set(outcome.materialized)
    assert {"main/daily_sales", "main/sales_log", "main/refunds", "main_finance/revenue_by_store"} <= set(outcome.skipped)
    assert any("not_null_stg_sales_sale_id" in f for f in outcome.gate_failures + outcome.failures)


def test_one_step_names_each_failed_model_and_skips_only_its_downstream(tmp_path):
    """A model that fails inside the step is one failure line of its own (not the step's); the
    other models are built, and an expectations/ gate on a model runs in the step."""
    root = copy(tmp_path)
    (root / "transform" / "marts" / "refunds.sql").write_text("select no_such_column from {{ ref('stg_sales') }}\n")
    (root / "expectations").mkdir()
    (root / "expectations" / "main.daily_sales.yml").write_text(
        "expectations:\n  - name: few_days\n    type: expect_table_row_count_to_be_between\n"
        "    kwargs: {max_value: 0}\n")
    settings = load_settings(root, env={"HOME": str(root)})
    outcome = run_pipeline(settings, None)
    assert not outcome.success
    [failure] = outcome.failures
    assert failure.startswith("main/refunds: ") and "no_such_column" in failure, outcome.failures
    assert outcome.gate_failures == [g for g in outcome.gate_failures if g.startswith("main/daily_sales: check 'few_days' failed")]
    assert len(outcome.gate_failures) == 1
    assert "main/sales_log" in outcome.materialized and "main/daily_sales" in outcome.materialized
    assert "main/refunds" not in outcome.materialized and "kontor/serving_copy" in outcome.skipped
    rows = query(settings.warehouse_path, "select rule, success from kontor.gate_results where asset = 'main/daily_sales' "
                                          "and rule = 'few_days'")
    assert rows == [("few_days", False)]


def test_one_step_select_builds_only_the_selected_models(tmp_path):
    root = copy(tmp_path)
    settings = load_settings(root, env={"HOME": str(root)})
    assert run_pipeline(settings, None).success
    outcome = run_pipeline(settings, ["main/daily_sales"])
    assert outcome.success, outcome.failures
    assert [a for a in outcome.materialized if a != "kontor/serving_copy"] == ["main/daily_sales"]


UNIT_YML = """\
unit_tests:
  - name: stamped_with_overrides
    model: stamped_sales
    overrides:
      env_vars: {CAFE_REGION: south}
      macros:
        dbt.current_timestamp: "timestamp '2024-01-01 00:00:00'"
        cents_to_euros: "1.00"
    given:
      - input: ref('stg_sales')
        format: csv
        fixture: two_sales
    expect:
      format: sql
      fixture: stamped_expected
  - name: only_newer_sales_are_appended
    model: sales_log
    overrides:
      macros: {is_incremental: true}
    given:
      - input: this
        rows:
          - {sale_id: 1, sold_at: "2024-03-01 09:00:00"}
      - input: ref('stg_sales')
        rows:
          - {sale_id: 1, amount: 1.00, sold_at: "2024-03-01 08:00:00"}
          - {sale_id: 2, amount: 2.00, sold_at: "2024-03-01 10:00:00"}
    expect:
      rows:
        - {sale_id: 2, amount: 2.00}
  - name: switched_off
    model: sales_log
    config: {enabled: false, tags: [slow]}
    given: []
    expect: {rows: [{sale_id: 99}]}
"""


def unit_project(tmp_path: Path) -> Path:
    root = copy(tmp_path)
    (root / "transform" / "marts" / "stamped_sales.sql").write_text(
        "select sale_id, {{ cents_to_euros('amount * 100') }} as amount_eur,\n"
        "       '{{ env_var(\"CAFE_REGION\", \"north\") }}' as region, {{ dbt.current_timestamp() }} as loaded_at\n"
        "from {{ ref('stg_sales') }}\n")
    (root / "transform" / "marts" / "_unit.yml").write_text(UNIT_YML)
    fixtures = root / "checks" / "fixtures"
    fixtures.mkdir()
    (fixtures / "two_sales.csv").write_text("sale_id,amount\n1,12.50\n2,3.00\n")
    (fixtures / "stamped_expected.sql").write_text(
        "select 1 as sale_id, 1.00 as amount_eur, 'south' as region, timestamp '2024-01-01 00:00:00' as loaded_at\n"
        "union all select 2, 1.00, 'south', timestamp '2024-01-01 00:00:00'\n")
    return root


def test_unit_tests_with_overrides_fixtures_and_this(tmp_path):
    root = unit_project(tmp_path)
    settings, result = execute(root)
    assert "sql_models" in {e.step_key for e in result.all_events}     # unit tests run inside the model layer's step
    found = checks(result)
    assert found["stamped_with_overrides"] == (True, "ERROR"), found
    assert found["only_newer_sales_are_appended"] == (True, "ERROR"), found
    assert "switched_off" not in found                               # config: enabled: false
    assert not any("stamped_expected" in name for name in found)     # a fixture file is no singular test
    # The overrides held only inside the unit test: the model itself saw the real macro and env.
    assert query(settings.warehouse_path, "select distinct region from main.stamped_sales") == [("north",)]
    # A wrong expectation fails, naming the rows.
    (root / "checks" / "fixtures" / "stamped_expected.sql").write_text(
        "select 1 as sale_id, 1.00 as amount_eur, 'north' as region, timestamp '2024-01-01 00:00:00' as loaded_at\n")
    _, result = execute(root)
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "stamped_with_overrides")
    assert not evaluation.passed and "'south'" in evaluation.description
    assert not result.success                                       # a failed unit test is a blocking check


@pytest.mark.parametrize("change, problem", [
    ("    model: stamped_sales\n", "    model: stamped_sales\n    versions: {include: [2]}\n",),
    ("      env_vars: {CAFE_REGION: south}\n", "      env_var: {CAFE_REGION: south}\n"),
    ("        cents_to_euros: \"1.00\"\n", "        cents_to_euro: \"1.00\"\n"),
    ("        fixture: two_sales\n", "        fixture: three_sales\n"),
    ("    config: {enabled: false, tags: [slow]}\n", "    config: {enabled: false, schema: x}\n"),
], ids=["versions", "override_key", "unknown_macro", "missing_fixture", "config_key"])
def test_unsupported_unit_test_parts_are_refused_at_their_line(tmp_path, change, problem):
    from pipelines.check import check_project

    root = unit_project(tmp_path)
    unit = root / "transform" / "marts" / "_unit.yml"
    unit.write_text(unit.read_text().replace(change, problem))
    problems, _ = check_project(load_settings(root, env={"HOME": str(root)}))
    expected = {
        "versions": "transform/marts/_unit.yml:4: unit tests of model versions are not supported",
        "override_key": "transform/marts/_unit.yml:5: unknown unit test override 'env_var'",
        "unknown_macro": "transform/marts/_unit.yml:4: overrides.macros: no macro 'cents_to_euro' to override",
        "missing_fixture": "transform/marts/_unit.yml:12: fixture 'three_sales': no three_sales.csv under checks/fixtures/",
        "config_key": "transform/marts/_unit.yml:33: unit test config 'schema' is not supported",
    }
    key = next(k for k, v in {"versions": "versions", "override_key": "env_var:", "unknown_macro": "cents_to_euro:",
                              "missing_fixture": "three_sales", "config_key": "schema: x"}.items() if v in problem)
    assert any(str(p).startswith(expected[key]) for p in problems), [str(p) for p in problems]


@pytest.mark.spark
def test_unit_tests_on_spark_read_their_inputs_built_on_spark(tmp_path):
    """A unit test runs on DuckDB from its inputs' column types there; on Spark its ref()'d input
    (and ``this``) is built on Spark and reaches the DuckDB warehouse only after the step, so a
    first run found no columns ("are not in the input (it has [])", EricLamphere/duckdb_dbt)."""
    root = unit_project(tmp_path)
    settings = load_settings(root, env={"HOME": str(root), "KONTOR_ENGINE": "spark"})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    found = checks(result)
    assert found["stamped_with_overrides"] == (True, "ERROR"), found
    assert found["only_newer_sales_are_appended"] == (True, "ERROR"), found
    assert query(settings.warehouse_path, "select distinct region from main.stamped_sales") == [("north",)]
