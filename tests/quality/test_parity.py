"""Kontor's DuckDB gate gives what GX's own pandas engine gives, expectation by expectation.

The table and the expectations are data (fixtures/parity.yml); the reference is GX 1.x's
PandasExecutionEngine on the same table read into pandas (what the gate replaces). Compared:
success, the counts, the percentages, the observed value and the first unexpected values.
"""
from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest
import yaml

FIXTURE = yaml.safe_load((Path(__file__).parent / "fixtures" / "parity.yml").read_text())
FIELDS = ("element_count", "unexpected_count", "unexpected_percent", "unexpected_percent_total",
          "unexpected_percent_nonmissing", "missing_count", "missing_percent", "observed_value",
          "partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts",
          "unexpected_list", "unexpected_index_list")


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@pytest.fixture(scope="module")
def table() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(FIXTURE["table"])
    return con


def _configs():
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    return [ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]) for e in FIXTURE["expectations"]]


def _pandas(con, result_format: str):
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("pd").add_dataframe_asset("parity").add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(gx.ExpectationSuite(name="parity", expectations=[c.to_domain_obj() for c in _configs()]))
    run = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
    return run.run(batch_parameters={"dataframe": con.table("parity").df()}, result_format=result_format)


@pytest.mark.parametrize("result_format", ["SUMMARY", "COMPLETE"])
def test_gate_equals_gx_pandas_engine(table, result_format):
    from pipelines.quality.gate import DuckDBGate

    reference = {_key(r): r for r in _pandas(table, result_format).results}
    ours = DuckDBGate(table, "parity").validate(_configs(), result_format=result_format, suite_name="parity")
    assert len(ours.results) == len(reference) == len(FIXTURE["expectations"])
    differences = []
    for r in ours.results:
        ref = reference[_key(r)]
        assert r.exception_info in (None, {}) or not r.exception_info.get("raised_exception"), r.exception_info
        if r.success != ref.success:
            differences.append((_key(r), "success", ref.success, r.success))
        mine, theirs = r.to_json_dict()["result"], ref.to_json_dict()["result"]
        for f in FIELDS:
            if not _same(theirs.get(f, "<absent>"), mine.get(f, "<absent>")):
                differences.append((_key(r), f, theirs.get(f, "<absent>"), mine.get(f, "<absent>")))
    assert differences == []
    # the fixture is not trivially green: both engines see failures and passes
    assert 0 < sum(r.success for r in ours.results) < len(ours.results)


def _key(result) -> str:
    cfg = result.expectation_config
    return f"{cfg.type}{sorted((k, str(v)) for k, v in cfg.kwargs.items() if k != 'batch_id')}"


def test_every_supported_type_is_in_the_parity_fixture():
    from pipelines.quality.gate import SUPPORTED_TYPES

    covered = {e["type"] for e in FIXTURE["expectations"]}
    assert set(SUPPORTED_TYPES) - {"unexpected_rows_expectation"} == covered


def test_unexpected_rows_expectation_counts_what_its_query_returns(table):
    import great_expectations as gx

    from pipelines.quality.gate import DuckDBGate

    query = "select * from {batch} where amount < 0 or status = 'unknown'"
    exp = gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query=query)
    gate = DuckDBGate(table, "parity")
    result = gate.validate([exp.configuration], suite_name="q").results[0]
    expected = table.execute("select count(*) from parity where amount < 0 or status = 'unknown'").fetchall()[0][0]
    assert expected > 0
    assert result.success is False and result.result["observed_value"] == expected
    rows = table.execute(f"select count(*) from ({gate.failing_rows_sql(0)})").fetchall()[0][0]
    assert rows == expected
