"""Report periods are Dagster partitions: per report its own partitions and job, schedules that
request a partition, `kontor run` and `kontor report` materialise partitions of the real graph."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets.reports import partition_key, partitions_for, period_of_partition
from pipelines.core.errors import KontorError
from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.reports.periods import parse_period
from pipelines.reports.spec import find_report
from pipelines.run import issue_by_hand
from reports.conftest import copy_project, isolated

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def defs(demo) -> dg.Definitions:
    return build_definitions(demo.settings)


def test_the_definitions_load_with_one_job_per_report_and_partitions_of_its_grain(defs):
    dg.Definitions.validate_loadable(defs)
    keys = {name: defs.resolve_job_def(f"report_{name}").partitions_def.get_partition_keys(
        current_time=datetime(2026, 11, 3, 12, 0, tzinfo=BERLIN))
        for name in ("monthly_pack", "daily_summary", "master_data_quality")}
    assert keys["monthly_pack"][:2] == ["2020-01", "2020-02"] and keys["monthly_pack"][-2:] == ["2026-10", "2026-11"]
    # business days: Friday, then Monday; the current day is a partition too (issued provisionally)
    assert keys["daily_summary"][-4:] == ["2026-10-29", "2026-10-30", "2026-11-02", "2026-11-03"]
    assert "2026-10-31" not in keys["daily_summary"]
    assert keys["master_data_quality"][-2:] == ["2026-10-26", "2026-11-02"]          # weeks from Monday
    # the everything-job holds no report (different partitions cannot share a job)
    everything = defs.resolve_job_def(ALL_JOB).asset_layer.selected_asset_keys
    assert not any(k.path[0] == "reports" for k in everything) and dg.AssetKey(["kontor", "serving_copy"]) in everything


def test_partition_keys_and_periods_map_both_ways(demo):
    monthly = find_report(demo.root, "monthly_pack")
    quarterly = replace(monthly, grain="quarter", first_period="2025-Q2")
    weekly = find_report(demo.root, "master_data_quality")
    cases = [(monthly, "2026-10", "2026-10"), (weekly, "2026-W43", "2026-10-19"), (quarterly, "2026-Q3", "2026-07-01")]
    for spec, period, key in cases:
        assert partition_key(spec, parse_period(period)) == key
        assert period_of_partition(spec, key).key == period
    quarters = partitions_for(quarterly).get_partition_keys(current_time=datetime(2026, 11, 3, tzinfo=BERLIN))
    assert quarters[0] == "2025-04-01" and quarters[-2:] == ["2026-07-01", "2026-10-01"]


@pytest.mark.parametrize("schedule,ticks", [
    ("report_daily_summary_schedule", {(2026, 11, 2): "2026-10-30", (2026, 11, 3): "2026-11-02",
                                       (2026, 11, 8): "2026-11-06"}),
    ("report_monthly_pack_schedule", {(2026, 11, 1): "2026-10", (2026, 11, 2): "2026-10"}),
    ("report_master_data_quality_schedule", {(2026, 11, 2): "2026-10-26"}),
])
def test_each_tick_requests_the_latest_complete_period_as_a_partition(defs, schedule, ticks):
    repository = defs.get_repository_def()
    for (year, month, day), expected in ticks.items():
        at = datetime(year, month, day, 7, 0, tzinfo=BERLIN)
        data = defs.resolve_schedule_def(schedule).evaluate_tick(
            dg.build_schedule_context(scheduled_execution_time=at, repository_def=repository))
        assert [r.partition_key for r in data.run_requests] == [expected]


def test_materialising_a_partition_issues_that_period_and_a_period_without_data_fails_before_the_archive(demo, tmp_path):
    settings = isolated(demo, tmp_path)           # the real graph, on a copy of the demo warehouse
    asset = build_definitions(settings).resolve_assets_def(dg.AssetKey(["reports", "daily_summary"]))
    instance = dg.DagsterInstance.ephemeral()       # the resolved asset carries the warehouse resource
    done = dg.materialize([asset], partition_key="2026-10-28", instance=instance)
    metadata = done.asset_materializations_for_node(asset.op.name)[0].metadata
    assert (metadata["period"].value, metadata["version"].value) == ("2026-10-28", 1)
    assert (settings.target_dir / "reports" / "daily_summary" / "daily_summary_2026-10-28_v1.pdf").is_file()
    refused = dg.materialize([asset], partition_key="2026-11-02", instance=instance, raise_on_error=False)
    assert not refused.success
    assert not list((settings.target_dir / "reports" / "daily_summary").glob("*2026-11-02*"))
    status = instance.get_status_by_partition(asset.key, ["2026-10-28", "2026-11-02", "2026-10-27"], asset.partitions_def)
    assert {k: str(v) for k, v in status.items()} == {"2026-10-28": "AssetPartitionStatus.MATERIALIZED",
                                                       "2026-11-02": "AssetPartitionStatus.FAILED", "2026-10-27": "None"}


def test_kontor_report_materialises_the_partition_in_the_instance(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    result = issue_by_hand(settings, "master_data_quality", None)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        records = instance.fetch_materializations(dg.AssetKey(["reports", "master_data_quality"]), limit=5).records
        # a backfill of many periods from the UI: one run at a time (one writer of the warehouse)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    finally:
        instance.dispose()
    week = parse_period(result.facts["period"]["key"])
    assert [r.asset_materialization.partition for r in records] == [week.start.isoformat()]
    with pytest.raises(KontorError, match="is a month, but report master_data_quality is issued per week"):
        issue_by_hand(settings, "master_data_quality", "2026-10")


def test_kontor_run_issued_each_report_for_its_latest_complete_period(demo):
    instance = dg.DagsterInstance.from_config(str(demo.settings.dagster_home))
    try:
        partitions = {name: [r.asset_materialization.partition for r in instance.fetch_materializations(
            dg.AssetKey(["reports", name]), limit=5).records] for name in ("monthly_pack", "daily_summary")}
    finally:
        instance.dispose()
    assert partitions == {"monthly_pack": ["2026-10"], "daily_summary": ["2026-10-30"]}


@pytest.mark.parametrize("failed", [{"failures": ["marts/fct_orders: Binder Error"]},
                                    {"gate_failures": ["raw/erp__orders: check 'order_no_unique' failed"]},
                                    {"skipped": ["marts/fct_invoices"]}])
def test_kontor_run_does_not_issue_a_report_when_something_it_reads_failed(demo, tmp_path, failed):
    from pipelines.run import RunOutcome, _run_report, report_assets

    settings = isolated(demo, tmp_path)
    defs = build_definitions(settings)
    key = dg.AssetKey(["reports", "daily_summary"])
    [broken] = [line.split(": ", 1)[0] for lines in failed.values() for line in lines]
    outcome = RunOutcome(run_id="test", success=False, **{kind: list(lines) for kind, lines in failed.items()})
    events: list[tuple] = []
    _run_report(settings, defs, defs.resolve_asset_graph(), key, report_assets(settings, defs)[key],
                dg.DagsterInstance.ephemeral(), outcome, lambda entry: None, lambda *event: events.append(event), None)
    assert "reports/daily_summary" in outcome.skipped and not (settings.target_dir / "reports").exists()
    assert events == [("skipped", "reports/daily_summary",
                       f"not issued: an upstream asset or a blocking quality gate failed: {broken}")]


def _gated(demo, tmp_path):
    """Settings on a copy of the demo warehouse, in a project with the shipped gate of marts.fct_orders."""
    import shutil

    from conftest import REPO

    root = copy_project(demo, tmp_path)
    shutil.copytree(demo.root / "models", root / "models")
    (root / "expectations").mkdir()
    shutil.copy(REPO / "expectations" / "marts.fct_orders.yml", root / "expectations")
    return isolated(demo, tmp_path, project=root)


def _break_the_orders_gate(settings) -> int:
    """A real failing blocking gate: an order twice in marts.fct_orders, judged by the shipped suite
    (expectations/marts.fct_orders.yml, order_no unique) through the engine the asset check runs."""
    from pipelines.core.warehouse import connect_settings
    from pipelines.quality.runner import run_suite
    from pipelines.quality.spec import expectations_dir, load_suites_or_raise

    [suite] = [s for s in load_suites_or_raise(expectations_dir(settings.project_dir)) if s.asset == "marts/fct_orders"]
    con = connect_settings(settings)
    try:
        con.execute("insert into marts.fct_orders select * from marts.fct_orders limit 1")
        outcome = run_suite(con, suite, run_id="broken-orders")
        failed = [o for o in outcome.rules if not o.success]
        assert ("column_values_to_be_unique__order_no", "error", 2) in \
            [(o.rule.name, o.rule.severity, o.unexpected_count) for o in failed]
        return con.execute("select count(*) from marts.fct_orders").fetchone()[0]
    finally:
        con.close()


GATE_REFUSAL = (r"^reports/daily_summary/report\.yml: daily_summary not issued: \d+ blocking quality gate\(s\) failed "
                r"on the data its SQL reads: .*marts\.fct_orders \(read by reports/daily_summary/kpis/\w+\.sql\): "
                r"rule 'column_values_to_be_unique__order_no' \(expectations/marts\.fct_orders\.yml:5\) "
                r"failed on 2 of {rows:,} rows")


def test_kontor_report_refuses_a_period_when_a_blocking_gate_of_a_table_it_reads_failed(demo, tmp_path):
    settings = _gated(demo, tmp_path)
    rows = _break_the_orders_gate(settings)
    with pytest.raises(KontorError, match=GATE_REFUSAL.format(rows=rows)) as refused:
        issue_by_hand(settings, "daily_summary", "2026-10-28")
    assert "kontor.gate_results" in str(refused.value) and "rerun `kontor run`" in str(refused.value)
    assert not (settings.target_dir / "reports").exists()       # nothing archived
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        key = dg.AssetKey(["reports", "daily_summary"])
        assert instance.fetch_materializations(key, limit=5).records == []
        assert str(instance.get_status_by_partition(key, ["2026-10-28"], partitions_for(
            find_report(demo.root, "daily_summary")))["2026-10-28"]) == "AssetPartitionStatus.FAILED"
    finally:
        instance.dispose()


def test_a_partition_run_fails_without_archiving_when_a_blocking_gate_failed(demo, tmp_path):
    """The path of a schedule tick or a backfill: the report's job for one partition, on the real graph."""
    import re

    from pipelines.core.alerts import step_failure_reason

    settings = _gated(demo, tmp_path)
    rows = _break_the_orders_gate(settings)
    asset = build_definitions(settings).resolve_assets_def(dg.AssetKey(["reports", "daily_summary"]))
    instance = dg.DagsterInstance.ephemeral()
    refused = dg.materialize([asset], partition_key="2026-10-28", instance=instance, raise_on_error=False)
    assert not refused.success
    [reason] = [step_failure_reason(e) for e in refused.get_step_failure_events()]
    assert re.search(GATE_REFUSAL.format(rows=rows), reason.removeprefix("pipelines.core.errors.KontorError: ")), reason
    assert not (settings.target_dir / "reports").exists()
    status = instance.get_status_by_partition(asset.key, ["2026-10-28"], asset.partitions_def)
    assert str(status["2026-10-28"]) == "AssetPartitionStatus.FAILED"
