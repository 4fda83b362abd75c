"""A dbt project directory is a Kontor project: ``tests/fixtures/dbt_native`` (dbt_project.yml,
profiles.yml, no pyproject.toml) runs as it is, with dbt's paths, folder configs, vars, schemas
and seed types.

The expected marts are computed here in plain Python from the seed CSVs (``oracle``); the
expected types are what dbt-duckdb 1.11 gave for the same files (checked by hand once with
``dbt build`` on a copy; benchmarks/dbt_projects.py repeats that comparison on any project).
"""
from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.core.errors import KontorError, ProjectError
from pipelines.core.settings import load_settings

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dbt_native"


def copy(tmp_path: Path) -> Path:
    root = tmp_path / "cafe"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("target", "*.duckdb"))
    return root


def run(root: Path, env: dict | None = None, expect_success: bool = True):
    settings = load_settings(root, env={"HOME": str(root), **(env or {})})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success is expect_success, [e.message for e in result.all_events if e.is_failure]
    return settings, result


def catalog(db: Path) -> dict[tuple[str, str], tuple[str, dict[str, str]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rels = con.execute("select table_schema, table_name, table_type from information_schema.tables "
                           "where table_schema <> 'kontor'").fetchall()
        return {(s, t): (kind, dict(con.execute("select column_name, data_type from information_schema.columns "
                                                "where table_schema = ? and table_name = ? order by ordinal_position",
                                                [s, t]).fetchall())) for s, t, kind in rels}
    finally:
        con.close()


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def oracle() -> tuple[dict, dict]:
    """daily_sales and store_revenue from the seed CSVs, in Python."""
    with open(FIXTURE / "data" / "raw_sales.csv", newline="") as fh:
        sales = list(csv.DictReader(fh))
    with open(FIXTURE / "data" / "lookup" / "stores.csv", newline="") as fh:
        stores = {int(r["code"]): r["name"] for r in csv.DictReader(fh)}   # raw_sales.store_code is an integer
    daily: dict = defaultdict(lambda: [0, 0, Decimal(0)])
    revenue: dict = defaultdict(Decimal)
    for s in sales:
        day = dt.datetime.fromisoformat(s["sold_at"]).replace(hour=0, minute=0, second=0)
        amount = Decimal(s["amount_cents"]) / 100
        signed = -amount if s["is_refund"] == "true" else amount
        daily[day][0] += 1
        daily[day][1] += int(s["amount_cents"]) >= 500          # var min_ticket_cents, scoped to the project
        daily[day][2] += signed
        revenue[(int(s["store_code"]), stores[int(s["store_code"])])] += signed
    expected_daily = {d: (n, full, gross, float((gross / Decimal("1.19")).quantize(Decimal("0.01"), ROUND_HALF_UP)))
                      for d, (n, full, gross) in daily.items()}
    return expected_daily, dict(revenue)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy(tmp_path_factory.mktemp("dbt"))
    settings, result = run(root)
    return root, settings, result


def test_settings_come_from_dbt_project_and_profile(built):
    root, settings, _ = built
    assert not (root / "pyproject.toml").exists()
    assert settings.dbt is not None and settings.dbt.name == "cafe"
    assert settings.warehouse_path == root / "cafe.duckdb"          # profiles.yml path, relative to the project
    assert settings.threads is None                                  # profile threads are dbt's concurrency
    assert settings.sources_file.is_file()                           # kontor run/check refuse a missing one


def test_relations_land_where_dbt_puts_them(built):
    root, _, _ = built
    cat = catalog(root / "cafe.duckdb")
    assert {k: v[0] for k, v in cat.items()} == {
        ("main_raw", "raw_sales"): "BASE TABLE", ("main_raw", "stores"): "BASE TABLE",  # seeds: +schema raw
        ("main", "stg_sales"): "VIEW",                                   # +materialized: view for the project
        ("main", "daily_sales"): "BASE TABLE",                           # marts: +materialized: table
        ("main_finance", "store_revenue"): "BASE TABLE",                 # finance: +schema; config(alias=...)
        ("main_dbt_test__audit", "few_small_tickets"): "BASE TABLE",     # a test's store_failures
        ("snapshots", "stores_history"): "BASE TABLE",                   # {% snapshot %}, target_schema
        ("main", "refunds"): "BASE TABLE", ("main", "hook_log"): "BASE TABLE",   # its hooks made the log
        ("main", "sales_log"): "BASE TABLE",                             # incremental, delete+insert
    }


def test_seed_types_follow_dbt_inference_and_column_types(built):
    root, _, _ = built
    cat = catalog(root / "cafe.duckdb")
    assert cat[("main_raw", "raw_sales")][1] == {"id": "INTEGER", "store_code": "INTEGER", "amount_cents": "INTEGER",
                                                 "sold_at": "TIMESTAMP", "is_refund": "BOOLEAN", "note": "VARCHAR"}
    # seeds: cafe: lookup: stores: +column_types keeps the leading zeros of the store codes
    assert cat[("main_raw", "stores")][1] == {"code": "VARCHAR", "name": "VARCHAR", "opened": "DATE",
                                              "seats": "INTEGER", "rating": "DOUBLE"}
    assert rows(root / "cafe.duckdb", "select code from main_raw.stores order by 1") == [("007",), ("012",), ("031",)]


def test_marts_equal_the_independent_computation(built):
    root, _, _ = built
    daily, revenue = oracle()
    got = {r[0]: tuple(r[1:]) for r in rows(root / "cafe.duckdb", "select * from main.daily_sales")}
    assert got == daily
    got = {(c, n): v for c, n, v in rows(root / "cafe.duckdb", "select store_code, store_name, revenue from main_finance.store_revenue")}
    assert got == revenue


def test_asset_keys_are_schema_and_model_name(built):
    _, _, result = built
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"main_raw/raw_sales", "main_raw/stores", "main/stg_sales", "main/daily_sales",
            "main_finance/revenue_by_store"} <= keys


def test_project_generate_schema_name_macro_wins(tmp_path):
    root = copy(tmp_path)
    (root / "macros" / "generate_schema_name.sql").write_text(
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "{%- if node.resource_type == 'seed' -%}{{ custom_schema_name | trim }}\n"
        "{%- elif custom_schema_name is none -%}{{ target.schema }}\n"
        "{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}\n"
        "{%- endmacro %}\n")
    (root / "transform" / "staging" / "_sources.yml").write_text(
        (root / "transform" / "staging" / "_sources.yml").read_text().replace("schema: main_raw", "schema: raw"))
    run(root)
    assert {k for k in catalog(root / "cafe.duckdb")} == {
        ("raw", "raw_sales"), ("raw", "stores"), ("main", "stg_sales"), ("main", "daily_sales"), ("finance", "store_revenue"),
        ("main_dbt_test__audit", "few_small_tickets"), ("snapshots", "stores_history"), ("main", "refunds"),
        ("main", "hook_log"), ("main", "sales_log")}


def test_profile_from_dbt_profiles_dir_and_env_var(tmp_path):
    root = copy(tmp_path)
    profiles = tmp_path / "elsewhere"
    profiles.mkdir()
    (root / "profiles.yml").rename(profiles / "profiles.yml")
    settings = load_settings(root, env={"DBT_PROFILES_DIR": str(profiles), "CAFE_DB": str(tmp_path / "w.duckdb"),
                                        "HOME": str(tmp_path)})
    assert settings.warehouse_path == tmp_path / "w.duckdb"


def test_vars_from_the_command_line_override_the_project(tmp_path):
    root = copy(tmp_path)
    run(root, env={"KONTOR_VARS": "{vat_rate: 0.07}"})
    nets = rows(root / "cafe.duckdb", "select gross, net from main.daily_sales")
    assert all(net == pytest.approx(float(gross) / 1.07, abs=0.006) for gross, net in nets)


def test_a_profile_that_is_not_duckdb_is_refused_at_its_line(tmp_path):
    root = copy(tmp_path)
    (root / "profiles.yml").write_text("cafe:\n  target: dev\n  outputs:\n    dev:\n      type: postgres\n      host: x\n")
    with pytest.raises(ProjectError) as err:
        load_settings(root, env={"HOME": str(tmp_path)})
    assert str(err.value) == (f"{root / 'profiles.yml'}:5: target 'dev' is type 'postgres'; Kontor runs dbt projects "
                              "on DuckDB only; fix: add a duckdb output")


def test_a_declared_package_that_is_not_installed_is_named(tmp_path):
    root = copy(tmp_path)
    (root / "packages.yml").write_text("packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n")
    with pytest.raises(KontorError, match=r"packages.yml:2: package 'dbt-labs/dbt_utils' is not installed under "
                                          r"dbt_packages/; fix: run `dbt deps` once"):
        load_settings(root, env={"HOME": str(tmp_path)})


def test_python_models_are_refused_unknown_top_level_keys_warned(tmp_path):
    """An unknown top-level key of a properties file is ignored by dbt (nothing under it is read):
    a warning with a did-you-mean, not a refusal (michaelkrot/dbt-duckdb-data's top-level tests:)."""
    from pipelines.models.project import load_models

    root = copy(tmp_path)
    (root / "transform" / "marts" / "py_model.py").write_text("def model(dbt, session):\n    return None\n")
    (root / "transform" / "marts" / "_props.yml").write_text("version: 2\nmodles:\n  - name: daily_sales\n")
    with pytest.raises(ProjectError) as err:
        build_definitions(load_settings(root, env={"HOME": str(tmp_path)}))
    assert [str(p) for p in err.value.problems] == [
        "transform/marts/py_model.py:1: Python models are not supported; fix: write the model in SQL"]
    warnings = [str(w) for w in load_models(load_settings(root, env={"HOME": str(tmp_path)})).warnings]
    assert "transform/marts/_props.yml:2: unknown top-level key 'modles'; did you mean 'models'? (ignored, as dbt " \
           "ignores it)" in warnings


def test_snapshot_blocks_keep_history_in_dbt_columns(tmp_path):
    """Checked once against dbt-duckdb 1.11 (dbt snapshot on the same two deliveries): identical
    tables, dbt_scd_id included."""
    root = copy(tmp_path)
    run(root)
    stores = root / "data" / "lookup" / "stores.csv"
    stores.write_text(stores.read_text().replace("012,Hafen,2021-11-15", "012,Hafen Nord,2022-01-10"))
    run(root)
    db = root / "cafe.duckdb"
    cols = [c for c, *_ in rows(db, "describe snapshots.stores_history")]
    assert cols == ["code", "name", "opened", "seats", "rating", "dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"]
    history = rows(db, "select code, name, dbt_valid_from, dbt_valid_to from snapshots.stores_history order by 1, 3")
    assert history == [
        ("007", "Altstadt", dt.date(2019, 5, 1), None),
        ("012", "Hafen", dt.date(2021, 11, 15), dt.date(2022, 1, 10)),        # closed by the newer version
        ("012", "Hafen Nord", dt.date(2022, 1, 10), None),
        ("031", "Bahnhof", dt.date(2023, 2, 1), None)]
    import hashlib
    scd = dict(((c, f), h) for c, f, h in rows(db, "select code, dbt_valid_from, dbt_scd_id from snapshots.stores_history"))
    assert scd[("012", dt.date(2022, 1, 10))] == hashlib.md5(b"012|2022-01-10").hexdigest()   # dbt's hash of key|start


def test_ephemeral_models_are_inlined_and_hooks_run(built):
    root, _, result = built
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "main/int_refunds" not in keys and ("main", "int_refunds") not in catalog(root / "cafe.duckdb")
    with open(FIXTURE / "data" / "raw_sales.csv", newline="") as fh:
        refunds = sorted(int(r["id"]) for r in csv.DictReader(fh) if r["is_refund"] == "true")
    assert [r[0] for r in rows(root / "cafe.duckdb", "select sale_id from main.refunds order by 1")] == refunds
    assert rows(root / "cafe.duckdb", "select * from main.hook_log") == [("main.refunds", "post")]


def test_incremental_delete_insert_and_on_schema_change_ignore(tmp_path):
    root = copy(tmp_path)
    run(root)
    sales = root / "data" / "raw_sales.csv"
    sales.write_text(sales.read_text() + "8,012,700,2024-03-03 09:00:00,false,\n")
    model = root / "transform" / "marts" / "sales_log.sql"
    model.write_text(model.read_text().replace("select sale_id, store_code,", "select sale_id, store_code, is_refund,"))
    _, result = run(root)
    meta = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.asset_key.to_user_string() == "main/sales_log")
    assert meta["materialization"].value == "incremental (merge)"
    assert meta["detail"].value == "merge: 2 rows"            # sale 7 (the latest so far, >=) and the new sale 8
    assert [c for c, *_ in rows(root / "cafe.duckdb", "describe main.sales_log")] == \
        ["sale_id", "store_code", "amount", "sold_at"]          # on_schema_change: ignore (dbt's default)
    assert rows(root / "cafe.duckdb", "select count(*), count(distinct sale_id) from main.sales_log") == [(8, 8)]


def test_an_enforced_contract_orders_columns_and_refuses_a_wrong_type(built, tmp_path):
    root, _, _ = built
    assert [c for c, *_ in rows(root / "cafe.duckdb", "describe main_finance.store_revenue")] == \
        ["store_code", "revenue", "store_name"]                     # the contract's order, not the query's
    assert rows(root / "cafe.duckdb", "select is_nullable from information_schema.columns where table_name = "
                                      "'store_revenue' and column_name = 'store_code'") == [("NO",)]
    broken = copy(tmp_path)
    marts = broken / "transform" / "marts" / "_marts.yml"
    marts.write_text(marts.read_text().replace("data_type: decimal(38, 2)", "data_type: integer"))
    settings = load_settings(broken, env={"HOME": str(broken)})
    from pipelines.run import run_pipeline

    outcome = run_pipeline(settings, None)
    assert not outcome.success
    assert any("the contract of revenue_by_store (transform/marts/_marts.yml:18) is broken: revenue: declared "
               "INTEGER, the query gives DECIMAL(38,2)" in f for f in outcome.failures), outcome.failures


def test_unsupported_configs_are_refused_at_their_line(tmp_path):
    root = copy(tmp_path)
    model = root / "transform" / "marts" / "sales_log.sql"
    model.write_text(model.read_text().replace("incremental_strategy='delete+insert'", "incremental_strategy='insert_overwrite'"))
    # on-run hooks run since the fourth batch (test_dbt_corpus4.py); one reading `results` is refused
    (root / "dbt_project.yml").write_text((root / "dbt_project.yml").read_text()
                                          + "\non-run-end:\n  - \"{{ results | length }}\"\n")
    with pytest.raises(ProjectError) as err:
        build_definitions(load_settings(root, env={"HOME": str(root)}))
    assert [str(p) for p in err.value.problems] == [
        "dbt_project.yml:35: on-run-end reads `results` (dbt's run results), which Kontor does not give; fix: do "
        "without it (`schemas` and `database_schemas` are given)",
        "transform/marts/sales_log.sql:1: incremental_strategy 'insert_overwrite' is not supported on DuckDB; "
        "use one of append, merge, delete+insert"]


def test_column_lineage_reaches_the_seed_file(tmp_path):
    from pipelines.definitions import compile_models
    from pipelines.models.lineage import ColumnRef, trace

    root = copy(tmp_path)
    compiled = compile_models(load_settings(root, env={"HOME": str(root)}))
    node = trace(compiled, ColumnRef("main", "daily_sales", "gross"))
    leaves = sorted((u.upstream[0].ref.column, u.upstream[0].origin) for u in node.upstream)
    assert leaves == [("amount_cents", "data/raw_sales.csv column amount_cents"),
                      ("is_refund", "data/raw_sales.csv column is_refund")]
