"""`kontor dev`: says where the UI answers, and SIGTERM stops it with every process it started."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from conftest import make_project
from pipelines.devserver import _alive, descendants

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: good
        location: good.csv
        columns: [{name: id, data_type: integer}, {name: label}]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dev_prints_the_url_when_it_answers_and_stops_with_its_children(tmp_path: Path):
    settings = make_project(tmp_path / "p", SOURCES)
    (settings.data_dir / "good.csv").write_text("id;label\n1;a\n")
    port = free_port()
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(settings.project_dir)}
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "dev", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    tree: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any("Dagster UI on" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.5)
        said = next(line for line in lines if "Dagster UI on" in line)
        assert f"http://127.0.0.1:{port} (answered after" in said
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=10) as response:
            assert response.status == 200                     # it answers when it says so
        tree = descendants(proc.pid)
        assert len(tree) >= 3                                 # dagster dev, webserver, daemon, code server
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0
        time.sleep(0.5)
        assert [pid for pid in tree if _alive(pid)] == []      # nothing outlives it
        reader.join(timeout=10)
        text = "".join(lines)
        assert "BetaWarning" not in text and "SupersessionWarning" not in text and "PreviewWarning" not in text
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in tree:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
