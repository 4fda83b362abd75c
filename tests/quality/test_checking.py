"""``kontor check`` judges expectation files before any run: ``file:line: message`` per problem."""
from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import REPO, make_project
from pipelines.check import check_project

BAD = """\
description: every kind of mistake, one per rule
expectations:
  - type: expect_column_values_to_be_beetween
    kwargs: {column: account_id, min_value: 0}
  - type: expect_column_values_to_not_be_null
    kwargs:
      column: acount_name
  - type: expect_column_values_to_be_in_set
    kwargs:
      column: country
      value_set: [DE]
      mostly: 1.5
  - type: expect_column_values_to_match_regex
    kwargs:
      column: email
      regexx: '@'
  - type: expect_column_values_to_be_between
    kwargs: {column: created_at, min_value: 5}
  - type: expect_column_values_to_match_regex
    kwargs: {column: email, regex: '(['}
  - name: orphan_contacts
    type: unexpected_rows_expectation
    kwargs:
      unexpected_rows_query: select * from {batch} a where a.account_id not in (select account_id from staging.nope)
  - type: expect_column_values_to_be_unique
    kwargs: {column: account_id}
    severity: fatal
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    settings = make_project(tmp_path_factory.mktemp("check"), with_models=True)
    (settings.project_dir / "expectations").mkdir(exist_ok=True)
    return settings


def _problems(settings, files: dict[str, str]) -> list[str]:
    exp = settings.project_dir / "expectations"
    for old in exp.glob("*"):
        old.unlink()
    for name, text in files.items():
        (exp / name).write_text(text)
    problems, _ = check_project(settings)
    return [str(p) for p in problems]


def test_each_bad_rule_is_reported_at_its_line(project):
    assert _problems(project, {"raw.crm__accounts.yml": BAD}) == [
        "expectations/raw.crm__accounts.yml:3: unknown expectation type 'expect_column_values_to_be_beetween'; "
        "did you mean 'expect_column_values_to_be_between'?",
        "expectations/raw.crm__accounts.yml:7: column_values_to_not_be_null__acount_name: column 'acount_name' "
        "does not exist in raw.crm__accounts; did you mean 'account_name'?",
        "expectations/raw.crm__accounts.yml:12: column_values_to_be_in_set__country: invalid mostly 1.5: "
        "ensure this value is less than or equal to 1.0",
        "expectations/raw.crm__accounts.yml:16: column_values_to_match_regex__email: unknown argument 'regexx' "
        "for expect_column_values_to_match_regex; did you mean 'regex'?",
        "expectations/raw.crm__accounts.yml:18: column_values_to_be_between__created_at: min_value 5.0 is not a "
        "date but column 'created_at' is DATE; fix: write a date, e.g. 2024-01-31",
        "expectations/raw.crm__accounts.yml:19: check name 'column_values_to_match_regex__email' is used twice "
        "(first at line 13); fix: give one of them its own 'name:'",
        "expectations/raw.crm__accounts.yml:20: column_values_to_match_regex__email: invalid regex '([': "
        "unterminated character set at position 1",
        "expectations/raw.crm__accounts.yml:24: orphan_contacts: the query reads 'staging.nope', which is no "
        "asset of the project",
        "expectations/raw.crm__accounts.yml:24: orphan_contacts: unexpected_rows_query does not run on DuckDB: "
        "Catalog Error: Table with name nope does not exist!",
        "expectations/raw.crm__accounts.yml:27: severity must be 'error' (blocks downstream assets) or 'warn' "
        "(annotates), not 'fatal'",
    ]


def test_unknown_asset_and_misnamed_file(project):
    ok = "expectations:\n  - type: expect_column_values_to_not_be_null\n    kwargs: {column: x}\n"
    assert _problems(project, {"marts.fct_invoicez.yml": ok, "invoices.yml": ok}) == [
        "expectations/invoices.yml: an expectation file is named <schema>.<name>.yml after the asset "
        "<schema>/<name>; fix: rename it, e.g. marts.fct_invoices.yml",
        "expectations/marts.fct_invoicez.yml: no asset 'marts/fct_invoicez' to gate; fix: name the file "
        "<schema>.<name>.yml after an existing asset; did you mean 'marts/fct_invoices'?",
    ]


def test_model_columns_come_from_the_sql_not_the_docs(project):
    """A model's view is bound on an empty catalog: a column the SQL makes is known, documented or not."""
    rule = ("expectations:\n  - type: expect_column_values_to_be_between\n"
            "    kwargs: {column: payment_terms_days, min_value: 0, max_value: 365}\n"
            "  - type: expect_column_values_to_be_between\n"
            "    kwargs: {column: invoice_no, min_value: 0}\n")
    assert _problems(project, {"marts.fct_invoices.yml": rule}) == [
        "expectations/marts.fct_invoices.yml:5: column_values_to_be_between__invoice_no: min_value 0.0 is a "
        "number but column 'invoice_no' is text (VARCHAR)"]


def test_the_shipped_suites_check_clean(project):
    shutil.rmtree(project.project_dir / "expectations")
    shutil.copytree(REPO / "expectations", project.project_dir / "expectations")
    problems, summary = check_project(project)
    assert problems == []
    rules = sum(len(yaml.safe_load(p.read_text())["expectations"]) for p in (REPO / "expectations").glob("*.yml"))
    assert f"{rules} quality rules" in summary


def test_entity_tables_are_checked_by_column_name(project):
    """Golden records are built in Python: their columns are known by name before a run."""
    rule = ("row_key: golden_id\nexpectations:\n  - type: expect_column_values_to_not_be_null\n"
            "    kwargs: {column: nmae}\n  - type: expect_column_values_to_be_unique\n    kwargs: {column: golden_id}\n")
    assert _problems(project, {"entities.customer_golden.yml": rule}) == [
        "expectations/entities.customer_golden.yml:4: column_values_to_not_be_null__nmae: column 'nmae' does not "
        "exist in entities.customer_golden; did you mean 'name'?"]


def test_an_expectation_the_gate_cannot_compute_is_named(project):
    rule = ("expectations:\n  - type: expect_column_values_to_be_of_type\n    kwargs: {column: account_id, type_: str}\n"
            "  - type: expect_column_values_to_not_be_null\n    kwargs: {column: account_id, row_condition: 'country==\"DE\"',"
            " condition_parser: pandas}\n")
    problems = _problems(project, {"raw.crm__accounts.yml": rule})
    assert [p.split(": ", 1)[0] for p in problems] == ["expectations/raw.crm__accounts.yml:2",
                                                       "expectations/raw.crm__accounts.yml:4"]
    assert all("cannot run on Kontor's DuckDB gate" in p and "fix: use a supported expectation" in p for p in problems)
    assert "row_condition is not supported" in problems[1]
