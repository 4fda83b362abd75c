"""dbt compatibility, proven: a jaffle-shop-style project written as a dbt user writes it
(``tests/fixtures/dbt_project``) runs unchanged through the real Dagster graph, and every mart
equals ``expected/*.csv``.

The expected CSVs were not produced by Kontor: ``oracle()`` below computes the same business
logic in plain Python from the seed files, and ``test_expected_csvs_are_the_independent_computation``
keeps the committed CSVs and that computation in step (edit a seed, and this test says which
CSV to update). A few values were checked by hand as well, e.g. order 2 = 20.00 + 15.50 = 35.50 USD
= 30.22 EUR at 0.8512, and customer 1 = orders 1, 7, 12, 29 = 10 + 16 + 1 + 24 = 51.00.

Second run: ``changes/*.csv`` are appended to the seeds (an update of order 24 and a new order 31
with its payment); the incremental ``fct_orders`` merges exactly those two rows on ``order_id``;
then a run tagged ``kontor/full_refresh=true`` rebuilds it from scratch, identically.
"""
from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import Counter, defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.models import FULL_REFRESH_TAG
from pipelines.check import check_project
from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.models.materialize import relation_type
from pipelines.core.settings import Settings, load_settings

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dbt_project"
MARTS = ("customers", "orders", "fct_orders")
CENT = Decimal("0.01")

# What a dbt user on DuckDB expects each column to be: the type family of the built table.
COLUMN_TYPES = {
    "customers": {"customer_id": "integer", "first_name": "text", "last_name": "text", "first_order": "date",
                  "most_recent_order": "date", "number_of_orders": "integer", "customer_lifetime_value": "decimal"},
    "orders": {"order_id": "integer", "customer_id": "integer", "order_date": "date", "status": "text",
               "credit_card_amount": "decimal", "coupon_amount": "decimal", "bank_transfer_amount": "decimal",
               "gift_card_amount": "decimal", "amount": "decimal", "amount_eur": "decimal", "is_large_order": "boolean"},
    "fct_orders": {"order_id": "integer", "customer_id": "integer", "order_date": "date", "status": "text",
                   "updated_at": "timestamp", "amount": "decimal"},
}


# ---------------------------------------------------------------------------------------------
# The independent computation (plain Python, no SQL): what each mart must contain.

def _read(path: Path, header: list[str] | None = None) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, fieldnames=header))


def oracle(project: Path, changes: Path | None = None) -> dict[str, list[dict[str, str]]]:
    """The marts of the fixture, from its seeds (plus ``changes`` appended), as CSV strings."""
    seeds = project / "seeds"

    def seed(name: str) -> list[dict[str, str]]:
        rows = _read(seeds / f"{name}.csv")
        if changes is not None and (changes / f"{name}.csv").is_file():
            rows += _read(changes / f"{name}.csv", header=list(rows[0]))
        return rows

    reporting = "EUR"          # [tool.kontor.vars] reporting_currency
    threshold = Decimal(50)    # var('large_order_threshold', 50): left on its default
    rate = next(Decimal(r["rate"]) for r in _read(project / "data" / "fx" / "exchange_rates.csv")
                if r["currency"].upper() == reporting)

    latest: dict[int, dict[str, str]] = {}           # stg_orders: latest version per order
    for row in seed("raw_orders"):
        oid = int(row["id"])
        if oid not in latest or row["updated_at"] > latest[oid]["updated_at"]:
            latest[oid] = row
    by_method: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p in seed("raw_payments"):                    # stg_payments: cents to dollars
        by_method[int(p["order_id"])][p["payment_method"]] += Decimal(p["amount"]) / 100

    def money(value: Decimal) -> str:
        return str(value.quantize(CENT, rounding=ROUND_HALF_UP))

    orders, fct = [], []
    for oid in sorted(latest):
        o = latest[oid]
        paid = by_method.get(oid, {})
        total = sum(paid.values(), Decimal(0))
        orders.append({
            "order_id": str(oid), "customer_id": o["user_id"], "order_date": o["order_date"], "status": o["status"],
            **{f"{m}_amount": money(paid.get(m, Decimal(0))) for m in ("credit_card", "coupon", "bank_transfer", "gift_card")},
            "amount": money(total), "amount_eur": money(total * rate),
            "is_large_order": "true" if total >= threshold else "false",
        })
        fct.append({"order_id": str(oid), "customer_id": o["user_id"], "order_date": o["order_date"],
                    "status": o["status"], "updated_at": o["updated_at"], "amount": money(total)})

    customers = []
    for c in seed("raw_customers"):
        mine = [o for o in orders if o["customer_id"] == c["id"]]
        dates = sorted(o["order_date"] for o in mine)
        customers.append({
            "customer_id": c["id"], "first_name": c["first_name"], "last_name": c["last_name"],
            "first_order": dates[0] if dates else "", "most_recent_order": dates[-1] if dates else "",
            "number_of_orders": str(len(mine)),
            "customer_lifetime_value": money(sum((Decimal(o["amount"]) for o in mine), Decimal(0))),
        })
    return {"customers": customers, "orders": orders, "fct_orders": fct}


def write_expected(project: Path = FIXTURE) -> None:  # pragma: no cover - run by hand after editing seeds
    for folder, changes in (("expected", None), ("expected/after_changes", project / "changes")):
        for mart, rows in oracle(project, changes).items():
            (project / folder).mkdir(parents=True, exist_ok=True)
            with open(project / folder / f"{mart}.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)


# ---------------------------------------------------------------------------------------------
# Comparing a built table with an expected CSV, with types compared sensibly.

def _family(duckdb_type: str) -> str:
    t = duckdb_type.upper()
    if t.startswith("DECIMAL"):
        return "decimal"
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"):
        return "integer"
    return {"VARCHAR": "text", "DATE": "date", "TIMESTAMP": "timestamp", "BOOLEAN": "boolean",
            "DOUBLE": "float", "FLOAT": "float"}.get(t, t.lower())


def _parse(text: str, family: str):
    if text == "":
        return None
    return {
        "integer": int, "decimal": Decimal, "text": str, "date": dt.date.fromisoformat,
        "timestamp": dt.datetime.fromisoformat, "boolean": lambda s: {"true": True, "false": False}[s],
    }[family](text)


def table_contents(db: Path, relation: str) -> tuple[dict[str, str], Counter]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        types = {name: _family(typ) for name, typ, *_ in con.execute(f"describe {relation}").fetchall()}
        rows = Counter(con.execute(f"select * from {relation}").fetchall())
    finally:
        con.close()
    return types, rows


def assert_equals_csv(built: tuple[dict[str, str], Counter], expected_csv: Path, mart: str) -> None:
    """``built`` is ``table_contents`` of a mart: its column type families and its rows."""
    types, actual = built
    assert types == COLUMN_TYPES[mart], f"marts.{mart}: column types"
    expected_rows = _read(expected_csv)
    assert list(expected_rows[0]) == list(types), f"marts.{mart}: columns differ from {expected_csv.name}"
    expected = Counter(tuple(_parse(r[c], types[c]) for c in types) for r in expected_rows)
    missing, extra = expected - actual, actual - expected
    assert not missing and not extra, f"marts.{mart} vs {expected_csv}:\nmissing {sorted(missing)}\nunexpected {sorted(extra)}"


# ---------------------------------------------------------------------------------------------
# Three runs of the real Dagster graph on a copy of the fixture.

def run_all(settings: Settings, full_refresh: bool = False) -> dict[str, dict]:
    """``kontor_all`` in process; returns each asset's materialisation metadata by key string."""
    defs = build_definitions(settings)   # rebuilt per run, as every `kontor run` process does
    result = defs.resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags={FULL_REFRESH_TAG: "true"} if full_refresh else None)
    assert result.success
    return {e.asset_key.to_user_string(): {k: getattr(v, "value", v) for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def snapshot(settings: Settings) -> dict[str, tuple[dict[str, str], Counter]]:
    return {mart: table_contents(settings.warehouse_path, f"marts.{mart}") for mart in MARTS}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dbt") / "jaffle_shop"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("target"))
    settings = load_settings(root, env={})
    state: dict = {"root": root, "settings": settings}
    state["first"] = run_all(settings)
    state["first_marts"] = snapshot(settings)
    for name in ("raw_orders", "raw_payments"):   # a second delivery: rows appended to the seeds
        with open(root / "seeds" / f"{name}.csv", "a", encoding="utf-8") as fh:
            fh.write((root / "changes" / f"{name}.csv").read_text(encoding="utf-8"))
    state["second"] = run_all(settings)
    state["second_marts"] = snapshot(settings)
    state["refresh"] = run_all(settings, full_refresh=True)
    state["refresh_marts"] = snapshot(settings)
    return state


def test_expected_csvs_are_the_independent_computation():
    for folder, changes in (("expected", None), ("expected/after_changes", FIXTURE / "changes")):
        computed = oracle(FIXTURE, changes)
        for mart in MARTS:
            assert _read(FIXTURE / folder / f"{mart}.csv") == computed[mart], \
                f"{folder}/{mart}.csv is stale: regenerate it with write_expected() in this file"


def test_the_project_checks_clean_as_written(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "p")
    problems, summary = check_project(load_settings(tmp_path / "p", env={}))
    assert problems == []
    assert summary.startswith("1 source systems, 1 source tables, 7 models, 3 seeds, 0 entities")
    assert summary.endswith(": no problems")


def test_first_run_builds_every_mart_as_expected(project):
    for mart in MARTS:
        assert_equals_csv(project["first_marts"][mart], FIXTURE / "expected" / f"{mart}.csv", mart)
    first = project["first"]
    assert {k for k in first if k.startswith(("seeds/", "staging/", "marts/", "raw/"))} == {
        "raw/fx__exchange_rates", "seeds/raw_customers", "seeds/raw_orders", "seeds/raw_payments",
        "staging/stg_customers", "staging/stg_orders", "staging/stg_payments", "staging/stg_exchange_rates",
        "marts/customers", "marts/orders", "marts/fct_orders"}
    assert first["marts/fct_orders"]["materialization"] == "incremental (full)"   # first build: no table yet
    assert "dagster/row_count" not in first["staging/stg_orders"]                # a view is not executed to count it
    assert first["marts/orders"]["dagster/row_count"] == 30                      # 31 raw rows, order 7 twice


def test_materializations_follow_folder_defaults_and_config(project):
    con = duckdb.connect(str(project["settings"].warehouse_path), read_only=True)
    try:
        kinds = {name: relation_type(con, schema, name) for schema, name in [
            ("staging", "stg_customers"), ("staging", "stg_orders"), ("staging", "stg_payments"),
            ("staging", "stg_exchange_rates"), ("marts", "customers"), ("marts", "orders"), ("marts", "fct_orders"),
            ("seeds", "raw_orders")]}
    finally:
        con.close()
    assert kinds == {"stg_customers": "view", "stg_orders": "view", "stg_payments": "view", "stg_exchange_rates": "view",
                     "customers": "table", "orders": "table", "fct_orders": "table", "raw_orders": "table"}


def test_vars_set_in_pyproject_and_left_on_default(project):
    sql = project["first"]["marts/orders"]["compiled_sql"]
    assert "where currency = 'EUR'" in sql            # var('reporting_currency') from [tool.kontor.vars]
    assert "as amount_eur" in sql                     # ... also usable with filters in identifiers
    assert ">= 50 as is_large_order" in sql           # var('large_order_threshold', 50): the default
    assert "(amount / 100)::numeric(16, 2)" in project["first"]["staging/stg_payments"]["compiled_sql"]  # the macro


def test_second_run_merges_the_incremental_model_by_unique_key(project):
    for mart in MARTS:
        assert_equals_csv(project["second_marts"][mart], FIXTURE / "expected" / "after_changes" / f"{mart}.csv", mart)
    meta = project["second"]["marts/fct_orders"]
    assert meta["materialization"] == "incremental (merge)"
    assert meta["detail"] == "merge: 2 rows"          # only order 24 (updated) and order 31 (new) were read
    assert meta["dagster/row_count"] == 31
    before, after = project["first_marts"]["fct_orders"][1], project["second_marts"]["fct_orders"][1]
    assert sum(after.values()) == len({row[0] for row in after}) == 31   # no duplicate order_id
    changed = {row[0] for row in (after - before) + (before - after)}
    assert changed == {24, 31}
    assert [row[3] for row in after if row[0] == 24] == ["shipped"]     # the update replaced the old row


def test_full_refresh_rebuilds_the_incremental_model_identically(project):
    meta = project["refresh"]["marts/fct_orders"]
    assert meta["materialization"] == "incremental (full)"
    assert project["refresh_marts"] == project["second_marts"]
