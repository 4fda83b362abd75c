"""The whole graph through the CLI on generated demo data, checked against the ground truth."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from conftest import make_project

SOURCE_TABLES = {  # raw table -> (ground-truth source_table, system) for master data
    "crm__accounts": ("accounts", "crm"),
    "erp__customers": ("customers", "erp"),
    "erp__suppliers": ("suppliers", "erp"),
    "accounting__debitoren": ("debitoren", "accounting"),
    "accounting__kreditoren": ("kreditoren", "accounting"),
}


def kontor(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KONTOR_PROJECT_DIR": str(project), **(env or {})}
    full_env.pop("DAGSTER_HOME", None)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=full_env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def ran_project(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("e2e")
    make_project(project, with_models=True, with_expectations=True)
    generated = kontor(project, "demo-data", "--scale", "0.3", "--seed", "11")
    assert generated.returncode == 0, generated.stderr
    result = kontor(project, "run")
    assert result.returncode == 0, result.stderr
    assert "raw/accounting__debitoren" in result.stderr and "marts/fct_invoices" in result.stderr
    assert "serving copy" in result.stderr
    return project


def test_every_row_of_every_extract_is_loaded(ran_project: Path):
    manifest = json.loads((ran_project / "data" / "ground_truth" / "manifest.json").read_text())
    con = duckdb.connect(str(ran_project / "target" / "serving.duckdb"), read_only=True)
    ledger = con.execute("select path, rows_read, rows_loaded, rows_quarantined, status from kontor.load_ledger").fetchall()
    assert {status for *_, status in ledger} == {"loaded"}
    assert all(read == loaded + quarantined for _, read, loaded, quarantined, _ in ledger)
    # The demo data is clean: nothing quarantined, and each file's rows equal the manifest's count.
    assert con.execute("select count(*) from kontor.quarantine").fetchone()[0] == 0
    loaded = {path: rows for path, _, rows, _, _ in ledger}
    expected = {path: (info["rows"] if isinstance(info, dict) else info)
                for path, info in manifest["files"].items() if not path.startswith("ground_truth")}
    assert loaded == expected


def test_master_records_match_the_ground_truth(ran_project: Path):
    with open(ran_project / "data" / "ground_truth" / "entities.csv", encoding="utf-8") as fh:
        truth = Counter((row["system"], row["source_table"]) for row in csv.DictReader(fh))
    con = duckdb.connect(str(ran_project / "target" / "serving.duckdb"), read_only=True)
    for raw_table, (source_table, system) in SOURCE_TABLES.items():
        count = con.execute(f"select count(*) from raw.{raw_table}").fetchone()[0]
        assert count == truth[(system, source_table)] > 0, raw_table
    # German formats arrived typed: amounts as decimals, dates as dates, umlauts intact.
    net, first_day, umlauts = con.execute(
        "select sum(Netto), min(Belegdatum), (select count(*) from raw.accounting__debitoren "
        "where regexp_matches(Name, '[äöüÄÖÜß]')) from raw.accounting__rechnungen").fetchone()
    assert net > 0 and str(first_day) >= "2024-11-01" and umlauts > 0


def test_rerun_skips_loaded_files_and_query_reads_the_serving_copy(ran_project: Path):
    again = kontor(ran_project, "run", "--select", "group:raw")   # nothing new: decided without a run
    assert again.returncode == 0, again.stderr
    assert "raw/erp__orders  skipped (already loaded)" in again.stderr and "nothing new since run" in again.stderr
    forced = kontor(ran_project, "run", "--select", "group:raw", "--force")   # a real run: the ledger says loaded
    assert forced.returncode == 0, forced.stderr
    assert "raw/erp__orders" in forced.stderr and "skipped 1 (already loaded)" in forced.stderr
    out = kontor(ran_project, "query", "select status, count(*) as n from kontor.load_ledger group by all", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert {r["status"] for r in json.loads(out.stdout)} == {"loaded"}  # nothing new loaded twice
    as_csv = kontor(ran_project, "query", "select count(*) as n from raw.erp__orders", "--format", "csv")
    assert as_csv.stdout.splitlines()[0] == "n" and int(as_csv.stdout.splitlines()[1]) > 0


def test_marts_are_built_and_reconcile_with_the_extracts(ran_project: Path):
    con = duckdb.connect(str(ran_project / "target" / "serving.duckdb"), read_only=True)
    invoiced, raw_net = con.execute(
        "select (select sum(net_amount) from marts.fct_invoices), (select sum(Netto) from raw.accounting__rechnungen)").fetchone()
    assert invoiced == raw_net > 0
    months = con.execute("select count(distinct month_start) from marts.revenue_by_product_group_region").fetchone()[0]
    assert months == 24
    out = kontor(ran_project, "lineage", "marts.fct_invoices.net_amount")
    assert out.returncode == 0 and "accounting/rechnungen*.csv column Netto" in out.stdout


def test_the_shipped_quality_gates_pass_on_the_demo_data(ran_project: Path):
    """Every expectations/*.yml ran; no error rule failed (the run would have failed); evidence kept."""
    con = duckdb.connect(str(ran_project / "target" / "serving.duckdb"), read_only=True)
    gated = {a for (a,) in con.execute("select distinct asset from kontor.gate_results").fetchall()}
    shipped = {p.stem.replace(".", "/", 1) for p in (ran_project / "expectations").glob("*.yml")}
    assert gated == shipped
    failed = con.execute("select asset, rule from kontor.gate_results where severity = 'error' and not success").fetchall()
    assert failed == []
    assert (ran_project / "target" / "data_docs" / "index.html").is_file()
