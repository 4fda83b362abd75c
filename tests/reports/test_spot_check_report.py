"""The master-data report shows the spot-checked precision of the automatic merges: verdicts
recorded through the steward functions, the precision table written as the spot-check asset
writes it, the interval checked against the Wilson formula written out here."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from pipelines.core import warehouse
from pipelines.stewards.identity import Identity
from pipelines.reports.stage import issue_report
from pipelines.reports.spec import find_report
from pipelines.stewards.spotchecks import precision, record_verdict, take_sample, write_precision_table
from pipelines.core.state import StateStore
from pipelines.stewards.stewardship import entity_specs
from reports.conftest import isolated
from reports.test_facts import pdf_text

NO_SAMPLE = "noch keine Stichprobe geprüft"


def wilson_95(successes: int, n: int) -> tuple[float, float]:
    # Wilson (1927) score interval, z = 1.96 (the 97.5 % normal quantile)
    z = 1.959963984540054
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _issue(settings, spec):
    con = warehouse.connect(settings.warehouse_path)
    try:
        return issue_report(con, settings, spec)
    finally:
        con.close()


def _write_tables(settings, specs, today):
    con = warehouse.connect(settings.warehouse_path)
    try:
        with StateStore.from_settings(settings) as store:
            for name in specs:
                write_precision_table(con, name, precision(store, name, 8, today))
    finally:
        con.close()


def _words(path: str) -> str:
    return " ".join(pdf_text(path).split())      # a narrow column wraps the words across lines


def _html(result) -> str:
    return Path(result.path).with_suffix(".html").read_text(encoding="utf-8")


def test_the_report_shows_the_precision_of_automatic_merges_or_that_none_was_judged(demo, tmp_path):
    settings = isolated(demo, tmp_path, env={"KONTOR_STATE_DIR": str(tmp_path / "state")})
    spec = find_report(demo.root, "master_data_quality")
    specs = entity_specs(settings)
    today = dt.date.today()

    # a project whose spot-check job never ran: no table, and the report says so instead of failing
    con = warehouse.connect(settings.warehouse_path)
    try:
        for name in specs:
            con.execute(f"drop table if exists entities.{name}_spot_check_precision")
    finally:
        con.close()
    never = _issue(settings, spec)
    assert never.facts["tables"]["merge_precision"]["status"] == "missing"
    assert NO_SAMPLE in _words(never.path)

    # the job ran, a sample is drawn, nobody judged it yet: no 0 % and no 100 %, the plain words
    con = warehouse.connect(settings.warehouse_path, read_only=True)
    try:
        with StateStore.from_settings(settings) as store:
            sample = take_sample(settings, con, specs["customer"], store, today, 60)
    finally:
        con.close()
    _write_tables(settings, specs, today)
    unjudged = _issue(settings, spec)
    rows = unjudged.facts["tables"]["merge_precision"]["rows"]
    assert [r[0] for r in rows] == ["Kunden", "Lieferanten"]
    assert all(r[2] == 0 and r[3:6] == [None, None, None] and r[6] == NO_SAMPLE for r in rows)
    assert NO_SAMPLE in _words(unjudged.path)

    # 9 correct, 1 wrong, all from one probability stratum (equal weights: n = 10 plainly)
    stratum = [r for r in sample if r["kind"] == "merge" and r["detail"]["stratum"] == 2][:10]
    assert len(stratum) == 10
    anna = Identity("anna", "local_account")
    for i, r in enumerate(stratum):
        ok, message, _ = record_verdict(settings, anna, {"check_id": str(r["check_id"]),
                                                         "verdict": "wrong" if i == 3 else "correct"})
        assert ok, message
    _write_tables(settings, specs, today)
    judged = _issue(settings, spec)
    low, high = wilson_95(9, 10)
    customer, supplier = judged.facts["tables"]["merge_precision"]["rows"]
    assert customer[:3] == ["Kunden", 8, 10] and customer[6] is None
    assert customer[3:6] == [90.0, round(100 * low, 1), round(100 * high, 1)] == [90.0, 59.6, 98.2]
    assert supplier[2] == 0 and supplier[6] == NO_SAMPLE
    html = _html(judged)
    assert "Geschätzte Präzision automatischer Zusammenführungen (95-%-Intervall)" in html
    for figure in ("90,0", "59,6", "98,2"):
        assert figure in html
    assert NO_SAMPLE in html and NO_SAMPLE in _words(judged.path)

    english = _issue(settings, spec.in_language("en"))
    customer, supplier = english.facts["tables"]["merge_precision"]["rows"]
    assert customer[:6] == ["customers", 8, 10, 90.0, 59.6, 98.2] and supplier[6] == "no sample judged yet"
    assert "Estimated precision of automatic merges (95 % interval)" in _words(english.path)
