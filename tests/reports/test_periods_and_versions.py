"""Honest periods, one version per change, every input gated or named, published at once: on a
copy of the demo warehouse (its transactions end on 31.10.2026)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pypdfium2 as pdfium
import pytest

from conftest import REPO
from pipelines.core import warehouse
from pipelines.core.errors import KontorError
from pipelines.quality.spec import load_suites_or_raise
from pipelines.reports.stage import issue_report
from pipelines.run import issue_by_hand
from pipelines.reports.spec import find_report, load_reports
from reports.conftest import isolated

NOW = datetime(2026, 11, 22, 8, 0)


def pdf_text(path: Path | str) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return " ".join(page.get_textpage().get_text_range() for page in pdf).replace("\r", " ").replace("\n", " ")
    finally:
        pdf.close()


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(settings.project_dir), "KONTOR_TARGET": str(settings.target_dir)}
    for key in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "DAGSTER_HOME"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("report,period,message", [
    ("monthly_pack", "2026-11", "no data for 2026-11: the data ends on 2026-10-31"),
    ("monthly_pack", "2027-03", "no data for 2027-03: the data ends on 2026-10-31"),
    ("monthly_pack", "2019-01", "no data for 2019-01: the report's KPI queries hold no rows"),
    ("monthly_pack", "2026-W43", "is a week, but report monthly_pack is issued per month"),
    ("daily_summary", "2026-10", "is a month, but report daily_summary is issued per day"),
    ("daily_summary", "2026-10-31", "is a Saturday"),
    ("daily_summary", "2026-11-02", "no data for 2026-11-02: the data ends on 2026-10-31"),
])
def test_a_period_the_data_does_not_cover_is_refused_before_anything_is_archived(demo, tmp_path, report, period, message):
    settings = isolated(demo, tmp_path)
    with pytest.raises(KontorError, match=message):
        issue_by_hand(settings, report, period)
    assert not (settings.target_dir / "reports" / report).exists()


def test_kontor_report_exits_non_zero_naming_the_datas_last_day(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    done = cli(settings, "report", "monthly_pack", "--period", "2026-11")
    assert done.returncode == 1 and "the data ends on 2026-10-31" in done.stderr and "Traceback" not in done.stderr
    assert not (settings.target_dir / "reports" / "monthly_pack").exists()


def test_a_partly_covered_period_is_provisional_with_its_coverage_on_the_banner(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    con = warehouse.connect(settings.warehouse_path)
    try:
        # The extracts end on 15.10.: the open-items key date and the orders say so.
        con.execute("update marts.fct_open_items set key_date = date '2026-10-15'")
        result = issue_report(con, settings, find_report(demo.root, "monthly_pack"), "2026-10", now=NOW)
    finally:
        con.close()
    coverage = result.facts["coverage"]
    assert coverage == {"complete": False, "through": "2026-10-15", "days_covered": 15, "days": 31,
                        "source": "reports/monthly_pack/sql/data_through.sql"}
    assert result.record["provisional"] is True
    text = pdf_text(result.path)
    assert "(vorläufig)" in text and "vorläufig: Daten bis 15.10.2026, 15 von 31 Tagen des Zeitraums" in text


def test_the_default_period_is_the_latest_the_data_covers_not_the_clocks(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    con = warehouse.connect(settings.warehouse_path)
    try:
        result = issue_report(con, settings, find_report(demo.root, "monthly_pack"), now=datetime(2027, 2, 10, 8, 0))
    finally:
        con.close()
    assert result.facts["period"]["key"] == "2026-10" and result.facts["coverage"]["complete"]


def _gate(con: duckdb.DuckDBPyConnection, asset: str, rule: str, success: bool, severity: str = "error") -> None:
    con.execute("insert into kontor.gate_results (run_id, checked_at, asset, rule, severity, success) "
                "values ('test', now(), ?, ?, ?, ?)", [asset, rule, severity, success])


def test_one_version_per_change_and_the_banner_counts_only_the_gates_of_the_tables_read(demo, tmp_path):
    settings = isolated(demo, tmp_path, env={"KONTOR_STATE_DIR": str(tmp_path / "state")})
    spec = find_report(demo.root, "daily_summary")
    con = warehouse.connect(settings.warehouse_path)
    try:
        warehouse.ensure_bookkeeping(con)
        _gate(con, "marts/fct_orders", "order_no_unique", True)
        first = issue_report(con, settings, spec, "2026-10-29", now=NOW, reissue=False)
        # More gates of tables the report does not read, and one more passing gate of a table it
        # reads: the counter changes, the facts do not.
        for n in range(5):
            _gate(con, "marts/fct_purchase_orders", f"rule_{n}", n != 3)
        _gate(con, "marts/fct_orders", "status_in_set", True)
        again = issue_report(con, settings, spec, "2026-10-29", now=NOW, reissue=False)
        gates = again.facts["data_status"]["gates"]
        # A warn gate of a table it reads fails: that changes what the reader must know (a failed
        # blocking gate refuses the report, tests/reports/test_partitions.py).
        _gate(con, "marts/fct_invoices", "amount_positive", False, severity="warn")
        changed = issue_report(con, settings, spec, "2026-10-29", now=NOW, reissue=False)
        versions = con.execute("select distinct version from reports.facts where report = 'daily_summary' "
                               "order by 1").fetchall()
    finally:
        con.close()
    assert (first.issued, again.issued, changed.issued) == (True, False, True)
    assert again.record["version"] == 1 and changed.record["version"] == 2 and versions == [(1,), (2,)]
    assert (gates["total"], gates["failed"], gates["tables"]) == (2, 0, len(spec.relations()))
    read = sorted(spec.relations())
    assert gates["ungated"] == [r for r in read if r != "marts.fct_orders" and not r.startswith("kontor.")]
    now_gated = changed.facts["data_status"]["gates"]["ungated"]
    assert now_gated == [r for r in gates["ungated"] if r != "marts.fct_invoices"]
    banner = " ".join(pdf_text(changed.path).split()).split("ohne Prüfung gelesen:")[1][:300].replace(" ", "")
    assert banner.startswith(",".join(now_gated))


def test_a_report_issued_by_hand_is_in_the_serving_copy_at_once(demo, tmp_path):
    import shutil

    settings = isolated(demo, tmp_path)
    shutil.copy(demo.settings.serving_path, settings.serving_path)      # what the last successful run published
    con = warehouse.connect(settings.warehouse_path)
    try:   # a table written since, by a run that did not succeed: the serving copy must not get it
        con.execute("create table marts.written_by_a_failed_run as select 1 as x")
    finally:
        con.close()
    result = issue_by_hand(settings, "daily_summary", "2026-10-27")
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        rows = con.execute("select count(*) from reports.facts where report = 'daily_summary' and period = '2026-10-27' "
                           "and version = ?", [result.record["version"]]).fetchone()[0]
        leaked = con.execute("select count(*) from information_schema.tables "
                             "where table_name = 'written_by_a_failed_run'").fetchone()[0]
    finally:
        con.close()
    assert rows > 20 and leaked == 0
    unchanged = issue_by_hand(settings, "daily_summary", "2026-10-27")      # a rerun on unchanged data
    assert unchanged.issued is False and unchanged.record["version"] == 1
    manifest = json.loads((settings.target_dir / "reports" / "daily_summary" / "manifest.json").read_text())
    assert len(manifest["issues"]) == 1


def test_every_model_a_shipped_report_reads_has_a_quality_suite():
    """Marts and staging tables a report reads are gated; entity tables without a suite are named
    on the banner (see the test above), bookkeeping (kontor.*, reports.*) is not data."""
    reports, problems = load_reports(REPO)
    assert not problems
    suites = {s.asset.replace("/", ".", 1) for s in load_suites_or_raise(REPO / "expectations")}
    read = {r for spec in reports for r in spec.relations() if r.split(".")[0] in ("marts", "staging", "raw")}
    assert read and sorted(read - suites) == []


def test_the_daily_summary_names_deviations_from_the_plan_pro_rated_to_business_days(demo):
    import csv

    from pipelines.reports.facts import compute_facts
    from pipelines.reports.narrative import template_narrative

    spec = find_report(demo.root, "daily_summary")
    with (spec.dir / "plan.csv").open(encoding="utf-8") as fh:
        monthly = {(r["kpi"], r["period"]): float(r["value"]) for r in csv.DictReader(fh)}
    con = duckdb.connect(str(demo.settings.warehouse_path), read_only=True)
    try:
        facts = compute_facts(con, spec, "2026-10-30", NOW)
    finally:
        con.close()
    october_business_days = 22                    # 31 days, 9 of them Saturdays or Sundays
    intake = next(k for k in facts["kpis"] if k["name"] == "order_intake")
    plan = intake["comparisons"]["plan"]
    assert plan["value"] == pytest.approx(monthly[("order_intake", "2026-10")] / october_business_days)
    assert plan["delta"] == pytest.approx(intake["value"] - plan["value"])
    assert "ggü. Plan" in template_narrative(facts, spec)
    # the PDF names them under "Abweichungen": actual against the pro-rated plan, with the deviation
    from pipelines.reports.figures import format_value
    from pipelines.reports.narrative import write_narrative, llm_config
    from pipelines.core.services import LlmEndpoint
    from pipelines.reports.render import render_html

    narrative, _ = write_narrative(facts, spec, llm_config(spec, LlmEndpoint()))
    html = render_html(spec, facts, narrative.as_dict(), {"version": 1, "issued_at": "2026-11-02 07:00:00"})
    deviations = html.split("Abweichungen vom Plan (Monatsplan anteilig auf die Geschäftstage)")[1].split("</p>")[0]
    for kpi in (k for k in facts["kpis"] if k["headline"] and k["comparisons"]["plan"]["delta"] is not None):
        plan = kpi["comparisons"]["plan"]
        assert f"{kpi['label']} {format_value(kpi['value'], 'EUR', 0, 'de')}" in deviations
        assert format_value(plan["delta"], "EUR", 0, "de", True) in deviations
