"""The warehouse as an analyst meets it after a real run: dimensions at their grain, descriptions
in the database, the serving copy for other clients."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import make_project
from test_end_to_end import kontor


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("analyst")
    make_project(project, with_models=True, with_expectations=True)
    generated = kontor(project, "demo-data", "--scale", "0.2", "--seed", "5")
    assert generated.returncode == 0, generated.stderr
    ran = kontor(project, "run")
    assert ran.returncode == 0, ran.stderr
    return project


@pytest.fixture()
def serving(built: Path):
    con = duckdb.connect(str(built / "target" / "serving.duckdb"), read_only=True)
    yield con
    con.close()


FACT_JOINS = [
    ("fct_invoices", "net_amount", "dim_customer", "customer_golden_id"),
    ("fct_orders", "net_amount", "dim_customer", "customer_golden_id"),
    ("fct_order_lines", "net_amount", "dim_customer", "customer_golden_id"),
    ("fct_open_items", "open_amount", "dim_customer", "customer_golden_id"),
    ("fct_purchase_orders", "net_amount", "dim_supplier", "supplier_golden_id"),
]


@pytest.mark.parametrize("fact, measure, dim, key", FACT_JOINS)
def test_a_fact_joined_to_its_dimension_keeps_its_total(serving, fact, measure, dim, key):
    total, rows = serving.execute(f"select sum({measure}), count(*) from marts.{fact}").fetchone()
    joined, joined_rows, named = serving.execute(
        f"select sum(f.{measure}), count(*), count(d.golden_id) from marts.{fact} f "
        f"left join marts.{dim} d on d.golden_id = f.{key}").fetchone()
    assert rows > 0 and (joined, joined_rows) == (total, rows)
    resolved = serving.execute(f"select count({key}) from marts.{fact}").fetchone()[0]
    assert named == resolved > 0                       # every resolved row finds its customer/supplier
    # the bridge is the source-record grain: on golden_id it would multiply (the trap the dims remove)
    bridge = dim.replace("dim_", "bridge_") + "_source"
    multiplied = serving.execute(f"select count(*) from marts.{fact} f join marts.{bridge} b on b.golden_id = f.{key}"
                                 ).fetchone()[0]
    assert multiplied > resolved


@pytest.mark.parametrize("entity", ["customer", "supplier"])
def test_dimension_grain_is_one_row_per_golden_id(serving, entity):
    rows, keys, golden, records = serving.execute(
        f"select count(*), count(distinct {entity}_key), count(distinct golden_id), sum(source_record_count) "
        f"from marts.dim_{entity}").fetchone()
    bridge_rows, bridge_keys = serving.execute(
        f"select count(*), count(distinct {entity}_key) from marts.bridge_{entity}_source").fetchone()
    assert rows == keys == bridge_keys and records == bridge_rows
    assert golden == serving.execute(f"select count(*) from entities.{entity}_golden").fetchone()[0]


def test_every_mart_table_and_column_is_described_with_its_grain(serving):
    tables = serving.execute("select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()
    assert len(tables) >= 12
    for name, comment in tables:
        assert comment and ("one row per" in comment.lower() or "grain:" in comment.lower()), (name, comment)
    undescribed = serving.execute("select table_name, column_name from duckdb_columns() "
                                  "where schema_name in ('marts', 'staging') and comment is null").fetchall()
    assert undescribed == []
    raw = serving.execute("select comment from duckdb_columns() where schema_name = 'raw' and column_name = '_line'"
                          ).fetchall()
    assert raw and all("line" in c.lower() for (c,) in raw)
    ledger = serving.execute("select comment from duckdb_tables() where schema_name = 'kontor' "
                             "and table_name = 'load_ledger'").fetchone()[0]
    assert "file and load batch" in ledger


def test_describe_prints_the_comments(built: Path):
    out = kontor(built, "describe", "marts.dim_customer")
    assert out.returncode == 0, out.stderr
    assert "marts.dim_customer (table" in out.stdout and "one row per customer" in out.stdout
    assert "customer_golden_id = golden_id" in " ".join(out.stdout.split())
    listing = kontor(built, "describe", "-f", "csv").stdout
    assert "marts.bridge_customer_source,table," in listing
    wrong = kontor(built, "describe", "dim_customers")
    assert wrong.returncode == 1 and "did you mean 'marts/dim_customer'" in wrong.stderr
