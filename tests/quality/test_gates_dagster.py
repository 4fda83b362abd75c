"""Gates in the real graph: an ``error`` rule that fails blocks everything downstream and makes
``kontor run`` fail naming rule and asset; a ``warn`` rule annotates and blocks nothing."""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import make_project
from pipelines.definitions import build_definitions
from pipelines.run import instance_for, run_pipeline
from test_end_to_end import kontor

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ","}
    tables:
      - name: orders
        location: orders.csv
        primary_key: id
        columns:
          - {name: id, data_type: integer}
          - {name: amount, data_type: "decimal(10,2)"}
          - {name: status}
"""
MODELS = {
    "models/staging/stg_shop__orders.sql": "select id, amount, status from {{ source('shop', 'orders') }}\n",
    "models/marts/order_totals.sql": "select status, sum(amount) as total from {{ ref('stg_shop__orders') }} group by all\n",
}
ORDERS = "id,amount,status\n1,10.00,open\n2,-5.00,paid\n3,20.00,lost\n4,7.50,paid\n"
RULES = """
expectations:
  - name: amount_not_negative
    type: expect_column_values_to_be_between
    kwargs: {{column: amount, min_value: 0}}
    severity: {severity}
    description: Refunds belong in credit notes, not in orders.
  - type: expect_column_values_to_be_in_set
    kwargs: {{column: status, value_set: [open, paid]}}
    severity: warn
  - type: expect_column_values_to_not_be_null
    kwargs: {{column: id}}
"""
DOWNSTREAM = {"staging/stg_shop__orders", "marts/order_totals", "kontor/serving_copy"}


def project(root: Path, severity: str):
    settings = make_project(root, SOURCES)
    for rel, text in MODELS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "expectations").mkdir()
    (root / "expectations" / "raw.shop__orders.yml").write_text(RULES.format(severity=severity))
    (settings.data_dir / "orders.csv").write_text(ORDERS)
    return settings


def evaluations(settings, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    instance = instance_for(settings)
    try:
        return {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
                for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)}
    finally:
        instance.dispose()


@pytest.fixture(scope="module")
def blocked(tmp_path_factory):
    settings = project(tmp_path_factory.mktemp("blocking"), "error")
    events = []
    outcome = run_pipeline(settings, on_event=lambda *e: events.append(e))
    return settings, outcome, events


def test_a_failed_error_gate_blocks_everything_downstream(blocked):
    settings, outcome, events = blocked
    assert not outcome.success
    assert outcome.materialized == ["raw/shop__orders"]
    assert DOWNSTREAM <= set(outcome.skipped)
    assert not settings.serving_path.exists()                      # nothing published for analysts
    assert outcome.gate_failures == ["raw/shop__orders: check 'amount_not_negative' failed "
                                     "(1 of 4 rows unexpected)"]
    assert outcome.gate_warnings == ["raw/shop__orders: check 'column_values_to_be_in_set__status' failed "
                                     "(1 of 4 rows unexpected)"]
    assert outcome.failures == []                                  # the gate, not a crash
    assert ("gate_failed", "raw/shop__orders", "amount_not_negative: 1 of 4 rows unexpected") in events


def test_check_metadata_holds_counts_failing_rows_and_the_data_docs_page(blocked):
    settings, outcome, _ = blocked
    checks = evaluations(settings, outcome.run_id)
    assert {k: (v.passed, v.severity) for k, v in checks.items()} == {
        "amount_not_negative": (False, dg.AssetCheckSeverity.ERROR),
        "column_values_to_be_in_set__status": (False, dg.AssetCheckSeverity.WARN),
        "column_values_to_not_be_null__id": (True, dg.AssetCheckSeverity.ERROR),
        # the raw asset's own check (issue 15): no row of this file was quarantined at ingest
        "quarantine_share": (True, dg.AssetCheckSeverity.WARN)}
    meta = {k: v.value for k, v in checks["amount_not_negative"].metadata.items()}
    assert meta["unexpected_count"] == 1 and meta["element_count"] == 4
    assert meta["observed_value"] == "25% unexpected"
    assert "| orders.csv:3 | -5.0 |" in meta["failing_rows"]        # the row's file:line and value
    page = Path(meta["data_docs"])
    assert page.is_file() and page.is_relative_to(settings.target_dir / "data_docs")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select asset, rule, severity, row_key from kontor.gate_quarantine where run_id = ? "
                           "order by rule", [outcome.run_id]).fetchall() == [
            ("raw/shop__orders", "amount_not_negative", "error", "orders.csv:3"),
            ("raw/shop__orders", "column_values_to_be_in_set__status", "warn", "orders.csv:4")]
        assert con.execute("select count(*), count(*) filter (where not success) from kontor.gate_results "
                           "where run_id = ?", [outcome.run_id]).fetchall() == [(3, 2)]
    finally:
        con.close()


def test_kontor_run_exits_non_zero_naming_rule_and_asset(blocked):
    settings, _, _ = blocked
    ran = kontor(settings.project_dir, "run")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    last = " ".join(ran.stderr.split())           # rich wraps long lines
    assert "failed: raw/shop__orders: check 'amount_not_negative' failed (1 of 4 rows unexpected)" in last


def test_a_warn_gate_annotates_and_blocks_nothing(tmp_path):
    settings = project(tmp_path, "warn")
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.failures
    assert DOWNSTREAM | {"raw/shop__orders"} <= set(outcome.materialized)
    assert outcome.gate_failures == [] and len(outcome.gate_warnings) == 2
    assert settings.serving_path.exists()
    checks = evaluations(settings, outcome.run_id)
    assert checks["amount_not_negative"].severity == dg.AssetCheckSeverity.WARN
    assert not checks["amount_not_negative"].passed


def test_every_gate_runs_before_downstream_assets_and_severity_decides(tmp_path):
    # all checks are "blocking" in Dagster's sense (downstream steps wait for them); a failure
    # stops downstream assets only with ERROR severity, which error rules have (see the warn test)
    defs = build_definitions(project(tmp_path, "error"))
    specs = {s.name: s for c in defs.asset_checks for s in c.check_specs}
    assert all(s.blocking for s in specs.values())
    assert {n: s.metadata["severity"] for n, s in specs.items()} == {
        "amount_not_negative": "error", "column_values_to_be_in_set__status": "warn", "column_values_to_not_be_null__id": "error"}
    assert specs["amount_not_negative"].description == "Refunds belong in credit notes, not in orders."
