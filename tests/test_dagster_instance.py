"""The local Dagster instance: Kontor's dagster.yaml (pipelines/core/dagster_instance.py), a run
written by one instance seen from a second one, as `kontor dev` sees `kontor run`, and
``[tool.kontor] history`` (record `kontor run` in the instance, or run it in memory)."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

from typing import get_args

import dagster as dg
import pytest
import yaml

from conftest import make_project
from pipelines.core.dagster_instance import MARKER, dagster_yaml
from pipelines.core.errors import KontorError
from pipelines.core.settings import HISTORIES, load_settings, read_tool_kontor
from pipelines.core.settings_spec import KontorTable
from pipelines.run import instance_for, prepare_dagster_home

OLD_DEFAULT = "telemetry:\n  enabled: false\n"      # what Kontor wrote before the kept-open event log
# What Kontor wrote while it had its own event log class (a private-API subclass, since removed).
KEPT_OPEN = (f"{MARKER} (pipelines/core/dagster_instance.py). Edit freely: once this first line is gone,\n"
             "telemetry:\n  enabled: false\nevent_log_storage:\n  module: pipelines.core.dagster_instance\n"
             "  class: KeptOpenSqliteEventLogStorage\n  config:\n    base_dir: \"/x/history/runs\"\n")


def test_kontor_writes_its_dagster_yaml_and_upgrades_only_its_own(tmp_path: Path):
    settings = make_project(tmp_path / "project")
    home = prepare_dagster_home(settings)
    config = home / "dagster.yaml"
    assert config.read_text() == dagster_yaml(home)
    assert yaml.safe_load(config.read_text()) == {"telemetry": {"enabled": False},      # Dagster's own storage
                                                  "concurrency": {"runs": {"max_concurrent_runs": 1}}}

    config.write_text(OLD_DEFAULT)                     # an instance made by an older Kontor
    prepare_dagster_home(settings)
    assert config.read_text() == dagster_yaml(home)

    config.write_text(KEPT_OPEN)                       # one that names the event log class Kontor had
    prepare_dagster_home(settings)
    assert config.read_text() == dagster_yaml(home)
    instance_for(settings).dispose()                   # and it loads

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


def test_a_second_instance_reads_and_watches_a_run_of_the_first(tmp_path: Path):
    settings = make_project(tmp_path / "project")
    writer, reader = instance_for(settings), instance_for(settings)      # kontor run, kontor dev
    try:
        run_id = str(uuid.uuid4())
        watched: list[str] = []
        # The UI follows a running run through a file watch on its event database.
        reader.watch_event_logs(run_id, None, lambda entry, cursor: watched.append(entry.dagster_event_type))
        result = _job().execute_in_process(instance=writer, run_id=run_id)
        assert result.success

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
    finally:
        reader.dispose()
        writer.dispose()

    # Both disposed: a fresh instance reads the same history.
    again = instance_for(settings)
    try:
        assert len([e for e in again.all_logs(run_id) if e.is_dagster_event]) == len(events)
    finally:
        again.dispose()


SHOP = """
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


def test_kontor_run_records_its_run_in_the_instance_unless_told_not_to(tmp_path: Path):
    from pipelines.run import run_pipeline

    settings = make_project(tmp_path / "project", sources_yml=SHOP, env={"KONTOR_SETTLE_SECONDS": "0"})
    (settings.data_dir / "shop").mkdir()
    (settings.data_dir / "shop" / "orders_1.csv").write_text("id,amount\n1,10.00\n2,5.00\n")
    quiet = run_pipeline(settings, history=False)              # kontor run --no-history
    assert quiet.success and "raw/shop__orders" in quiet.materialized
    recorded = run_pipeline(settings)
    assert recorded.success and "raw/shop__orders" in recorded.materialized
    instance = instance_for(settings)
    try:
        assert [run.run_id for run in instance.get_runs()] == [recorded.run_id]
    finally:
        instance.dispose()


def _shop_project(root: Path, history: str | None = None):
    settings = make_project(root, sources_yml=SHOP)
    if history is not None:
        pyproject = root / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + f'history = "{history}"\n')
    (settings.data_dir / "shop").mkdir()
    (settings.data_dir / "shop" / "orders_1.csv").write_text("id,amount\n1,10.00\n2,5.00\n")
    return load_settings(root, env={"KONTOR_SETTLE_SECONDS": "0"})


def _recorded_runs(settings) -> list[str]:
    instance = instance_for(settings)
    try:
        return [run.run_id for run in instance.get_runs()]
    finally:
        instance.dispose()


def test_history_none_in_the_project_runs_kontor_run_in_memory(tmp_path: Path):
    """[tool.kontor] history = "none": run_pipeline records nothing in the instance unless asked to;
    KONTOR_HISTORY overrides the project's choice; any other value is refused, naming the choices."""
    from pipelines.run import run_pipeline

    settings = _shop_project(tmp_path / "project", history="none")
    assert settings.history == "none"
    quiet = run_pipeline(settings)
    assert quiet.success and "raw/shop__orders" in quiet.materialized
    assert _recorded_runs(settings) == []
    recorded = run_pipeline(settings, history=True)            # kontor run --history
    assert recorded.success and _recorded_runs(settings) == [recorded.run_id]

    root = settings.project_dir
    assert load_settings(root, env={"KONTOR_HISTORY": "instance"}).history == "instance"
    assert load_settings(tmp_path / "project", env={}).history == "none"
    assert make_project(tmp_path / "default").history == "instance"
    with pytest.raises(KontorError, match='KONTOR_HISTORY: history = .sqlite.; fix: one of "instance", "none"'):
        load_settings(root, env={"KONTOR_HISTORY": "sqlite"})
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('history = "none"', 'history = "postgres"'))
    with pytest.raises(KontorError, match='history = .postgres.; fix: one of "instance", "none"'):
        load_settings(root, env={})
    _, problems = read_tool_kontor(pyproject.read_text(), "pyproject.toml")
    assert [p.line for p in problems] == [5] and "history" in str(problems[0])
    assert get_args(get_args(KontorTable.model_fields["history"].annotation)[0]) == HISTORIES


def test_kontor_run_cli_follows_the_project_history_and_the_flag_overrides_it(tmp_path: Path):
    from test_end_to_end import kontor

    settings = _shop_project(tmp_path / "project", history="none")
    quiet = kontor(settings.project_dir, "run", env={"KONTOR_SETTLE_SECONDS": "0"})
    assert quiet.returncode == 0, quiet.stderr
    assert "raw/shop__orders" in quiet.stderr and _recorded_runs(settings) == []
    loud = kontor(settings.project_dir, "run", "--force", "--history", env={"KONTOR_SETTLE_SECONDS": "0"})
    assert loud.returncode == 0, loud.stderr
    [run_id] = _recorded_runs(settings)
    assert f"run {run_id[:8]}:" in loud.stderr
