"""Production setup on the real PostgreSQL server: the shipped deploy/dagster.yaml puts Dagster's
runs and event log in PostgreSQL, and the state store shares the database in its own schema."""
from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from conftest import REPO, make_project
from pipelines.run import run_pipeline
from pipelines.core.state import StateStore

PRODUCTION_YAML = REPO / "deploy" / "dagster.yaml"


def test_the_graph_runs_on_the_production_instance_and_state_store(tmp_path: Path, demo_data: Path,
                                                                   pg_database: str, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    # dagster.yaml reads it ({env: DAGSTER_PG_URL}); dagster-postgres needs the psycopg2 driver named.
    monkeypatch.setenv("DAGSTER_PG_URL", pg_database.replace("postgresql://", "postgresql+psycopg2://"))
    settings = make_project(tmp_path / "project", with_models=True,
                            env={"DAGSTER_HOME": str(home), "KONTOR_STATE_URL": pg_database})
    shutil.copytree(demo_data, settings.data_dir, dirs_exist_ok=True)

    # ingest, staging and the entity stage, which reads decisions from and writes its audit
    # events to the PostgreSQL state store
    outcome = run_pipeline(settings, ["+group:entities"])
    assert outcome.success, outcome.failures
    raw = {a for a in outcome.materialized if a.startswith("raw/")}
    assert "raw/crm__accounts" in raw and "raw/accounting__debitoren" in raw

    # Kontor used the production file as it is, and wrote no local SQLite storage beside it.
    assert (home / "dagster.yaml").read_text() == PRODUCTION_YAML.read_text()
    assert not list(home.rglob("*.db"))

    with psycopg.connect(pg_database) as con:
        assert con.execute("select status from runs where run_id = %s", (outcome.run_id,)).fetchall() == [("SUCCESS",)]
        stored = con.execute("select asset_key from event_logs where run_id = %s "
                             "and dagster_event_type = 'ASSET_MATERIALIZATION'", (outcome.run_id,)).fetchall()
        assert {dg.AssetKey.from_db_string(key).to_user_string() for (key,) in stored} == set(outcome.materialized)

    # What the UI and the daemon see: a second instance from the same DAGSTER_HOME.
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        [record] = instance.get_run_records(dg.RunsFilter(run_ids=[outcome.run_id]))
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        latest = instance.get_latest_materialization_event(dg.AssetKey(["raw", "crm__accounts"]))
        assert latest.run_id == outcome.run_id
        assert latest.asset_materialization.metadata["dagster/row_count"].value > 0
    finally:
        instance.dispose()

    # The state store lives in the same database, schema kontor_state, beside Dagster's tables;
    # the run wrote the entity stage's audit trail there.
    with psycopg.connect(pg_database) as con:
        kinds = con.execute("select kind, entity, count(*) from kontor_state.audit_log where run_id = %s "
                            "group by 1, 2 order by 1, 2", (outcome.run_id,)).fetchall()
    assert ("golden_change", "customer", 1) in kinds and any(k == "xref_change" for k, _, _ in kinds)
    with StateStore.from_settings(settings) as store:
        decision = store.append_decision({"entity": "customer", "action": "distinct", "target_ids": ["a", "b"],
                                          "steward": "anna", "status": "active", "run_id": outcome.run_id})
        with duckdb.connect(str(settings.warehouse_path)) as con:
            store.mirror(con)
            assert con.execute("select decision_id, run_id from kontor.steward_decisions").fetchall() == \
                [(decision, outcome.run_id)]
    with psycopg.connect(pg_database) as con:
        schemas = {s for (s,) in con.execute("select table_schema from information_schema.tables "
                                             "where table_name in ('runs', 'steward_decisions')")}
        assert schemas == {"public", "kontor_state"}
