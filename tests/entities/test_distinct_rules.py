"""``distinct_when`` rules and stewards' "distinct" decisions hold through clustering: no chain of
matches through a third record joins two records kept apart; a steward's merge wins over a rule;
an entity file without survivorship or with a bad rule is checked, not crashed on."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pytest

from pipelines.check import check_project
from pipelines.entities import golden, matching
from pipelines.entities.standardise import standardise
from pipelines.entities.testdata.companies import COLUMNS
from pipelines.entities.testdata.harness import load, project
from pipelines.engines.engine import DuckDBEngine
from tests.conftest import REPO, make_project

# crm records: name, street; all at one address with one phone
RECORDS = {"A-1": "Huber Bau GmbH", "A-2": "Huber Bau", "A-3": "Huber Bau AG", "A-4": "Huber Logistik GmbH",
           "A-5": "Maier Textil GmbH", "A-6": "Maier Textil GmbH", "A-7": "Maier Textil GmbH"}


def _write(data: Path) -> None:
    data.mkdir(parents=True)
    for system, cols in COLUMNS.items():
        with open(data / f"{system}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            if system == "crm":
                for rid, name in RECORDS.items():
                    writer.writerow({"crm_id": rid, "firma": name, "strasse_hnr": "Industriestr. 4", "plz": "93047",
                                     "ort": "Regensburg", "land": "DE", "ust_id": "", "email": "",
                                     "telefon": "0941 123456", "geaendert": "2026-01-01 00:00:00"})


@pytest.fixture()
def con(tmp_path):
    _write(tmp_path / "data")
    spec = project(tmp_path / "work")
    connection = duckdb.connect(str(tmp_path / "work" / "w.duckdb"))
    standardise(connection, spec, load(connection, tmp_path / "data"))
    # every pair scored as a match, as address and phone alone would make Splink do
    connection.execute(f"""create table {spec.table('pairs')} as
        select a.unique_id as unique_id_l, b.unique_id as unique_id_r, 0.99 as match_probability
        from {spec.table('standardised')} a join {spec.table('standardised')} b on a.unique_id < b.unique_id""")
    yield connection, spec
    connection.close()


def _clusters(connection, spec, **kw) -> dict[str, str]:
    table = matching.connected_components(connection, spec, DuckDBEngine(connection).splink(), **kw)
    return dict(connection.execute(f"select unique_id, cluster_id from {table}").fetchall())


def test_rules_keep_companies_apart_through_a_third_record(con):
    connection, spec = con
    c = _clusters(connection, spec)
    # GmbH and AG (different legal form), Bau and Logistik (a distinguishing word): all apart
    assert len({c["crm:A-1"], c["crm:A-3"], c["crm:A-4"]}) == 3
    # "Huber Bau" without a legal form matches both the GmbH and the AG: it joins neither
    assert c["crm:A-2"] not in {c["crm:A-1"], c["crm:A-3"]}
    # the three Maier records have nothing against them: one company
    assert c["crm:A-5"] == c["crm:A-6"] == c["crm:A-7"]
    # the ambiguous record is one review item, with the GmbH and the AG as candidates
    golden.resolve(connection, spec, "_clusters_raw", "run-1")
    items = dict(connection.execute(f"select item_id, [m.source_id for m in members] from {spec.table('review_queue')}").fetchall())
    assert sorted(items["record:crm:A-2:ambiguous"]) == ["A-1", "A-2", "A-3"]


def test_steward_distinct_holds_through_a_chain_and_merge_beats_a_rule(con):
    connection, spec = con
    c = _clusters(connection, spec, cannot_link=[("crm:A-5", "crm:A-7")])
    assert c["crm:A-5"] != c["crm:A-7"]          # A-6 matches both, yet never joins them
    c = _clusters(connection, spec, must_link=[("crm:A-1", "crm:A-3")])
    assert c["crm:A-1"] == c["crm:A-3"]          # the steward said one company: the legal-form rule yields


@pytest.mark.parametrize("entity", ["customer", "supplier"])
def test_entity_file_without_survivorship_gets_defaults(tmp_path, entity):
    """No ``survivorship:`` block: defaults apply (customer), or the ``like:`` entity's rules with
    the systems this entity has (supplier); ``kontor check`` used to crash on it."""
    settings = make_project(tmp_path / "p", with_models=True)
    path = settings.project_dir / "models" / "entities" / f"{entity}.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:text.index("\nsurvivorship:")] + "\n" + text[text.index("\nground_truth:"):], encoding="utf-8")
    problems, _ = check_project(settings)
    assert problems == [], [str(p) for p in problems]


def test_a_bad_rule_is_reported_with_file_and_line(tmp_path):
    settings = make_project(tmp_path / "p", with_models=True)
    path = settings.project_dir / "models" / "entities" / "customer.yml"
    text = (REPO / "models" / "entities" / "customer.yml").read_text(encoding="utf-8")
    path.write_text(text.replace("sql_condition: vat_key_l <> vat_key_r", "sql_condition: vat_nummer_l <> vat_key_r", 1),
                    encoding="utf-8")
    problems, _ = check_project(settings)
    found = [p for p in problems if re.search(r"distinct_when: unknown column 'vat_nummer'", p.message)]
    assert found, [str(p) for p in problems]
    assert "vat_nummer_l" in path.read_text(encoding="utf-8").splitlines()[found[0].line - 1]
