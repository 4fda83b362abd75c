"""The shipped staging models and marts (models/staging, models/marts) on generated demo data.

One throw-away project per module: the repository's models/ copied in, demo data generated, the
real asset graph executed in-process. The tests then read the warehouse.

Scale 1.0 rather than 0.2: at 0.2 product group PG-A in region South has about ten order lines a
month, too few for the demo's last-month drop to stand out of the noise (seed 5 at 0.2: October
at 0.83 of the months before); at 1.0 it is clear (0.22), and the run takes about a second longer.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import REPO, make_project
from pipelines.check import check_project
from pipelines.definitions import ALL_JOB, build_definitions, compile_models
from pipelines.demo import generate
from pipelines.demo import refdata
from pipelines.demo.transactions import DROP_GROUP, DROP_REGION
from pipelines.core.settings import Settings

BUCKETS = ("not due", "1-30", "31-60", "61-90", ">90")
# Which source each staging model is built from: stg_<system>__<table>.
STAGING = "stg_{system}__{table}"


def run_all(settings: Settings, selection: list[dg.AssetKey] | None = None) -> None:
    job = build_definitions(settings).resolve_job_def(ALL_JOB)
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), asset_selection=selection)
    assert result.success


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("shipped_models")
    settings = make_project(root)
    shutil.copytree(REPO / "models", root / "models", dirs_exist_ok=True)
    generate(root / "data", scale=1.0, seed=5)
    run_all(settings)
    return settings


@pytest.fixture()
def con(project: Settings):
    connection = duckdb.connect(str(project.warehouse_path), read_only=True)
    yield connection
    connection.close()


def one(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchone()[0]


def test_check_is_clean_for_the_shipped_project(project: Settings):
    problems, summary = check_project(project)
    assert problems == [], "\n".join(str(p) for p in problems)
    assert "no problems" in summary


def test_every_model_and_column_is_documented_with_its_type(project: Settings, con):
    compiled = compile_models(project)
    shipped = {n: cm for n, cm in compiled.models.items() if cm.model.schema in ("staging", "marts")}
    expected_staging = {STAGING.format(system=t.system, table=t.name) for t in compiled.project.sources.tables}
    assert {n for n, cm in shipped.items() if cm.model.schema == "staging"} == expected_staging
    assert {n for n, cm in shipped.items() if cm.model.schema == "marts"} >= {
        "dim_dates", "dim_items", "fct_orders", "fct_order_lines", "fct_invoices", "fct_payments",
        "fct_open_items", "fct_purchase_orders", "revenue_by_product_group_region"}
    for name, cm in shipped.items():
        props = cm.model.properties
        assert props.description, name
        assert cm.materialized == ("view" if cm.model.schema == "staging" else "table"), name
        actual = {c: t.lower() for c, t, *_ in con.execute(f"describe {cm.model.relation}").fetchall()}
        documented = {c.name: str(c.data_type).replace(" ", "").lower() for c in props.columns}
        assert documented == {c: t.replace(" ", "") for c, t in actual.items()}, name
        assert all(c.description for c in props.columns), name
        assert compiled.output_columns(name) == list(actual), name      # lineage sees every column
        if cm.model.schema == "marts":
            assert props.meta.get("owner") == "controlling", name
            # A mart that references a customer or supplier carries (system, source id) for the
            # later join to the entity cross-reference.
            references = {"customer": {"customer_no", "erp_customer_no", "account_no"}, "supplier": {"supplier_no"}}
            for party, id_columns in references.items():
                if id_columns & set(actual):
                    assert {f"{party}_system", f"{party}_source_id"} <= set(actual), name
                    doc = next(c.description for c in props.columns if c.name == f"{party}_source_id")
                    assert f"entities.{party}_xref" in doc, name


def test_staging_has_one_row_per_primary_key(project: Settings, con):
    compiled = compile_models(project)
    for table in compiled.project.sources.tables:
        cm = compiled.models[STAGING.format(system=table.system, table=table.name)]
        key = cm.unique_key
        assert len(key) == len(table.primary_key) > 0, cm.model.name
        rows, keys = con.execute(
            f"select count(*), (select count(*) from (select distinct {', '.join(key)} from {cm.model.relation})) "
            f"from {cm.model.relation}").fetchone()
        keys_sql = [f'"{k}"' for k in table.primary_key]
        raw_keys = one(con, f"select count(*) from (select distinct {', '.join(keys_sql)} from raw.{table.key} "
                            f"where {' and '.join(f'{k} is not null' for k in keys_sql)})")
        assert rows == keys == raw_keys > 0, cm.model.name
        assert one(con, f"select count(*) from {cm.model.relation} where source_file is null or batch_id is null") == 0


def test_staging_names_and_codes(con):
    assert {r[0] for r in con.execute(
        "select country_code from staging.stg_crm__accounts union select country_code from staging.stg_accounting__debitoren "
        "union select country_code from staging.stg_erp__customers").fetchall()} <= {"DE", "AT", "CH", None}
    assert {r[0] for r in con.execute("select distinct status from staging.stg_erp__orders").fetchall()} \
        <= {"open", "delivered", "invoiced", "cancelled"}
    assert {r[0] for r in con.execute("select distinct account_type from staging.stg_accounting__debitoren").fetchall()} == {"debtor"}
    assert {r[0] for r in con.execute("select distinct account_type from staging.stg_accounting__kreditoren").fetchall()} == {"creditor"}
    # Postcodes: the accounting system's lost leading zeros and A-/CH- prefixes are repaired.
    assert one(con, "select count(*) from staging.stg_accounting__debitoren "
                    "where country_code = 'DE' and not regexp_matches(postcode, '^[0-9]{5}$')") == 0
    assert one(con, "select count(*) from staging.stg_accounting__debitoren where postcode like '%-%'") == 0
    # Empty strings are NULL, text is trimmed.
    for relation, column in [("stg_accounting__debitoren", "vat_id"), ("stg_erp__customers", "name_addition"),
                             ("stg_crm__accounts", "email")]:
        assert one(con, f"select count(*) from staging.{relation} where {column} = '' or {column} <> trim({column})") == 0


def test_amounts_reconcile(con):
    assert one(con, "select sum(net_amount) from marts.fct_invoices") == \
        one(con, "select sum(Netto) from raw.accounting__rechnungen") > 0
    lines_sql = ("from raw.erp__order_lines l join raw.erp__orders o using (order_no) where o.status <> 'cancelled'")
    net, lines = con.execute(f"select sum(l.net_amount), count(*) {lines_sql}").fetchone()
    mart_net, mart_lines, mart_margin, mart_cost = con.execute(
        "select sum(net_revenue), sum(order_lines), sum(margin_amount), sum(cost_amount) "
        "from marts.revenue_by_product_group_region").fetchone()
    assert (mart_net, mart_lines) == (net, lines) and net > 0
    assert mart_margin == mart_net - mart_cost
    assert one(con, "select sum(net_amount) from marts.fct_orders") == one(con, "select sum(net_amount) from raw.erp__order_lines")
    assert one(con, "select sum(open_amount) from marts.fct_open_items") == \
        one(con, "select sum(Offen) from raw.accounting__offene_posten") > 0
    # payments arrive as a DATEV Buchungsstapel: credited (H) to the debtor, so Umsatz is negative
    assert one(con, "select sum(amount) from marts.fct_payments") == \
        -one(con, "select sum(Umsatz) from raw.accounting__zahlungen") > 0
    assert one(con, "select sum(net_amount) from marts.fct_purchase_orders") == \
        one(con, "select sum(net_amount) from raw.erp__purchase_orders")
    # Every invoice of the demo belongs to an ERP order, so every invoice has a region.
    assert one(con, "select count(*) from marts.fct_invoices where region is null or not is_matched_to_order") == 0


def test_payments_are_read_from_datev_buchungsstapel(con):
    """The demo's payments are DATEV EXTF files: the ledger keeps each one's metadata line, and
    every Belegdatum (DDMM) took its year from that file's date range."""
    rows = con.execute(
        "select path, file_meta, rows_read, rows_loaded from kontor.load_ledger "
        "where table_name = 'zahlungen' order by path").fetchall()
    assert [r[0].rsplit("/", 1)[-1] for r in rows] == [f"EXTF_Buchungsstapel_Zahlungen_{y}.csv" for y in (2024, 2025, 2026)]
    for path, meta_json, read, loaded in rows:
        meta = json.loads(meta_json)
        assert (meta["marker"], meta["data_category_name"], meta["format_version"]) == ("EXTF", "Buchungsstapel", "13")
        assert read == loaded > 0
        first, last = one(con, f"select min(Belegdatum) || ' ' || max(Belegdatum) from raw.accounting__zahlungen "
                               f"where _source_file = '{path}'").split()
        assert meta["date_from"] <= first <= last <= meta["date_to"], path
    assert one(con, "select min(payment_date) from staging.stg_accounting__zahlungen") >= refdata.PERIOD_START
    assert one(con, "select max(payment_date) from staging.stg_accounting__zahlungen") <= refdata.PERIOD_END


def test_ageing_buckets_cover_every_open_item(con):
    total, bucketed = con.execute(
        f"select count(*), count(*) filter (where ageing_bucket in {BUCKETS}) from marts.fct_open_items").fetchone()
    assert total == bucketed == one(con, "select count(*) from raw.accounting__offene_posten") > 0
    ranges = {b: (lo, hi) for b, lo, hi in con.execute(
        "select ageing_bucket, min(days_overdue), max(days_overdue) from marts.fct_open_items group by 1").fetchall()}
    limits = {"not due": (0, 0), "1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), ">90": (91, 10**6)}
    for bucket, (lo, hi) in ranges.items():
        assert limits[bucket][0] <= lo <= hi <= limits[bucket][1], bucket
    # days overdue is measured at the key date (Stichtag), the last day of the data
    assert {r[0] for r in con.execute("select distinct key_date from marts.fct_open_items").fetchall()} == {refdata.PERIOD_END}
    assert one(con, "select count(*) from marts.fct_open_items "
                    "where days_overdue <> greatest(date_diff('day', due_date, key_date), 0)") == 0


def test_calendar_covers_the_data_period(con):
    first, last, days, weeks = con.execute(
        "select min(date_day), max(date_day), count(*), count(distinct (iso_year, iso_week)) from marts.dim_dates").fetchone()
    assert first <= refdata.PERIOD_START and last >= refdata.PERIOD_END and days == (last - first).days + 1
    assert one(con, "select count(*) from marts.fct_order_lines l left join marts.dim_dates d on d.date_day = l.order_date "
                    "where d.date_day is null") == 0
    assert con.execute("select year, quarter, month, iso_year, iso_week, month_start from marts.dim_dates "
                       "where date_day = date '2025-12-29'").fetchone() == (2025, 4, 12, 2026, 1, dt.date(2025, 12, 1))


def test_the_demo_story_is_visible(con):
    """The last month (2026-10): PG-A in region South drops sharply against the months before."""
    group, region = refdata.PRODUCT_GROUPS[DROP_GROUP][0], refdata.REGIONS[DROP_REGION]
    last_month = refdata.PERIOD_END.replace(day=1)

    def monthly(where: str) -> dict[dt.date, Decimal]:
        return dict(con.execute(f"select month_start, sum(net_revenue) from marts.revenue_by_product_group_region "
                                f"where {where} group by 1").fetchall())

    def ratio(series: dict[dt.date, Decimal]) -> float:
        before = [v for m, v in series.items() if dt.date(2026, 4, 1) <= m < last_month]   # the six months before
        return float(series.get(last_month, 0)) / (float(sum(before)) / len(before))

    dropped = ratio(monthly(f"product_group = '{group}' and region = '{region}'"))
    assert dropped < 0.5
    assert ratio(monthly(f"product_group = '{group}' and region <> '{region}'")) > 0.75    # elsewhere PG-A holds
    assert ratio(monthly(f"product_group <> '{group}' and region = '{region}'")) > 0.75    # South buys the rest


def test_a_second_delivery_wins_in_staging(project: Settings):
    """Runs last: a changed debitoren file arrives; staging shows its state, still one row per account."""
    original = project.data_dir / "accounting" / "debitoren.csv"
    lines = original.read_bytes().decode("cp1252").split("\r\n" if b"\r\n" in original.read_bytes() else "\n")
    header = lines[0].split(";")
    index = next(i for i, line in enumerate(lines[1:], 1) if line and '"' not in line)
    fields = lines[index].split(";")
    account, new_name = int(fields[header.index("Konto")]), "Neuer Name Süd GmbH"
    fields[header.index("Name")] = new_name
    lines[index] = ";".join(fields)
    newline = "\r\n" if b"\r\n" in original.read_bytes() else "\n"
    (project.data_dir / "accounting" / "debitoren_2.csv").write_bytes(newline.join(lines).encode("cp1252"))

    run_all(project, [dg.AssetKey(["raw", "accounting__debitoren"]), dg.AssetKey(["staging", "stg_accounting__debitoren"])])

    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        raw_rows, raw_keys = con.execute("select count(*), count(distinct Konto) from raw.accounting__debitoren").fetchone()
        assert raw_rows == 2 * raw_keys                        # raw keeps both deliveries
        rows, keys = con.execute("select count(*), count(distinct account_no) from staging.stg_accounting__debitoren").fetchone()
        assert rows == keys == raw_keys
        name, source_file = con.execute("select name, source_file from staging.stg_accounting__debitoren "
                                        f"where account_no = {account}").fetchone()
        assert (name, source_file) == (new_name, "accounting/debitoren_2.csv")
        assert one(con, "select count(distinct batch_id) from staging.stg_accounting__debitoren") == 1
    finally:
        con.close()
