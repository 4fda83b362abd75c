"""Schedules, the extract sensor, alerts and retries on the real definitions: a real webhook
receiver (HTTP on loopback), the real SMTP test server, Dagster sensor evaluation and runs."""
from __future__ import annotations

import email
import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from conftest import make_project
from pipelines.definitions import build_definitions
from pipelines.run import run_pipeline
from pipelines.core.settings import load_settings
from reports.servers import SmtpServer
from assets.resources import service_resources


class Webhook:
    """POST receiver on 127.0.0.1 that keeps each JSON body, as Slack or Teams would get it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def __enter__(self) -> Webhook:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/T0KEN"

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- schedule and extract sensor -------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_project(tmp_path_factory, demo_data):
    root = tmp_path_factory.mktemp("sensor")
    settings = make_project(root, with_models=True, with_expectations=True)
    shutil.copytree(demo_data, settings.data_dir, dirs_exist_ok=True)
    return settings, build_definitions(settings)


def test_daily_sync_schedule_runs_everything_but_the_reports(demo_project):
    settings, defs = demo_project
    schedule = defs.resolve_schedule_def("kontor_sync_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 5 * * *", "Europe/Berlin")
    job = defs.resolve_job_def("kontor_sync")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "raw/crm__accounts" in keys and "kontor/serving_copy" in keys and any(k.startswith("entities/") for k in keys)
    assert not any(k.startswith("reports/") for k in keys)


def test_extract_sensor_runs_only_changed_sources_and_their_downstream(demo_project):
    settings, defs = demo_project
    sensor = defs.resolve_sensor_def("kontor_extract_sensor")
    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=None, definitions=defs))
        assert len(first.run_requests) == 1
        everything = {k.to_user_string() for k in first.run_requests[0].asset_selection}
        assert {"raw/crm__accounts", "raw/erp__orders", "raw/accounting__debitoren"} <= everything
        assert not any(k.startswith("reports/") for k in everything)

        same = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs))
        assert same.run_requests == [] or same.run_requests is None
        assert same.cursor == first.cursor

        accounts = sorted((settings.data_dir / "crm").glob("accounts*.csv"))[0]
        with accounts.open("a", encoding="utf-8") as f:
            f.write("")
        os.utime(accounts, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        changed = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs))
        assert len(changed.run_requests) == 1
        request = changed.run_requests[0]
        selected = {k.to_user_string() for k in request.asset_selection}
        expected = (dg.AssetSelection.assets(dg.AssetKey(["raw", "crm__accounts"])).downstream()
                    - dg.AssetSelection.groups("reports")).resolve(defs.resolve_asset_graph())
        assert selected == {k.to_user_string() for k in expected}
        assert "raw/crm__accounts" in selected and "entities/customer_golden" in selected
        assert not {"raw/crm__contacts", "raw/erp__customers", "raw/erp__orders"} & selected
        assert request.run_key and request.run_key != first.run_requests[0].run_key
        # the same change, seen again from the old cursor, has the same run key: Dagster runs it once
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor, definitions=defs))
        assert again.run_requests[0].run_key == request.run_key


# -- alerts --------------------------------------------------------------------------------------

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ","}
    tables:
      - name: orders
        location: shop/orders*.csv
        primary_key: id
        columns:
          - {name: id, data_type: integer, required: true}
          - {name: amount, data_type: "decimal(10,2)"}
"""
GOOD = "id,amount\n1,10.00\n2,5.00\n"
BAD = "amount\n10.00\n"                         # the required column id is missing
ALERTS = """
[tool.kontor.alerts]
webhook_env = "TEST_ALERT_WEBHOOK"
email = ["controlling@example.com"]
escalate_after = 3
escalation_email = ["it-lead@example.com"]
[tool.kontor.retries]
max_retries = 2
delay = 0.3
"""


def alert_project(root: Path, env: dict[str, str]):
    settings = make_project(root, SOURCES)
    with (root / "pyproject.toml").open("a") as f:
        f.write(ALERTS)
    (settings.data_dir / "shop").mkdir()
    return load_settings(root, env={**env, "KONTOR_STATE_DIR": str(root / "state")})


def test_failures_alert_with_context_escalate_on_the_third_and_reset_on_success(tmp_path):
    with Webhook() as hook, SmtpServer() as smtp:
        env = {"TEST_ALERT_WEBHOOK": hook.url, "KONTOR_SMTP_HOST": "127.0.0.1", "KONTOR_SMTP_PORT": str(smtp.port),
               "KONTOR_SMTP_FROM": "kontor@example.com"}
        settings = alert_project(tmp_path / "p", env)
        bad = settings.data_dir / "shop" / "orders_1.csv"
        bad.write_text(BAD)

        events = []
        first = run_pipeline(settings, on_event=lambda *e: events.append(e))
        assert not first.success
        assert len(hook.bodies) == 1 and set(hook.bodies[0]) == {"text"}
        text = hook.bodies[0]["text"]
        assert "raw/shop__orders" in text and "Error: shop/orders_1.csv: " in text
        assert first.run_id in text and "kontor.quarantine" in text and "What to do" in text
        assert "ESCALATED" not in text
        assert ("alerted", "raw/shop__orders", "webhook TEST_ALERT_WEBHOOK, email controlling@example.com") in events
        assert [m.recipients for m in smtp.mails] == [["controlling@example.com"]]
        mail = email.message_from_bytes(smtp.mails[0].data)
        assert "raw/shop__orders" in mail["Subject"] and first.run_id in mail.get_payload(decode=True).decode()

        run_pipeline(settings)
        third = run_pipeline(settings)
        assert len(hook.bodies) == 3
        assert "ESCALATED" not in hook.bodies[1]["text"]
        assert hook.bodies[2]["text"].startswith("ESCALATED: raw/shop__orders failed 3 times in a row")
        assert third.run_id in hook.bodies[2]["text"]
        assert smtp.mails[-1].recipients == ["it-lead@example.com"]
        assert "T0KEN" not in json.dumps([m.data.decode() for m in smtp.mails])     # the URL is a secret

        bad.unlink()
        (settings.data_dir / "shop" / "orders_2.csv").write_text(GOOD)
        events.clear()
        assert run_pipeline(settings, on_event=lambda *e: events.append(e)).success
        # one all-clear, where the alerts went (escalation included), and none for the next success
        assert len(hook.bodies) == 4 and hook.bodies[3]["text"].startswith("Kontor: raw/shop__orders recovered")
        assert "after 3 failed run(s) in a row" in hook.bodies[3]["text"]
        assert [m.recipients for m in smtp.mails[-2:]] == [["controlling@example.com"], ["it-lead@example.com"]]
        assert ("recovered", "raw/shop__orders",
                "webhook TEST_ALERT_WEBHOOK, email controlling@example.com, email it-lead@example.com") in events
        assert run_pipeline(settings).success
        assert len(hook.bodies) == 4
        bad.write_text(BAD)
        run_pipeline(settings)
        assert "ESCALATED" not in hook.bodies[-1]["text"] and "Failures in a row: 1" in hook.bodies[-1]["text"]


def test_a_failed_blocking_gate_alerts_with_rule_and_quarantine_advice(tmp_path):
    with Webhook() as hook:
        settings = alert_project(tmp_path / "p", {"TEST_ALERT_WEBHOOK": hook.url})
        (settings.project_dir / "expectations").mkdir()
        (settings.project_dir / "expectations" / "raw.shop__orders.yml").write_text(
            "expectations:\n  - name: amount_not_negative\n    type: expect_column_values_to_be_between\n"
            "    kwargs: {column: amount, min_value: 0}\n    severity: error\n")
        (settings.data_dir / "shop" / "orders_1.csv").write_text("id,amount\n1,-3.00\n2,4.00\n")
        outcome = run_pipeline(settings)
        assert not outcome.success and len(hook.bodies) == 1
        text = hook.bodies[0]["text"]
        assert "amount_not_negative" in text and "kontor.gate_quarantine" in text and outcome.run_id in text


def test_a_quarantine_share_above_the_threshold_warns_and_alerts_and_all_quarantined_is_an_error(tmp_path):
    """Issue 15 item 7: more than quarantine_alert_pct (default 5) % of a run's rows quarantined is
    a warning that alerts (the asset is built); every row quarantined is an error (and alerts)."""
    with Webhook() as hook, SmtpServer() as smtp:
        env = {"TEST_ALERT_WEBHOOK": hook.url, "KONTOR_SMTP_HOST": "127.0.0.1", "KONTOR_SMTP_PORT": str(smtp.port),
               "KONTOR_SMTP_FROM": "kontor@example.com"}
        settings = alert_project(tmp_path / "p", env)
        shop = settings.data_dir / "shop"
        # 1 of 20 rows bad: 5.0 %, not above the default threshold: no alert
        (shop / "orders_1.csv").write_text("id,amount\n" + "".join(f"{n},1.00\n" for n in range(1, 20)) + "x,1.00\n")
        events = []
        outcome = run_pipeline(settings, select=["raw/shop__orders"], on_event=lambda *e: events.append(e))
        assert outcome.success and not outcome.gate_warnings and hook.bodies == [] and smtp.mails == []

        # 2 of 10 bad: 20 %, a warning that alerts on every channel; the asset is built
        (shop / "orders_2.csv").write_text("id,amount\n" + "".join(f"{n},1.00\n" for n in range(21, 29)) + "y,1.00\nz,2.00\n")
        events.clear()
        outcome = run_pipeline(settings, select=["raw/shop__orders"], on_event=lambda *e: events.append(e))
        assert outcome.success and "raw/shop__orders" in outcome.materialized and not outcome.gate_failures
        [warning] = outcome.gate_warnings
        assert "2 of 10 rows quarantined (20.0 %, alert above 5 %)" in warning
        assert len(hook.bodies) == 1
        text = hook.bodies[0]["text"]
        assert text.startswith("Kontor warning: raw/shop__orders built, but check 'quarantine_share' failed")
        assert outcome.run_id in text and "kontor.quarantine where source = 'shop.orders'" in text
        assert "gate_quarantine" not in text
        assert ("alerted", "raw/shop__orders", "webhook TEST_ALERT_WEBHOOK, email controlling@example.com") in events
        [mail] = smtp.mails
        assert mail.recipients == ["controlling@example.com"]
        assert "20.0 %" in email.message_from_bytes(mail.data).get_payload(decode=True).decode()

        # nothing new: the files are skipped, no check fails, no alert
        assert run_pipeline(settings, select=["raw/shop__orders"]).success and len(hook.bodies) == 1

        # every row quarantined: an error, and an alert that says it failed
        (shop / "orders_3.csv").write_text("id,amount\na,1.00\nb,2.00\n")
        outcome = run_pipeline(settings, select=["raw/shop__orders"])
        [failure] = outcome.gate_failures
        assert "every row was quarantined" in failure and not outcome.gate_warnings
        assert len(hook.bodies) == 2
        text = hook.bodies[1]["text"]
        assert text.startswith("Kontor alert: raw/shop__orders failed") and "every row was quarantined" in text
        assert "kontor.quarantine where source = 'shop.orders'" in text


def test_the_alert_sensors_send_a_quarantine_warning_once_per_run(tmp_path):
    """The daemon's path: a successful run whose source check warns alerts from kontor_alert_reset,
    and `kontor run`'s own alert for the same run is not repeated."""
    with Webhook() as hook:
        settings = alert_project(tmp_path / "p", {"TEST_ALERT_WEBHOOK": hook.url})
        (settings.data_dir / "shop" / "orders_1.csv").write_text("id,amount\n1,1.00\n2,2.00\nx,3.00\n")
        defs = build_definitions(settings)
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("kontor_sync").execute_in_process(instance=instance, raise_on_error=False)
            assert result.success
            run = instance.get_run_by_id(result.run_id)
            success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
            sensor = defs.resolve_sensor_def("kontor_alert_reset")
            for _ in range(2):
                sensor(dg.build_run_status_sensor_context(
                    sensor_name=sensor.name, dagster_event=success, dagster_instance=instance, dagster_run=run,
                    resources=service_resources(settings)))
        assert len(hook.bodies) == 1
        text = hook.bodies[0]["text"]
        assert text.startswith("Kontor warning: raw/shop__orders built") and "1 of 3 rows quarantined" in text
        assert result.run_id in text


def test_run_failure_sensor_alerts_once_per_run(tmp_path):
    with Webhook() as hook:
        settings = alert_project(tmp_path / "p", {"TEST_ALERT_WEBHOOK": hook.url})
        (settings.data_dir / "shop" / "orders_1.csv").write_text(BAD)
        defs = build_definitions(settings)
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("kontor_sync").execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success
            run = instance.get_run_by_id(result.run_id)
            failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
            sensor = defs.resolve_sensor_def("kontor_alert_on_failure")
            for _ in range(2):
                sensor(dg.build_run_status_sensor_context(
                    sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance,
                    dagster_run=run, resources=service_resources(settings)).for_run_failure())
        assert len(hook.bodies) == 1
        assert "raw/shop__orders" in hook.bodies[0]["text"] and result.run_id in hook.bodies[0]["text"]


def test_the_failure_sensor_alerts_per_failed_model_of_the_model_layer(tmp_path):
    """Every model runs in one step; a model that fails there alerts under its own name, and its
    sibling that was built does not alert."""
    with Webhook() as hook:
        settings = alert_project(tmp_path / "p", {"TEST_ALERT_WEBHOOK": hook.url})
        (settings.data_dir / "shop" / "orders_1.csv").write_text(GOOD)
        staging = settings.project_dir / "models" / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        (staging / "stg_shop__orders.sql").write_text("select id, amount from {{ source('shop', 'orders') }}\n")
        (staging / "stg_shop__broken.sql").write_text("select no_such_column from {{ source('shop', 'orders') }}\n")
        defs = build_definitions(settings)
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("kontor_sync").execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success
            assert "sql_models" in {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
            run = instance.get_run_by_id(result.run_id)
            failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
            sensor = defs.resolve_sensor_def("kontor_alert_on_failure")
            sensor(dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance,
                dagster_run=run, resources=service_resources(settings)).for_run_failure())
        [body] = hook.bodies
        assert "staging/stg_shop__broken" in body["text"] and "no_such_column" in body["text"]
        assert "staging/stg_shop__orders" not in body["text"] and "sql_models" not in body["text"]


# -- retries -------------------------------------------------------------------------------------

def test_a_share_that_appears_late_is_loaded_on_retry_and_a_missing_one_fails_clearly(tmp_path):
    settings = alert_project(tmp_path / "p", {})
    shutil.rmtree(settings.data_dir / "shop")             # the share is not mounted yet

    def mount() -> None:
        time.sleep(0.4)
        (settings.data_dir / "shop").mkdir()
        (settings.data_dir / "shop" / "orders_1.csv").write_text(GOOD)

    threading.Thread(target=mount).start()
    outcome = run_pipeline(settings)
    assert outcome.success, outcome.failures
    assert "raw/shop__orders" in outcome.materialized

    shutil.rmtree(settings.data_dir / "shop")
    started = time.monotonic()
    outcome = run_pipeline(settings)
    assert not outcome.success
    assert time.monotonic() - started >= 0.3 + 0.6                     # two retries, exponential backoff
    [failure] = outcome.failures
    assert failure.startswith("raw/shop__orders: shop__orders: directory ")
    assert "does not exist (share not mounted?) (attempt 3 of 3); fix: mount the share" in failure
