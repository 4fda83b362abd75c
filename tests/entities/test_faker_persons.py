"""An independent probe of person matching: Faker's German, Austrian and Swiss persons
(``pipelines/entities/testdata/faker_persons.py``) as a CRM, an ERP and a web shop name them,
with a noise model of its own and five kinds of look-alike persons (father and son, twins,
namesakes of one birthday, spouses, namesakes across the borders), run through the entity stage
with the person entity a user would declare (``testdata/person.yml``: types only). And the
person-name rules it showed missing: titles and "jun." / "sen." out of the key, short forms of
given names, a given name declared ``distinct``, a birthday with day and month swapped."""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from pipelines.entities.matching import distinct_sql
from pipelines.entities.standardise import standardise
from pipelines.entities.testdata.faker_persons import COLUMNS, ENTITY_FILE, INPUTS, KINDS, generate
from pipelines.entities.testdata.harness import load, project, run

PERSONS, SEED = 800, 1
DECLARED = dict(entity_file=ENTITY_FILE, entity="person", inputs=INPUTS, columns=COLUMNS)

# (given name, surname, birthday) as two records write one person or two
SAME = [(("Dr. Hans", "Müller-Lüdenscheidt", "12.03.1985"), ("Johannes", "MUELLER LUEDENSCHEIDT", "1985-03-12")),
        (("Kathi", "Huber", "03.12.1985"), ("Katharina", "Huber", "12.03.1985")),         # day and month swapped
        (("Anna Maria", "Gruber", ""), ("Maria", "Gruber", "")),                            # first given name left out
        (("Tina", "Weber", ""), ("Christina", "Weber", "")),
        (("Max", "Bauer", ""), ("Maximilian", "Bauer", "")),
        (("Sepp", "Moser", ""), ("Josef", "Moser", "")),
        (("Meier", "Stefan", ""), ("Stefan", "Meier", "")),                                 # fields swapped
        (("Prof. Dr. Ursula", "Keller", ""), ("Ursula", "Keller", "")),
        (("Lukas", "Steiner jun.", ""), ("Lukas jun.", "Steiner", "")),
        (("Seppp", "Blümel", "30.08.1984"), ("Josef", "Bluemel", "1984-08-29"))]                # typo in a short form; the day after
OTHER = [(("Anna", "Huber", "12.03.1985"), ("Lena", "Huber", "12.03.1985")),                 # twins
         (("Peter", "Weber", ""), ("Sabine", "Weber", "")),                                  # spouses
         (("Lukas", "Steiner jun.", ""), ("Lukas sen.", "Steiner", "")),                     # father and son
         (("Thomas", "Müller", "01.02.1960"), ("Thomas", "Müller", "01.02.1986"))]


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_titles_short_forms_swaps_and_look_alikes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    pairs = SAME + OTHER
    for system, cols in COLUMNS.items():
        with open(data / f"{system}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            if system in ("crm", "erp"):
                side = 0 if system == "crm" else 1
                for i, pair in enumerate(pairs):
                    first, last, born = pair[side]
                    row = {"vorname": first, "nachname": last, "geaendert": "2026-01-01 00:00:00"}
                    row.update({"kontakt_id": str(i), "geburtsdatum": born} if system == "crm" else
                               {"debitor_nr": str(i), "geb_datum": born})
                    writer.writerow(row)
    spec = project(tmp_path / "work", ENTITY_FILE, "person", INPUTS, COLUMNS)
    con = duckdb.connect(str(tmp_path / "work" / "w.duckdb"))
    try:
        standardise(con, spec, load(con, data, COLUMNS))
        t = spec.table("standardised")
        keys = dict(con.execute(f"select unique_id, (first_name_key, last_name_key) from {t}").fetchall())
        fired, _ = distinct_sql(spec)
        rules = dict(con.execute(f"select l.source_id, {fired} from {t} l join {t} r on l.source_id = r.source_id "
                                 "where l.source_system = 'crm' and r.source_system = 'erp'").fetchall())
    finally:
        con.close()
    assert keys["crm:0"] == ("hans", "muellerluedenscheidt") and keys["erp:0"] == ("johannes", "muellerluedenscheidt")
    assert keys["crm:7"] == ("ursula", "keller") and keys["crm:8"] == ("lukas", "steiner")
    # the comparison's short-form level knows Hans / Johannes and Sepp / Josef
    levels = next(c for c in spec.splink["comparisons"] if c["output_column_name"] == "first_name")["comparison_levels"]
    short = next(lvl["sql_condition"] for lvl in levels if lvl["label_for_charts"] == "short form")
    assert "'hans|johannes'" in short and "'josef|sepp'" in short
    assert {i: rules[str(i)] for i in range(len(SAME))} == dict.fromkeys(range(len(SAME)), []), rules
    assert [rules[str(len(SAME) + i)] for i in range(len(OTHER))] == [
        ["different first_name"], ["different first_name"], ["different first_name"], ["different date_of_birth"]], rules


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("persons") / "data"
    return out, generate(out, persons=PERSONS, seed=SEED)


def test_generator_is_reproducible_and_has_its_noise_and_look_alikes(tmp_path, generated):
    out, counts = generated
    generate(tmp_path / "again", persons=PERSONS, seed=SEED)
    for name in ("crm.csv", "erp.csv", "shop.csv", "ground_truth/entities.csv", "ground_truth/hard_negatives.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    assert counts["hard_negative_persons"] >= 0.2 * counts["persons"]
    assert min(counts[f"persons_{c}"] for c in ("DE", "AT", "CH")) >= 0.15 * counts["persons"], counts
    assert counts["moved"] >= 20 and counts["married"] >= 10, counts
    kinds = Counter(h["kind"] for h in _read(out / "ground_truth" / "hard_negatives.csv"))
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 15, kinds
    truth = _read(out / "ground_truth" / "entities.csv")
    assert len({(t["system"], t["source_id"]) for t in truth}) == len(truth) == counts["records"]
    assert sum(n > 1 for n in Counter((t["system"], t["true_id"]) for t in truth).values()) >= 20   # in-system duplicates
    crm, erp, shop = (_read(out / f"{s}.csv") for s in ("crm", "erp", "shop"))
    given = [r["vorname"] for r in crm + erp] + [r["first_name"] for r in shop]
    surnames = [r["nachname"] for r in crm + erp] + [r["last_name"] for r in shop]
    assert sum(n.isupper() for n in surnames) > 30 and sum("-" in n for n in surnames) > 30
    assert any(n.startswith(("von ", "zu ")) for n in surnames) and any(n.endswith("jun.") for n in surnames + given)
    assert any(g.startswith(("Dr. ", "Prof. ", "Mag. ", "Dipl.-Ing. ")) for g in given)
    assert any(r["geburtsdatum"].count(".") == 2 and len(r["geburtsdatum"]) < 10 for r in crm)     # 1.2.1985
    assert any(r["telefon"].startswith("0049") for r in crm + erp) and any("/" in r["telefon"] for r in crm + erp)


@pytest.fixture(scope="module")
def measured(tmp_path_factory, generated) -> dict:
    out, counts = generated
    work = tmp_path_factory.mktemp("persons_work")
    result = run(out, work, **DECLARED)
    con = duckdb.connect(str(work / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("create temp table t as select system || ':' || source_id as uid, true_id "
                    "from read_csv(?, all_varchar = true)", [str(out / "ground_truth" / "entities.csv")])
        result["merged_by_kind"] = dict(con.execute(
            "with g as (select c.golden_id, t.true_id from entities.person_clusters c join t on t.uid = c.unique_id), "
            "hn as (select * from read_csv(?, all_varchar = true)) "
            "select kind, count(*) filter (where exists (select 1 from g a join g b on a.golden_id = b.golden_id "
            "  where a.true_id = hn.true_id_a and b.true_id = hn.true_id_b)) from hn group by kind",
            [str(out / "ground_truth" / "hard_negatives.csv")]).fetchall())
        result["golden_countries"] = dict(con.execute("select country, count(*) from entities.person_golden "
                                                      "group by country").fetchall())
    finally:
        con.close()
    print(f"\nfaker person probe ({PERSONS} persons, seed {SEED}, {result['records']} records): f1 {result['f1']} "
          f"(precision {result['precision']}, recall {result['recall']}), look-alikes merged "
          f"{result['hard_negatives_merged']}/{result['hard_negatives']} by kind {result['merged_by_kind']}, "
          f"review items per 1000 records {result['review_items_per_1000_records']} "
          f"(precision {result['review_precision']}), {result['seconds']} s")
    return result


def test_faker_persons_f1(measured):
    # measured on seeds 1 / 2 / 3: 0.9446 / 0.9362 / 0.9049 (README); every wrong merge is a pair of
    # look-alikes, and seed 3's namesakes of one birthday cost it the most. The gate is seed 1's
    # figure less a margin for runs of the same data
    assert measured["f1"] >= 0.93, measured


def test_faker_persons_look_alikes_kept_apart(measured):
    # twins, spouses and namesakes across the borders: never one person (0 on seeds 1 / 2 / 3).
    # Father and son: only through records with neither birthday nor "jun." / "sen." (2 / 4 / 2
    # of 18 pairs). Namesakes of one birthday in two cities (name and birthday equal, address,
    # phone and mailbox not; 9 / 10 / 23 pairs merged) are the case left open: Splink weighs the
    # equal name and birthday above three disagreeing address fields, e-mail and phone.
    kinds = measured["merged_by_kind"]
    assert kinds["twins"] == kinds["spouses"] == kinds["cross_border"] == 0, kinds
    assert kinds["father_son"] <= 4, kinds
    assert measured["hard_negatives_merged"] <= 0.12 * measured["hard_negatives"], measured


def test_faker_persons_golden_records_name_countries_by_iso_code(measured):
    assert set(measured["golden_countries"]) <= {"DE", "AT", "CH", None}, measured["golden_countries"]
