"""The shipped ``contact`` entity takes persons from more than the CRM: a system that names a contact
person of its customers (an ERP's Ansprechpartner) is one more input, its persons linked to their
golden company through that system's own customer ids, and the same person in both systems becomes
one golden contact, while a namesake at another company stays apart."""
from __future__ import annotations

import duckdb
import yaml

from pipelines.entities import golden, matching
from pipelines.entities.spec import load_entities
from pipelines.entities.standardise import standardise
from pipelines.engines.engine import DuckDBEngine
from tests.conftest import REPO, make_project
from tests.entities.test_small_data_training import contacts

ERP_INPUT = {"system": "erp", "model": "stg_erp__contacts", "id": "contact_no",
             "columns": {"first_name": "vorname", "last_name": "nachname", "phone": "telefon", "company": "customer_no"}}


def _spec(tmp_path):
    settings = make_project(tmp_path / "p")
    folder = settings.project_dir / "models" / "entities"
    folder.mkdir(parents=True)
    for name in ("_reference.yml", "customer.yml"):
        (folder / name).write_text((REPO / "models" / "entities" / name).read_text(encoding="utf-8"), encoding="utf-8")
    doc = yaml.safe_load((REPO / "models" / "entities" / "contact.yml").read_text(encoding="utf-8"))
    assert [i["system"] for i in doc["inputs"]] == ["crm"]        # shipped: the CRM's contact persons
    doc["inputs"].append(ERP_INPUT)
    (folder / "contact.yml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    models = {m: None for m in ("stg_crm__accounts", "stg_erp__customers", "stg_accounting__debitoren")}
    models.update({"stg_crm__contacts": ["contact_id", "account_id", "first_name", "last_name", "email", "phone",
                                         "job_title", "updated_at"],
                   "stg_erp__contacts": ["contact_no", "customer_no", "vorname", "nachname", "telefon"]})
    project = load_entities(settings, models)
    assert project.problems == [], [str(p) for p in project.problems]
    return project.entities["contact"]


def test_persons_of_another_system_join_the_crm_contact_of_their_golden_company(tmp_path):
    spec = _spec(tmp_path)
    con = duckdb.connect()
    con.execute("create schema entities")
    # the customer entity's result: CRM account A0 and ERP customer 100001 are one golden company
    crm = contacts(1, 60)
    con.execute("create table entities.customer_xref (system varchar, source_id varchar, golden_id varchar)")
    con.executemany("insert into entities.customer_xref values (?, ?, ?)",
                    [("crm", f"A{c}", f"C-{c}") for c in range(60)] + [("erp", "100001", "C-0"), ("erp", "100002", "C-1")])
    con.execute("create table crm (contact_id varchar, first_name varchar, last_name varchar, email varchar, phone varchar, "
                "account_id varchar, job_title varchar, updated_at varchar)")
    con.executemany("insert into crm values (?, ?, ?, ?, ?, ?, ?, '2026-01-05')", crm)
    person = next(r for r in crm if r[5] == "A0" and r[4])             # a CRM contact of company C-0 with a phone
    namesakes = [r for r in crm if r[1:3] == person[1:3] and r[5] != "A0"]
    con.execute("create table erp (contact_no varchar, customer_no varchar, vorname varchar, nachname varchar, telefon varchar)")
    con.executemany("insert into erp values (?, ?, ?, ?, ?)", [
        ("E1", "100001", person[1].upper(), person[2], person[4].replace(" ", "/")),   # the same person, as the ERP writes her
        ("E2", "100002", person[1], person[2], None),                                  # a namesake at company C-1
        # the same person with a typo in the surname: compared through the phone, as names alone block
        ("E3", "100001", person[1], person[2][:2] + "e" + person[2][2:], person[4]),
        # the same person with a typo in the surname and no phone: compared through the given name
        # and the company (types.default_splink: a name part with the narrowest place)
        ("E5", "100001", person[1], person[2] + person[2][-1], None),
        # her relative at the same firm and phone, another given name: another person
        ("E4", "100001", "Ottokar" if person[1] != "Ottokar" else "Wendelin", person[2], person[4])])
    assert standardise(con, spec, {"stg_crm__contacts": "crm", "stg_erp__contacts": "erp"}) == len(crm) + 5
    companies = dict(con.execute("select unique_id, company from entities.contact_standardised "
                                 "where source_system = 'erp'").fetchall())
    assert companies == {"erp:E1": "C-0", "erp:E2": "C-1", "erp:E3": "C-0", "erp:E4": "C-0", "erp:E5": "C-0"}    # each linked to its golden company

    splink = DuckDBEngine(con).splink()
    model, _ = matching.train(con, spec, splink)
    matching.predict(con, spec, model, splink)
    golden.resolve(con, spec, matching.connected_components(con, spec, splink), "test")
    of = dict(con.execute("select unique_id, golden_id from entities.contact_xref").fetchall())
    assert of["erp:E1"] == of[f"crm:{person[0]}"]
    assert of["erp:E2"] != of["erp:E1"] and all(of[f"crm:{n[0]}"] != of["erp:E1"] for n in namesakes)
    assert of["erp:E3"] == of["erp:E1"] == of["erp:E5"]
    row = con.execute("select company, member_count, systems from entities.contact_golden where golden_id = ?",
                      [of["erp:E1"]]).fetchall()
    assert row == [("C-0", 4, ["crm", "erp"])]
    assert of["erp:E4"] != of["erp:E1"]
