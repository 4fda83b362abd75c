"""What a person sees in the Dagster UI (`kontor dev`), read through the UI's own GraphQL API."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import make_project
from test_end_to_end import kontor

QUERY = """
{ assetNodes {
    assetKey { path } description groupName
    owners { ... on TeamAssetOwner { team } }
    metadataEntries { label ... on TableSchemaMetadataEntry { schema { columns { name type } } } }
    assetMaterializations(limit: 1) { metadataEntries { label ... on IntMetadataEntry { intValue } } }
} }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """One request to the UI's GraphQL endpoint, as the browser sends it; the answer's ``data``."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise ValueError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def graphql(port: int, query: str, deadline: float) -> dict:
    """``query`` once the UI has loaded the code location (it lists asset nodes)."""
    while True:
        try:
            data = post_graphql(port, query)
            if data.get("assetNodes"):
                return data
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the Dagster UI did not answer in time")
        time.sleep(1)


@contextmanager
def kontor_dev(project: Path, log_path: Path, env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen]]:
    """`kontor dev` (webserver, daemon, code server) for ``project`` on a free loopback port, in a
    session of its own; yields (port, process) and stops the whole session afterwards."""
    port = free_port()
    with open(log_path, "w") as log:
        ui = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "dev", "--port", str(port)],
                              env={**env, "KONTOR_PROJECT_DIR": str(project)}, cwd=project,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield port, ui
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            try:
                ui.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(ui.pid, signal.SIGKILL)
                ui.wait()


def test_kontor_dev_shows_every_source_with_schema_owner_and_row_count(tmp_path: Path):
    project = tmp_path / "project"
    make_project(project)
    assert kontor(project, "demo-data", "--scale", "0.1").returncode == 0
    ran = kontor(project, "run")
    assert ran.returncode == 0, ran.stderr

    env = dict(os.environ)
    env.pop("DAGSTER_HOME", None)   # kontor dev must default to the same instance as kontor run
    with kontor_dev(project, tmp_path / "dev.log", env) as (port, _):
        try:
            nodes = graphql(port, QUERY, time.monotonic() + 120)["assetNodes"]
        except TimeoutError:
            raise AssertionError((tmp_path / "dev.log").read_text()[-3000:]) from None

    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    sources = {k: n for k, n in by_key.items() if k.startswith("raw/")}
    assert len(sources) == 13 and "kontor/serving_copy" in by_key
    debitoren = sources["raw/accounting__debitoren"]
    assert debitoren["groupName"] == "raw" and debitoren["owners"] == [{"team": "finance"}]
    assert "Debtor master" in debitoren["description"]
    schema = next(e for e in debitoren["metadataEntries"] if e["label"] == "dagster/column_schema")["schema"]
    assert {"name": "Kreditlimit", "type": "decimal(12, 2)"} in schema["columns"]
    for key, node in sources.items():
        [materialization] = node["assetMaterializations"]
        rows = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}
        assert rows["dagster/row_count"] > 0, key
