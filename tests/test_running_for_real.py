"""Unattended operation (issue 8): a run killed with SIGKILL at several points, then rerun, ends
exactly where an uninterrupted run ends; and analysts' reads during a run all see whole snapshots.

Real processes, real signals: ``kontor run`` as a subprocess, killed right after a given progress
line appears on its stderr. The uninterrupted run on an identical copy runs at the same time.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from conftest import REPO, make_project
from test_end_to_end import kontor

pytestmark = pytest.mark.slow     # minutes: a step of its own in .ci/run (pytest -m slow)

# Kill points: during ingest, during the models, during entity resolution (reports follow it).
KILL_AFTER = ("✓ raw/accounting__zahlungen", "✓ staging/stg_erp__customers", "✓ entities/customer_golden")
# Columns that legitimately differ between two runs of the same data: batch and run ids, load
# times, and the golden id a record had before this run (none on a first build; after a killed
# run that had finished an entity, that run's id, which is the same id).
VOLATILE = {"_loaded_at", "_batch_id", "run_id", "recorded_at", "listed_at", "trained_at", "previous_golden_id"}
LAYERS = ("raw", "staging", "marts", "entities")


def _env(project: Path) -> dict[str, str]:
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(project)}
    env.pop("DAGSTER_HOME", None)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "KONTOR_STATE_URL"):
        env.pop(name, None)
    return env


def start_run(project: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run"], env=_env(project), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_and_kill_after(project: Path, marker: str) -> list[str]:
    """Start ``kontor run`` and SIGKILL it as soon as ``marker`` starts a line of its progress."""
    proc = start_run(project)
    seen = []
    for line in proc.stderr:
        seen.append(line.rstrip())
        if line.startswith(marker):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before {marker!r}:\n" + "\n".join(seen[-20:])
    return seen


def finish(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return err


def fingerprint(db: Path) -> dict[str, tuple]:
    """Per table of raw, staging, marts, entities: row count and an order-free hash of the rows
    (volatile columns left out). Golden ids are ordinary columns here, so they must be equal."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        tables = con.execute("select table_schema, table_name from information_schema.tables where table_schema in "
                             f"({', '.join(repr(s) for s in LAYERS)}) order by all").fetchall()
        for schema, name in tables:
            if name.startswith("_"):
                continue          # entities._models: the trained parameters, compared through their predictions
            cols = con.execute("select column_name, data_type from information_schema.columns where table_schema = ? "
                               "and table_name = ? order by ordinal_position", [schema, name]).fetchall()
            # Splink's EM training sums in parallel: probabilities differ in the 15th digit between runs
            row = ", ".join(f'round("{c}", 9)' if t in ("DOUBLE", "FLOAT") else f'"{c}"' for c, t in cols if c not in VOLATILE)
            out[f"{schema}.{name}"] = con.execute(
                f'select count(*), coalesce(sum(hash({row})::hugeint), 0) from "{schema}"."{name}"').fetchone()
        return out
    finally:
        con.close()


def assert_consistent(project: Path) -> None:
    """Ledger, state store and report archive after a sequence of killed runs and one full run."""
    con = duckdb.connect(str(project / "target" / "warehouse.duckdb"), read_only=True)
    try:
        twice = con.execute("select path, sha256, count(*) from kontor.load_ledger where status = 'loaded' "
                            "group by all having count(*) > 1").fetchall()
        assert twice == []                                       # no file loaded twice
        per_table = con.execute("select system || '__' || table_name, list(batch_id), sum(rows_loaded) "
                                "from kontor.load_ledger where status = 'loaded' group by all").fetchall()
        for table, batches, rows in per_table:                   # every ledger row has its data, no more
            got = dict(con.execute(f"select _batch_id, count(*) from raw.{table} group by all").fetchall())
            assert set(got) == set(batches) and sum(got.values()) == rows, table
    finally:
        con.close()

    state = sqlite3.connect(project / "state" / "kontor_state.sqlite")
    try:
        assert state.execute("pragma integrity_check").fetchone()[0] == "ok"
        events = state.execute("select run_id, kind, entity, before, after from audit_log").fetchall()
        for *_, before, after in events:
            for value in (before, after):
                assert value is None or json.loads(value) is not None or value == "null"
        # The entity step appends its events in one transaction, always with a golden_change: a run
        # with any id event of an entity but without its golden_change would be half an append.
        by_run: dict[tuple, set] = {}
        for run_id, kind, entity, *_ in events:
            if kind in ("golden_change", "xref_change"):
                by_run.setdefault((run_id, entity), set()).add(kind)
        assert all("golden_change" in kinds for kinds in by_run.values()), by_run
    finally:
        state.close()

    reports = project / "target" / "reports"
    for manifest_path in reports.glob("*/manifest.json"):
        folder = manifest_path.parent
        issues = json.loads(manifest_path.read_text())["issues"]
        listed = {".lock", "manifest.json"}
        for issue in issues:
            files = [(issue["pdf"], issue["sha256"]), (issue["facts"], issue["facts_sha256"])]
            if "html" in issue:                                     # the offline HTML beside the PDF
                files.append((issue["html"], issue["html_sha256"]))
            for name, digest in files:
                assert __import__("hashlib").sha256((folder / name).read_bytes()).hexdigest() == digest, name
                listed.add(name)
        assert {p.name for p in folder.iterdir()} == listed      # no temp file, no unlisted half issue
    stray = [p for p in (project / "target").rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert stray == [], stray


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two identical demo projects: one run straight through, one killed three times and rerun."""
    template = tmp_path_factory.mktemp("crash") / "template"
    make_project(template, with_models=True, with_expectations=True)
    shutil.copytree(REPO / "reports", template / "reports")
    generated = kontor(template, "demo-data", "--scale", "0.3", "--seed", "11")
    assert generated.returncode == 0, generated.stderr
    straight, killed = template.with_name("straight"), template.with_name("killed")
    shutil.copytree(template, straight)
    shutil.copytree(template, killed)

    baseline = start_run(straight)
    for marker in KILL_AFTER:
        run_and_kill_after(killed, marker)
    finish(start_run(killed))
    finish(baseline)
    return {"straight": straight, "killed": killed}


def test_a_killed_run_reruns_to_the_same_result(runs):
    straight = fingerprint(runs["straight"] / "target" / "warehouse.duckdb")
    killed = fingerprint(runs["killed"] / "target" / "warehouse.duckdb")
    assert {t.split(".")[0] for t in straight} == set(LAYERS)
    assert killed.keys() == straight.keys()
    assert {t: v for t, v in killed.items() if straight[t] != v} == {}
    # the analysts' copy is the warehouse of the last run
    assert fingerprint(runs["killed"] / "target" / "serving.duckdb") == killed
    assert_consistent(runs["killed"])
    assert_consistent(runs["straight"])


# -- concurrent readers --------------------------------------------------------------------------

SNAPSHOT_SQL = """
select (select count(*) from raw.accounting__rechnungen) as invoices_raw,
       (select sum(rows_loaded) from kontor.load_ledger
         where system = 'accounting' and table_name = 'rechnungen' and status = 'loaded') as invoices_ledger,
       (select count(*) from marts.fct_invoices) as invoices_mart,
       (select count(*) from raw.erp__order_lines) as lines_raw,
       (select count(*) from marts.fct_order_lines) as lines_mart
"""


def _whole(row: dict) -> bool:
    return row["invoices_raw"] == row["invoices_ledger"] == row["invoices_mart"] > 0 \
        and row["lines_raw"] == row["lines_mart"] > 0


def test_readers_during_a_run_see_whole_snapshots(runs):
    """100 `kontor query` processes (four at a time) and direct read-only DuckDB connections on the
    serving copy while `kontor run` rebuilds and republishes it: all succeed, all see a snapshot in
    which the ledger, the raw table and the marts agree."""
    project = runs["straight"]
    serving = project / "target" / "serving.duckdb"
    writer = start_run(project)
    direct: list[dict] = []
    stop = threading.Event()

    def read_directly() -> None:
        while not stop.is_set() or len(direct) < 100:
            con = duckdb.connect(str(serving), read_only=True)
            try:
                cur = con.execute(SNAPSHOT_SQL)
                direct.append(dict(zip([d[0] for d in cur.description], cur.fetchone())))
            finally:
                con.close()

    def query(_) -> subprocess.CompletedProcess:
        return kontor(project, "query", SNAPSHOT_SQL, "--format", "json")

    reader = threading.Thread(target=read_directly)
    reader.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(query, range(100)))
    finally:
        finish(writer)
        stop.set()
        reader.join(timeout=120)
    failed = [a.stderr for a in answers if a.returncode != 0]
    assert failed == []
    rows = [json.loads(a.stdout)[0] for a in answers]
    assert all(_whole(r) for r in rows), [r for r in rows if not _whole(r)]
    assert len(direct) >= 100 and all(_whole(r) for r in direct)
