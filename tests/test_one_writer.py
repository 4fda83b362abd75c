"""One writer, said plainly: a second run is refused naming the first; a warehouse that cannot be
opened fails the run in one line, and the alert goes out."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from automation.test_automation import Webhook
from conftest import make_project
from pipelines.core.errors import KontorError
from pipelines.core.runlock import RunLock
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
        with pytest.raises(KontorError, match=f"pid {os.getpid()}, .* building everything"):
            with RunLock(project / "target", "x"):
                pass
    assert kontor(project, "run").returncode == 0


def test_a_locked_warehouse_fails_in_one_line_and_alerts(project: Path):
    assert kontor(project, "run").returncode == 0
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
