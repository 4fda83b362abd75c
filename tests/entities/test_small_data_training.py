"""Training a declared entity on small or degenerate data: EM needs duplicates to learn from, and
without them it drove λ to 0 and m probabilities below what a float holds (Splink refused the
model: 'm_probability value 0.0 is below the minimum allowed value of 1e-300'). The contact
persons of a small CRM look like this: every contact a different person, colleagues sharing the
firm's mailbox, switchboard and account."""
from __future__ import annotations

import random

import duckdb
import pytest

from pipelines.entities import matching
from pipelines.entities.spec import load_entities
from pipelines.entities.standardise import standardise
from pipelines.engines.engine import DuckDBEngine
from tests.conftest import make_project

MODEL = {"stg_contacts": ["id", "first", "last", "mail", "phone", "account", "title"]}
CONTACTS = """entity: person
attributes:
  first_name: {type: person_name, block: true}
  last_name:  {type: person_name, block: true, tf: true}
  email:      {type: email, tf: true}
  phone:      phone
  company:    identifier
  job_title:  text
inputs:
  - {system: crm, model: stg_contacts, id: id,
     columns: {first_name: first, last_name: last, email: mail, phone: phone, company: account, job_title: title}}
"""
FIRST = "Anna Ben Clara David Eva Felix Greta Hans Ida Jan Karl Lena Max Nina Otto Paula Rolf Sara Tim Uwe".split()
LAST = "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Neumann".split()
TITLES = ["Einkauf", "Geschäftsführer", "Buchhaltung", "Vertrieb", "Technik", "Assistenz"]


def contacts(seed: int, companies: int) -> list[tuple]:
    """Contact persons of ``companies`` firms, 1 to 4 each, no person twice."""
    rnd = random.Random(seed)
    out = []
    for c in range(companies):
        domain = f"firma{c}.de"
        for _ in range(1 + (rnd.random() < .55) + (rnd.random() < .25) + (rnd.random() < .08)):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            mail = f"{first.lower()}.{last.lower()}@{domain}" if rnd.random() < .6 else \
                (f"info@{domain}" if rnd.random() < .7 else None)
            phone = f"0{900 + c} {1000 + c}-{rnd.randint(10, 49)}" if rnd.random() < .85 else None
            out.append((f"C{len(out) + 1:05d}", first, last, mail, phone, f"A{c}", rnd.choice(TITLES)))
    return out


def _spec(tmp_path, text: str = CONTACTS):
    settings = make_project(tmp_path / "p")
    (settings.project_dir / "models" / "entities").mkdir(parents=True)
    (settings.project_dir / "models" / "entities" / "person.yml").write_text(text)
    project = load_entities(settings, MODEL)
    assert project.problems == []
    return project.entities["person"]


def _warehouse(rows: list[tuple], spec) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table contacts (id varchar, first varchar, last varchar, mail varchar, phone varchar, "
                "account varchar, title varchar)")
    if rows:
        con.executemany("insert into contacts values (?, ?, ?, ?, ?, ?, ?)", rows)
    standardise(con, spec, {"stg_contacts": "contacts"})
    return con


# each of these failed before: seed 1 and 3 with m = 0.0, seed 2 with m = 2.08e-321
@pytest.mark.parametrize("seed,companies", [(1, 60), (2, 100), (3, 150)])
def test_em_on_data_without_duplicates_trains_a_usable_model(tmp_path, seed, companies):
    spec = _spec(tmp_path)
    con = _warehouse(contacts(seed, companies), spec)
    model, log = matching.train(con, spec, DuckDBEngine(con).splink())
    # what EM could not estimate, or estimated against the type, came from the type's priors
    assert log["priors"], log
    for comparison in model["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        assert all(lvl["m_probability"] >= matching.M_FLOOR for lvl in levels), comparison
        # agreement is evidence of a match, as the type says (a level random pairs never reached has
        # no u: Splink's default)
        assert levels[0]["m_probability"] > levels[0].get("u_probability", 0), comparison
    # the model scores, and no two of these different people are merged
    matching.predict(con, spec, model, DuckDBEngine(con).splink())
    merged = con.execute("select count(*) from entities.person_pairs where match_probability >= ?",
                         [spec.thresholds["match_probability"]]).fetchall()[0][0]
    assert merged == 0


def test_blocks_with_too_few_pairs_are_not_used_for_em(tmp_path):
    spec = _spec(tmp_path)
    con = _warehouse(contacts(4, 12), spec)
    model, log = matching.train(con, spec, DuckDBEngine(con).splink())
    assert [s.get("skipped", "").endswith(f"fewer than {matching.MIN_EM_PAIRS}") for s in log["sessions"]] == [True, True]
    priors = spec.declared[0].kind.priors(spec.declared[0])
    first_name = next(c for c in model["comparisons"] if c["output_column_name"] == "first_name")
    assert [lvl["m_probability"] for lvl in first_name["comparison_levels"][1:]] == list(priors.values())


@pytest.mark.parametrize("rows", [[], [("C1", "Anna", "Koch", None, None, "A1", None)],
                                  [("C1", "Anna", "Koch", "a@x.de", None, "A1", None),
                                   ("C2", "Anna", "Koch", "a@x.de", None, "A1", None)]])
def test_no_record_one_record_one_pair_train_from_the_priors(tmp_path, rows):
    spec = _spec(tmp_path)
    con = _warehouse(rows, spec)
    model, log = matching.train(con, spec, DuckDBEngine(con).splink())
    assert len(log["priors"]) == len(spec.declared), log
    assert matching.predict(con, spec, model, DuckDBEngine(con).splink()) <= 1


def test_a_model_that_cannot_be_trained_names_the_file_and_the_fix(tmp_path):
    """Splink failing on a comparison written in its vocabulary: the entity file and what to change,
    never a Splink traceback."""
    written = CONTACTS.replace("inputs:", """splink:
  link_type: dedupe_only
  comparisons:
    - comparison_levels:
        - {sql_condition: "last_name_key_l IS NULL OR last_name_key_r IS NULL", is_null_level: true}
        - {sql_condition: "cast(last_name_key_l as integer) = cast(last_name_key_r as integer)"}
        - {sql_condition: ELSE}
  blocking_rules_to_generate_predictions: ["l.first_name_key = r.first_name_key"]
inputs:""")
    spec = _spec(tmp_path, written)
    con = _warehouse(contacts(1, 60), spec)
    with pytest.raises(matching.TrainingError, match=r"^models/entities/person.yml: training the person model failed: "
                                                     r".*; fix: check the comparison levels and blocking rules of 'splink:'"):
        matching.train(con, spec, DuckDBEngine(con).splink())


def _two_system_project(root, hr_rows: list[tuple], crm_rows: list[tuple]):
    """A project with two systems of persons (CSV sources, a staging model each) and ``person.yml``
    declared by types."""
    columns = ("id", "first", "last", "mail", "phone", "account", "title")
    tables = "\n".join(f"""      - name: {system}
        location: people/{system}.csv
        primary_key: id
        columns:
""" + "\n".join(f"          - {{name: {c}, data_type: varchar}}" for c in columns) for system in ("hr", "crm"))
    settings = make_project(root, sources_yml=f"""version: 2
sources:
  - name: people
    format: {{type: csv, delimiter: ",", encoding: utf-8}}
    tables:
{tables}
""")
    (settings.data_dir / "people").mkdir(parents=True)
    (root / "models" / "staging").mkdir(parents=True)
    (root / "models" / "entities").mkdir(parents=True)
    import csv

    for system, rows in (("hr", hr_rows), ("crm", crm_rows)):
        with open(settings.data_dir / "people" / f"{system}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([columns, *rows])
        (root / "models" / "staging" / f"stg_people__{system}.sql").write_text(
            f"select {', '.join(columns)} from {{{{ source('people', '{system}') }}}}\n")
    entity = CONTACTS.split("inputs:")[0] + "inputs:\n" + "".join(
        f"  - {{system: {system}, model: stg_people__{system}, id: id, columns: {{first_name: first, last_name: last, "
        f"email: mail, phone: phone, company: account, job_title: title}}}}\n" for system in ("hr", "crm"))
    (root / "models" / "entities" / "person.yml").write_text(entity)
    return settings


def test_a_declared_entity_proposes_only_real_changes_and_queues_its_own_attributes(tmp_path):
    """Sync proposals compare standardised values ('MÜLLER' is 'Müller', '0941/123-10' is
    '+49 941 123-10'; a typo is a change), and the review queue's Markdown shows the entity's own
    attributes, not the company schema's."""
    import dagster as dg

    from pipelines.run import instance_for, run_pipeline

    people = contacts(5, 150)
    crm = [(f"X{n}", *row[1:]) for n, row in enumerate(people[:60])]
    crm[0] = ("X0", people[0][1], people[0][2].upper(), people[0][3], people[0][4], people[0][5], people[0][6])
    crm[1] = ("X1", people[1][1], people[1][2], people[1][3], "+49 " + people[1][4][1:] if people[1][4] else None,
              people[1][5], people[1][6])
    crm[2] = ("X2", people[2][1], people[2][2][:-1] + "x", None, None, people[2][5], None)     # uncertain: review
    settings = _two_system_project(tmp_path / "p", people, crm)
    outcome = run_pipeline(settings, ["+group:entities"])
    assert outcome.success, outcome.failures
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        same = con.execute("select count(*) from entities.person_golden where member_count = 2").fetchall()[0][0]
        proposals = con.execute("select system, source_id, attribute, current_value, proposed_value "
                                "from entities.person_sync_proposals").fetchall()
    finally:
        con.close()
    assert same >= 55, same         # the CRM's copies found their HR record
    # an upper-case surname or a phone with the country code is the same value: nothing to propose
    assert not [p for p in proposals if p[1] in ("X0", "X1", people[0][0], people[1][0])], proposals
    assert all(str(p[3] or "").lower() != str(p[4]).lower() for p in proposals), proposals
    instance = instance_for(settings)
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey(["entities", "person_review_queue"]))
        queue = event.asset_materialization.metadata["queue"].value
    finally:
        instance.dispose()
    assert "| last_name |" in queue and "| job_title |" in queue and "| vat_id |" not in queue, queue
