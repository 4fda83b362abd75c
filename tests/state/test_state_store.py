"""The state store on both backends: append-only in the database itself, atomic, concurrent,
mirrored into the warehouse, and never inside target/."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import psycopg
import pytest

from conftest import REPO, make_project
from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings
from pipelines.core.state import StateStore

MERGE = {"entity": "customer", "action": "merge", "target_ids": ["crm:1", "erp:7"], "attribute": None,
         "value": None, "steward": "anna", "comment": "same VAT id", "status": "active", "approves": None,
         "run_id": "run-1"}
CHOOSE = {**MERGE, "entity": "supplier", "action": "choose_value", "target_ids": ["S-9"], "attribute": "iban",
          "value": "DE89370400440532013000", "status": "pending", "comment": None}
EVENT = {"run_id": "run-1", "actor": "steward:anna", "kind": "decision", "entity": "customer", "object_id": "1",
         "before": None, "after": {"action": "merge", "credit_limit": 1250.5}, "detail": "merged 2 records"}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path: Path) -> tuple[str, Settings]:
    """A project whose state store is the SQLite file, or a fresh PostgreSQL database."""
    env = {"KONTOR_STATE_URL": request.getfixturevalue("pg_database")} if request.param == "postgres" else {}
    return request.param, make_project(tmp_path / "project", env=env)


@pytest.fixture()
def store(backend) -> StateStore:
    store = StateStore.from_settings(backend[1])
    yield store
    store.close()


def raw_connection(kind: str, settings: Settings):
    """A connection that bypasses Kontor, as a bug or a person with a SQL client would."""
    if kind == "postgres":
        return psycopg.connect(settings.env["KONTOR_STATE_URL"], autocommit=True)
    return sqlite3.connect(settings.project_dir / "state" / "kontor_state.sqlite", isolation_level=None)


def table(kind: str, name: str) -> str:
    return f"kontor_state.{name}" if kind == "postgres" else name


def test_appends_come_back_in_order_with_store_assigned_ids_and_utc_times(store: StateStore):
    before = dt.datetime.now(dt.UTC)
    first, second = store.append_decision(MERGE), store.append_decision(CHOOSE)
    approval = store.append_decision({**MERGE, "action": "approve", "steward": "bernd", "approves": second,
                                      "entity": "supplier", "target_ids": ["S-9"]})
    assert first < second < approval

    decisions = store.decisions()
    assert [d["decision_id"] for d in decisions] == [first, second, approval]
    assert {k: v for k, v in decisions[0].items() if k not in ("decision_id", "created_at")} == MERGE
    assert decisions[1]["status"] == "pending" and decisions[2]["approves"] == second
    stamp = dt.datetime.fromisoformat(decisions[0]["created_at"])
    assert stamp.utcoffset() == dt.timedelta(0) and before - dt.timedelta(seconds=5) < stamp < before + dt.timedelta(minutes=1)
    assert [d["decision_id"] for d in store.decisions("supplier")] == [second, approval]
    assert json.loads(json.dumps(decisions)) == decisions          # JSON-able as it is

    store.append_audit([EVENT, {**EVENT, "actor": "rule:customer", "kind": "golden_change", "object_id": "G-1",
                                "before": {"name": "Alpha GmbH", "founded": dt.date(1999, 5, 1)},
                                "after": {"name": "Alpha GmbH & Co. KG", "founded": dt.date(1999, 5, 1)}}])
    store.append_audit([{**EVENT, "actor": "kontor", "kind": "report_issued", "entity": None, "object_id": "kpi"}])
    events = store.audit()
    assert [e["kind"] for e in events] == ["decision", "golden_change", "report_issued"]
    assert events[0]["event_id"] < events[1]["event_id"] < events[2]["event_id"]
    assert {k: v for k, v in events[0].items() if k not in ("event_id", "recorded_at")} == EVENT
    assert events[1]["before"] == {"name": "Alpha GmbH", "founded": "1999-05-01"}
    assert [e["kind"] for e in store.audit(entity="customer")] == ["decision", "golden_change"]
    assert [e["kind"] for e in store.audit(kind="golden_change")] == ["golden_change"]
    assert [e["kind"] for e in store.audit(limit=2)] == ["golden_change", "report_issued"]   # the latest two
    assert store.audit(entity="customer", kind="report_issued") == []


def test_update_and_delete_are_refused_by_the_database(backend, store: StateStore):
    kind, settings = backend
    store.append_decision(MERGE)
    store.append_audit([EVENT])
    con = raw_connection(kind, settings)
    error = psycopg.Error if kind == "postgres" else sqlite3.DatabaseError
    try:
        for statement in (f"update {table(kind, 'steward_decisions')} set steward = 'mallory'",
                          f"delete from {table(kind, 'steward_decisions')}",
                          f"update {table(kind, 'audit_log')} set after = null",
                          f"delete from {table(kind, 'audit_log')} where event_id = 1",
                          *([f"truncate {table(kind, 'audit_log')}"] if kind == "postgres" else [])):
            with pytest.raises(error, match="append-only"):
                con.execute(statement)
    finally:
        con.close()
    assert store.decisions()[0]["steward"] == "anna" and store.audit()[0]["after"] == EVENT["after"]


def test_a_transaction_stores_all_of_its_appends_or_none(store: StateStore):
    with pytest.raises(RuntimeError, match="steward changed her mind"):
        with store.transaction():
            store.append_decision(MERGE)
            store.append_audit([EVENT])
            raise RuntimeError("steward changed her mind")
    assert store.decisions() == [] and store.audit() == []

    # A failing append (an approval of a decision that does not exist) rolls back the earlier ones.
    with pytest.raises(KontorError, match="approves=999 must be an existing decision_id"):
        with store.transaction():
            store.append_decision(MERGE)
            store.append_decision({**MERGE, "action": "approve", "approves": 999})
    assert store.decisions() == []

    with store.transaction():
        with store.transaction():               # nested: joins the outer transaction
            decision = store.append_decision(MERGE)
        store.append_audit([{**EVENT, "object_id": str(decision)}])
    assert len(store.decisions()) == 1 and store.audit()[0]["object_id"] == str(decision)


@pytest.mark.parametrize("change, message", [
    ({"action": "merge_all"}, "action 'merge_all' is not one of"),
    ({"target_ids": "crm:1"}, "target_ids must be a list"),
    ({"stewart": "anna"}, "unknown key 'stewart'"),
    ({"decision_id": 5}, "'decision_id' is assigned by the state store"),
    ({"steward": ""}, "steward must be a non-empty string"),
    ({"status": "maybe"}, "status 'maybe' is not one of"),
])
def test_a_malformed_decision_is_refused_and_nothing_is_stored(tmp_path: Path, change: dict, message: str):
    with StateStore.from_settings(make_project(tmp_path / "project")) as store:
        with pytest.raises(KontorError, match=message):
            store.append_decision({**MERGE, **change})
        with pytest.raises(KontorError, match="audit event 1: actor 'anna' must be"):
            store.append_audit([EVENT, {**EVENT, "actor": "anna"}])      # the first is not stored either
        with pytest.raises(KontorError, match="audit event 0: after is not JSON-able"):
            store.append_audit([{**EVENT, "after": {"blob": object()}}])
        assert store.decisions() == [] and store.audit() == []


WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from pipelines.core.settings import load_settings
    from pipelines.core.state import StateStore

    project, url, go, name = sys.argv[1:]
    while not Path(go).exists():
        time.sleep(0.01)
    store = StateStore.from_settings(load_settings(project, env={"KONTOR_STATE_URL": url} if url else {}))
    ids = []
    for i in range(30):
        ids.append(store.append_decision({"entity": "customer", "action": "distinct", "target_ids": [f"{name}:{i}"],
                                          "steward": name, "status": "active"}))
        store.append_audit([{"run_id": name, "actor": f"steward:{name}", "kind": "decision", "object_id": str(ids[-1])}])
    with store.transaction():
        for i in range(5):
            ids.append(store.append_decision({"entity": "customer", "action": "split", "target_ids": [f"{name}:t{i}"],
                                              "steward": name, "status": "active"}))
    store.close()
    print(json.dumps(ids))
""")


def test_two_processes_appending_at_once_both_succeed_with_distinct_ids(backend, tmp_path: Path):
    kind, settings = backend
    script, go = tmp_path / "writer.py", tmp_path / "go"
    script.write_text(WRITER)
    url = settings.env.get("KONTOR_STATE_URL", "")
    # Neither process finds the schema: both create it at the same moment, then append.
    writers = [subprocess.Popen([sys.executable, str(script), str(settings.project_dir), url, str(go), name],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in ("anna", "bernd")]
    go.touch()
    results = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], [err for _, err in results]
    ids = [json.loads(out) for out, _ in results]
    assert all(a < b for got in ids for a, b in zip(got, got[1:]))          # increasing per writer
    with StateStore.from_settings(settings) as store:
        stored = store.decisions()
        assert sorted(ids[0] + ids[1]) == [d["decision_id"] for d in stored]     # distinct, all kept
        assert len(stored) == 70 and len(store.audit()) == 60
        assert {d["steward"] for d in stored if d["decision_id"] in ids[1]} == {"bernd"}


def test_mirror_copies_the_store_into_warehouse_tables(store: StateStore, tmp_path: Path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        store.mirror(con)                      # an empty store gives empty, typed tables
        assert con.execute("select count(*) from kontor.steward_decisions").fetchone() == (0,)
        first = store.append_decision(MERGE)
        store.append_audit([EVENT])
        store.mirror(con)
        store.mirror(con)                      # replaces, never duplicates
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select decision_id, action, target_ids, steward, typeof(created_at) "
                           "from kontor.steward_decisions").fetchall()
        assert rows == [(first, "merge", '["crm:1", "erp:7"]', "anna", "TIMESTAMP")]
        assert con.execute("select kind, actor, after, before from kontor.audit_log").fetchall() == \
            [("decision", "steward:anna", json.dumps(EVENT["after"]), None)]
        assert store.describe() in con.execute(
            "select comment from duckdb_tables() where table_name = 'audit_log'").fetchone()[0]


def test_mirror_appends_only_new_events_and_recopies_another_store(store: StateStore, backend, tmp_path: Path):
    """The audit log only grows: a mirror appends what is new (the store is read from the newest
    copied event on); a copy of another store, or one the store disagrees with, is replaced whole."""
    warehouse = tmp_path / "warehouse.duckdb"
    store.append_audit([{**EVENT, "run_id": f"run-{i}"} for i in range(3)])
    with duckdb.connect(str(warehouse)) as con:
        store.mirror(con)
        con.execute("update kontor.audit_log set detail = 'marked' where run_id = 'run-0'")   # a witness
        store.append_audit([{**EVENT, "run_id": "run-3"}])
        store.mirror(con)
        rows = con.execute("select run_id, detail from kontor.audit_log order by event_id").fetchall()
        assert [r[0] for r in rows] == ["run-0", "run-1", "run-2", "run-3"]
        assert rows[0][1] == "marked"                      # appended to, not copied again
        store.mirror(con)
        assert con.execute("select count(*) from kontor.audit_log").fetchall()[0] == (4,)
        # the copy's newest event differs from the store's (a store restored from a backup): copied whole
        con.execute("update kontor.audit_log set run_id = 'elsewhere' where run_id = 'run-3'")
        store.mirror(con)
        assert con.execute("select list(run_id order by event_id), count(*) filter (where detail = 'marked') "
                           "from kontor.audit_log").fetchall()[0] == (["run-0", "run-1", "run-2", "run-3"], 0)
    other = make_project(tmp_path / "other")
    with StateStore.from_settings(other) as second, duckdb.connect(str(warehouse)) as con:
        second.append_audit([{**EVENT, "run_id": "other-1"}])
        second.mirror(con)                                 # another store's copy is replaced, not extended
        assert con.execute("select list(run_id) from kontor.audit_log").fetchall()[0] == (["other-1"],)
        assert second.describe() in con.execute(
            "select comment from duckdb_tables() where table_name = 'audit_log'").fetchall()[0][0]


def test_deleting_target_loses_no_decision(tmp_path: Path):
    settings = make_project(tmp_path / "project")
    with StateStore.from_settings(settings) as store:
        assert Path(store.describe()) == settings.project_dir / "state" / "kontor_state.sqlite"
        decision = store.append_decision(MERGE)
        settings.target_dir.mkdir(parents=True)
        with duckdb.connect(str(settings.warehouse_path)) as con:
            store.mirror(con)
    shutil.rmtree(settings.target_dir)
    with StateStore.from_settings(settings) as store:
        assert [d["decision_id"] for d in store.decisions()] == [decision]
        settings.target_dir.mkdir(parents=True)
        with duckdb.connect(str(settings.warehouse_path)) as con:    # the rebuilt warehouse gets them back
            store.mirror(con)
            assert con.execute("select decision_id from kontor.steward_decisions").fetchall() == [(decision,)]


def test_state_dir_moves_the_file_but_never_into_target(tmp_path: Path):
    moved = make_project(tmp_path / "project", env={"KONTOR_STATE_DIR": str(tmp_path / "evidence")})
    with StateStore.from_settings(moved) as store:
        assert store.describe() == str(tmp_path / "evidence" / "kontor_state.sqlite")
    inside = make_project(tmp_path / "other", env={"KONTOR_STATE_DIR": "target/state"})
    with pytest.raises(KontorError, match="KONTOR_STATE_DIR=target/state: lies inside the target directory"):
        StateStore.from_settings(inside)


def test_state_url_selects_postgres_and_never_shows_the_password(tmp_path: Path, pg_database: str):
    secret = "Tr0ub4dor-s3cret"
    url = pg_database.replace("postgres@", f"postgres:{secret}@")    # trust auth ignores it; it is still sent
    with StateStore.from_settings(make_project(tmp_path / "a", env={"KONTOR_STATE_URL": url})) as store:
        assert store.describe() == "postgresql://127.0.0.1:5432/" + pg_database.rsplit("/", 1)[1]
        store.append_decision(MERGE)
    with StateStore.from_settings(make_project(tmp_path / "a", env={      # Dagster's URL form works too
            "KONTOR_STATE_URL": url.replace("postgresql://", "postgresql+psycopg2://")})) as store:
        store.append_decision(CHOOSE)
    with psycopg.connect(pg_database) as con:
        assert con.execute("select steward, entity from kontor_state.steward_decisions order by 1, 2").fetchall() == \
            [("anna", "customer"), ("anna", "supplier")]

    missing = url.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(KontorError) as failed:
        StateStore.from_settings(make_project(tmp_path / "b", env={"KONTOR_STATE_URL": missing}))
    message = str(failed.value)
    assert "postgresql://127.0.0.1:5432/no_such_db" in message and "KONTOR_STATE_URL" in message
    assert "no_such_db\" does not exist" in message and secret not in message and failed.value.__cause__ is None

    closed_port = f"postgresql://postgres:{secret}@127.0.0.1:1/kontor"
    with pytest.raises(KontorError, match="127.0.0.1:1/kontor .*not reachable") as failed:
        StateStore.from_settings(make_project(tmp_path / "c", env={"KONTOR_STATE_URL": closed_port}))
    assert secret not in str(failed.value)

    with pytest.raises(KontorError, match="KONTOR_STATE_URL: not a valid PostgreSQL URL") as failed:
        malformed = f"postgresql://postgres:{secret} x@127.0.0.1:5432/db"       # libpq echoes the bad part
        StateStore.from_settings(make_project(tmp_path / "d", env={"KONTOR_STATE_URL": malformed}))
    assert secret not in str(failed.value)

    with pytest.raises(KontorError, match="KONTOR_STATE_URL: not a postgresql:// URL") as failed:
        StateStore.from_settings(make_project(tmp_path / "d", env={"KONTOR_STATE_URL": f"mysql://u:{secret}@h/db"}))
    assert secret not in str(failed.value)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_the_schema_files_check_what_the_store_checks(backend):
    """The SQL files' check lists and trigger message are the ones state.py validates with."""
    from pipelines.core import state

    text = (REPO / "pipelines" / "core" / "sql" / f"state_{backend}.sql").read_text(encoding="utf-8")
    assert f"action in ({', '.join(repr(a) for a in state.ACTIONS)})" in text
    assert f"status in ({', '.join(repr(s) for s in state.STATUSES)})" in text
    assert text.count(state.APPEND_ONLY) == (1 if backend == "postgres" else 2 * len(state.TABLES))
    for trigger in (state.PG_TRIGGERS if backend == "postgres" else state.SQLITE_TRIGGERS):
        assert f"trigger {'' if backend == 'postgres' else 'if not exists '}{trigger} " in text
