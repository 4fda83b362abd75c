"""The malformed-file corpus in tests/fixtures/bad_input: every file, loaded, against expected.yml.

Each file is one table of source system ``bad``; expected.yml holds the outcome per file, so a
new case is a new file, a table in sources.yml and an entry in expected.yml.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from pipelines.core.errors import SourceFileError
from pipelines.sources import ingest
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import SourceTable, load_sources
from pipelines.core.warehouse import connect

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "bad_input"
EXPECTED: dict[str, dict] = yaml.safe_load((CORPUS / "expected.yml").read_text(encoding="utf-8"))["files"]
PROJECT = load_sources(CORPUS / "sources.yml")
TABLES: dict[str, SourceTable] = {t.location: t for t in PROJECT.tables}
CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".csv")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A private copy of the corpus: tests may change files without touching the fixtures."""
    target = tmp_path / "data"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def con(tmp_path: Path):
    connection = connect(tmp_path / "warehouse.duckdb")
    yield connection
    connection.close()


def load(con, table: SourceTable, data_dir: Path):
    return ingest_table(con, table, data_dir, data_dir.parent / "tmp")


def ledger(con, path: str) -> list[tuple]:
    return con.execute(
        "select status, rows_read, rows_loaded, rows_quarantined, message, batch_id "
        "from kontor.load_ledger where path = ? order by batch_id", [path]).fetchall()


def raw_rows(con, table: SourceTable) -> list[tuple]:
    return con.execute(f"select * from raw.{table.key} order by _batch_id, _line").fetchall()


def quarantine_rows(con, file: str) -> list[tuple]:
    return con.execute(
        "select line, column_name, reason, raw_text from kontor.quarantine where file = ? order by line",
        [file]).fetchall()


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_corpus_is_complete():
    assert len(CORPUS_FILES) >= 14
    assert set(CORPUS_FILES) == set(EXPECTED), "every corpus file needs an entry in expected.yml, and no more"
    assert set(CORPUS_FILES) == set(TABLES), "every corpus file needs a table whose location is the file"
    assert {t.system for t in PROJECT.tables} == {"bad"}


def test_corpus_bytes_are_as_described():
    """The corpus is bytes; guard against an editor or git 'fixing' them."""
    assert (CORPUS / "empty.csv").stat().st_size == 0
    assert (CORPUS / "utf8_bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in (CORPUS / "crlf.csv").read_bytes()
    assert b"\x00" in (CORPUS / "control_chars.csv").read_bytes()
    assert b"\xfc" in (CORPUS / "cp1252_declared_utf8.csv").read_bytes()  # cp1252 'ü'
    with pytest.raises(UnicodeDecodeError):
        (CORPUS / "binary_junk.csv").read_bytes().decode("utf-8")


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file(name: str, data_dir: Path, con):
    expected, table = EXPECTED[name], TABLES[name]
    [result] = load(con, table, data_dir).files

    assert result.path == name
    assert result.status == expected["status"], result.message
    counts = (result.rows_read, result.rows_loaded, result.rows_quarantined)
    assert counts == (expected["rows_read"], expected["rows_loaded"], expected["rows_quarantined"])

    # The ledger itself: one row for the file, same counts, and read = loaded + quarantined.
    [(status, read, loaded, quarantined, message, _)] = ledger(con, name)
    assert (status, read, loaded, quarantined) == (result.status, *counts)
    assert read == loaded + quarantined

    raw_count = con.execute(f"select count(*) from raw.{table.key} where _source_file = ?", [name]).fetchone()[0]
    assert raw_count == expected["rows_loaded"]

    if expected["status"] == "failed":
        assert name in result.message and "fix:" in result.message, result.message
        assert "fix:" in message, message  # the ledger row names the file in its path column
        for part in expected["message"]:
            assert part in result.message
    else:
        assert result.batch_id is not None and not result.message

    notes = " | ".join(result.notes)
    for part in expected.get("notes", []):
        assert any(part in note for note in result.notes), f"{part!r} not in notes: {notes}"
    if not expected.get("notes"):
        assert not [n for n in result.notes if "not valid UTF-8" in n or "not declared" in n], notes

    # Quarantine: exactly the expected rows, by line, with the column and the reason.
    actual = {line: (column, reason, raw_text) for line, column, reason, raw_text in quarantine_rows(con, name)}
    assert len(actual) == expected["rows_quarantined"], "one quarantine row per quarantined record"
    wanted = expected.get("quarantine", [])
    assert sorted(actual) == sorted(q["line"] for q in wanted)
    for q in wanted:
        column, reason, raw_text = actual[q["line"]]
        assert column == q["column"], f"line {q['line']}: {reason}"
        for part in as_list(q["reason"]):
            assert part in reason, f"line {q['line']}: {part!r} not in {reason!r}"
        assert raw_text, f"line {q['line']}: the raw text is kept for the fix"
        if "raw_text" in q:
            assert q["raw_text"] in raw_text

    # Raw: exact values (string equality: formula text stays inert text, not evaluated or escaped).
    for r in expected.get("raw", []):
        rows = con.execute(
            f'select "{r["column"]}" from raw.{table.key} where _source_file = ? and _line = ?',
            [name, r["line"]]).fetchall()
        assert len(rows) == 1, f"no single raw row at line {r['line']}"
        value = rows[0][0]
        if r["value"] is None:
            assert value is None
        else:
            assert str(value) == str(r["value"])

    # Lineage columns are filled for every raw row.
    lineage = con.execute(
        f"select count(*) from raw.{table.key} where _system = 'bad' and _batch_id = ? and _loaded_at is not null "
        f"and _line is not null and _source_file = ?", [result.batch_id, name]).fetchone()[0]
    assert lineage == expected["rows_loaded"]


def test_whole_corpus_reconciles(data_dir: Path, con):
    """All files into one warehouse: ledger totals reconcile, and every record line of every
    loaded file is either in raw (by _line) or in quarantine (by line), exactly once."""
    results = {}
    for table in PROJECT.tables:
        [results[table.location]] = load(con, table, data_dir).files

    rows = con.execute("select path, status, rows_read, rows_loaded, rows_quarantined from kontor.load_ledger").fetchall()
    assert sorted(r[0] for r in rows) == CORPUS_FILES, "one ledger row per file"
    assert {r[0]: r[1] for r in rows} == {name: e["status"] for name, e in EXPECTED.items()}
    read, loaded, quarantined = (sum(r[i] for r in rows) for i in (2, 3, 4))
    assert read == loaded + quarantined
    assert (read, loaded, quarantined) == tuple(sum(e[k] for e in EXPECTED.values())
                                                for k in ("rows_read", "rows_loaded", "rows_quarantined"))
    raw_total = sum(con.execute(f"select count(*) from raw.{t.key}").fetchone()[0] for t in PROJECT.tables)
    assert raw_total == loaded
    assert con.execute("select count(*) from kontor.quarantine").fetchone()[0] == quarantined
    assert con.execute("select count(distinct batch_id) from kontor.load_ledger").fetchone()[0] == len(rows)

    for table in PROJECT.tables:
        name, expected = table.location, EXPECTED[table.location]
        if expected["status"] != "loaded":
            continue
        raw_lines = [r[0] for r in con.execute(f"select _line from raw.{table.key} where _source_file = ?", [name]).fetchall()]
        q_lines = [r[0] for r in con.execute("select line from kontor.quarantine where file = ?", [name]).fetchall()]
        lines = raw_lines + q_lines
        assert len(lines) == len(set(lines)), f"{name}: a line is both loaded and quarantined, or twice"
        wanted = expected.get("lines", list(range(2, expected["rows_read"] + 2)))
        assert sorted(lines) == wanted, name


def test_failing_file_leaves_earlier_rows_of_same_table_intact(data_dir: Path, con):
    mixed = data_dir / "mixed"
    mixed.mkdir()
    shutil.copy(data_dir / "utf8_bom.csv", mixed / "1_good.csv")
    shutil.copy(data_dir / "binary_junk.csv", mixed / "2_junk.csv")
    shutil.copy(data_dir / "empty.csv", mixed / "3_empty.csv")
    table = dataclasses.replace(TABLES["utf8_bom.csv"], name="mixed", location="mixed/*.csv")

    files = load(con, table, data_dir).files
    assert [(f.path, f.status) for f in files] == [
        ("mixed/1_good.csv", "loaded"), ("mixed/2_junk.csv", "failed"), ("mixed/3_empty.csv", "failed")]
    assert con.execute("select id, name, _source_file from raw.bad__mixed order by _line").fetchall() == [
        (1, "Äpfel AG", "mixed/1_good.csv"), (2, "Beta", "mixed/1_good.csv")]
    statuses = con.execute("select path, status from kontor.load_ledger order by batch_id").fetchall()
    assert statuses == [(f.path, f.status) for f in files]


def test_failing_table_leaves_other_tables_intact(data_dir: Path, con):
    good, bad = TABLES["extra_columns.csv"], TABLES["missing_required_column.csv"]
    assert load(con, good, data_dir).files[0].status == "loaded"
    before = raw_rows(con, good)
    assert len(before) == 2
    for failing in (bad, TABLES["wrong_delimiter.csv"], TABLES["binary_junk.csv"]):
        assert load(con, failing, data_dir).files[0].status == "failed"
    assert raw_rows(con, good) == before


def test_failure_inside_the_batch_rolls_back_only_that_file(data_dir: Path, con, monkeypatch):
    """A file that fails after its rows were inserted leaves no row of its own and keeps the rest."""
    mixed = data_dir / "mixed"
    mixed.mkdir()
    shutil.copy(data_dir / "utf8_bom.csv", mixed / "1_good.csv")
    (mixed / "2_breaks_late.csv").write_bytes(b"id;name\n7;Late\n")
    table = dataclasses.replace(TABLES["utf8_bom.csv"], name="mixed", location="mixed/*.csv")
    original = ingest._load_staged

    def load_then_fail(con_, table_, staged, display, batch_id, loaded_at):
        counts = original(con_, table_, staged, display, batch_id, loaded_at)
        if display.endswith("2_breaks_late.csv"):
            raise SourceFileError(display, "simulated failure after insert", "none")
        return counts

    monkeypatch.setattr(ingest, "_load_staged", load_then_fail)
    files = load(con, table, data_dir).files
    assert [f.status for f in files] == ["loaded", "failed"]
    assert "fix:" in files[1].message
    assert con.execute("select id, _source_file from raw.bad__mixed order by _line").fetchall() == [
        (1, "mixed/1_good.csv"), (2, "mixed/1_good.csv")]
    assert con.execute("select count(*) from kontor.quarantine").fetchone()[0] == 0


def test_reingest_same_file_is_skipped(data_dir: Path, con):
    table = TABLES["duplicate_keys.csv"]
    [first] = load(con, table, data_dir).files
    assert first.status == "loaded"
    raw_before = raw_rows(con, table)
    quarantine_before = quarantine_rows(con, "duplicate_keys.csv")

    [again] = load(con, table, data_dir).files
    assert again.status == "skipped"
    assert again.batch_id == first.batch_id
    assert f"batch {first.batch_id}" in again.message
    assert (again.rows_read, again.rows_loaded, again.rows_quarantined) == (0, 0, 0)
    assert len(ledger(con, "duplicate_keys.csv")) == 1, "no new batch"
    assert raw_rows(con, table) == raw_before
    assert quarantine_rows(con, "duplicate_keys.csv") == quarantine_before


def test_changed_file_appends_a_new_batch(data_dir: Path, con):
    table = TABLES["duplicate_keys.csv"]
    [first] = load(con, table, data_dir).files
    old_rows = raw_rows(con, table)

    with open(data_dir / "duplicate_keys.csv", "ab") as fh:
        fh.write(b"4;Delta\n")
    [second] = load(con, table, data_dir).files
    assert second.status == "loaded"
    assert second.batch_id is not None and second.batch_id > first.batch_id
    assert (second.rows_read, second.rows_loaded, second.rows_quarantined) == (7, 4, 3)

    batches = ledger(con, "duplicate_keys.csv")
    assert [(b[0], b[5]) for b in batches] == [("loaded", first.batch_id), ("loaded", second.batch_id)]
    still = con.execute(f"select * from raw.{table.key} where _batch_id = ? order by _line", [first.batch_id]).fetchall()
    assert still == old_rows, "the old batch's rows are unchanged"
    new = con.execute(f"select id, name, _line from raw.{table.key} where _batch_id = ? order by _line",
                      [second.batch_id]).fetchall()
    assert new == [(1, "Alpha", 2), (2, "Beta", 3), (3, "Gamma", 5), (4, "Delta", 8)]
    per_batch = con.execute("select batch_id, count(*) from kontor.quarantine group by batch_id order by batch_id").fetchall()
    assert per_batch == [(first.batch_id, 3), (second.batch_id, 3)]

    [third] = load(con, table, data_dir).files
    assert third.status == "skipped" and third.batch_id == second.batch_id
