"""Report folders, periods and the number check, as data: input → expected output."""
from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path

import pytest

from conftest import REPO, make_project
from pipelines.check import check_project
from pipelines.core.errors import KontorError, ProjectError
from pipelines.reports.figures import Fact, format_value, mismatches, read_numbers
from pipelines.reports.periods import latest_complete, parse_period
from pipelines.reports.spec import load_report, load_reports

# -- periods ------------------------------------------------------------------------------------

PERIODS = [  # key, start, end, previous, same period last year
    ("2026-10", "2026-10-01", "2026-10-31", "2026-09", "2025-10"),
    ("2026-01", "2026-01-01", "2026-01-31", "2025-12", "2025-01"),
    ("2026-W43", "2026-10-19", "2026-10-25", "2026-W42", "2025-W43"),
    ("2026-W01", "2025-12-29", "2026-01-04", "2025-W52", "2025-W01"),
    ("2026-W53", "2026-12-28", "2027-01-03", "2026-W52", "2025-W52"),   # 2025 has no week 53
    ("2026-Q3", "2026-07-01", "2026-09-30", "2026-Q2", "2025-Q3"),
    ("2026-Q1", "2026-01-01", "2026-03-31", "2025-Q4", "2025-Q1"),
    ("2026-10-31", "2026-10-31", "2026-10-31", "2026-10-30", "2025-11-01"),  # 364 days: same weekday
]


@pytest.mark.parametrize("key,start,end,previous,last_year", PERIODS)
def test_periods_parse_shift_and_compare(key, start, end, previous, last_year):
    period = parse_period(key)
    assert (period.key, str(period.start), str(period.end)) == (key, start, end)
    assert period.shift(-1).key == previous and period.same_period_last_year().key == last_year
    assert period.shift(-1).shift(1) == period


@pytest.mark.parametrize("grain,through,business,expected", [
    ("month", "2026-10-31", False, "2026-10"),        # the data's last day completes October
    ("month", "2026-10-30", False, "2026-09"),
    ("week", "2026-10-31", False, "2026-W43"),        # Saturday: week 44 is not over
    ("quarter", "2026-10-31", False, "2026-Q3"),
    ("day", "2026-11-01", True, "2026-10-30"),        # Sunday → Friday
    ("day", "2026-11-01", False, "2026-11-01"),
])
def test_latest_complete_period(grain, through, business, expected):
    assert latest_complete(grain, date.fromisoformat(through), business).key == expected


def test_business_days_skip_weekends():
    monday = parse_period("2026-10-26", business_days=True)
    assert monday.shift(-1).key == "2026-10-23" and monday.shift(-1).shift(1).key == "2026-10-26"


@pytest.mark.parametrize("text", ["2026-13", "2026-W54", "26-10", "2026-Q5", "October", "2026-02-30"])
def test_bad_periods_name_the_forms(text):
    with pytest.raises(KontorError, match="2026-W43"):
        parse_period(text)


# -- numbers --------------------------------------------------------------------------------

FORMATS = [  # value, unit, decimals, language, sign, text
    (574483.46, "EUR", 0, "de", False, "574.483 €"),
    (574483.46, "EUR", 0, "en", False, "€574,483"),
    (-12.345, "%", 1, "de", True, "−12,3 %"),
    (12.345, "%", 1, "en", True, "+12.3%"),
    (-0.04, "pp", 1, "de", True, "0,0 PP"),        # rounds to zero: no sign
    (49.04, "days", 1, "de", False, "49,0 Tage"),
    (None, "EUR", 0, "de", False, "–"),
]


@pytest.mark.parametrize("value,unit,decimals,language,sign,text", FORMATS)
def test_values_are_written_as_a_reader_of_the_language_expects(value, unit, decimals, language, sign, text):
    assert format_value(value, unit, decimals, language, sign) == text


CHECKS = [  # prose, language, facts, the numbers that match no fact
    ("Der Umsatz stieg um 12,3 % auf 574.483 €.", "de", [Fact(12.34, "pct"), Fact(574483.46)], []),
    ("Der Umsatz stieg um 12,3 % auf 574.483 €.", "de", [Fact(12.36, "pct"), Fact(574483.46)], ["12,3 %"]),
    ("Revenue rose 12.3% to €574,483.", "en", [Fact(12.34, "pct"), Fact(574483.46)], []),
    ("Umsatz 574 Tsd. € und 0,57 Mio. €", "de", [Fact(574483.46)], []),
    ("Umsatz 575 Tsd. €", "de", [Fact(574483.46)], ["575 Tsd."]),
    ("Umsatz 12.5 %", "de", [Fact(12.5, "pct")], ["12.5 %"]),        # a German reader reads 125
    ("Revenue 12,5%", "en", [Fact(12.5, "pct")], ["12,5%"]),          # an English reader: 125
    ("Marge +1,2 PP", "de", [Fact(1.2, "pct")], ["+1,2 PP"]),          # points are not percent
    ("Marge +1,2 %", "de", [Fact(1.2, "pp")], ["+1,2 %"]),
    ("sank um 8.883 €", "de", [Fact(-8882.84)], []),                   # the sign lives in the verb
    ("im Oktober 2026, Stichtag 31.10.2026, KW 43, Q3", "de", [Fact(2026, "date")], []),
    ("im Oktober 2025", "de", [Fact(2026, "date")], ["2025"]),
    ("Aufträge: 642", "de", [Fact(642)], []),
    ("Aufträge: 643", "de", [Fact(642)], ["643"]),
]


@pytest.mark.parametrize("text,language,facts,wrong", CHECKS)
def test_every_number_in_prose_must_match_a_fact_within_its_rounding(text, language, facts, wrong):
    assert mismatches(text, language, facts) == wrong


def test_numbers_are_read_with_their_scale_and_kind():
    tokens = read_numbers("1,2 Mio. €; −3,5 %; 2 PP; 7", "de")
    assert [(t.value, t.marker) for t in tokens] == [(1_200_000.0, "scale"), (-3.5, "pct"), (2.0, "pp"), (7.0, "plain")]


# -- report.yml -------------------------------------------------------------------------------

def _report(root: Path, yml: str, sql: dict[str, str] | None = None) -> Path:
    folder = root / "reports" / "broken"
    (folder / "kpis").mkdir(parents=True)
    (folder / "report.yml").write_text(textwrap.dedent(yml))
    (folder / "template.html.j2").write_text("{% extends 'kontor/base.html.j2' %}")
    for name, text in (sql or {"kpis/revenue.sql": "select period_start, 1 as value from report_periods"}).items():
        (folder / name).write_text(text)
    return folder


BROKEN = [  # report.yml, the problem expected (line: text)
    ("language: fr\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "language 'fr' is not one of de, en")),
    ("grain: mnth\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "did you mean 'month'")),
    ("kpis:\n  - name: revenue\n    sql: kpis/revenue.sql\n    unti: EUR\n", (4, "unknown key 'unti' in kpi; did you mean 'unit'")),
    ("kpis:\n  - name: revenue\n    sql: kpis/missing.sql\n", (3, "reports/broken/kpis/missing.sql not found")),
    ("kpis:\n  - name: revenue\n    sql: kpis/revenue.sql\n    drivers: [regoin]\ndimensions: {region: {}}\n",
     (4, "driver 'regoin' is not declared under 'dimensions'; did you mean 'region'")),
    ("schedule: '0 7 * *'\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "is not a cron expression")),
    ("comparisons: [plan]\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "comparison 'plan' needs a plan file")),
    ("kpis: [{name: revenue, sql: kpis/revenue.sql}\n", (2, "invalid YAML")),
    ("kpis: []\n", (1, "needs a list 'kpis'")),
    ("grain: month\nfirst_period: 2024-W01\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n",
     (2, "first_period '2024-W01' is a week, but the report is issued per month; write a month such as 2026-10")),
    ("first_period: 2024-13\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "is not a valid period")),
    # every problem of a KPI at once, not only the first
    ("kpis:\n  - name: Revenue\n    sql: kpis/revenue.sql\n    unit: eur\n", (4, "unit 'eur' is not one of EUR")),
    ("kpis:\n  - name: Revenue\n    sql: kpis/missing.sql\n", (3, "reports/broken/kpis/missing.sql not found")),
    ("tables: 5\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "tables must be a list")),
    ("drivers_top: 0\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n", (1, "drivers_top must be a whole number ≥ 1")),
    ("delivery:\n  email: {to: controlling}\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n",
     (2, "delivery.email.to must list e-mail addresses")),
    ("delivery: {email: {to: a@b.de, cc: c@b.de}}\nkpis: [{name: revenue, sql: kpis/revenue.sql}]\n",
     (1, "unknown key 'cc' in delivery.email")),
]


@pytest.mark.parametrize("yml,expected", BROKEN)
def test_bad_report_yml_gives_file_line_and_fix(tmp_path, yml, expected):
    folder = _report(tmp_path, yml)
    with pytest.raises(ProjectError) as caught:
        load_report(folder, "reports/broken")
    line, text = expected
    assert any(p.file == "reports/broken/report.yml" and p.line == line and text in p.message
               for p in caught.value.problems), [str(p) for p in caught.value.problems]


def test_sql_syntax_errors_name_the_sql_file_and_line(tmp_path):
    folder = _report(tmp_path, "kpis: [{name: revenue, sql: kpis/revenue.sql}]\n",
                     {"kpis/revenue.sql": "select period_start,\n  sum(value as value\nfrom report_periods"})
    with pytest.raises(ProjectError) as caught:
        load_report(folder, "reports/broken")
    [problem] = caught.value.problems
    assert problem.file == "reports/broken/kpis/revenue.sql" and problem.line in (2, 3) and "syntax" in problem.message


def test_shipped_reports_load_and_kontor_check_reports_relation_typos(tmp_path):
    reports, problems = load_reports(REPO)
    assert problems == [] and {r.name for r in reports} == {"daily_summary", "monthly_pack", "master_data_quality"}
    monthly = next(r for r in reports if r.name == "monthly_pack")
    assert {"marts.fct_order_lines", "marts.bridge_customer_source", "marts.fct_invoices"} <= monthly.relations()

    settings = make_project(tmp_path / "p", with_models=True)
    shutil.copytree(REPO / "reports", settings.project_dir / "reports")
    problems, summary = check_project(settings)
    assert not [p for p in problems if p.file.startswith("reports/")] and "3 reports" in summary
    kpi = settings.project_dir / "reports" / "monthly_pack" / "kpis" / "orders.sql"
    kpi.write_text(kpi.read_text().replace("marts.fct_orders", "marts.fct_ordrs"))
    problems, _ = check_project(settings)
    [typo] = [p for p in problems if p.file == "reports/monthly_pack/kpis/orders.sql"]
    assert typo.line == 4 and "unknown relation marts.fct_ordrs; did you mean 'marts.fct_orders'" in typo.message


@pytest.mark.parametrize("module", ["figures", "periods", "i18n", "spec", "charts"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"pipelines.reports.{module}"))
    assert result.attempted > 0 and result.failed == 0
