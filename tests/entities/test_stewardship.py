"""Steward decisions end to end: recorded (or refused), honoured by the next runs, four eyes on bank
details, reopen, and rebuilt from the state store after target/ is deleted."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from pipelines.entities.decisions import DecisionError
from pipelines.run import run_pipeline
from pipelines.stewards.identity import Identity
from pipelines.stewards.stewardship import decide as record, queue
from pipelines.core.settings import load_settings
from tests.automation.test_automation import Webhook
from tests.conftest import make_project
from assets.resources import service_resources


def decide(settings, request: dict):
    """A decision by the steward the request names, as if authenticated (the engine trusts its caller)."""
    request = dict(request)
    return record(settings, request, Identity(request.pop("steward"), "local_account"))


def _rows(settings, sql, params=None):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _golden_of(settings, uid: str) -> str:
    return _rows(settings, "select golden_id from entities.customer_xref where unique_id = ?", [uid])[0][0]


def _store_count(settings) -> int:
    from pipelines.core.state import StateStore

    store = StateStore.from_settings(settings)
    try:
        return len(store.decisions("customer"))
    finally:
        store.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory, demo_data):
    settings = make_project(tmp_path_factory.mktemp("steward") / "p", with_models=True)
    shutil.copytree(demo_data, settings.data_dir, dirs_exist_ok=True)
    assert run_pipeline(settings, ["+group:entities"]).success
    return settings


def _rerun(settings):
    outcome = run_pipeline(settings, ["group:entities"])
    assert outcome.success, outcome.failures


def test_decisions_are_honoured_by_later_runs(project):
    settings = project
    # a pair in the review band: the steward says they are one company
    band = [i for i in queue(settings, "customer") if i["kind"] == "pair"]
    assert band, "the demo data has pairs in the review band"
    a, b = band[0]["item_id"].removeprefix("pair:").split("|")
    assert _golden_of(settings, a) != _golden_of(settings, b)
    merge = decide(settings, {"entity": "customer", "action": "merge", "target_ids": [a, b], "steward": "alice",
                              "comment": "same company, moved"})
    # a three-system cluster: one record is split off
    gid, = _rows(settings, "select golden_id from entities.customer_golden where member_count = 3 order by golden_id limit 1")[0]
    members = [r[0] for r in _rows(settings, "select unique_id from entities.customer_clusters where golden_id = ? order by 1", [gid])]
    split = decide(settings, {"entity": "customer", "action": "split", "target_ids": [members[0]], "steward": "alice"})
    # two records the model merged (another cluster of two): the steward says they are two companies
    other, = _rows(settings, "select golden_id from entities.customer_golden where member_count = 2 "
                             "and golden_id <> ? order by golden_id limit 1", [_golden_of(settings, a)])[0]
    c, d = [r[0] for r in _rows(settings, "select unique_id from entities.customer_clusters where golden_id = ? "
                                          "order by 1", [other])]
    decide(settings, {"entity": "customer", "action": "distinct", "target_ids": [c, d], "steward": "alice"})
    _rerun(settings)
    assert _golden_of(settings, c) != _golden_of(settings, d)

    assert merge["status"] == "active" or merge["status"] == "pending"
    if merge["status"] == "active":
        assert _golden_of(settings, a) == _golden_of(settings, b)
        assert _rows(settings, "select matched_by from entities.customer_xref where unique_id = ?", [a])[0][0] == "steward"
        # no longer open: merged pairs leave the queue
        assert band[0]["item_id"] not in {i["item_id"] for i in queue(settings, "customer")}
    split_id = _golden_of(settings, members[0])
    assert split_id != gid                                                # split off
    assert {_golden_of(settings, m) for m in members[1:]} == {gid}        # the rest keeps the id
    assert ("split_from", gid) in _rows(settings, "select event, related_id from entities.customer_id_history "
                                                  "where golden_id = ?", [split_id])

    # contradicting an effective decision without reopen: refused, nothing stored
    before = _store_count(settings)
    with pytest.raises(DecisionError, match="contradicts decision"):
        decide(settings, {"entity": "customer", "action": "merge", "target_ids": members[:2], "steward": "bob"})
    with pytest.raises(DecisionError, match="unknown id"):
        decide(settings, {"entity": "customer", "action": "distinct", "target_ids": ["crm:NOPE", gid], "steward": "bob"})
    assert _store_count(settings) == before

    # reopen: the split no longer applies, the record rejoins its cluster
    decide(settings, {"entity": "customer", "action": "reopen", "target_ids": [members[0]], "steward": "bob"})
    _rerun(settings)
    assert _golden_of(settings, members[0]) == gid
    assert ("merged_into", gid) in _rows(settings, "select event, related_id from entities.customer_id_history "
                                                   "where golden_id = ?", [split_id])
    assert split["decision_id"] < _store_count(settings) + 100


def test_bank_details_need_a_second_steward(project):
    settings = project
    gid, iban = _rows(settings, """select golden_id, iban from entities.customer_golden
                                   where iban is not null and iban_valid and member_count > 1 order by golden_id limit 1""")[0]
    new_iban = "DE89370400440532013000"          # a valid IBAN
    pending = decide(settings, {"entity": "customer", "action": "choose_value", "target_ids": [gid], "attribute": "iban",
                                "value": new_iban, "steward": "alice", "comment": "customer sent new bank details"})
    assert pending["status"] == "pending"
    _rerun(settings)
    assert _rows(settings, "select iban from entities.customer_golden where golden_id = ?", [gid])[0][0] == iban
    assert _rows(settings, "select status from entities.customer_review_queue where item_id = ?",
                 [f"decision:{pending['decision_id']}"]) == [("pending",)]
    with pytest.raises(DecisionError, match="four eyes"):
        decide(settings, {"entity": "customer", "action": "approve", "value": str(pending["decision_id"]), "steward": "Alice"})
    decide(settings, {"entity": "customer", "action": "approve", "value": str(pending["decision_id"]), "steward": "bob"})
    _rerun(settings)
    assert _rows(settings, "select iban, iban_valid from entities.customer_golden where golden_id = ?", [gid])[0] == (new_iban, True)
    reasons = _rows(settings, "select reason from entities.customer_conflicts where golden_id = ? and attribute = 'iban' and won", [gid])
    assert not reasons or "steward alice" in reasons[0][0]
    # the audit trail names who changed the golden record, before and after
    audit = _rows(settings, """select actor, before, after from kontor.audit_log
                               where kind = 'golden_change' and object_id = ? order by event_id desc limit 1""", [gid])
    assert audit and audit[0][0] == "steward:alice" and new_iban in audit[0][2] and iban in audit[0][1]


def test_deleting_target_restores_the_same_golden_records(project):
    settings = project
    before = _rows(settings, "select * exclude (updated_at) from entities.customer_golden order by golden_id")
    xref = _rows(settings, "select unique_id, golden_id, matched_by from entities.customer_xref order by 1")
    shutil.rmtree(settings.target_dir)
    assert run_pipeline(settings, ["+group:entities"]).success
    assert _rows(settings, "select * exclude (updated_at) from entities.customer_golden order by golden_id") == before
    assert _rows(settings, "select unique_id, golden_id, matched_by from entities.customer_xref order by 1") == xref


def test_the_cli_lists_and_decides(project):
    env = dict(os.environ, KONTOR_PROJECT_DIR=str(project.project_dir), KONTOR_STEWARD="carol")
    kontor = [sys.executable, "-m", "pipelines.cli"]
    listed = subprocess.run([*kontor, "steward", "list", "--entity", "supplier"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "supplier" in listed.stdout and "item(s)" in listed.stderr
    refused = subprocess.run([*kontor, "steward", "decide", "merge", "crm:NOPE", "S-0000000000", "--entity", "supplier"],
                             env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "unknown id" in refused.stderr and "Traceback" not in refused.stderr
    # on the command line the steward is the operating-system user, whatever KONTOR_STEWARD says
    import getpass

    from pipelines.core.state import StateStore

    pair = next(i for i in queue(project, "supplier", "all") if i["kind"] == "pair" or len(i["members"]) >= 2)
    a, b = [m["unique_id"] for m in pair["members"][:2]]
    decided = subprocess.run([*kontor, "steward", "decide", "distinct", a, b, "--entity", "supplier", "--no-apply"],
                             env=env, capture_output=True, text=True)
    assert decided.returncode == 0, decided.stderr
    with StateStore.from_settings(project) as store:
        [event] = [e for e in store.audit(entity="supplier", kind="decision")][-1:]
        last = store.decisions("supplier")[-1]
    assert last["steward"] == getpass.getuser() != "carol"
    assert event["after"]["authenticated_by"] == "os_user" and event["actor"] == f"steward:{getpass.getuser()}"
    again = subprocess.run([*kontor, "steward", "decide", "distinct", b, a, "--entity", "supplier", "--no-apply"],
                           env=env, capture_output=True, text=True)
    assert again.returncode == 0 and f"same as decision {last['decision_id']}" in again.stderr


def _queue_status(settings, item_id: str) -> str | None:
    found = [i["status"] for i in queue(settings, "customer", "all") if i["item_id"] == item_id]
    return found[0] if found else None


def test_a_decision_shows_at_once_and_its_item_never_comes_back(project):
    settings = project
    from assets.steward import apply_selection

    # an IBAN conflict inside a cluster: the steward picks one of the values the records hold
    item = next(i for i in queue(settings, "customer") if i["item_id"].endswith(":iban"))
    ibans = sorted({m["iban"] for m in item["members"] if m["iban"]})
    gid = item["golden_ids"][0]
    proposal = decide(settings, {"entity": "customer", "action": "choose_value", "target_ids": [gid],
                                 "attribute": "iban", "value": ibans[0], "steward": "alice"})
    assert proposal["status"] == "pending"
    # no run in between: the live queue knows at once
    assert _queue_status(settings, item["item_id"]) == "pending"
    assert _queue_status(settings, f"decision:{proposal['decision_id']}") == "pending"
    assert item["item_id"] not in {i["item_id"] for i in queue(settings, "customer", "open")}
    before = _store_count(settings)
    again = decide(settings, {"entity": "customer", "action": "choose_value", "target_ids": [gid],
                              "attribute": "iban", "value": ibans[0], "steward": "alice"})
    assert again["duplicate"] and f"same as decision {proposal['decision_id']}" in again["message"]
    assert _store_count(settings) == before                       # a repeat stores nothing
    approval = decide(settings, {"entity": "customer", "action": "approve", "value": str(proposal["decision_id"]),
                                 "steward": "bob"})
    assert _queue_status(settings, item["item_id"]) == "decided"
    assert _queue_status(settings, f"decision:{proposal['decision_id']}") == "decided"
    repeat = decide(settings, {"entity": "customer", "action": "approve", "value": str(proposal["decision_id"]),
                               "steward": "carol"})
    assert repeat["duplicate"] and repeat["decision_id"] == approval["decision_id"]
    # the small run a decision triggers: the resolve step, sync proposals, serving copy
    outcome = run_pipeline(settings, [f"key:{k.to_user_string()}" for k in apply_selection("customer")])
    assert outcome.success, outcome.failures
    assert _rows(settings, "select iban from entities.customer_golden where golden_id = ?", [gid]) == [(ibans[0],)]
    assert _rows(settings, "select status from entities.customer_review_queue where item_id = ?",
                 [item["item_id"]]) == [("decided",)]
    assert _queue_status(settings, item["item_id"]) == "decided"
    # a pair merged twice: the second time is a no-op
    band = [i for i in queue(settings, "customer") if i["kind"] == "pair"]
    if band:
        a, b = band[-1]["item_id"].removeprefix("pair:").split("|")
        first = decide(settings, {"entity": "customer", "action": "distinct", "target_ids": [a, b], "steward": "alice"})
        assert _queue_status(settings, band[-1]["item_id"]) == "decided"
        second = decide(settings, {"entity": "customer", "action": "distinct", "target_ids": [b, a], "steward": "bob"})
        assert second["duplicate"] and second["decision_id"] == first["decision_id"]


def test_the_status_filter_is_a_value_never_sql(project):
    from pipelines.core.errors import KontorError

    with pytest.raises(KontorError, match="use one of open, pending, decided, all"):
        queue(project, "customer", "open' or '1'='1")
    env = dict(os.environ, KONTOR_PROJECT_DIR=str(project.project_dir))
    listed = subprocess.run([sys.executable, "-m", "pipelines.cli", "steward", "list", "--status", "x'; drop table t; --"],
                            env=env, capture_output=True, text=True)
    assert listed.returncode == 1 and "use one of" in listed.stderr and "Traceback" not in listed.stderr


def test_weekly_spot_checks_estimate_the_precision_of_automatic_merges(project):
    import csv
    import datetime as dt

    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.stewards.spotchecks import precision, record_verdict, take_sample
    from pipelines.core.state import StateStore
    from pipelines.stewards.stewardship import entity_specs

    settings = project
    spec = entity_specs(settings)["customer"]
    monday = dt.date(2026, 11, 30)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        with StateStore.from_settings(settings) as store:
            sample = take_sample(settings, con, spec, store, monday, 15)
            again = take_sample(settings, con, spec, store, monday, 15)      # drawn once a week
    finally:
        con.close()
    assert [r["check_id"] for r in again] == [r["check_id"] for r in sample] and len(sample) == 15
    kinds = [r["kind"] for r in sample]
    assert kinds.count("merge") >= 9 and {"golden_value", "sync_proposal"} <= set(kinds)
    merges = [r for r in sample if r["kind"] == "merge"]
    assert {r["detail"]["stratum"] for r in merges} == {1, 2, 3}                # every probability third
    assert all(len(r["detail"]["records"]) == 2 and r["detail"]["records"][0]["origin"] for r in merges)

    # the verdicts of an independent judge: the demo data's ground truth
    truth = {}
    with open(settings.data_dir / "ground_truth" / "entities.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["entity_type"] == "customer":
                truth[f"{row['system']}:{row['source_id']}"] = row["true_id"]
    anna = Identity("anna", "local_account")
    for r in merges:
        a, b = r["object_id"].split("|")
        ok, _, wrong = record_verdict(settings, anna, {"check_id": str(r["check_id"]),
                                                        "verdict": "correct" if truth.get(a) == truth.get(b) else "wrong"})
        assert ok
    with StateStore.from_settings(settings) as store:
        estimate = precision(store, "customer", 8, monday)["pooled"]
    assert estimate["judged"] == len(merges) and estimate["low"] <= estimate["precision"] <= estimate["high"]
    assert estimate["high"] - estimate["low"] > 0.05       # 9-odd verdicts cannot claim more

    # a steward says one merge is wrong: the verdict is stored, the precision drops, the pair is kept apart
    target = merges[0]
    ok, message, wrong = record_verdict(settings, anna, {"check_id": str(target["check_id"]), "verdict": "wrong"})
    assert ok and wrong is not None and "wrong" in message
    repeat = record_verdict(settings, anna, {"check_id": str(target["check_id"]), "verdict": "wrong"})
    assert repeat[2] is None and "nothing stored" in repeat[1]
    with StateStore.from_settings(settings) as store:
        after = precision(store, "customer", 8, monday)["pooled"]
    assert after["wrong"] == estimate["wrong"] + (truth.get(target["object_id"].split("|")[0]) ==
                                                  truth.get(target["object_id"].split("|")[1]))
    assert after["precision"] < estimate["precision"] or estimate["wrong"] == after["wrong"]
    a, b = target["object_id"].split("|")
    record(settings, {"entity": "customer", "action": "distinct", "target_ids": [a, b],
                      "comment": f"spot check {target['sample']}: wrong merge"}, anna)
    _rerun(settings)
    assert _golden_of(settings, a) != _golden_of(settings, b)

    # the asset: the precision as metadata and a table; the gate fails below the threshold
    pyproject = settings.project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.kontor.stewards]\nspot_check_threshold = 0.999\n"
                         "[tool.kontor.alerts]\nwebhook_env = \"TEST_ALERT_WEBHOOK\"\n")
    try:
        with Webhook() as hook, dg.instance_for_test() as instance:
            alerting = load_settings(settings.project_dir, env={"TEST_ALERT_WEBHOOK": hook.url})
            defs = build_definitions(alerting)
            result = defs.resolve_job_def("steward_spot_checks").execute_in_process(
                instance=instance, raise_on_error=False)
            # the run-failure sensor, as the daemon runs it, alerts over the real webhook on loopback
            failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
            sensor = defs.resolve_sensor_def("kontor_alert_on_failure")
            sensor(dg.build_run_status_sensor_context(
                sensor_name=sensor.name, dagster_event=failure, dagster_instance=instance,
                dagster_run=instance.get_run_by_id(result.run_id), resources=service_resources(alerting)).for_run_failure())
    finally:
        pyproject.write_text(pyproject.read_text().split("\n[tool.kontor.stewards]")[0])
    [alert] = hook.bodies
    assert "steward/customer_spot_checks" in alert["text"] and "merge_precision" in alert["text"]
    assert "threshold 0.999" in alert["text"] and result.run_id in alert["text"]
    [materialized] = [e for e in result.get_asset_materialization_events()
                      if e.asset_key == dg.AssetKey(["steward", "customer_spot_checks"])]
    meta = materialized.materialization.metadata
    assert meta["judged"].value >= len(merges) and 0 <= meta["precision_low_95"].value <= meta["precision"].value
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    customer = [c for c in checks if c.asset_key == dg.AssetKey(["steward", "customer_spot_checks"])]
    assert customer and not customer[0].passed and "threshold 0.999" in customer[0].description
    assert not result.success           # the blocking gate fails the run
    assert _rows(settings, "select count(*) from entities.customer_spot_check_precision")[0][0] >= 1
    # the gate's evidence names the table the master-data report reads, so its data status shows it
    evidence = _rows(settings, "select asset, success, element_count from kontor.gate_results "
                               "where run_id = ? and rule = 'merge_precision' order by asset", [result.run_id])
    assert evidence == [("entities/contact_spot_check_precision", True, 0),    # shipped entities, none judged
                        ("entities/customer_spot_check_precision", False, meta["judged"].value),
                        ("entities/supplier_spot_check_precision", True, 0)]



@pytest.fixture(scope="module")
def contact_project(tmp_path_factory, demo_data):
    """The demo with one CRM contact written twice at one company (other e-mail, phone and job
    title), and the contact entity's match threshold raised so that the pair lands in review."""
    settings = make_project(tmp_path_factory.mktemp("contact") / "p", with_models=True)
    shutil.copytree(demo_data, settings.data_dir, dirs_exist_ok=True)
    contacts = settings.data_dir / "crm" / "contacts.csv"
    header, first = contacts.read_text(encoding="utf-8").splitlines()[:2]
    row = dict(zip(header.split(","), first.split(",")))
    row.update(contact_id="CON-9999999", email="", phone="0171 5550777", position="Vertrieb",
               modified_at="2026-09-04 08:00:00")
    with contacts.open("a", encoding="utf-8") as f:
        f.write(",".join(row[c] for c in header.split(",")) + "\n")
    spec = settings.project_dir / "models" / "entities" / "contact.yml"
    spec.write_text(spec.read_text(encoding="utf-8") + "\nthresholds: {match_probability: 0.9999}\n", encoding="utf-8")
    assert run_pipeline(settings, ["+group:entities"]).success
    return settings, row


def test_a_steward_sees_the_records_of_an_entity_declared_by_attributes(project):
    """The contact entity has no company columns (name_raw, vat_id, ...): what the steward's CLI
    and review page show of its records comes from its declared attributes (before, both failed
    with a binder error on name_raw)."""
    from pipelines.stewards.stewardship import show

    [(golden_id, n)] = _rows(project, "select golden_id, count(*) from entities.contact_xref "
                                      "group by 1 order by 2 desc, 1 limit 1")
    found = show(project, "contact", golden_id)
    assert found["record_columns"][:3] == ("golden id", "record", "system")
    assert {"first_name", "last_name", "email"} <= set(found["record_columns"])
    assert len(found["records"]) == n and all(len(r) == len(found["record_columns"]) for r in found["records"])
    [golden] = found["golden"]
    assert len(golden) == len(found["golden_columns"]) and golden[0] == golden_id
    first, last = _rows(project, "select first_name, last_name from entities.contact_golden where golden_id = ?",
                        [golden_id])[0]
    row = dict(zip(found["golden_columns"], golden))
    assert (row["first_name"], row["last_name"]) == (first, last)

    cli = subprocess.run([sys.executable, "-m", "pipelines.cli", "steward", "show", golden_id, "--entity", "contact"],
                         env=dict(os.environ, KONTOR_PROJECT_DIR=str(project.project_dir)), capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "first_name" in cli.stdout and str(last) in cli.stdout



def test_the_review_page_shows_a_contact_pair_by_its_attributes(contact_project):
    from pipelines.stewards.review import ReviewApp
    from pipelines.stewards.stewardship import item_with_origins

    settings, row = contact_project
    [pair] = [i for i in queue(settings, "contact", "all") if "crm:CON-9999999" in i["item_id"]]
    assert pair["kind"] == "pair" and pair["status"] == "open"
    item = item_with_origins(settings, "contact", pair["item_id"])
    assert item["noun"] == "contact" and item["attributes"][:2] == ("first_name", "last_name")
    assert sorted(m["source_id"] for m in item["members"]) == sorted([row["contact_id"], "CON-0000001"])
    for m in item["members"]:
        assert (m["first_name"], m["last_name"]) == (row["first_name"], row["last_name"])
        assert m["origin"].startswith("contacts.csv:")        # the extract's file:line
    app = ReviewApp(settings, "http://127.0.0.1:9")
    page = app.item_page("contact", pair["item_id"])
    assert "<th>first_name</th>" in page and "<th>vat_id</th>" not in page
    assert '<tr class="diff"><th>phone</th>' in page and '<tr class="diff"><th>first_name</th>' not in page
    assert "Same contact: merge" in page and "Different contacts: keep apart" in page and "company: merge" not in page
    listed = app.queue_page()
    assert f"{row['first_name']} {row['last_name']} · {row['first_name']} {row['last_name']}" in listed
