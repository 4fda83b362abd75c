"""The PDFs as a reader gets them: read back with pdfium, archived immutably, mailed over SMTP."""
from __future__ import annotations

import email
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from email import policy
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from pipelines.core import warehouse
from pipelines.reports.stage import approve_report, issue_report
from pipelines.reports.figures import format_value
from pipelines.reports.render import folder_fetcher
from pipelines.reports.spec import find_report
from reports.conftest import copy_project, isolated
from reports.servers import SmtpServer

NOW = datetime(2026, 11, 22, 8, 0)


# master data is dated by its latest business change (31.10.2026, a Saturday): the last complete week
PERIODS = {"monthly_pack": "2026-10", "daily_summary": "2026-10-30", "master_data_quality": "2026-W43"}


def read_pdf(path: Path | str) -> tuple[str, int]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in pdf), len(pdf)
    finally:
        pdf.close()


def issued(demo, name: str) -> tuple[dict, Path]:
    folder = demo.settings.target_dir / "reports" / name
    [record] = json.loads((folder / "manifest.json").read_text())["issues"]
    return record, folder


@pytest.mark.parametrize("name", sorted(PERIODS))
def test_kontor_run_issues_every_report_and_the_pdf_shows_the_facts(demo, name):
    assert f"reports/{name}" in demo.materialized
    record, folder = issued(demo, name)
    assert record["period"] == PERIODS[name] and record["version"] == 1
    pdf = folder / f"{name}_{PERIODS[name]}_v1.pdf"
    assert record["pdf"] == pdf.name and hashlib.sha256(pdf.read_bytes()).hexdigest() == record["sha256"]
    text, pages = read_pdf(pdf)
    assert pages == record["pages"] >= (6 if name == "monthly_pack" else 2)
    document = json.loads((folder / record["facts"]).read_text())
    facts = document["facts"]
    lang = facts["language"]
    for kpi in facts["kpis"]:
        if kpi["status"] == "ok":
            assert format_value(kpi["value"], kpi["unit"], kpi["decimals"], lang) in text, kpi["name"]
        else:
            assert kpi["message"] in text
    # The page footer: period, version, page numbers; the banner: which narrative this is.
    page_word = "Seite 1 von" if lang == "de" else "Page 1 of"
    assert f"{name} · {PERIODS[name]} · " in text and page_word in text
    assert document["narrative"]["kind"] == record["narrative"] == "llm"
    marker = "vom Sprachmodell kontor-test-model geschrieben" if lang == "de" else "written by the language model kontor-test-model"
    assert marker in text.replace("\r", "").replace("\n", " ")


def test_monthly_pack_pages_and_tables(demo):
    record, folder = issued(demo, "monthly_pack")
    text, pages = read_pdf(folder / record["pdf"])
    for heading in ("Umsatz", "Marge", "Aufträge", "Forderungen und DSO", "Top-10-Kunden nach Umsatz",
                    "Einkauf nach Lieferant", "Herkunft der Zahlen", "reports/monthly_pack/kpis/net_revenue.sql"):
        assert heading in text, heading
    facts = json.loads((folder / record["facts"]).read_text())["facts"]
    top = facts["tables"]["top_customers"]
    assert top["rows"][0][0] in text and format_value(top["rows"][0][1], "EUR", 0, "de") in text
    assert "PG-A Hydraulik / Süd" in text                      # the drop, in the anomaly list


def test_page_one_renders_to_an_image(demo, tmp_path):
    record, folder = issued(demo, "monthly_pack")
    pdf = pdfium.PdfDocument(str(folder / record["pdf"]))
    try:
        image = pdf[0].render(scale=1.5).to_pil()
    finally:
        pdf.close()
    image.save(tmp_path / "page1.png")
    width, height = image.size
    assert (width, height) == (round(595.28 * 1.5), round(841.89 * 1.5))   # A4
    grey = image.convert("L")
    ink = sum(1 for value in grey.getdata() if value < 128) / (width * height)
    assert 0.01 < ink < 0.3                                   # text and a banner, not a blank page


EVIL = '<img src="file:///etc/passwd">'


def test_a_customer_named_like_html_prints_as_text(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    con = warehouse.connect(settings.warehouse_path)
    try:
        con.execute("update marts.bridge_customer_source set customer_name = ? where customer_name = 'Metzgerei Koelbl KG'", [EVIL])
        result = issue_report(con, settings, find_report(demo.root, "monthly_pack"), "2026-10", now=NOW)
    finally:
        con.close()
    assert result.facts["tables"]["top_customers"]["rows"][0][0] == EVIL
    text, _ = read_pdf(result.path)
    assert EVIL in text and "root:" not in text and result.refused_urls == []


def test_the_url_fetcher_serves_only_the_report_folder(demo, tmp_path):
    """Even a template that marks the name safe cannot make WeasyPrint read a file outside."""
    root = copy_project(demo, tmp_path)
    folder = root / "reports" / "daily_summary"
    shutil.copy(Path(__file__).parent / "logo.svg", folder / "logo.svg")
    template = folder / "template.html.j2"
    template.write_text(template.read_text().replace("{% block content %}", "{% block content %}{% set evil = '"
                        + EVIL + "' %}<img src=\"logo.svg\"> {{ evil | safe }} <img src=\"../../pyproject.toml\">"))
    settings = isolated(demo, tmp_path, project=root)
    con = warehouse.connect(settings.warehouse_path)
    try:
        result = issue_report(con, settings, find_report(root, "daily_summary"), "2026-10-30", now=NOW)
    finally:
        con.close()
    assert "file:///etc/passwd" in result.refused_urls
    assert any(u.endswith("/pyproject.toml") for u in result.refused_urls)
    assert not any(u.endswith("logo.svg") for u in result.refused_urls)
    fetcher = folder_fetcher(folder)
    assert fetcher.fetch((folder / "logo.svg").as_uri()).read().startswith(b"<svg")
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.png", (folder / ".." / "monthly_pack" / "plan.csv").as_uri()):
        with pytest.raises(ValueError, match="only files of the report folder"):
            fetcher.fetch(url)


def test_reissue_writes_a_new_version_and_never_touches_the_old(demo, tmp_path):
    settings = isolated(demo, tmp_path, env={"KONTOR_STATE_DIR": str(tmp_path / "state")})
    spec = find_report(demo.root, "daily_summary")
    con = warehouse.connect(settings.warehouse_path)
    try:
        first = issue_report(con, settings, spec, "2026-10-29", now=NOW)
        v1 = Path(first.path).read_bytes()
        second = issue_report(con, settings, spec, "2026-10-29", now=NOW)
        unchanged = issue_report(con, settings, spec, "2026-10-29", now=NOW, reissue=False)   # the scheduled asset
        stored = con.execute("select version, count(*) from reports.facts where report = 'daily_summary' "
                             "and period = '2026-10-29' group by 1 order by 1").fetchall()
    finally:
        con.close()
    folder = settings.target_dir / "reports" / "daily_summary"
    assert Path(first.path).name == "daily_summary_2026-10-29_v1.pdf"
    assert Path(second.path).name == "daily_summary_2026-10-29_v2.pdf"
    assert Path(first.path).read_bytes() == v1
    assert oct(Path(first.path).stat().st_mode & 0o777) == "0o444"
    assert unchanged.issued is False and unchanged.record["version"] == 2
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [(i["period"], i["version"]) for i in manifest["issues"]] == [("2026-10-29", 1), ("2026-10-29", 2)]
    for issue in manifest["issues"]:
        assert hashlib.sha256((folder / issue["pdf"]).read_bytes()).hexdigest() == issue["sha256"]
        assert hashlib.sha256((folder / issue["facts"]).read_bytes()).hexdigest() == issue["facts_sha256"]
    assert [v for v, _ in stored] == [1, 2] and stored[0][1] == stored[1][1] > 50
    with pytest.raises(FileExistsError):
        open(first.path, "xb")
    # every issued version is in the audit trail (GoBD), with the sha256 of its PDF
    from pipelines.core.state import StateStore

    with StateStore.from_settings(settings) as store:
        issued = [(e["object_id"], e["after"]["sha256"]) for e in store.audit(kind="report_issued")]
    assert issued == [(f"daily_summary/2026-10-29/v{i['version']}", i["sha256"]) for i in manifest["issues"]]


def test_email_goes_out_after_approval_over_smtp(demo, tmp_path):
    with SmtpServer() as smtp:
        settings = isolated(demo, tmp_path, env={"KONTOR_SMTP_HOST": "127.0.0.1", "KONTOR_SMTP_PORT": str(smtp.port),
                                                 "KONTOR_SMTP_FROM": "kontor@kontor-demo.example"})
        spec = find_report(demo.root, "monthly_pack")
        con = warehouse.connect(settings.warehouse_path)
        try:
            result = issue_report(con, settings, spec, "2026-09", now=NOW)
        finally:
            con.close()
        assert result.record["status"] == "awaiting approval" and smtp.mails == []
        record, delivery = approve_report(settings, spec, "2026-09", None, "Erika Muster")
        assert delivery == "sent to controlling@kontor-demo.example"
    [mail] = smtp.mails
    assert mail.sender == "kontor@kontor-demo.example" and mail.recipients == ["controlling@kontor-demo.example"]
    message = email.message_from_bytes(mail.data, policy=policy.default)
    assert "September 2026" in message["Subject"]
    [attachment] = [part for part in message.iter_attachments()]
    assert attachment.get_filename() == "monthly_pack_2026-09_v1.pdf"
    assert hashlib.sha256(attachment.get_content()).hexdigest() == record["sha256"]
    manifest = json.loads((settings.target_dir / "reports" / "monthly_pack" / "manifest.json").read_text())
    [issue] = manifest["issues"]
    assert (issue["status"], issue["approved_by"], issue["delivered_to"]) == ("sent", "Erika Muster", ["controlling@kontor-demo.example"])


def test_kontor_report_by_hand(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(demo.root), "KONTOR_TARGET": str(settings.target_dir)}
    for key in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "DAGSTER_HOME"):
        env.pop(key, None)
    run = lambda *args: subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    done = run("report", "daily_summary", "--period", "2026-10-28")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("target/reports/daily_summary/daily_summary_2026-10-28_v1.pdf") or \
        done.stdout.strip().endswith("daily_summary_2026-10-28_v1.pdf")
    assert "narrative template (no LLM endpoint configured" in done.stderr
    bad = run("report", "daily_summary", "--period", "2026-10-32")
    assert bad.returncode == 1 and "period '2026-10-32' is not a valid period" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) <= 2 and "Traceback" not in bad.stderr


def test_reports_are_assets_with_schedules_in_berlin_time(demo):
    import dagster as dg

    from pipelines.definitions import build_definitions

    defs = build_definitions(demo.settings)
    graph = defs.resolve_asset_graph()
    monthly = graph.get(dg.AssetKey(["reports", "monthly_pack"]))
    assert monthly.group_name == "reports"
    assert {dg.AssetKey(["marts", "fct_order_lines"]), dg.AssetKey(["marts", "bridge_customer_source"]),
            dg.AssetKey(["marts", "fct_purchase_orders"])} <= set(monthly.parent_keys)
    schedules = {s.name: s for s in defs.schedules if s.name.startswith("report_")}
    expected = {"report_daily_summary_schedule": "0 7 * * *", "report_monthly_pack_schedule": "0 6 1,2 * *",
                "report_master_data_quality_schedule": "0 6 * * 1"}
    assert {name: s.cron_schedule for name, s in schedules.items()} == expected
    assert {s.execution_timezone for s in schedules.values()} == {"Europe/Berlin"}
    job = defs.resolve_job_def("report_daily_summary")
    assert set(job.asset_layer.selected_asset_keys) == {dg.AssetKey(["reports", "daily_summary"])}
