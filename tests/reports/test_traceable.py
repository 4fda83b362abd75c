"""Every number traceable: derived figures in reports.facts carry their formula and inputs, and the
inputs give the figure again; the provenance page shows the full sha256 of every SQL file used."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pypdfium2 as pdfium

from pipelines.core import warehouse
from pipelines.reports.stage import issue_report
from pipelines.reports.spec import find_report
from reports.conftest import isolated

NOW = datetime(2026, 11, 22, 8, 0)


def recompute(measure: str, inputs: dict) -> float:
    """The formulas of pipelines/reports/store.py, written out once more."""
    if measure in ("delta", "member_delta"):
        a, b = (inputs["value"], inputs["compare_value"]) if "value" in inputs else \
            (inputs["member_value"], inputs["member_compare_value"])
        return a - b
    if measure in ("delta_pct", "member_delta_pct"):
        a, b = (inputs["value"], inputs["compare_value"]) if "value" in inputs else \
            (inputs["member_value"], inputs["member_compare_value"])
        return (a - b) / abs(b) * 100
    if measure == "zscore":
        return (inputs["value"] - inputs["mean"]) / inputs["std"]
    if measure == "contribution" and "r0" in inputs:
        i = inputs
        return (i["n1"] - i["r0"] * i["d1"]) / i["D1"] - (i["n0"] - i["r0"] * i["d0"]) / i["D0"]
    if measure == "contribution":
        return inputs["member_value"] - inputs["member_compare_value"]
    raise AssertionError(measure)


def test_derived_figures_carry_formula_and_inputs_that_give_them_again(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    spec = find_report(demo.root, "monthly_pack")
    con = warehouse.connect(settings.warehouse_path)
    try:
        result = issue_report(con, settings, spec, "2026-10", now=NOW)
        rows = con.execute("select kpi, measure, value, formula, inputs, sql_file, sql_sha256 from reports.facts "
                           "where report = 'monthly_pack' and period = '2026-10' and version = 1").fetchall()
    finally:
        con.close()
    derived = [r for r in rows if r[1] in ("delta", "delta_pct", "zscore", "contribution", "member_delta",
                                           "member_delta_pct")]
    kinds = {r[1] for r in derived}
    assert {"delta", "delta_pct", "contribution", "member_delta"} <= kinds and len(derived) > 100
    ratio = [r for r in derived if r[1] == "contribution" and "r0" in json.loads(r[4])]
    assert ratio                                                     # margin in % contributes by its formula
    for kpi, measure, value, formula, inputs, _, _ in derived:
        assert formula and inputs, (kpi, measure)
        assert abs(recompute(measure, json.loads(inputs)) - value) <= 1e-6 * max(1.0, abs(value)), (kpi, measure)
    for kpi, _, _, _, _, sql_file, sha in rows:
        path = spec.dir / sql_file.removeprefix(f"reports/{spec.name}/")
        assert sha == hashlib.sha256(path.read_bytes()).hexdigest(), sql_file
    # The provenance page: the full hash of every SQL file, table and data_through files included.
    pdf = pdfium.PdfDocument(result.path)
    try:
        text = "".join("".join(page.get_textpage().get_text_range() for page in pdf).split())
    finally:
        pdf.close()
    for path in spec.sql_files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in text, path.name


def test_a_self_contained_offline_html_lies_beside_the_pdf(demo, tmp_path):
    import re
    import shutil
    from pathlib import Path

    from reports.conftest import copy_project

    root = copy_project(demo, tmp_path)
    folder = root / "reports" / "daily_summary"
    shutil.copy(Path(__file__).parent / "logo.svg", folder / "logo.svg")
    template = folder / "template.html.j2"
    template.write_text(template.read_text().replace(
        "{% block content %}", '{% block content %}<img src="logo.svg"><img src="file:///etc/passwd">'
                               '<img src="../../pyproject.toml"><a href="https://example.com/x">x</a>'))
    settings = isolated(demo, tmp_path, project=root)
    con = warehouse.connect(settings.warehouse_path)
    try:
        result = issue_report(con, settings, find_report(root, "daily_summary"), "2026-10-30", now=NOW)
    finally:
        con.close()
    html_path = Path(result.path).with_suffix(".html")
    html = html_path.read_text(encoding="utf-8")
    assert result.record["html"] == html_path.name
    assert result.record["html_sha256"] == hashlib.sha256(html_path.read_bytes()).hexdigest()
    assert "data:image/svg+xml;base64," in html and "<style>" in html and "<svg" in html   # logo, CSS, charts
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html)
    assert references and all(r.startswith(("data:", "#")) for r in references)
    assert "Tageszusammenfassung" in html and result.facts["kpis"][0]["label"] in html
