"""The local Dagster instance: Kontor's dagster.yaml, and the event log that keeps its SQLite files
open (pipelines/core/dagster_instance.py) seen from a second instance, as `kontor dev` sees `kontor run`."""
from __future__ import annotations

import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from conftest import make_project
from pipelines.core.dagster_instance import KeptOpenSqliteEventLogStorage, dagster_yaml
from pipelines.run import instance_for, prepare_dagster_home

OLD_DEFAULT = "telemetry:\n  enabled: false\n"      # what Kontor wrote before the kept-open event log


def test_kontor_writes_its_dagster_yaml_and_upgrades_only_its_own(tmp_path: Path):
    settings = make_project(tmp_path / "project")
    home = prepare_dagster_home(settings)
    config = home / "dagster.yaml"
    assert config.read_text() == dagster_yaml(home)
    assert "KeptOpenSqliteEventLogStorage" in config.read_text() and "enabled: false" in config.read_text()

    config.write_text(OLD_DEFAULT)                     # an instance made by an older Kontor
    prepare_dagster_home(settings)
    assert config.read_text() == dagster_yaml(home)

    moved = tmp_path / "elsewhere"                     # Kontor's file, but for another directory
    config.write_text(dagster_yaml(moved))
    prepare_dagster_home(settings)
    assert config.read_text() == dagster_yaml(home)

    edited = "telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url: postgresql://x@y/z\n"
    config.write_text(edited)                          # the person running it took over the file
    prepare_dagster_home(settings)
    assert config.read_text() == edited


def _job() -> dg.JobDefinition:
    @dg.asset(key=dg.AssetKey(["staging", "a"]), code_version="1")
    def a() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(3)})

    @dg.asset(key=dg.AssetKey(["marts", "b"]), deps=[a], code_version="1")
    def b() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(2)})

    defs = dg.Definitions(assets=[a, b], jobs=[dg.define_asset_job("all", selection=dg.AssetSelection.all())],
                          executor=dg.in_process_executor)
    return defs.resolve_job_def("all")


def test_a_second_instance_reads_and_watches_a_run_while_the_writer_keeps_its_files_open(tmp_path: Path):
    settings = make_project(tmp_path / "project")
    writer, reader = instance_for(settings), instance_for(settings)      # kontor run, kontor dev
    try:
        storage = writer.event_log_storage
        assert isinstance(storage, KeptOpenSqliteEventLogStorage)
        run_id = str(uuid.uuid4())
        watched: list[str] = []
        # The UI follows a running run through a file watch on its event database. The writer's
        # WAL connection changes the database file only at checkpoints; the -wal file at once.
        reader.watch_event_logs(run_id, None, lambda entry, cursor: watched.append(entry.dagster_event_type))
        result = _job().execute_in_process(instance=writer, run_id=run_id)
        assert result.success
        with storage.run_connection(run_id) as conn:      # the kept-open connection, WAL, no fsync per commit
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("pragma synchronous").scalar() == 1

        # The writer has not closed anything yet: the reader sees the events through the WAL.
        events = [e.dagster_event_type for e in reader.all_logs(run_id) if e.is_dagster_event]
        assert events.count(dg.DagsterEventType.ASSET_MATERIALIZATION) == 2
        assert dg.DagsterEventType.RUN_SUCCESS in events
        record = reader.get_latest_materialization_event(dg.AssetKey(["marts", "b"]))
        assert record is not None and record.asset_materialization.metadata["dagster/row_count"].value == 2
        assert reader.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS

        deadline = time.monotonic() + 20
        while dg.DagsterEventType.RUN_SUCCESS not in watched and time.monotonic() < deadline:
            time.sleep(0.1)
        assert dg.DagsterEventType.RUN_SUCCESS in watched, watched

        # The writer ends first (kontor run exits, kontor dev goes on reading): its dispose
        # checkpoints although the reader keeps the file open, so the run is in the .db itself.
        writer.dispose()
        db = storage.path_for_shard(run_id)
        alone = tmp_path / "without_wal.db"
        shutil.copyfile(db, alone)                        # the database file without its WAL
        con = sqlite3.connect(alone)
        try:
            assert con.execute("select count(*) from event_logs").fetchone()[0] == len(
                [e for e in reader.all_logs(run_id)])
        finally:
            con.close()
    finally:
        reader.dispose()
        writer.dispose()

    # Both disposed: every file closed; a fresh instance reads the same history.
    again = instance_for(settings)
    try:
        assert len([e for e in again.all_logs(run_id) if e.is_dagster_event]) == len(events)
    finally:
        again.dispose()


@pytest.mark.parametrize("runs", [20])
def test_run_databases_beyond_the_open_limit_are_closed_and_still_readable(tmp_path: Path, runs: int):
    settings = make_project(tmp_path / "project")
    instance = instance_for(settings)
    try:
        job = _job()
        ids = [job.execute_in_process(instance=instance).run_id for _ in range(runs)]
        storage = instance.event_log_storage
        assert len(storage._engines) <= 16          # the least recently used run databases are closed
        for run_id in ids:                           # and reopened on demand
            assert any(e.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS for e in instance.all_logs(run_id))
    finally:
        instance.dispose()
