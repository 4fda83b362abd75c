"""Entity files through the shared loader (``pipelines.core.spec``): every problem of a file at once,
each at its line, unknown keys with a did-you-mean, and the checks across files (models, ``like:``,
columns of the standardised input) beside them. Each case is a file and the exact problems."""
from __future__ import annotations

import pytest

from pipelines.entities.spec import load_entities
from tests.conftest import make_project

MODEL = {"stg_people": ["id", "first", "last", "born", "iban", "mail", "city", "changed"]}
FILE = "models/entities/person.yml"

CASES = {
    "all_problems_at_once": ("""\
entity: person
attributes:
  given_name: {type: person_name, block: yes please}
  surname:    {type: person_name, block: true, tf: true, formats: ['%Y']}
  Born:       {type: date, formats: '%d.%m.%Y', block: true}
  iban:       {type: iban, critical: true}
  email:      email
inputs:
  - {system: hr, model: stg_people, id: id, name_cut_at: 0,
     columns: {given_name: first, surname: last, iban: iban, email: mail, updated_at: changed}}
  - {system: hr, modell: stg_people, id: id}
thresholds: {match_probability: 0.5, review_probability: 0.6}
survivorship:
  attributes:
    email: {rules: [most_recent], source_priority: [crm]}
    iban: most_recent
distinct_when:
  - {rule: x, sql_condition: 'surname_key_l <> surname_key_r', review_when: 'foo_l = 1'}
""", [
        "3: block must be true or false, not 'yes please'",
        "4: unknown key 'formats' for type 'person_name'",
        "5: formats is a list of strptime formats such as ['%Y%m%d', '%d.%m.%Y']",
        "9: name_cut_at must be a positive whole number",
        "11: unknown key 'modell' in input; did you mean 'model'?",
        "11: missing 'model:' (the staging model)",
        "12: review_probability must be below match_probability",
        "16: attributes.iban must be a list of rules or a mapping (rules, source_priority, columns)",
        "5: attribute name 'Born' must be a lower-case identifier (it becomes a column)",
        "18: distinct_when review_when: unknown column 'foo'; comparable columns are those of the standardised input",
        "15: source_priority: unknown system 'crm'",
    ]),
    "unknown_keys_in_every_block": ("""\
entity: person
atributes:
  surname: person_name
attributes:
  surname: {type: person_name, block: true}
inputs:
  - {system: hr, model: stg_people, id: id, columns: {surname: last}}
training: {recal: 0.9}
thresholds: {max_clustersize: 3}
survivorship: {criticals: [surname]}
""", [
        "8: unknown key 'recal' in training; did you mean 'recall'?",
        "9: unknown key 'max_clustersize' in thresholds; did you mean 'max_cluster_size'?",
        "10: unknown key 'criticals' in survivorship; did you mean 'critical'?",
        "2: unknown key 'atributes' in entity file; did you mean 'attributes'?",
    ]),
    "checks_across_files": ("""\
like: custmer
inputs:
  - {system: hr, model: stg_persons, id: id, columns: {name: first}}
""", [
        "1: like: unknown entity 'custmer'",
        "3: unknown model 'stg_persons'; did you mean 'stg_people'?",
        "1: missing 'splink:' settings (or 'like: <entity>' to share them, or 'attributes:' with types that "
        "bring their comparisons)",
    ]),
    "named_like_its_file": ("entity: persons\n", ["1: entity 'persons' must be named like its file ('person')"]),
    "not_a_mapping": ("- a\n", ["1: expected a mapping with 'entity:', 'inputs:', 'splink:' ..."]),
}


@pytest.mark.parametrize("text,expected", CASES.values(), ids=CASES.keys())
def test_problems(tmp_path, text: str, expected: list[str]):
    settings = make_project(tmp_path / "p")
    (settings.project_dir / "models" / "entities").mkdir(parents=True)
    (settings.project_dir / "models" / "entities" / "person.yml").write_text(text, encoding="utf-8")
    project = load_entities(settings, MODEL)
    assert [str(p) for p in project.problems] == [f"{FILE}:{e}" for e in expected]
    assert project.entities == {}


def test_a_declared_entity_without_blocks_gets_every_default(tmp_path):
    """Only attributes and inputs: Splink settings, training, thresholds and survivorship from the types."""
    settings = make_project(tmp_path / "p")
    (settings.project_dir / "models" / "entities").mkdir(parents=True)
    (settings.project_dir / "models" / "entities" / "person.yml").write_text("""\
attributes:
  surname: {type: person_name, block: true, critical: true}
  born: {type: date, block: true}
inputs:
  - {system: hr, model: stg_people, id: id, columns: {surname: last, born: born}}
""", encoding="utf-8")
    project = load_entities(settings, MODEL)
    assert project.problems == []
    spec = project.entities["person"]
    assert spec.thresholds == {"match_probability": 0.8, "review_probability": 0.05, "max_cluster_size": 3}
    assert spec.training["recall"] == 0.85 and spec.training["drift"] == {"records_change": 0.25, "null_share_change": 0.1}
    assert [(a.name, a.rules) for a in spec.attributes] == [
        ("surname", ("valid_only", "most_frequent", "common_spelling", "well_formed", "source_priority", "most_recent")),
        ("born", ("valid_only", "most_frequent", "source_priority", "most_recent"))]
    assert spec.critical == ("surname",) and spec.id_prefix == "P"
