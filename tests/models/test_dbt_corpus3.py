"""What the third batch of public dbt-duckdb projects tried with benchmarks/dbt_projects.py needed
(benchmarks/README.md, "Projects nobody on the team wrote"), each on a small project written here:

- a source's ``schema``/``database``/``identifier`` are Jinja as in dbt (``"{{ target.schema }}_raw"``);
  a source in another database than the target's is refused at its line (before: the key was
  dropped and the same schema read in the one DuckDB file, another table without a word);
- metrics of dbt's legacy spec (``type: count``, ``sql:``, ``model:``), which dbt 1.6+ refuses at
  parse, are refused too (before: accepted, the project ran where dbt runs nothing); the current
  spec (semantic models, metrics, saved queries, exposures) is accepted;
- a test renders with its own node as ``model`` (``model.package_name`` ...), and ``flags.WHICH``
  is ``build`` (a Kontor run builds and tests, as ``dbt build``; before ``run``, so a test guarded
  on ``flags.WHICH in ('test', 'build')``, as dbt-unit-testing's, passed without running);
- dbt's ``graph`` (``graph.nodes`` ...) is refused where it is read (before: empty, so what a macro
  computed from it differed without a word); since the fourth batch ``graph.nodes`` and
  ``graph.sources`` are dbt's, the other parts still refused.
"""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.errors import ProjectError
from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions

PROFILE = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: warehouse.duckdb\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def shop(tmp_path: Path, files: dict[str, str]) -> Path:
    """Seeds in ``main_raw`` (``+schema: raw``), a staging model reading them as a source."""
    root = tmp_path / "shop"
    write(root, {
        "dbt_project.yml": "name: shop\nconfig-version: 2\nprofile: shop\nvars:\n  raw_suffix: raw\n"
                           "seeds:\n  shop:\n    +schema: raw\n",
        "profiles.yml": PROFILE,
        "seeds/orders.csv": "order_id,amount\n1,10\n2,25\n",
        "models/stg_orders.sql": "select order_id, amount * 2 as doubled\nfrom {{ source('pos', 'orders') }}\n",
        **files,
    })
    return root


def run_all(root: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    settings = load_settings(root, env={"HOME": str(tmp_path)})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)


def refused(root: Path, tmp_path: Path) -> list[str]:
    with pytest.raises(ProjectError) as err:
        build_definitions(load_settings(root, env={"HOME": str(tmp_path)}))
    return [str(p) for p in err.value.problems]


def test_a_sources_schema_and_database_are_rendered_as_dbt_renders_them(tmp_path):
    root = shop(tmp_path, {"models/_sources.yml": (
        "version: 2\nsources:\n  - name: pos\n    database: \"{{ target.database }}\"\n"
        "    schema: \"{{ target.schema }}_{{ var('raw_suffix') }}\"\n    tables:\n"
        "      - name: orders\n        identifier: \"{{ 'orders' }}\"\n")})
    con = run_all(root, tmp_path)
    try:
        assert con.execute("select * from main.stg_orders order by 1").fetchall() == [(1, 20), (2, 50)]
    finally:
        con.close()


def test_a_source_in_another_database_fails_its_readers_when_they_run(tmp_path):
    """udemy's ``database: dev`` (its profile's file) is the target's own database when the
    profile names dev.duckdb; here the profile's file is warehouse.duckdb. Refused at its line
    after the third batch; since the fourth a warning, the source named by its three parts, so
    the models reading it fail when they run and the rest builds, as in dbt (simran-basu's
    ``database: workspace`` source: dbt fails its 2 readers with 'Catalog Error' and builds the rest)."""
    from pipelines.check import check_project

    root = shop(tmp_path, {"models/_sources.yml": (
        "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    database: dev\n    tables:\n"
        "      - name: orders\n"),
        "models/other.sql": "select * from {{ ref('orders') }}\n"})
    problems, summary = check_project(load_settings(root, env={"HOME": str(tmp_path)}))
    assert problems == []
    assert ("warning: models/_sources.yml:3: source pos.orders: database 'dev' is not the target's ('warehouse', "
            "its DuckDB file)") in summary, summary
    settings = load_settings(root, env={"HOME": str(tmp_path)})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failed = " ".join(str(e.event_specific_data.error.message) for e in result.all_events if e.is_step_failure)
    assert "main/stg_orders: Catalog Error" in failed and "dev.main_raw.orders" in failed, failed
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from main.other").fetchone() == (2,)
    finally:
        con.close()


METRICS_NOW = """version: 2
semantic_models:
  - name: orders
    model: ref('stg_orders')
    defaults: {agg_time_dimension: ordered_at}
    entities: [{name: order, type: primary, expr: order_id}]
    measures: [{name: doubled, agg: sum}]
metrics:
  - name: doubled
    label: Doubled
    type: simple
    type_params: {measure: doubled}
saved_queries:
  - name: by_order
    query_params: {metrics: [doubled]}
exposures:
  - name: board
    type: dashboard
    owner: {name: Finance}
    depends_on: ["ref('stg_orders')"]
"""


def test_legacy_metrics_are_refused_as_dbt_refuses_them_the_current_spec_is_accepted(tmp_path):
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {"models/_sources.yml": sources, "models/_metrics.yml": METRICS_NOW})
    con = run_all(root, tmp_path)
    con.close()
    write(root, {"models/_legacy.yml": (
        "version: 2\nmetrics:\n  - name: order_count\n    label: Orders\n    type: count\n"
        "    model: ref('stg_orders')\n    sql: order_id\n  - name: big\n    label: Big\n    type: average\n"
        "    type_params: {measure: doubled}\n")})
    fix = ("; fix: declare its measure on a semantic model (semantic_models:) and the metric with type simple, "
           "ratio, cumulative, derived or conversion (dbt's spec since 1.6)")
    assert refused(root, tmp_path) == [
        "models/_legacy.yml:6: metric 'order_count': 'model', 'sql' belong to the legacy metrics spec, which dbt "
        "(1.6 and later) refuses too" + fix,
        "models/_legacy.yml:10: metric 'big': type 'average' is not a metric type of dbt's spec (dbt refuses it "
        "too)" + fix]


def test_a_test_renders_with_its_own_node_and_flags_which_is_build(tmp_path):
    """A singular test and a generic test of the project's that read ``model`` (the test node)
    and ``flags.WHICH``: each passes only if both are dbt build's."""
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {
        "models/_sources.yml": sources,
        "models/_props.yml": "version: 2\nmodels:\n  - name: stg_orders\n    data_tests: [built_by_build]\n",
        "macros/built_by_build.sql": (
            "{% test built_by_build(model) %}\nselect * from {{ model }}\n"
            "where '{{ flags.WHICH }}' <> 'build'\n"
            "{% endtest %}\n"),
        "tests/own_node.sql": (
            "select * from {{ ref('stg_orders') }}\n"
            "where '{{ model.package_name }}.{{ model.resource_type }}.{{ model.unique_id }}' "
            "<> 'shop.test.test.shop.own_node'\n"
            "   or '{{ flags.WHICH }}' not in ('test', 'build')\n"),
    })
    con = run_all(root, tmp_path)
    try:
        got = con.execute("select rule, success from kontor.gate_results order by rule").fetchall()
    finally:
        con.close()
    assert got == [("built_by_build_stg_orders_", True), ("own_node", True)]


def test_a_test_reading_dbts_graph_sees_the_projects_models(tmp_path):
    """dbt-unit-testing finds the tested model in ``graph.nodes``; Kontor's graph was empty, so its
    mock tests raised 'Node shop.stg_orders not found' (gtaing/nba-duckdb-dbt), and a macro that
    generates SQL per node would have generated none. Refused where read after the third batch;
    given since the fourth (``graph.nodes``, ``graph.sources``: test_dbt_corpus4.py)."""
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {
        "models/_sources.yml": sources,
        "macros/nodes.sql": ("{% macro model_names() %}\n  {% set names = graph.nodes.values()\n"
                             "     | selectattr('resource_type', 'equalto', 'model') | map(attribute='name') | list %}\n"
                             "  {{ return(names) }}\n{% endmacro %}\n"),
        "tests/every_model_built.sql": ("select * from {{ ref('stg_orders') }}\n"
                                        "where {{ model_names() | length }} = 0\n"),
    })
    con = run_all(root, tmp_path)
    try:
        got = con.execute("select rule, success from kontor.gate_results").fetchall()
    finally:
        con.close()
    assert got == [("every_model_built", True)]


def test_dbt_duckdbs_external_materialization_is_refused_once_with_what_it_is(tmp_path):
    """ran-codes/dbt-duckdb-demo writes its models to CSV files (``materialized='external',
    format='csv'``): before, each model got 'unknown config format' besides 'unknown materialization'."""
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {"models/_sources.yml": sources,
                           "models/exported.sql": "{{ config(materialized='external', format='csv') }}\n"
                                                  "select * from {{ ref('stg_orders') }}\n"})
    assert refused(root, tmp_path) == [
        "models/exported.sql:1: materialization 'external' is dbt-duckdb's (the model written to a file), which "
        "Kontor does not write; fix: materialized='table' (a post-hook can COPY it to the file)"]


def test_a_ref_glued_to_from_or_join_is_valid_sql_as_in_dbt(tmp_path):
    """poonamthite22/dbt-duckdb-learning writes ``FROM{{ref('x')}}``: dbt's relation starts with a
    quote (``FROM"db"."main"."x"``), Kontor's ``main.x`` made ``FROMmain.x``, refused as a SQL
    syntax error. A longer name ending in the relation's text is left alone."""
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {
        "models/_sources.yml": sources,
        "models/eph.sql": "{{ config(materialized='ephemeral') }}\nselect 1 as order_id\n",
        "models/glued.sql": ("{{ config(materialized='table') }}\nselect o.order_id, o.doubled, r.amount, e.order_id as e\n"
                             "FROM{{ref('stg_orders')}} o\nJOIN{{ source('pos', 'orders') }} r using (order_id)\n"
                             "left join{{ ref('eph') }} e on e.order_id = o.order_id\n"
                             "where 'fromx' <> 'fromx.stg_orders'\n"),
    })
    con = run_all(root, tmp_path)
    try:
        assert con.execute("select * from main.glued order by 1").fetchall() == [(1, 20, 10, 1), (2, 50, 25, None)]
    finally:
        con.close()


def test_a_dbt_owner_dagster_would_refuse_is_a_team(tmp_path):
    """ran-codes/dbt-duckdb-demo's ``meta: {owner: '@ran'}``: Dagster refuses an owner that is
    neither an e-mail address nor ``team:...``, and with it the whole code location (before: the
    run crashed with DagsterInvalidDefinitionError)."""
    from assets.models import dagster_owners

    assert dagster_owners("@ran") == ["team:@ran"]
    assert dagster_owners(["finance@example.com", "Data Team", {"email": "a@b.io"}]) == [
        "finance@example.com", "team:Data Team", "a@b.io"]
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {"models/_sources.yml": sources,
                           "models/_props.yml": "version: 2\nmodels:\n  - name: stg_orders\n    meta:\n"
                                                "      owner: '@ran'\n"})
    con = run_all(root, tmp_path)
    con.close()


def test_a_python_model_is_refused_at_its_model_function(tmp_path):
    """ran-codes/dbt-duckdb-demo's Python models import polars first: the refusal names the line
    of ``def model(dbt, session)`` (before: the file alone, no line)."""
    sources = "version: 2\nsources:\n  - name: pos\n    schema: main_raw\n    tables:\n      - name: orders\n"
    root = shop(tmp_path, {"models/_sources.yml": sources,
                           "models/py_orders.py": "import polars as pl\n\n\ndef model(dbt, session):\n"
                                                  "    return dbt.ref('stg_orders').pl()\n"})
    assert refused(root, tmp_path) == [
        "models/py_orders.py:4: Python models are not supported; fix: write the model in SQL"]
