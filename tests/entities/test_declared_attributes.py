"""Entity files that declare their attributes (``attributes:``): defaults from the types, and
bad declarations reported as ``file:line`` with a did-you-mean."""
from __future__ import annotations

import shutil

import duckdb

from pipelines.entities.spec import load_entities
from pipelines.entities.standardise import standardise
from tests.conftest import REPO, make_project

MODEL = {"stg_people": ["id", "first", "last", "born", "iban", "mail", "city", "changed"]}
GOOD = """entity: person
attributes:
  given_name: {type: person_name, block: true}
  surname:    {type: person_name, block: true, tf: true}
  born:       {type: date, formats: ['%d.%m.%Y'], block: true}
  iban:       {type: iban, critical: true}
  email:      email
  city:       city
inputs:
  - {system: hr, model: stg_people, id: id,
     columns: {given_name: first, surname: last, born: born, iban: iban, email: mail, city: city, updated_at: changed}}
"""


def _load(tmp_path, text: str):
    settings = make_project(tmp_path / "p")
    (settings.project_dir / "models" / "entities").mkdir(parents=True)
    (settings.project_dir / "models" / "entities" / "person.yml").write_text(text)
    return load_entities(settings, MODEL)


def test_defaults_come_from_the_types(tmp_path):
    project = _load(tmp_path, GOOD)
    assert project.problems == []
    spec = project.entities["person"]
    assert spec.splink["link_type"] == "dedupe_only"              # one input
    rules = [r["blocking_rule"] for r in spec.splink["blocking_rules_to_generate_predictions"]]
    assert "l.given_name_key = r.given_name_key AND l.surname_key = r.surname_key" in rules
    assert "l.given_name_key = r.surname_key AND l.surname_key = r.given_name_key" in rules      # swapped names
    assert "l.iban_key = r.iban_key" in rules                     # a critical identifier blocks alone
    assert not any(r == "l.surname_key = r.surname_key" for r in rules)    # no block on one common value
    # each name part with the narrowest place (here the city): a typo in the other name part, and
    # neither birthday nor e-mail, is still compared
    assert "l.given_name_key = r.given_name_key AND l.city_key = r.city_key" in rules
    assert "l.surname_key = r.surname_key AND l.city_key = r.city_key" in rules
    assert not any("born_key" in r and "city_key" in r for r in rules)
    assert [c["output_column_name"] for c in spec.splink["comparisons"]] == \
        ["given_name", "surname", "born", "iban", "email", "city"]
    surname = spec.splink["comparisons"][1]["comparison_levels"]
    assert surname[1].get("tf_adjustment_column") == "surname_key"
    assert "l.iban_key = r.iban_key" in spec.training["deterministic_rules"]
    assert spec.training["em_blocking_rules"] == ["l.given_name_key = r.given_name_key",
                                                  "l.surname_key = r.surname_key", "l.born_key = r.born_key"]
    assert spec.critical == ("iban",)
    assert {a.name for a in spec.attributes} == {"given_name", "surname", "born", "iban", "email", "city"}
    assert "name_key" not in spec.columns and "born_valid" in spec.columns and "iban_valid" in spec.columns


def test_standardiser_from_the_types(tmp_path):
    spec = _load(tmp_path, GOOD).entities["person"]
    con = duckdb.connect()
    con.execute("""create table people as select * from (values
        ('1', ' Jürgen ', 'MÜLLER', '03.02.1971', 'DE89 3704 0044 0532 0130 00', 'J.Mueller@Example.org', 'München', '2024-01-02'),
        ('2', 'jurgen', 'Mueller', '31.02.1971', 'DE89 3704 0044 0532 0130 01', 'not an address', null, null))
        t(id, first, last, born, iban, mail, city, changed)""")
    assert standardise(con, spec, {"stg_people": "people"}) == 2
    rows = con.execute("""select given_name, given_name_key, surname_key, born_key, born_valid, iban_key, iban_valid,
                                 email_key, email_valid, city_key, updated_at is not null
                          from entities.person_standardised order by source_id""").fetchall()
    assert rows[0] == ("Jürgen", "juergen", "mueller", "19710203", True, "DE89370400440532013000", True,
                       "j.mueller@example.org", True, "muenchen", True)
    # an impossible date and a bad IBAN are kept and flagged, never dropped; only the IBAN loses its key
    assert rows[1] == ("jurgen", "jurgen", "mueller", "31021971", False, None, False, "not an address", False, None, False)


def test_bad_declarations_name_file_line_and_fix(tmp_path):
    text = GOOD.replace("{type: date, formats: ['%d.%m.%Y'], block: true}", "{type: datum, block: true}") \
               .replace("email:      email", "email:      {type: email, critcal: true}") \
               .replace("given_name: first,", "given_nam: first,")
    problems = [str(p) for p in _load(tmp_path, text).problems]
    assert any(p.startswith("models/entities/person.yml:5:") and "unknown type 'datum'" in p and "'date'" in p
               for p in problems), problems
    assert any(p.startswith("models/entities/person.yml:7:") and "'critcal'" in p and "'critical'" in p
               for p in problems), problems
    assert any("unknown attribute 'given_nam'" in p and "'given_name'" in p for p in problems), problems


def test_written_splink_block_is_checked_against_declared_columns(tmp_path):
    text = GOOD + """splink:
  link_type: dedupe_only
  comparisons:
    - comparison: ExactMatch
      col_name: name_key
  blocking_rules_to_generate_predictions: [l.surname_key = r.surname_key]
"""
    problems = [str(p) for p in _load(tmp_path, text).problems]
    assert any(":16:" in p and "unknown column 'name_key'" in p for p in problems), problems


def test_distinct_brings_the_types_different_rule(tmp_path):
    text = GOOD.replace("{type: date, formats: ['%d.%m.%Y'], block: true}",
                        "{type: date, formats: ['%d.%m.%Y'], block: true, distinct: true}")
    spec = _load(tmp_path / "a", text).entities["person"]
    # and, as the entity names persons: two mailboxes with nothing else of one person in common
    # keep two records apart; as it places them too, a match on nothing but their names and
    # birthday joins nothing by itself (types.type_rules)
    assert [(r.name, r.scope) for r in spec.distinct_when] == [
        ("different born", "cluster"), ("different email and no iban or born in common", "cluster"),
        ("different city and no iban or email in common", "match")]
    # more than a typo apart,
    # the day before or after, or day and month read the other way round
    sql = spec.distinct_when[0].sql.lower()
    assert sql.startswith("(born_valid_l and born_valid_r and damerau_levenshtein(born_key_l, born_key_r) > 1 and not "
                          "(substr(born_key_l, 1, 4)") and "date_diff('day'" in sql, sql
    # a city has no such rule: two spellings of a city are no evidence of two persons
    problems = [str(p) for p in _load(tmp_path / "b", GOOD.replace("city:       city",
                                                                   "city:       {type: city, distinct: true}")).problems]
    assert any(p.startswith("models/entities/person.yml:8:") and "has no rule" in p for p in problems), problems


def test_steward_decisions_know_the_declared_attributes(tmp_path):
    """choose_value names a declared attribute; an attribute of type iban needs four eyes; merge
    works without the company schema's VAT column."""
    import pytest

    from pipelines.entities.decisions import DecisionError, prepare

    spec = _load(tmp_path, GOOD).entities["person"]
    con = duckdb.connect()
    con.execute("""create table people as select * from (values
        ('1', 'Anna', 'Huber', '03.02.1971', null, null, null, null),
        ('2', 'Anna', 'Hueber', '03.02.1971', null, null, null, null)) t(id, first, last, born, iban, mail, city, changed)""")
    standardise(con, spec, {"stg_people": "people"})
    con.execute("create table entities.person_clusters as select 'P-1' as golden_id, unique_id from entities.person_standardised")
    ask = {"steward": "eva", "target_ids": ["P-1"]}
    chosen = prepare(con, spec, {**ask, "action": "choose_value", "attribute": "surname", "value": "Huber"}, [])
    assert (chosen["attribute"], chosen["status"]) == ("surname", "active")
    assert prepare(con, spec, {**ask, "action": "choose_value", "attribute": "iban", "value": "DE89370400440532013000"},
                   [])["status"] == "pending"
    with pytest.raises(DecisionError, match="one of given_name, surname"):
        prepare(con, spec, {**ask, "action": "choose_value", "attribute": "name", "value": "x"}, [])
    merged = prepare(con, spec, {"steward": "eva", "action": "merge", "target_ids": ["hr:1", "hr:2"]}, [])
    assert merged["status"] == "active"


def test_register_numbers_keep_two_legal_entities_apart(tmp_path):
    """A GmbH and its GmbH & Co. KG share name, address and phone, never their HRB: the register
    number type reads it wherever the court is written, and with ``distinct: true`` two different
    valid ones keep the records apart (and its comparison weighs them by a fixed m)."""
    from pipelines.entities.matching import distinct_sql

    model = {"stg_firms": ["id", "name", "reg"]}
    text = """entity: firm
attributes:
  name: {type: company_name, block: true}
  register: {type: register_number, distinct: true}
inputs:
  - {system: erp, model: stg_firms, id: id, columns: {name: name, register: reg}}
"""
    settings = make_project(tmp_path / "p")
    (settings.project_dir / "models" / "entities").mkdir(parents=True)
    (settings.project_dir / "models" / "entities" / "firm.yml").write_text(text)
    shutil.copy(REPO / "models" / "entities" / "_reference.yml", settings.project_dir / "models" / "entities")
    project = load_entities(settings, model)
    assert project.problems == []
    spec = project.entities["firm"]
    assert spec.splink["comparisons"][1]["comparison_levels"][-1]["m_probability"] == 0.01
    con = duckdb.connect()
    con.execute("""create table firms as select * from (values
        ('1', 'Huber Bau GmbH', 'HRB 12345 B, Amtsgericht Charlottenburg'),
        ('2', 'Huber Bau GmbH', 'Amtsgericht Charlottenburg, HRB 12345 B'),
        ('3', 'Huber Bau GmbH & Co. KG', 'HRA 4711'),
        ('4', 'Huber Bau GmbH', 'beantragt')) t(id, name, reg)""")
    standardise(con, spec, {"stg_firms": "firms"})
    assert con.execute("select source_id, register_key, register_valid from entities.firm_standardised order by 1"
                       ).fetchall() == [("1", "HRB12345B", True), ("2", "HRB12345B", True), ("3", "HRA4711", True),
                                        ("4", None, False)]
    # the company-name type splits the whole legal form off, 'GmbH & Co. KG' too
    assert {k for (k,) in con.execute("select name_key from entities.firm_standardised").fetchall()} == {"huberbau"}
    fired, _ = distinct_sql(spec)
    apart = con.execute(f"""select l.source_id, r.source_id from entities.firm_standardised l
                            join entities.firm_standardised r on l.source_id < r.source_id
                            where len({fired}) > 0 order by all""").fetchall()
    assert apart == [("1", "3"), ("2", "3")]        # an unreadable number is no evidence either way


def test_a_written_rule_may_take_the_scope_of_a_match(tmp_path):
    rules = """distinct_when:
  - {rule: other city, sql_condition: 'city_key_l <> city_key_r', scope: match}
  - {rule: other iban, sql_condition: 'iban_key_l <> iban_key_r'}
"""
    spec = _load(tmp_path / "a", GOOD + rules).entities["person"]
    assert [(r.name, r.scope) for r in spec.distinct_when][:2] == [("other city", "match"), ("other iban", "cluster")]
    problems = [str(p) for p in _load(tmp_path / "b", GOOD + rules.replace("scope: match", "scope: edge")).problems]
    assert any(p.startswith("models/entities/person.yml:13:") and "scope" in p for p in problems), problems
