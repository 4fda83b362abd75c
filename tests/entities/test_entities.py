"""Entity resolution end to end on the demo data: accuracy against ground truth, stable golden
ids across changed inputs, explainability artefacts, bad entity files."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.check import check_project
from pipelines.run import instance_for, run_pipeline
from tests.conftest import REPO, make_project

UPSTREAM_OF_ENTITIES = ["+group:entities"]


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory):
    """The shipped project on the README's demo data (scale 1, seed 42), entities resolved once and
    evaluated against the demo's ground truth."""
    from pipelines.demo import generate

    root = tmp_path_factory.mktemp("entities")
    settings = make_project(root / "project", with_models=True)
    generate(settings.data_dir, scale=1, seed=42)
    outcome = run_pipeline(settings, UPSTREAM_OF_ENTITIES, evaluate=True)     # kontor run --evaluate
    assert outcome.success, outcome.failures
    return settings


def _golden_metadata(settings, entity: str) -> dict:
    instance = instance_for(settings)
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey(["entities", f"{entity}_golden"]))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}
    finally:
        instance.dispose()


@pytest.mark.parametrize("entity", ["customer", "supplier"])
def test_accuracy_against_ground_truth(demo_project, entity):
    meta = _golden_metadata(demo_project, entity)
    truth = meta["ground_truth"]
    assert truth["f1"] >= 0.99, truth
    assert truth["precision"] >= 0.97 and truth["recall"] >= 0.97, truth
    assert truth["hard_negatives"] > 0 and truth["hard_negatives_merged"] == 0, truth
    # the review queue's worth is in the metadata too: its size and the share that needs a human
    assert truth["review_items_per_1000_records"] > 0 and truth["review_precision"] >= 0.9, truth
    assert meta["review_precision"] == truth["review_precision"]
    # golden values equal to the true ones: all compared values, and those where some system holds
    # the true value (see evaluate.py)
    assert truth["golden_values_equal"] >= 0.97, truth
    assert truth["golden_values_equal_where_reachable"] >= 0.97, truth


def test_a_move_wins_over_the_stale_address(demo_project):
    """Two systems with different addresses (not spellings): the newer record's address wins
    (``latest_change``), and the conflict says so."""
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        rows = con.execute("""
            select golden_id, max(updated_at) filter (where won or reason = 'same value as the winner'),
                   max(updated_at) filter (where reason = 'latest_change' and not won)
            from entities.supplier_conflicts where attribute = 'address'
            group by 1 having bool_or(won and reason = 'latest_change')""").fetchall()
    finally:
        con.close()
    assert len(rows) >= 5, rows
    assert all(winner > loser for _, winner, loser in rows), rows


def test_golden_records_explain_themselves(demo_project):
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        # every source record is in exactly one cluster: nothing dropped
        assert con.execute("select count(*), count(distinct unique_id) from entities.customer_xref").fetchall() == \
               con.execute("select count(*), count(*) from entities.customer_standardised").fetchall()
        # a conflict names each candidate with its system, and exactly one winner per decided attribute
        bad = con.execute("""select golden_id, attribute from entities.customer_conflicts
                             group by 1, 2 having count(*) filter (where won) > 1""").fetchall()
        assert bad == []
        reasons = {r[0] for r in con.execute("select distinct reason from entities.customer_conflicts where not won").fetchall()}
        assert reasons & {"most_frequent", "source_priority", "common_spelling", "well_formed"}, reasons
        # a critical attribute in disagreement has no golden value and is in the review queue
        in_review = con.execute("""select g.golden_id, g.iban from entities.customer_golden g
                                   where list_contains(attributes_in_review, 'iban')""").fetchall()
        assert in_review and all(iban is None for _, iban in in_review)
        queued = {r[0] for r in con.execute("select item_id from entities.customer_review_queue").fetchall()}
        assert all(f"cluster:{gid}:iban" in queued for gid, _ in in_review)
        # invalid IBANs are flagged and kept, never silently dropped
        invalid = con.execute("select count(*) from entities.customer_standardised where iban_valid = false and iban is not null").fetchall()[0][0]
        assert invalid > 0
        # sync proposals never propose a value in review, and IBAN changes need sign-off
        assert con.execute("""select count(*) from entities.customer_sync_proposals p join entities.customer_golden g using (golden_id)
                              where list_contains(g.attributes_in_review, p.attribute)""").fetchall()[0][0] == 0
        assert con.execute("select bool_and(requires_signoff) from entities.customer_sync_proposals where attribute = 'iban'").fetchall()[0][0]
    finally:
        con.close()
    for system in ("crm", "erp", "accounting"):
        rows = list(csv.DictReader(open(demo_project.target_dir / "sync" / "customer" / f"{system}.csv", encoding="utf-8")))
        assert rows and {"source_id", "attribute", "current_value", "proposed_value", "golden_id"} <= set(rows[0])
    html = demo_project.target_dir / "splink" / "customer"
    for name in ("match_weights", "waterfall", "comparison_viewer", "cluster_studio"):
        text = (html / f"{name}.html").read_text(encoding="utf-8")
        assert len(text) > 10_000
        # opened offline and without telling Google: no external scripts, styles or fonts
        assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", text), name
    assert (html / "model_v1.json").is_file()
    # the cluster studio draws the resolved clusters (golden ids, their sizes), one of each size, and
    # the pairs scoring kept for it are gone once it is written
    shown = json.loads(re.search(r"named_clusters = (\{.*?\});", (html / "cluster_studio.html").read_text(encoding="utf-8")).group(1))
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        sizes = dict(con.execute("select golden_id, count(*) from entities.customer_clusters group by 1 having count(*) > 1").fetchall())
        kept = con.execute("select count(*) from duckdb_tables() where table_name like '%studio%' "
                           "or schema_name like '%studio%'").fetchall()[0][0]
    finally:
        con.close()
    assert shown and all(name == f"Cluster ID: {gid}, size:  {sizes[gid]}" for gid, name in shown.items()), shown
    assert len({sizes[gid] for gid in shown}) == len(shown) == min(20, len(set(sizes.values())))
    assert kept == 0


def test_model_is_retrained_only_when_needed(demo_project):
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        before = con.execute("select entity, max(version) from entities._models group by 1 order by 1").fetchall()
    finally:
        con.close()
    outcome = run_pipeline(demo_project, ["group:entities"])
    assert outcome.success, outcome.failures
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        after = con.execute("select entity, max(version) from entities._models group by 1 order by 1").fetchall()
        log = json.loads(con.execute("select training_log from entities._models where entity = 'customer' and version = 1").fetchall()[0][0])
    finally:
        con.close()
    assert after == before          # same input, same settings: no retraining
    # a run not asked to evaluate leaves the ground truth alone and says how to ask
    assert _golden_metadata(demo_project, "customer")["ground_truth"] == "not evaluated (kontor run --evaluate)"
    assert log["u_sampling"]["max_pairs"] > 0 and log["sessions"] and 0 < log["probability_two_random_records_match"] < 1
    # asked to retrain: a new version, with the reason
    assert run_pipeline(demo_project, ["key:entities/supplier_model"], retrain=True).success
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        version, reason = con.execute("select version, reason from entities._models where entity = 'supplier' "
                                      "order by version desc limit 1").fetchall()[0]
    finally:
        con.close()
    assert version == dict(before)["supplier"] + 1 and reason == "retraining requested"


def test_drift_is_noticed():
    from pipelines.entities.matching import drift

    limits = {"records_change": 0.25, "null_share_change": 0.10}
    trained = {"crm": {"records": 1000, "vat_key": 0.3}, "erp": {"records": 900, "vat_key": 0.1}}
    assert drift(trained, {"crm": {"records": 1100, "vat_key": 0.32}, "erp": {"records": 880, "vat_key": 0.12}}, limits) is None
    assert "records 1000 -> 1400" in drift(trained, {**trained, "crm": {"records": 1400, "vat_key": 0.3}}, limits)
    assert "empty vat_key 10% -> 60%" in drift(trained, {**trained, "erp": {"records": 900, "vat_key": 0.6}}, limits)
    assert "appeared" in drift(trained, {**trained, "accounting": {"records": 5, "vat_key": 0.0}}, limits)


def _rewrite_crm(data_dir: Path, changes: dict[str, dict[str, str]], new_rows: list[dict[str, str]]) -> None:
    """A second CRM extract: some accounts changed, some new (the newest delivery wins in staging)."""
    with open(data_dir / "crm" / "accounts.csv", encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [r for r in reader if r["account_id"] in changes]
    for row in rows:
        row.update(changes[row["account_id"]])
        row["modified_at"] = "2026-11-01 08:00:00"
    with open(data_dir / "crm" / "accounts_update.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows + new_rows)


def test_golden_ids_survive_changed_inputs(tmp_path, demo_data):
    settings = make_project(tmp_path / "p", with_models=True)
    shutil.copytree(demo_data, settings.data_dir, dirs_exist_ok=True)
    assert run_pipeline(settings, UPSTREAM_OF_ENTITIES).success
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        before = dict(con.execute("select unique_id, golden_id from entities.customer_xref").fetchall())
        sizes = dict(con.execute("select golden_id, count(*) from entities.customer_xref group by 1").fetchall())
        # a CRM account whose cluster has other members: its address changes (the company moved)
        moved = con.execute("""select x.source_id from entities.customer_xref x
                               where x.system = 'crm' and x.golden_id in (select golden_id from entities.customer_xref
                                                                           group by 1 having count(*) = 3)
                               order by 1 limit 1""").fetchall()[0][0]
    finally:
        con.close()
    template = {"account_id": "", "account_name": "", "street": "Neuer Weg 1", "postal_code": "93047", "city": "Regensburg",
                "country": "DE", "vat_id": "", "email": "", "phone": "", "industry": "", "account_type": "customer",
                "created_at": "2026-11-01", "modified_at": "2026-11-01 08:00:00"}
    _rewrite_crm(settings.data_dir, {moved: {"street": "Am Anger 99", "postal_code": "01067", "city": "Dresden"}},
                 [{**template, "account_id": "CRM-9000001", "account_name": "Brandneu Robotik GmbH"},
                  {**template, "account_id": "CRM-9000002", "account_name": "-"}])   # no usable name
    assert run_pipeline(settings, UPSTREAM_OF_ENTITIES).success
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        after = dict(con.execute("select unique_id, golden_id from entities.customer_xref").fetchall())
        history = con.execute("select golden_id, event, related_id from entities.customer_id_history "
                              "where run_id = (select max_by(run_id, recorded_at) from entities.customer_id_history)").fetchall()
        nameless = con.execute("""select g.member_count, q.reason from entities.customer_xref x
                                  join entities.customer_golden g using (golden_id)
                                  join entities.customer_review_queue q on q.item_id = 'record:' || x.unique_id
                                  where x.unique_id = 'crm:CRM-9000002'""").fetchall()
    finally:
        con.close()
    # every record that was there keeps its golden id: clusters continued (the moved account's
    # cluster keeps its id through its two other members even if the move split it off)
    survivors = [uid for uid in before if uid != f"crm:{moved}"]
    kept = sum(after[uid] == before[uid] for uid in survivors)
    assert kept == len(survivors), f"{len(survivors) - kept} records changed golden id"
    assert sizes[before[f"crm:{moved}"]] == 3
    # new records got new ids, recorded in the history
    new_ids = {after["crm:CRM-9000001"], after["crm:CRM-9000002"]}
    assert not new_ids & set(before.values())
    assert {(gid, "created") for gid in new_ids} <= {(g, e) for g, e, _ in history}
    # the record without a usable name is kept as its own golden record and listed for review
    assert nameless and nameless[0][0] == 1 and "no usable name" in nameless[0][1]


BAD_ENTITY_CASES = [   # (text in customer.yml, replacement, expected message, word on the line named)
    ("    columns: {name: name, street: street,", "    columns: {name: name, street: strasse,",
     r"unknown column 'strasse' of model 'stg_crm__accounts'", "strasse"),
    ("    - output_column_name: legal_form\n      comparison_levels:",
     "    - comparison: JaroWinklerAtThreshold\n      col_name: legal_form\n    - output_column_name: legal_form\n      comparison_levels:",
     r"unknown comparison 'JaroWinklerAtThreshold'.*did you mean 'JaroWinklerAtThresholds'", "JaroWinklerAtThreshold"),
    ("  match_probability: 0.8\n", "  match_probability: 1.8\n", r"match_probability 1\.8 is out of range", "1.8"),
    ("    - l.vat_key = r.vat_key\n", "    - l.vat_nr = r.vat_nr\n", r"blocking rule: unknown column 'vat_nr'", "vat_nr"),
    ("    email: [source_priority, most_recent]", "    email: [source_priority, newest]",
     r"unknown survivorship rule 'newest'", "newest"),
]


@pytest.mark.parametrize("old,new,expected,word", BAD_ENTITY_CASES)
def test_check_reports_bad_entity_files(tmp_path, old, new, expected, word):
    settings = make_project(tmp_path / "p", with_models=True)
    path = settings.project_dir / "models" / "entities" / "customer.yml"
    text = (REPO / "models" / "entities" / "customer.yml").read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems, _ = check_project(settings)
    found = [p for p in problems if re.search(expected, p.message)]
    assert found, [str(p) for p in problems]
    assert found[0].file == "models/entities/customer.yml"
    assert word in path.read_text(encoding="utf-8").splitlines()[found[0].line - 1]


def test_models_can_ref_entity_tables(tmp_path):
    """A mart joins golden ids with ref('customer_xref'): compiled, checked and wired in the graph."""
    from pipelines.definitions import build_definitions

    settings = make_project(tmp_path / "p", with_models=True)
    (settings.project_dir / "models" / "marts" / "revenue_by_golden_customer.sql").write_text(
        "select x.golden_id, g.display_name, sum(i.net_amount) as net_revenue\n"
        "from {{ ref('fct_invoices') }} i\n"
        "join {{ ref('customer_xref') }} x on x.system = i.customer_system and x.source_id = i.customer_source_id\n"
        "join {{ ref('customer_golden') }} g on g.golden_id = x.golden_id\n"
        "group by all\n", encoding="utf-8")
    problems, _ = check_project(settings)
    assert problems == []
    graph = build_definitions(settings).resolve_asset_graph()
    deps = graph.get(dg.AssetKey(["marts", "revenue_by_golden_customer"])).parent_keys
    assert {dg.AssetKey(["entities", "customer_xref"]), dg.AssetKey(["entities", "customer_golden"])} <= deps
    (settings.project_dir / "models" / "marts" / "customer_xref.sql").write_text("select 1 as x\n", encoding="utf-8")
    problems, _ = check_project(settings)
    assert any("also a table of the entity stage" in p.message for p in problems)


def test_contacts_are_persons_linked_to_their_golden_company(demo_project):
    """``contact.yml`` declares its attributes by type (no Splink block): every CRM contact is
    linked to the golden customer of its account, and contacts sharing the firm's mailbox or
    switchboard are not merged into one person (the demo's contacts are all different people)."""
    con = duckdb.connect(str(demo_project.warehouse_path), read_only=True)
    try:
        linked = con.execute("""
            select count(*), count(*) filter (where s.company = x.golden_id), count(*) filter (where s.company is null)
            from entities.contact_standardised s join staging.stg_crm__contacts c on c.contact_id = s.source_id
            left join entities.customer_xref x on x.system = 'crm' and x.source_id = c.account_id""").fetchall()[0]
        shared_mailbox = con.execute("""select count(*) from (select email from entities.contact_standardised
                                        where email is not null group by 1 having count(*) > 1)""").fetchall()[0][0]
        merged = con.execute("select count(*) filter (where member_count > 1), count(*) from entities.contact_golden").fetchall()[0]
        golden_company = con.execute("""select count(*) from entities.contact_golden g
                                        join entities.customer_golden c on c.golden_id = g.company""").fetchall()[0][0]
    finally:
        con.close()
    total, same, missing = linked
    assert total > 100 and same == total and missing == 0, linked
    assert shared_mailbox > 10            # the hard case is there
    assert merged[0] == 0 and merged[1] == total, merged
    assert golden_company == total
