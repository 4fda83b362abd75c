"""One writer, said plainly: a second run is refused naming the first; a warehouse that cannot be
opened fails the run in one line, and the alert goes out."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.automation import run_failures
from assets.resources import service_resources
from automation.test_automation import Webhook
from conftest import make_project
from pipelines.core.errors import KontorError
from pipelines.core.runlock import RunLock
from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions
from test_end_to_end import kontor

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: good
        location: good.csv
        columns: [{name: id, data_type: integer}, {name: label}]
"""

HOLD_RUN_LOCK = """
import sys, time
from pathlib import Path
from pipelines.core.runlock import RunLock
from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions
with RunLock(Path(sys.argv[1]), sys.argv[2]):
    print("holding", flush=True)
    time.sleep(600)
"""

HOLD_WAREHOUSE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(600)
"""


def hold(script: str, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    settings = make_project(tmp_path / "p", SOURCES)
    (settings.data_dir / "good.csv").write_text("id;label\n1;a\n2;b\n")
    return settings.project_dir


def test_a_second_run_is_refused_naming_the_first(project: Path):
    holder = hold(HOLD_RUN_LOCK, str(project / "target"), "group:raw, fct_invoices+")
    try:
        second = kontor(project, "run")
        assert second.returncode == 1 and "Traceback" not in second.stderr
        line = second.stderr.strip()
        assert len(line.splitlines()) == 1
        assert f"another kontor run is writing this warehouse: pid {holder.pid}, started 20" in line
        assert "UTC, building group:raw, fct_invoices+" in line and f"kill {holder.pid}" in line
        assert not (project / "target" / "warehouse.duckdb").exists()   # refused before touching anything
    finally:
        holder.send_signal(signal.SIGKILL)                                 # the hardest way to end
        holder.wait()
    with RunLock(project / "target", "everything"):                        # released by the OS
        with RunLock(project / "target", "x"):                             # this process joins its own lock
            refused = kontor(project, "run")                               # another process is refused
        assert refused.returncode == 1 and f"pid {os.getpid()}, " in refused.stderr
        assert "building everything" in refused.stderr
    assert kontor(project, "run").returncode == 0


def test_a_locked_warehouse_fails_in_one_line_and_alerts(project: Path):
    assert kontor(project, "run").returncode == 0
    (project / "data" / "good.csv").write_text("id;label\n1;a\n2;b\n3;c\n")   # something new to load
    holder = hold(HOLD_WAREHOUSE, str(project / "target" / "warehouse.duckdb"))
    try:
        with Webhook() as hook:
            started = time.monotonic()
            ran = kontor(project, "run", env={"KONTOR_ALERT_WEBHOOK": hook.url})
            elapsed = time.monotonic() - started
        assert ran.returncode == 1 and "Traceback" not in ran.stderr
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1, ran.stderr                                 # no asset-by-asset "not built"
        assert lines[0].startswith("error: cannot open the warehouse target/warehouse.duckdb: it is locked by "
                                   f"another process (PID {holder.pid}: ")
        assert "duckdb.connect" in lines[0]                                # its command line, to find it
        assert lines[0].endswith("(alert sent: webhook KONTOR_ALERT_WEBHOOK)")
        assert len(hook.bodies) == 1 and f"PID {holder.pid}" in hook.bodies[0]["text"]
        assert elapsed < 120
    finally:
        holder.kill()
        holder.wait()


RUN_LIKE_THE_UI = """
import sys
import dagster as dg
from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.run import instance_for
settings = load_settings(sys.argv[1])
defs = build_definitions(settings, strict=False)          # the UI's code location
instance = instance_for(settings)                         # the UI's instance, target/dagster
result = defs.resolve_job_def(ALL_JOB).execute_in_process(instance=instance, raise_on_error=False)
print("success" if result.success else "failed", flush=True)
"""


def _failed_run_alert(settings, defs, instance, result) -> None:
    run = instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    sensor = defs.resolve_sensor_def("kontor_alert_on_failure")
    sensor(dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=failure,
                                              dagster_instance=instance, dagster_run=run,
                                              resources=service_resources(settings)).for_run_failure())


def test_a_dagster_run_is_refused_while_kontor_run_writes_and_alerts(project: Path):
    """A run of the real graph, as the UI, a schedule or a sensor starts it, takes the same lock."""
    holder = hold(HOLD_RUN_LOCK, str(project / "target"), "group:raw")
    try:
        with Webhook() as hook:
            settings = load_settings(project, env={"KONTOR_ALERT_WEBHOOK": hook.url})
            defs = build_definitions(settings, strict=False)
            with dg.instance_for_test() as instance:
                result = defs.resolve_job_def(ALL_JOB).execute_in_process(instance=instance, raise_on_error=False)
                assert not result.success
                assert not any(e.is_step_start for e in result.all_events)          # nothing ran
                failures, _ = run_failures(instance, result.run_id, {})
                assert [(f.asset, len(f.error.splitlines())) for f in failures] == [("kontor/warehouse", 1)]
                assert failures[0].error.startswith(f"another kontor run is writing this warehouse: pid {holder.pid}, ")
                assert "building group:raw" in failures[0].error
                _failed_run_alert(settings, defs, instance, result)
        assert len(hook.bodies) == 1 and f"pid {holder.pid}" in hook.bodies[0]["text"]
        assert "kontor/warehouse" in hook.bodies[0]["text"]
    finally:
        holder.kill()
        holder.wait()
    assert not (project / "target" / "warehouse.duckdb").exists()                # refused before opening it


def test_kontor_run_is_refused_while_a_dagster_run_writes(project: Path):
    # an extract still being written keeps the UI's run busy in its first asset, lock held
    (project / "data" / "good.csv").write_text("id;label\n1;a\n")
    env = {**os.environ, "KONTOR_SETTLE_SECONDS": "120"}
    ui_run = subprocess.Popen([sys.executable, "-c", RUN_LIKE_THE_UI, str(project)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lock = project / "target" / "run.lock"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "Dagster run" not in (lock.read_text() if lock.exists() else ""):
            time.sleep(0.2)
        assert "of job kontor_all" in lock.read_text()
        second = kontor(project, "run", "--force")
        assert second.returncode == 1 and len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"another kontor run is writing this warehouse: pid {ui_run.pid}, " in second.stderr
        assert "building Dagster run " in second.stderr and "of job kontor_all" in second.stderr
    finally:
        ui_run.kill()
        ui_run.wait()
    assert kontor(project, "run").returncode == 0                                  # released with the process


def test_a_dagster_run_that_cannot_open_the_warehouse_fails_in_one_line(project: Path):
    assert kontor(project, "run").returncode == 0
    holder = hold(HOLD_WAREHOUSE, str(project / "target" / "warehouse.duckdb"))
    try:
        with Webhook() as hook:
            settings = load_settings(project, env={"KONTOR_ALERT_WEBHOOK": hook.url})
            defs = build_definitions(settings, strict=False)
            with dg.instance_for_test() as instance:
                result = defs.resolve_job_def(ALL_JOB).execute_in_process(instance=instance, raise_on_error=False)
                failures, _ = run_failures(instance, result.run_id, {})
                assert [f.asset for f in failures] == ["kontor/warehouse"]
                assert failures[0].error.startswith("cannot open the warehouse ") and len(failures[0].error.splitlines()) == 1
                assert f"locked by another process (PID {holder.pid}: " in failures[0].error
                _failed_run_alert(settings, defs, instance, result)
        assert len(hook.bodies) == 1 and f"PID {holder.pid}" in hook.bodies[0]["text"]
    finally:
        holder.kill()
        holder.wait()
    with RunLock(project / "target", "after"):                                   # the failed run let go of the lock
        pass
