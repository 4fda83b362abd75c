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
from dataclasses import replace
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
        (("Seppp", "Blümel", "30.08.1984"), ("Josef", "Bluemel", "1984-08-29")),                # typo in a short form; the day after
        (("Rabl", "Leandra Sarah", ""), ("Leandra", "Rbl", "")),                            # fields swapped, and a typo
        (("Bloch", "Bernhard", ""), ("bernd", "bkoch", "")),                                # swapped, a typo, a short form
        (("Hans d. J.", "Moser", ""), ("Hans", "Moser d.J.", "")),                           # "der Jüngere" on both
        (("Jun", "Wang", "01.02.1990"), ("Jun", "Wang", "1990-02-01"))]                     # a given name 'Jun' is no suffix
OTHER = [(("Anna", "Huber", "12.03.1985"), ("Lena", "Huber", "12.03.1985")),                 # twins
         (("Peter", "Weber", ""), ("Sabine", "Weber", "")),                                  # spouses
         (("Lukas", "Steiner jun.", ""), ("Lukas sen.", "Steiner", "")),                     # father and son
         (("Thomas", "Müller", "01.02.1960"), ("Thomas", "Müller", "01.02.1986")),
         (("Hans", "Hansen", ""), ("Peter", "Hansen", "")),                                  # a given name like a surname is no swap
         (("Hans d. J.", "Moser", ""), ("Hans", "Moser d. Ä.", "")),                         # der Jüngere, der Ältere
         (("Lukas", "Steiner jun.", ""), ("Lukas", "Steiner", "")),                          # a suffix on one record only
         (("Lukas", "Steiner jun.", "01.02.1980"), ("Lukas", "Steiner", "1980-02-01"))]      # ... and one birthday
GENERATION = "generation suffix on one record only, no email or date_of_birth on it"


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
    assert keys["crm:12"] == ("hans", "moser") and keys["erp:12"] == ("hans", "moser")
    # the comparison's short-form level knows Hans / Johannes and Sepp / Josef
    levels = next(c for c in spec.splink["comparisons"] if c["output_column_name"] == "first_name")["comparison_levels"]
    short = next(lvl["sql_condition"] for lvl in levels if lvl["label_for_charts"] == "short form")
    assert "'hans|johannes'" in short and "'josef|sepp'" in short
    assert {i: rules[str(i)] for i in range(len(SAME))} == dict.fromkeys(range(len(SAME)), []), rules
    assert [rules[str(len(SAME) + i)] for i in range(len(OTHER))] == [
        ["different first_name"], ["different first_name"], ["different first_name"], ["different date_of_birth"],
        ["different first_name"], ["different first_name"], [GENERATION], []], rules


# (crm record, erp record): given name, surname, birthday, e-mail, phone, street, postcode, city; and
# what the type rules say of the two: the rules that keep them in two golden records, whether that
# is conflicting evidence for a steward, whether their match alone may join them
HOUSEHOLDS = [
    # twins: one surname, address, phone and birthday, each a mailbox of their own: a household
    ((("Anna", "Huber", "12.03.1985", "anna.huber@gmx.de", "0941 123456", "Hauptstr. 1", "93047", "Regensburg"),
      ("Lena", "Huber", "12.03.1985", "lena.huber@web.de", "0941 123456", "Hauptstraße 1", "93047", "Regensburg")),
     (["different first_name"], False, False)),
    # spouses with one family mailbox, one birthday unknown: a household too
    ((("Peter", "Weber", "01.02.1970", "familie.weber@gmx.de", "", "Ringstr. 4", "80331", "München"),
      ("Sabine", "Weber", "", "familie.weber@gmx.de", "", "Ringstraße 4", "80331", "München")),
     (["different first_name"], False, False)),
    # one person: a typo in each given name, one personal mailbox and birthday: a steward decides
    ((("Matcel", "Schaffer", "15.03.1940", "marcel.schaffer@kabsi.at", "", "Windhagerstr. 34", "2400", "Wiener Neustadt"),
      ("Marrcel", "Schaffer", "15.03.1940", "marcel.schaffer@kabsi.at", "", "Windhagerstr. 34", "2400", "Wiener Neustadt")),
     (["different first_name"], True, False)),
    # namesakes of one birthday in two cities, nothing else in common: not merged by the match alone
    ((("Thomas", "Müller", "01.02.1960", "thomas.mueller@gmx.de", "030 123456", "Lindenweg 3", "10115", "Berlin"),
      ("Thomas", "Müller", "01.02.1960", "t.mueller@web.de", "089 654321", "Gartenstr. 9", "80331", "München")),
     ([], False, True)),
    # one person who moved and kept the e-mail address: corroborated
    ((("Thomas", "Meier", "01.02.1960", "thomas.meier@gmx.de", "030 123456", "Lindenweg 3", "10115", "Berlin"),
      ("Thomas", "Meier", "01.02.1960", "thomas.meier@gmx.de", "089 654321", "Gartenstr. 9", "80331", "München")),
     ([], False, False)),
    # one name at one address, no birthday (a father and son, or one person): the address corroborates
    ((("Lukas", "Steiner", "", "", "0662 111222", "Bahnhofstr. 2", "5020", "Salzburg"),
      ("Lukas", "Steiner", "", "", "", "Bahnhofstraße 2", "5020", "Salzburg")),
     ([], False, False)),
    # father and son of one name, address and phone, one birthday unknown, a mailbox each: nothing
    # of one person in common, kept apart, and a steward decides
    ((("Harry", "Holzapfel", "", "harryholzapfel43@gmail.com", "09719 910004", "Lachmannweg 103", "47861", "Sonneberg"),
      ("Harry", "Holzapfel", "22.01.1977", "harryholzapfel77@aol.de", "09719 910004", "Lachmannweg 103", "47861",
       "Sonneberg")),
     (["different email and no date_of_birth in common"], True, False)),
    # one person with two mailboxes: the birthday on both says one person
    ((("Harry", "Holzapfel", "22.01.1977", "harryholzapfel77@aol.de", "", "Lachmannweg 103", "47861", "Sonneberg"),
      ("Harry", "Holzapfel", "1977-01-22", "h.holzapfel@web.de", "", "Lachmannweg 103", "47861", "Sonneberg")),
     ([], False, False)),
    # father and son of one name, address and phone, "jun." on one record, neither an e-mail
    # address nor a birthday on both: kept apart, and a steward decides
    ((("Nicolas", "Suppan-Ferstl", "", "nicolassuppanferstl51@kabsi.at", "0043 55903 909636", "Am Ring 4", "7832", "Graz"),
      ("Nicolas", "Suppan-Ferstl jun.", "", "", "+43 55903 909636", "Am Ring 4", "7832", "Graz")),
     ([GENERATION], True, False)),
    # one person, "jun." on one record, one mailbox on both: one person
    ((("Nicolas", "Suppan-Ferstl", "", "nicolas.suppan@kabsi.at", "", "Am Ring 4", "7832", "Graz"),
      ("Nicolas jun.", "Suppan-Ferstl", "", "nicolas.suppan@kabsi.at", "", "Am Ring 4", "7832", "Graz")),
     ([], False, False)),
]


def test_households_are_no_conflict_and_namesakes_are_not_merged_by_a_match_alone(tmp_path):
    """The person types' rules (``types.type_rules``): a given name or birthday that differs keeps two
    records apart, and is conflicting evidence for a steward only where something of one person
    (a personal e-mail address, with the birthday known on both and equal) says otherwise; a match
    of persons on name and birthday alone, their addresses apart and no e-mail, phone or id shared,
    joins nothing by itself (scope 'match') and goes to review."""
    data = tmp_path / "data"
    data.mkdir()
    for system, cols in COLUMNS.items():
        with open(data / f"{system}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            if system == "shop":
                continue
            for i, (pair, _) in enumerate(HOUSEHOLDS):
                first, last, born, mail, phone, street, postcode, city = pair[0 if system == "crm" else 1]
                row = {"vorname": first, "nachname": last, "email": mail, "telefon": phone, "plz": postcode, "ort": city,
                       "geaendert": "2026-01-01 00:00:00"}
                row.update({"kontakt_id": str(i), "geburtsdatum": born, "strasse_hnr": street} if system == "crm" else
                           {"debitor_nr": str(i), "geb_datum": born, "strasse": street})
                writer.writerow(row)
    spec = project(tmp_path / "work", ENTITY_FILE, "person", INPUTS, COLUMNS)
    assert [r.scope for r in spec.distinct_when] == ["cluster", "cluster", "cluster", "cluster", "match"], spec.distinct_when
    cluster = distinct_sql(replace(spec, distinct_when=[r for r in spec.distinct_when if r.scope == "cluster"]))
    match, _ = distinct_sql(replace(spec, distinct_when=[r for r in spec.distinct_when if r.scope == "match"]))
    con = duckdb.connect(str(tmp_path / "work" / "w.duckdb"))
    try:
        standardise(con, spec, load(con, data, COLUMNS))
        t = spec.table("standardised")
        said = {int(i): (fired, listed, len(weak) > 0) for i, fired, listed, weak in con.execute(
            f"select l.source_id, {cluster[0]}, {cluster[1]}, {match} from {t} l join {t} r on l.source_id = r.source_id "
            "where l.source_system = 'crm' and r.source_system = 'erp'").fetchall()}
    finally:
        con.close()
    assert said == {i: expected for i, (_, expected) in enumerate(HOUSEHOLDS)}, said


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
    # a mailbox is one person's (namesakes of one birthday too: a provider gives an address once),
    # but for the spouses' family mailbox
    person = {(t["system"], t["source_id"]): t["true_id"] for t in truth}
    owners: dict[str, set[str]] = {}
    for system, rows, key in (("crm", crm, "kontakt_id"), ("erp", erp, "debitor_nr"), ("shop", shop, "konto_id")):
        for r in rows:
            if r["email"]:
                owners.setdefault(r["email"].lower(), set()).add(person[system, r[key]])
    assert {m.split(".")[0] for m, who in owners.items() if len(who) > 1} == {"familie"}, owners


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
        # golden names written in one case (upper or lower) where a member writes the same letters mixed
        result["single_case_golden_names"] = con.execute(
            "with m as (select c.golden_id, s.first_name, s.last_name from entities.person_clusters c "
            "  join entities.person_standardised s using (unique_id)) "
            "select count(*) filter (where exists (select 1 from m where m.golden_id = g.golden_id and "
            "  m.first_name <> g.first_name and lower(m.first_name) = lower(g.first_name) and "
            "  m.first_name not in (upper(m.first_name), lower(m.first_name)))), "
            "count(*) filter (where exists (select 1 from m where m.golden_id = g.golden_id and "
            "  m.last_name <> g.last_name and lower(m.last_name) = lower(g.last_name) and "
            "  m.last_name not in (upper(m.last_name), lower(m.last_name)))) "
            "from entities.person_golden g").fetchall()[0]
        # open pair items that name the same two golden records as another one
        result["repeated_queue_pairs"] = con.execute(
            "select count(*) - count(distinct list_sort(golden_ids)) from entities.person_review_queue "
            "where kind = 'pair'").fetchall()[0][0]
    finally:
        con.close()
    print(f"\nfaker person probe ({PERSONS} persons, seed {SEED}, {result['records']} records): f1 {result['f1']} "
          f"(precision {result['precision']}, recall {result['recall']}), look-alikes merged "
          f"{result['hard_negatives_merged']}/{result['hard_negatives']} by kind {result['merged_by_kind']}, "
          f"review items per 1000 records {result['review_items_per_1000_records']} "
          f"(precision {result['review_precision']}), {result['seconds']} s")
    return result


def test_faker_persons_f1(measured):
    # measured on seeds 1 / 2 / 3: 0.9783 / 0.9718 / 0.9707 (README; before each name part
    # blocked with the postcode 0.9720 / 0.9702 / 0.9628, before the rule that two mailboxes with
    # nothing else of one person in common keep two records apart 0.9664 / 0.9542 / 0.9536, before
    # the rules of types.type_rules 0.9446 / 0.9362 / 0.9049). The gate holds for every one of the
    # three seeds
    assert measured["f1"] >= 0.97, measured


def test_faker_persons_look_alikes_kept_apart(measured):
    # twins, spouses, namesakes and namesakes across the borders: never one person (0 on seeds
    # 1 / 2 / 3). Father and son: a mailbox each and no birthday known on both keeps them apart
    # (types.type_rules), and so does a "jun." on a record with nothing of the son's own; left
    # merged (0 / 0 / 1 of 18 pairs; before the suffix rule 0 / 0 / 2, before the mailbox rule
    # 2 / 4 / 2) is one whose two records hold a birthday and an e-mail address without a year,
    # one each, and no suffix: nothing a steward could go by either. All look-alike pairs merged:
    # 0 / 0 / 1 of 126 / 124 / 126 (0 / 0 / 0.8 %; before 0 / 0 / 2, before the mailbox rule
    # 2 / 6 / 3, with namesakes the generator gave one mailbox)
    kinds = measured["merged_by_kind"]
    assert kinds["twins"] == kinds["spouses"] == kinds["cross_border"] == kinds["namesakes"] == 0, kinds
    assert kinds["father_son"] <= 1, kinds
    assert measured["hard_negatives_merged"] <= 0.01 * measured["hard_negatives"], measured


def test_faker_persons_review_queue_lists_what_needs_a_human(measured):
    # 36.0 / 33.6 / 40.7 open items per 1,000 records on seeds 1 / 2 / 3, precision 0.34 / 0.35 /
    # 0.33 (before the name-and-postcode block and the suffix rule 36.0 / 32.3 / 40.0 at 0.34 /
    # 0.32 / 0.34; before the mailbox rule 32.8 / 27.8 / 41.4 at 0.47 / 0.51 / 0.46; before the rules of
    # types.type_rules 158.1 / 138.2 / 121.4 at 0.13 / 0.10 / 0.20). The items added are father
    # and son kept apart by their mailboxes, which a steward has to see (another mailbox is no
    # proof: people have two); what is left that needed no human is mostly those and namesakes of
    # one birthday: name and birthday cannot tell a person who moved from a namesake
    assert measured["review_items_per_1000_records"] <= 45 and measured["review_precision"] >= 0.3, measured
    assert measured["repeated_queue_pairs"] == 0, measured


def test_faker_persons_golden_names_take_the_mixed_case_spelling(measured):
    # 20 given names and 14 surnames in upper case on seed 1 before (ERP spelling by source priority)
    assert measured["single_case_golden_names"] == (0, 0), measured


def test_faker_persons_golden_records_name_countries_by_iso_code(measured):
    assert set(measured["golden_countries"]) <= {"DE", "AT", "CH", None}, measured["golden_countries"]
