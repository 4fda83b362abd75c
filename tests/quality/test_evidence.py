"""A suite run on a real DuckDB: results, quarantined rows with their keys, offline Data Docs."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import duckdb
import pytest

from pipelines.quality.runner import run_suite, sample_markdown
from pipelines.quality.spec import Rule, Suite
from pipelines.core.warehouse import ensure_bookkeeping

TABLE = """
create schema marts;
create table marts.invoices as
select i as invoice_no,
       case when i in (3, 7) then -10.5 else i * 1.25 end::decimal(10, 2) as net_amount,
       case when i in (4, 5) then 'DUP' else 'R' || i end as reference,
       'file.csv' as _source_file, i + 1 as _line
from range(1, 21) t(i)
"""


def rule(name: str, type_: str, severity: str = "error", **kwargs) -> Rule:
    return Rule(name=name, type=type_, kwargs=kwargs, severity=severity, description=None, file="x.yml", line=1)


SUITE = Suite(asset="marts/invoices", file="expectations/marts.invoices.yml", rules=(
    rule("net_not_negative", "expect_column_values_to_be_between", column="net_amount", min_value=0),
    rule("reference_unique", "expect_column_values_to_be_unique", "warn", column="reference"),
    rule("big_invoices", "unexpected_rows_expectation", unexpected_rows_query="select * from {batch} where net_amount > 20"),
    rule("enough_rows", "expect_table_row_count_to_be_between", min_value=100),
    rule("no_nulls", "expect_column_values_to_not_be_null", column="invoice_no"),
))


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(TABLE)
    ensure_bookkeeping(con)
    return con


def test_results_and_quarantine_rows_name_each_failing_row(con, tmp_path):
    outcome = run_suite(con, SUITE, run_id="r1", row_key=["invoice_no"], docs_target=tmp_path)
    got = {o.rule.name: (o.success, o.unexpected_count, o.element_count) for o in outcome.rules}
    assert got == {"net_not_negative": (False, 2, 20), "reference_unique": (False, 2, 20),
                   "big_invoices": (False, 4, 20), "enough_rows": (False, None, 20), "no_nulls": (True, 0, 20)}
    assert [o.rule.name for o in outcome.failed_errors] == ["net_not_negative", "big_invoices", "enough_rows"]

    rows = con.execute("select rule, severity, success, observed_value, unexpected_count, element_count "
                       "from kontor.gate_results where run_id = 'r1' order by rule").fetchall()
    assert rows == [("big_invoices", "error", False, "4", 4, 20), ("enough_rows", "error", False, "20", None, 20),
                    ("net_not_negative", "error", False, "10% unexpected", 2, 20),
                    ("no_nulls", "error", True, "0% unexpected", 0, 20),
                    ("reference_unique", "warn", False, "10% unexpected", 2, 20)]

    quarantined = {}
    for rule_name, key, row in con.execute("select rule, row_key, row_json from kontor.gate_quarantine "
                                           "where run_id = 'r1' order by rule, row_key").fetchall():
        quarantined.setdefault(rule_name, []).append((key, json.loads(row)))
    assert {r: [k for k, _ in v] for r, v in quarantined.items()} == {
        "big_invoices": ["17", "18", "19", "20"], "net_not_negative": ["3", "7"], "reference_unique": ["4", "5"]}
    key, row = quarantined["net_not_negative"][0]
    assert row == {"invoice_no": 3, "net_amount": -10.5, "reference": "R3", "_source_file": "file.csv", "_line": 4}
    sample = sample_markdown(next(o for o in outcome.rules if o.rule.name == "net_not_negative"))
    assert sample.splitlines()[0] == "| row_key | net_amount | invoice_no | reference |"
    assert "| 3 | -10.5 | 3 | R3 |" in sample


def test_row_key_defaults_to_file_and_line_and_quarantine_is_capped(con):
    run_suite(con, SUITE, run_id="r2", quarantine_limit=3)
    keys = [k for (k,) in con.execute("select row_key from kontor.gate_quarantine where run_id = 'r2' and "
                                      "rule = 'big_invoices' order by row_key").fetchall()]
    assert keys == ["file.csv:18", "file.csv:19", "file.csv:20"]
    run_suite(con, SUITE, run_id="r2b", quarantine_limit=1)    # the first failing rows, in row order
    assert con.execute("select rule, row_key from kontor.gate_quarantine where run_id = 'r2b' order by rule").fetchall() == [
        ("big_invoices", "file.csv:18"), ("net_not_negative", "file.csv:4"), ("reference_unique", "file.csv:5")]


class _Fetches(HTMLParser):
    """Every URL a browser loads by itself when it opens the page (links clicked do not count)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "srcset", "data", "poster", "background"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", attrs.get("style") or "")

    def handle_data(self, data):   # inline <style>: url(...) and @import
        for pair in re.findall(r"url\(\s*['\"]?([^'\")]+)|@import\s+['\"]([^'\"]+)", data):
            self.urls += [u for u in pair if u]


def test_data_docs_are_written_and_fetch_nothing_remote(con, tmp_path):
    outcome = run_suite(con, SUITE, run_id="r3", docs_target=tmp_path)
    site = tmp_path / "data_docs"
    page = outcome.docs_page
    assert page.is_file() and page.is_relative_to(site / "validations")
    text = page.read_text(encoding="utf-8")
    assert "-10.5" in text and "net_amount" in text          # GX's rendering of the failing values
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "marts/invoices" in index and page.relative_to(site).as_posix() in index
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 3                                   # validation page, suite page, index
    for html_page in pages:
        parser = _Fetches()
        parser.feed(html_page.read_text(encoding="utf-8"))
        remote = [u for u in parser.urls if re.match(r"(?i)\s*(https?:)?//", u)]
        assert remote == [], html_page
        for local in parser.urls:                            # and what it loads is there
            target = (html_page.parent / local.split("?")[0]).resolve()
            assert target.exists(), (html_page, local)
    for css in site.rglob("*.css"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import", css.read_text(encoding="utf-8")), css


def test_a_view_is_gated_like_a_table(con):
    con.execute("create view marts.invoices_view as select * from marts.invoices where invoice_no > 2")
    suite = Suite(asset="marts/invoices_view", file="f", rules=SUITE.rules[:1])
    outcome = run_suite(con, suite, run_id="r4", row_key=["invoice_no"])
    assert outcome.rules[0].unexpected_count == 2 and outcome.rules[0].element_count == 18
    assert sorted(k for (k,) in con.execute("select row_key from kontor.gate_quarantine where run_id = 'r4'").fetchall()) == ["3", "7"]


def test_rows_of_an_aggregate_query_are_quarantined_by_position(con):
    total = rule("total_small", "unexpected_rows_expectation",
                 unexpected_rows_query="select sum(net_amount) as total from {batch} having sum(net_amount) > 100")
    outcome = run_suite(con, Suite(asset="marts/invoices", file="f", rules=(total,)), run_id="r5", row_key=["invoice_no"])
    assert (outcome.rules[0].success, outcome.rules[0].unexpected_count) == (False, 1)
    assert con.execute("select row_key, row_json from kontor.gate_quarantine where run_id = 'r5'").fetchall() == [
        ("row 0", '{"total":229.00}')]


def test_compound_uniqueness_quarantines_its_first_rows(con):
    compound = rule("reference_file_unique", "expect_compound_columns_to_be_unique", column_list=["reference", "_source_file"])
    suite = Suite(asset="marts/invoices", file="f", rules=(compound,))
    for run_id, limit, expected in (("c1", 10, ["file.csv:5", "file.csv:6"]), ("c2", 1, ["file.csv:5"])):
        outcome = run_suite(con, suite, run_id=run_id, quarantine_limit=limit)
        assert (outcome.rules[0].unexpected_count, outcome.rules[0].quarantined) == (2, len(expected))
        assert [k for (k,) in con.execute("select row_key from kontor.gate_quarantine where run_id = ? order by row_key",
                                          [run_id]).fetchall()] == expected


def test_failing_rows_planned_without_data_select_the_rows_the_gate_flags(con):
    """``DuckDBGate.plan_rows`` (the Spark gate's planner) over an empty stand-in with the table's
    columns writes queries that, pointed at the table, select exactly the rows the gate flags."""
    from sqlglot import exp, parse_one

    from pipelines.quality.gate import DuckDBGate
    from pipelines.quality.runner import gx_configs

    con.execute("create table standin as select * from marts.invoices limit 0")
    gate = DuckDBGate(con, "standin")
    gate.plan_rows(gx_configs(SUITE))
    assert gate.failing_rows_sql(3) is None          # a table-level rule has no rows
    found = {}
    for i, r in enumerate(SUITE.rules[:3]):
        tree = parse_one(gate.failing_rows_sql(i), dialect="duckdb").transform(
            lambda n: exp.table_("invoices", db="marts") if isinstance(n, exp.Table) and n.name == "standin" else n)
        query = exp.select("invoice_no").from_(tree.subquery()).sql("duckdb")
        found[r.name] = [row[0] for row in con.execute(query).fetchall()]
    assert found == {"net_not_negative": [3, 7], "reference_unique": [4, 5], "big_invoices": [17, 18, 19, 20]}
