"""Countries as ISO 3166-1 alpha-2 codes: ``_reference.yml``'s ``countries`` map names (German,
English, French, Italian, with or without umlauts), alpha-3 and vehicle codes onto one code, in the
company schema and for a declared ``country`` attribute; a value not listed stays as written,
upper-cased."""
from __future__ import annotations


import duckdb
import pytest

from pipelines.core import yamlfile
from pipelines.core.spec import validate
from pipelines.engines.spark_rules import to_spark
from pipelines.entities.spec import ReferenceSpec, load_reference
from pipelines.entities.standardise import standardise
from pipelines.entities.testdata.companies import COLUMNS, write_systems
from pipelines.entities.testdata.harness import load, project
from pipelines.entities.types import TYPES, AttributeDecl
from tests.conftest import REPO

REFERENCE = REPO / "models" / "entities" / "_reference.yml"
# as written -> as standardised
WRITTEN = {"Deutschland": "DE", "GERMANY": "DE", "D": "DE", "DE": "DE", "deu": "DE", "Bundesrepublik Deutschland": "DE",
           "Österreich": "AT", "OESTERREICH": "AT", "Osterreich": "AT", "A": "AT", "AT": "AT", "AUT": "AT",
           "Schweiz": "CH", "CH": "CH", "Suisse": "CH", "Svizzera": "CH", "CHE": "CH", "FL": "LI",
           "F": "FR", "I": "IT", "NL": "NL", "Holland": "NL", "B": "BE", "België": "BE", "Belgie": "BE", "Česko": "CZ", "Cesko": "CZ", "L": "LU", "E": "ES",
           "U.S.A.": "US", "United Kingdom": "GB", "UK": "GB", "Großbritannien": "GB", " d. ": "DE",
           # not listed: as written, upper-cased, never guessed
           "Deutschlnd": "DEUTSCHLND", "Japan": "JAPAN", "JP": "JP"}


@pytest.fixture(scope="module")
def reference() -> dict:
    problems: list = []
    ref = load_reference(REFERENCE, "_reference.yml", problems)
    assert problems == []
    return ref


def _codes(ref: dict, values: list[str]) -> list[tuple]:
    country = TYPES["country"]
    decl = AttributeDecl("country", "country")
    con = duckdb.connect()
    try:
        con.execute("create table t (i int, v varchar)")
        con.executemany("insert into t values (?, ?)", list(enumerate(values)))
        return con.execute(f"select {country.value('v', decl, ref)}, {country.key('v', decl, ref)}, "
                           f"{country.valid('v', decl, ref)} from t order by i").fetchall()
    finally:
        con.close()


def test_declared_country_is_its_iso_code(reference):
    got = _codes(reference, list(WRITTEN))
    assert [v for v, _, _ in got] == list(WRITTEN.values())
    assert [k for _, k, _ in got] == list(WRITTEN.values())
    assert [ok for _, _, ok in got] == [len(code) == 2 for code in WRITTEN.values()]


def test_every_listed_spelling_gives_its_code(reference):
    # the spellings are folded in Python (the lookup) and the values in SQL: both the same way
    pairs = [(str(s), code) for code, spellings in reference["countries"].items() for s in [code, *spellings]]
    assert [v for v, _, _ in _codes(reference, [s for s, _ in pairs])] == [code for _, code in pairs]
    assert {"DE", "AT", "CH", "LI", "IS", "NO", "GB", "US", "FR", "IT", "PL", "SE"} <= set(reference["countries"])
    assert len(reference["countries"]) == 27 + 4 + 2          # EU, EFTA, UK, US


def test_company_schema_country_is_its_iso_code(tmp_path):
    data = tmp_path / "data"
    crm = [{"crm_id": f"K-{i}", "firma": "Muster GmbH", "strasse_hnr": "Hauptstr. 1", "plz": "93047", "ort": "Regensburg",
            "land": land, "geaendert": "2026-01-01 00:00:00"} for i, land in enumerate(WRITTEN)]
    write_systems(data, {system: crm if system == "crm" else [] for system in COLUMNS})
    spec = project(tmp_path / "work")
    con = duckdb.connect(str(tmp_path / "work" / "w.duckdb"))
    try:
        standardise(con, spec, load(con, data))
        got = dict(con.execute(f"select source_id, (country, street) from {spec.table('standardised')}").fetchall())
    finally:
        con.close()
    assert [got[f"K-{i}"][0] for i in range(len(WRITTEN))] == list(WRITTEN.values())
    # the golden record's street spelling of DE and AT now holds for "Deutschland" and "A" too
    assert got["K-0"][1] == "Hauptstraße" and got[f"K-{list(WRITTEN).index('A')}"][1] == "Hauptstraße"
    assert got[f"K-{list(WRITTEN).index('Schweiz')}"][1] == "Hauptstr."


def test_country_code_runs_on_spark_too(reference):
    # the same SQL on Spark (no DuckDB-only function such as strip_accents)
    sql = to_spark("select " + TYPES["country"].code("v", reference) + " as c from t")
    assert "'oesterreich'" in sql and "'AT'" in sql


@pytest.mark.parametrize("text, complaint", [
    ("countries:\n  DE: [Deutschland, A]\n  AT: [A]\n", "'A' is listed for both DE and AT"),
    ("countries:\n  AT: [Oesterreich]\n  DE: [Österreich]\n", "'Österreich' is listed for both AT and DE"),
    ("countries:\n  Germany: [D]\n", "'Germany' is not an ISO 3166-1 alpha-2 code"),
])
def test_reference_countries_checked(tmp_path, text, complaint):
    path = tmp_path / "_reference.yml"
    path.write_text(text, encoding="utf-8")
    _, problems = validate(ReferenceSpec, yamlfile.load(path, "_reference.yml"), "_reference.yml")
    assert any(complaint in str(p) for p in problems), problems

