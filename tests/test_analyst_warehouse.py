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


GRAIN_WORDS = ("one row per", "grain:", "one golden record per", "one row for each")


def test_every_shipped_table_view_and_column_carries_a_comment_with_its_grain(serving):
    """Every relation a run of the shipped project builds, in every schema (raw, staging, marts,
    entities, kontor, reports), and every one of its columns. Left out: only DuckDB's own catalog
    views (duckdb_columns(), sqlite_master ... in main, information_schema, pg_catalog), which are
    DuckDB's and not in the file. The mirrors of the state store keep the comment the mirror
    writes (it also identifies the store they copy); it names their grain as well."""
    relations = serving.execute(
        "select schema_name, table_name, comment from duckdb_tables() where database_name = current_database() "
        "union all select schema_name, view_name, comment from duckdb_views() "
        "where database_name = current_database() and not internal").fetchall()
    assert {s for s, _, _ in relations} >= {"raw", "staging", "marts", "entities", "kontor"}
    assert len(relations) >= 80
    without_grain = [(s, t, c) for s, t, c in relations if not c or not any(w in c.lower() for w in GRAIN_WORDS)]
    assert without_grain == []
    undescribed = serving.execute(
        "select schema_name || '.' || table_name || '.' || column_name from duckdb_columns() "
        "where database_name = current_database() and schema_name not in ('main', 'information_schema', 'pg_catalog') "
        "and coalesce(trim(comment), '') = '' order by 1").fetchall()
    assert undescribed == []
    described = serving.execute("select count(*) from duckdb_columns() where database_name = current_database() "
                                "and schema_name = 'entities'").fetchone()[0]
    assert described > 200                                  # the entity tables are in it, all described


def test_describe_prints_the_comments(built: Path):
    out = kontor(built, "describe", "marts.dim_customer")
    assert out.returncode == 0, out.stderr
    assert "marts.dim_customer (table" in out.stdout and "one row per customer" in out.stdout
    assert "customer_golden_id = golden_id" in " ".join(out.stdout.split())
    listing = kontor(built, "describe", "-f", "csv").stdout
    assert "marts.bridge_customer_source,table," in listing
    wrong = kontor(built, "describe", "dim_customers")
    assert wrong.returncode == 1 and "did you mean 'marts/dim_customer'" in wrong.stderr


def test_serving_copy_is_in_a_format_the_duckdb_cli_of_today_reads(built: Path):
    """duckdb-cli 1.5.6, the newest on PyPI, reads storage versions 64-68; DuckDB 2.0 writes 69.
    (Checked by hand with that CLI and with duckdb 1.1.3 in a throwaway venv: README.)"""
    header = (built / "target" / "serving.duckdb").read_bytes()[:20]
    assert header[8:12] == b"DUCK" and 64 <= int.from_bytes(header[12:20], "little") <= 68


def test_export_round_trips(built: Path, serving, tmp_path: Path):
    import csv
    from decimal import Decimal

    import polars as pl

    count, total = serving.execute("select count(*), sum(net_amount) from marts.fct_invoices").fetchone()
    for fmt in ("parquet", "csv", "xlsx"):
        out = tmp_path / f"inv.{fmt}"
        done = kontor(built, "export", "marts/fct_invoices", "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert f"{count:,} rows" in done.stderr
        if fmt == "xlsx":
            frame = pl.read_excel(out)
            assert frame.height == count and round(Decimal(str(frame["net_amount"].sum())), 2) == total
        else:
            reader = f"read_{fmt}"
            assert duckdb.execute(f"select count(*), sum(net_amount::decimal(18, 2)) from {reader}(?)",
                                  [str(out)]).fetchone() == (count, total)
    german = tmp_path / "inv_de.csv"
    assert kontor(built, "export", "fct_invoices", "-f", "csv", "--german", "-o", str(german)).returncode == 0
    raw = german.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw[3:].decode("utf-8").splitlines(), delimiter=";"))
    assert len(rows) == count
    assert sum(Decimal(r["net_amount"].replace(",", ".")) for r in rows) == total
    first = serving.execute("select invoice_no, invoice_date, net_amount from marts.fct_invoices "
                            "order by invoice_no limit 1").fetchone()
    match = next(r for r in rows if r["invoice_no"] == first[0])
    assert match["invoice_date"] == first[1].strftime("%d.%m.%Y")
    assert match["net_amount"] == str(first[2]).replace(".", ",")
    refused = kontor(built, "export", "fct_invoices", "-f", "parquet", "--german")
    assert refused.returncode == 1 and "--german is a CSV dialect" in refused.stderr


def test_sql_shell_without_the_duckdb_cli(built: Path):
    import os
    import subprocess
    import sys

    script = ("select count(*) as n from marts.dim_customer;\n"
              "select *\n  from range(250);\n"
              ".describe dim_supplier\n"
              "select nope from marts.dim_customer;\n")
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(built), "KONTOR_SQL_BUILTIN": "1"}
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "sql"], input=script, capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 1                                   # one statement failed
    assert "showing 100 of 250 rows" in done.stderr
    assert "one row per supplier" in done.stdout and "supplier_key" in done.stdout
    assert 'Referenced column "nope" not found' in done.stderr and "^^^^" in done.stderr
