"""What the gaps left by the third batch and the fourth batch of public dbt-duckdb projects tried
with benchmarks/dbt_projects.py needed (benchmarks/README.md, "A fourth batch"), each on a small
project written here:

- a model whose SQL does not parse fails when it runs and skips what is below it, the rest of the
  project builds (dbt 1.11 parses Jinja, not SQL: checked with dbt-duckdb on the same fixture,
  ``ERROR creating sql view model main.broken`` (DuckDB's parser error), ``SKIP relation main.below``); before: the whole
  project was refused;
- a top-level key dbt does not know in a properties file (``tests:``) is ignored with a warning, as
  dbt ignores it; before: refused;
- dbt's ``graph.nodes`` (models, snapshots, seeds) and ``graph.sources`` for the read-only uses of
  packages and macros; a model that reads it while the project compiles renders again at run time
  with the whole graph; the parts not given (tests, exposures ...) stay refused at their line;
- tests on a source read in place (``external_location``) run before its readers (before: refused);
- Jinja in an ``external_location`` is rendered before dbt-duckdb's formatting (before: ``{{`` was
  read as an escaped brace);
- a test whose Jinja asks the warehouse (``adapter.get_columns_in_relation``, ``execute``) is rendered
  again when it runs, as dbt renders it then (before: what it rendered while compiling was judged);
- an unset name prints '' as in dbt's Jinja (before: Kontor's strict Jinja refused dbt_utils 1.4's
  ``at_least_one``);
- ``on-run-start``/``on-run-end`` run around the models (before: refused at their line), an
  ``on-run-end`` reading ``results`` refused there;
- a test of a package that is not installed errors alone when it runs, as in dbt (before: refused);
- a singular test that reads sources only runs before their readers (before: refused);
"""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.errors import ProjectError
from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions

from tests.models.test_dbt_corpus3 import PROFILE, write


def shop(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "shop"
    write(root, {
        "dbt_project.yml": "name: shop\nconfig-version: 2\nprofile: shop\n",
        "profiles.yml": PROFILE,
        "seeds/orders.csv": "id,amount\n1,10\n2,25\n",
        **files,
    })
    return root


def run_all(root: Path, tmp_path: Path, success: bool = True):
    settings = load_settings(root, env={"HOME": str(tmp_path)})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success is success, [e.message for e in result.all_events if e.is_failure]
    return result


def relations(root: Path) -> set[str]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return {f"{s}.{n}" for s, n in con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    finally:
        con.close()


def checks(result) -> dict[str, bool]:
    return {e.event_specific_data.check_name: e.event_specific_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


BROKEN = {
    "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
    "models/broken.sql": "select (id, amount\nfrom {{ ref('orders') }}\n",
    "models/below.sql": "select * from {{ ref('broken') }}\n",
    "models/good_below.sql": "select * from {{ ref('good') }}\n",
    "models/props.yml": "version: 2\nmodels:\n  - name: broken\n    columns:\n      - name: id\n"
                        "        data_tests: [not_null]\n  - name: good\n    columns:\n      - name: id\n"
                        "        data_tests: [not_null]\n",
}


def test_a_model_whose_sql_does_not_parse_fails_alone_when_it_runs(tmp_path):
    root = shop(tmp_path, BROKEN)
    result = run_all(root, tmp_path, success=False)
    assert relations(root) == {"main.orders", "main.good", "main.good_below"}
    failed = " ".join(str(e.event_specific_data.error.message) for e in result.all_events if e.is_step_failure)
    assert "main/broken: Parser Error: syntax error" in failed, failed     # DuckDB's words, as dbt shows them
    assert checks(result) == {"not_null_good_id": True}     # broken's test is skipped, as in dbt


def test_kontor_check_names_the_syntax_error_as_a_warning(tmp_path):
    from pipelines.check import check_project

    root = shop(tmp_path, BROKEN)
    problems, summary = check_project(load_settings(root, env={"HOME": str(tmp_path)}))
    assert problems == []
    assert "warning: models/broken.sql:2: SQL syntax error" in summary, summary


def test_an_unknown_top_level_key_of_a_properties_file_is_ignored_as_dbt_ignores_it(tmp_path):
    """michaelkrot/dbt-duckdb-data: a ``tests:`` written at the top level of a properties file; dbt
    ignores it (its test never runs) and builds the project; before: refused at that line."""
    from pipelines.check import check_project

    root = shop(tmp_path, {
        "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
        "models/props.yml": "version: 2\nmodels:\n  - name: good\n    columns:\n      - name: id\n"
                            "        data_tests: [not_null]\n\ntests:\n  - unique:\n      column_name: amount\n",
    })
    result = run_all(root, tmp_path)
    assert checks(result) == {"not_null_good_id": True}
    problems, summary = check_project(load_settings(root, env={"HOME": str(tmp_path)}))
    assert problems == []
    assert "warning: models/props.yml:8: unknown top-level key 'tests'" in summary, summary


GRAPH_MACROS = (         # dbt's graph is empty while it parses: macros read it only when executing
    "{% macro upstream_of(name) %}\n"
    "  {% if not execute %}{{ return('') }}{% endif %}\n"
    "  {% set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] %}\n"
    "  {{ return(node.depends_on.nodes | sort | join(',')) }}\n"
    "{% endmacro %}\n"
    "{% macro tables_tagged(tag) %}\n"
    "  {% set names = [] %}\n"
    "  {% for node in (graph.nodes.values() if execute else []) | selectattr('resource_type', 'equalto', 'model') %}\n"
    "    {% if tag in node.tags and node.config.materialized == 'table' %}{% do names.append(node.name) %}{% endif %}\n"
    "  {% endfor %}\n"
    "  {{ return(names | sort | join(',')) }}\n"
    "{% endmacro %}\n"
    "{% macro me() %}{{ return(graph.nodes[model.unique_id].name if execute else '') }}{% endmacro %}\n"
    "{% macro source_names() %}\n"
    "  {{ return(graph.sources.values() | map(attribute='relation_name') | join(',') if execute else '') }}\n"
    "{% endmacro %}\n"
    "{% macro seed_names() %}\n"
    "  {{ return(graph.nodes.values() | selectattr('resource_type', 'equalto', 'seed') | map(attribute='name')\n"
    "            | join(',') if execute else '') }}\n"
    "{% endmacro %}\n")


def test_graph_nodes_and_sources_are_dbts_for_read_only_uses(tmp_path):
    """Packages and project macros walk ``graph.nodes.values()`` (``depends_on``, ``tags``,
    ``config.materialized``) and look a node up by ``model.unique_id``; before, any read of
    ``graph`` was refused at its line (dbt-duckdb on this project writes the same ``report``)."""
    root = shop(tmp_path, {
        "dbt_project.yml": "name: shop\nconfig-version: 2\nprofile: shop\nmodels:\n  shop:\n    marts:\n"
                           "      +materialized: table\n      +tags: [finance]\n",
        "models/_sources.yml": "version: 2\nsources:\n  - name: pos\n    schema: main\n    tables:\n"
                               "      - name: orders\n",
        "macros/graph.sql": GRAPH_MACROS,
        "models/stg_orders.sql": "select * from {{ source('pos', 'orders') }}\n",
        "models/marts/revenue.sql": "select sum(amount) as total from {{ ref('stg_orders') }}\n",
        "models/marts/counts.sql": "select count(*) as n from {{ ref('stg_orders') }} cross join {{ ref('revenue') }}\n",
        "models/report.sql": (
            "select '{{ upstream_of('counts') }}' as counts_reads, '{{ tables_tagged('finance') }}' as finance_tables,\n"
            "       '{{ me() }}' as me, '{{ source_names() }}' as sources, '{{ seed_names() }}' as seeds\n"),
    })
    run_all(root, tmp_path)
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        got = con.execute("select * from main.report").fetchall()
    finally:
        con.close()
    assert got == [("model.shop.revenue,model.shop.stg_orders", "counts,revenue", "report",
                    '"warehouse"."main"."orders"', "orders")]


def test_graph_parts_kontor_does_not_give_are_refused_where_read(tmp_path):
    root = shop(tmp_path, {
        "macros/exp.sql": "{% macro n_exposures() %}\n  {{ return(graph.exposures | length) }}\n{% endmacro %}\n",
        "models/good.sql": "select {{ n_exposures() }} as n\n",
    })
    with pytest.raises(ProjectError) as err:
        build_definitions(load_settings(root, env={"HOME": str(tmp_path)}))
    assert [str(p) for p in err.value.problems][0].startswith(
        "macros/exp.sql:2: graph.exposures (that part of dbt's parsed manifest) is not available on Kontor")


def in_place(tmp_path: Path, rows: str) -> Path:
    """A source dbt-duckdb reads where it lies (``external_location``), with tests on it."""
    return shop(tmp_path, {
        "data/customers.csv": rows,
        "models/_sources.yml": (            # absolute: a test runs from the repository, not the project
            "version: 2\nsources:\n  - name: files\n    meta:\n      external_location: \"read_csv('"
            + str(tmp_path / "shop" / "data") + "/{name}.csv')\"\n"
            "    tables:\n      - name: customers\n        columns:\n          - name: id\n"
            "            data_tests: [unique, not_null]\n          - name: tier\n            data_tests:\n"
            "              - accepted_values:\n                  arguments:\n                    values: [a, b]\n"),
        "models/stg_customers.sql": "select id, tier from {{ source('files', 'customers') }}\n",
        "models/other.sql": "select * from {{ ref('orders') }}\n",
    })


def test_tests_on_a_source_read_in_place_run_before_its_readers(tmp_path):
    """ran-codes/dbt-duckdb-demo's tests on an ``external_location`` source were refused at their
    line; dbt runs them on the files before the models reading them. Checked with dbt-duckdb on
    this project: the three pass, and with a NULL id ``source_not_null_files_customers_id`` fails
    and ``stg_customers`` is skipped."""
    root = in_place(tmp_path, "id,tier\n1,a\n2,b\n")
    result = run_all(root, tmp_path)
    assert checks(result) == {"source_unique_files_customers_id": True, "source_not_null_files_customers_id": True,
                              "source_accepted_values_files_customers_tier__a__b": True}
    assert relations(root) == {"main.orders", "main.stg_customers", "main.other"}


def test_a_failing_test_on_a_source_read_in_place_skips_its_readers(tmp_path):
    root = in_place(tmp_path, "id,tier\n1,a\n,b\n")
    result = run_all(root, tmp_path, success=False)
    assert checks(result) == {"source_unique_files_customers_id": True, "source_not_null_files_customers_id": False,
                              "source_accepted_values_files_customers_tier__a__b": True}
    assert relations(root) == {"main.orders", "main.other"}


def test_jinja_in_an_external_location_is_rendered_before_it_is_formatted(tmp_path):
    """aboyalejandro/data-stack-to-go-duckdb-dbt: ``external_location: "read_csv('{{ env_var('INPUT_FILES_PATH')
    }}/{name}.csv')"``; dbt renders the Jinja, dbt-duckdb then fills ``{name}``. Before, Python's format
    read ``{{`` as an escaped brace and the model's SQL held ``{ env_var(...) }``."""
    root = shop(tmp_path, {
        "data/customers.csv": "id,tier\n1,a\n2,b\n",
        "models/_sources.yml": (
            "version: 2\nsources:\n  - name: files\n    meta:\n      external_location: "
            "\"read_csv('{{ env_var('INPUT_FILES_PATH') }}/{name}.csv')\"\n    tables:\n      - name: customers\n"),
        "models/stg_customers.sql": "select id, tier from {{ source('files', 'customers') }}\n",
    })
    settings = load_settings(root, env={"HOME": str(tmp_path), "INPUT_FILES_PATH": str(root / "data")})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select * from main.stg_customers order by 1").fetchall() == [(1, "a"), (2, "b")]
    finally:
        con.close()


def test_a_test_that_asks_the_warehouse_is_rendered_when_it_runs(tmp_path):
    """dbt_expectations' ``expect_column_to_exist`` (and dbt_utils.equality) read the model's columns
    with ``adapter.get_columns_in_relation``, which answers only when ``execute``: dbt renders a test
    when it runs it. Before, Kontor kept what it rendered while compiling (no columns: here every
    test failed, in aboyalejandro/data-stack-to-go-duckdb-dbt the SQL was empty and unreadable)."""
    root = shop(tmp_path, {
        "macros/has_column.sql": (
            "{% test has_column(model, column_name) %}\n"
            "{% set names = adapter.get_columns_in_relation(model) | map(attribute='name') | list %}\n"
            "select 1 as missing where {{ 'false' if column_name in names else 'true' }}\n"
            "{% endtest %}\n"),
        "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
        "models/props.yml": "version: 2\nmodels:\n  - name: good\n    columns:\n      - name: id\n"
                            "        data_tests: [has_column]\n      - name: nope\n        data_tests: [has_column]\n",
    })
    result = run_all(root, tmp_path, success=False)
    assert checks(result) == {"has_column_good_id": True, "has_column_good_nope": False}


def test_an_unset_name_prints_nothing_as_in_dbt(tmp_path):
    """dbt_utils 1.4's ``at_least_one`` prints ``{{ select_gb_cols }}``, set only when
    ``group_by_columns`` is given: dbt's Jinja prints an unset name as ''; Kontor's strict Jinja
    refused the project (michaelkrot/dbt-duckdb-data). Reading into it still fails."""
    root = shop(tmp_path, {
        "macros/at_least.sql": (
            "{% test at_least_one_row(model, column_name, group_by_columns=[]) %}\n"
            "{% if group_by_columns | length > 0 %}{% set select_gb_cols = group_by_columns | join(',') ~ ',' %}{% endif %}\n"
            "select {{ select_gb_cols }} count({{ column_name }}) as n from {{ model }} having count({{ column_name }}) = 0\n"
            "{% endtest %}\n"),
        "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
        "models/props.yml": "version: 2\nmodels:\n  - name: good\n    columns:\n      - name: id\n"
                            "        data_tests: [at_least_one_row]\n",
    })
    assert checks(run_all(root, tmp_path)) == {"at_least_one_row_good_id": True}
    write(root, {"models/bad.sql": "select {{ nothing.here }} as x\n"})
    with pytest.raises(ProjectError) as err:
        build_definitions(load_settings(root, env={"HOME": str(tmp_path)}))
    assert "models/bad.sql:1" in str(err.value.problems[0]) and "'nothing' is undefined" in str(err.value.problems[0])


def test_on_run_start_and_on_run_end_run_around_the_models(tmp_path):
    """dbt-duckdb projects create DuckDB macros or schemas in ``on-run-start`` and log or export in
    ``on-run-end``; before, both were refused at their line. Checked with dbt-duckdb on this project:
    the same ``doubled`` and ``run_log`` (``schemas`` of what was built)."""
    root = shop(tmp_path, {
        "dbt_project.yml": ("name: shop\nconfig-version: 2\nprofile: shop\n"
                            "on-run-start:\n  - \"create or replace macro twice(x) as x * 2\"\n"
                            "  - \"create schema if not exists {{ target.schema }}_logs\"\n"
                            "on-run-end: \"create or replace table {{ target.schema }}_logs.run_log as "
                            "select '{{ schemas | join(',') }}' as built_in\"\n"),
        "models/doubled.sql": "select id, twice(amount) as amount from {{ ref('orders') }}\n",
    })
    run_all(root, tmp_path)
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select * from main.doubled order by 1").fetchall() == [(1, 20), (2, 50)]
        assert con.execute("select * from main_logs.run_log").fetchall() == [("main",)]
    finally:
        con.close()


def test_on_run_end_reading_results_is_refused_at_its_line(tmp_path):
    root = shop(tmp_path, {
        "dbt_project.yml": ("name: shop\nconfig-version: 2\nprofile: shop\n"
                            "on-run-end:\n  - \"{% for r in results %}select 1;{% endfor %}\"\n"),
        "models/good.sql": "select 1 as x\n",
    })
    with pytest.raises(ProjectError) as err:
        build_definitions(load_settings(root, env={"HOME": str(tmp_path)}))
    assert str(err.value.problems[0]).startswith("dbt_project.yml:4: on-run-end reads `results`")


MISSING_PACKAGE = {
    "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
    "models/below.sql": "select * from {{ ref('good') }}\n",
    "models/other.sql": "select 1 as x\n",
    "models/props.yml": ("version: 2\nmodels:\n  - name: good\n    columns:\n      - name: amount\n"
                         "        data_tests:\n          - not_null\n          - dbt_utils.accepted_range:\n"
                         "              arguments:\n                min_value: 0\n"),
}


def test_a_test_of_a_package_not_installed_errors_alone(tmp_path):
    """salmabenslimane/dbt-DuckDB-ETL tests with ``dbt_utils.accepted_range`` and installs no
    package: dbt parses the project, errors that test when it runs (``'dbt_utils' is undefined``)
    and skips what is below its model, the rest builds (checked with dbt-duckdb on this project);
    before, Kontor refused the project at the test's line."""
    from pipelines.check import check_project

    root = shop(tmp_path, MISSING_PACKAGE)
    problems, summary = check_project(load_settings(root, env={"HOME": str(tmp_path)}))
    assert problems == []
    assert "warning: models/props.yml:8: test 'dbt_utils.accepted_range': package 'dbt_utils' is not installed" \
        in summary, summary
    result = run_all(root, tmp_path, success=False)
    assert checks(result) == {"not_null_good_amount": True, "dbt_utils_accepted_range_good_amount__0": False}
    assert relations(root) == {"main.orders", "main.good", "main.other"}


def test_a_singular_test_of_a_source_alone_runs_before_its_readers(tmp_path):
    """``tests/assert_positive.sql: select * from {{ source('pos', 'orders') }} where amount < 0``
    refs no model; dbt runs it (its node depends on the source). Before: refused ('a singular test
    must ref() the model it tests')."""
    root = shop(tmp_path, {
        "models/_sources.yml": "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n"
                               "      - name: orders\n",
        "models/stg_orders.sql": "select * from {{ source('pos', 'orders') }}\n",
        "tests/assert_positive.sql": "select * from {{ source('pos', 'orders') }} where amount < 0\n",
        "tests/assert_small.sql": "select * from {{ source('pos', 'orders') }} where amount > 20\n",
    })
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    con.execute("create schema main_raw; create table main_raw.orders as select * from (values (1, 10), (2, 25)) t(id, amount)")
    con.close()
    result = run_all(root, tmp_path, success=False)
    assert checks(result) == {"assert_positive": True, "assert_small": False}
    assert relations(root) == {"main.orders"}        # stg_orders is below the failed test


def test_on_spark_a_source_read_in_place_is_still_judged_on_duckdb(tmp_path):
    """Its view over the files is DuckDB's: in a Spark run that gate is judged on the DuckDB
    warehouse (before this: the view's SQL went to Spark, which has no read_csv)."""
    from pipelines.run import run_pipeline

    root = in_place(tmp_path, "id,tier\n1,a\n,b\n")
    outcome = run_pipeline(load_settings(root, env={"HOME": str(tmp_path), "KONTOR_ENGINE": "spark"}), None,
                           history=False)
    assert not outcome.success
    assert outcome.gate_failures == ["files/customers: check 'source_not_null_files_customers_id' failed "
                                     "(1 of 2 rows unexpected)"]
    assert "main/other" in outcome.materialized and "main/stg_customers" not in outcome.materialized
