"""DATEV ASCII exports (EXTF/DTVF) as the accounting system writes them: metadata line, column
header on line 2, amount plus Soll/Haben sign, Belegdatum as day and month only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.core import yamlfile
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import parse_sources
from pipelines.core.warehouse import connect

# Field order of the EXTF line and of the Buchungsstapel columns per DATEV's format description
# (format 700, category 21, format version 13); fiscal year from July, so the range crosses a year end.
EXTF = ('"EXTF";700;21;"Buchungsstapel";13;20260702093015123;;"RE";"Buchhaltung";"";29098;55003;20250701;4;'
        '20250701;20260630;"Rechnungsausgang";"MM";1;0;0;"EUR";;"";;;"03";;;"";""')
COLUMNS = ('Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;'
           'Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1;Belegfeld 2;Skonto;Buchungstext')
ROWS = [
    '1190,00;"S";"EUR";;;;10001;8400;"3";3112;"RE-2025-117";"";;"Müller GmbH; Köln"',      # line 3
    '59,50;"H";"EUR";;;;10002;8400;"";105;"GS-2026-004";"";;"Gutschrift ""Skonto"""',      # line 4
    '250,00;"s";"USD";1,0850;230,41;"EUR";10003;8400;"";0107;"RE-2025-001";"";;"Export"',  # line 5
    '10,00;"X";"EUR";;;;10004;8400;"";1507;"RE-2025-002";"";;"bad sign"',                 # line 6: quarantined
    '20,00;"S";"EUR";;;;10005;8400;"";2902;"RE-2026-050";"";;"no 29 Feb in 2026"',        # line 7: quarantined
    '1234,56;"H";"EUR";;;;10006;8400;"";3006;"RE-2026-099";"";;"last day"',               # line 8
]

SPEC = """
sources:
  - name: fibu
    format: {type: datev}
    tables:
      - name: buchungen
        location: EXTF_Buchungsstapel*.csv
        columns:
          - {name: Umsatz, data_type: "decimal(14,2)", required: true}
          - {name: "WKZ Umsatz", data_type: varchar}
          - {name: Konto, data_type: integer, required: true}
          - {name: "Gegenkonto (ohne BU-Schlüssel)", data_type: integer}
          - {name: Belegdatum, data_type: date, required: true}
          - {name: "Belegfeld 1", data_type: varchar}
          - {name: Buchungstext, data_type: varchar}
          - {name: Kurs, data_type: "decimal(10,4)"}
"""


def _write(path: Path, rows=ROWS, first=EXTF) -> None:
    path.write_bytes(("\r\n".join([first, COLUMNS, *rows]) + "\r\n").encode("cp1252"))


def _load(tmp_path: Path, spec: str = SPEC):
    table = parse_sources(yamlfile.loads(spec, "sources.yml"), "sources.yml").tables[0]
    con = connect(tmp_path / "w.duckdb")
    return con, table, ingest_table(con, table, tmp_path, tmp_path / "tmp")


def test_buchungsstapel_loads_signed_amounts_and_completed_dates(tmp_path: Path):
    _write(tmp_path / "EXTF_Buchungsstapel_2026.csv")
    con, table, load = _load(tmp_path)
    [f] = load.files
    assert (f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("loaded", 6, 4, 2), f.message
    rows = con.execute('select _line, Umsatz::varchar, "WKZ Umsatz", Konto, Belegdatum::varchar, Buchungstext, Kurs::varchar '
                       'from raw.fibu__buchungen order by _line').fetchall()
    assert rows == [
        (3, "1190.00", "EUR", 10001, "2025-12-31", "Müller GmbH; Köln", None),
        (4, "-59.50", "EUR", 10002, "2026-05-01", 'Gutschrift "Skonto"', None),
        (5, "250.00", "USD", 10003, "2025-07-01", "Export", "1.0850"),
        (8, "-1234.56", "EUR", 10006, "2026-06-30", "last day", None),
    ]
    quarantine = con.execute("select line, column_name, reason from kontor.quarantine order by line").fetchall()
    assert [(q[0], q[1]) for q in quarantine] == [(6, "Umsatz"), (7, "Belegdatum")]
    assert "Soll/Haben-Kennzeichen 'X' is neither S nor H" in quarantine[0][2]
    assert "DDMM within the file's range 01.07.2025 to 30.06.2026" in quarantine[1][2]


def test_ledger_keeps_the_datev_metadata(tmp_path: Path):
    _write(tmp_path / "EXTF_Buchungsstapel_2026.csv")
    con, _, load = _load(tmp_path)
    encoding, meta = con.execute("select encoding, file_meta from kontor.load_ledger").fetchone()
    meta = json.loads(meta)
    assert encoding == "cp1252"
    assert {k: meta[k] for k in ("marker", "version", "data_category", "data_category_name", "format_name",
                                 "format_version", "consultant_number", "client_number", "fiscal_year_start",
                                 "date_from", "date_to", "currency")} == {
        "marker": "EXTF", "version": "700", "data_category": "21", "data_category_name": "Buchungsstapel",
        "format_name": "Buchungsstapel", "format_version": "13", "consultant_number": "29098",
        "client_number": "55003", "fiscal_year_start": "2025-07-01", "date_from": "2025-07-01",
        "date_to": "2026-06-30", "currency": "EUR"}
    assert any("DATEV EXTF 700, Buchungsstapel" in n for n in load.files[0].notes)


def test_extf_line_is_detected_in_a_table_declared_csv(tmp_path: Path):
    """The issue's case: an accounting table declared as plain CSV receives a DATEV export."""
    _write(tmp_path / "EXTF_Buchungsstapel_2026.csv")
    spec = SPEC.replace("format: {type: datev}",
                        'format: {type: csv, delimiter: ";", encoding: cp1252, decimal_separator: ",", date_format: "%d.%m.%Y"}')
    con, _, load = _load(tmp_path, spec)
    [f] = load.files
    assert (f.status, f.rows_loaded, f.rows_quarantined) == ("loaded", 4, 2), f.message
    assert con.execute("select min(Belegdatum)::varchar from raw.fibu__buchungen").fetchone() == ("2025-07-01",)


def test_dtvf_and_range_within_one_year(tmp_path: Path):
    first = EXTF.replace('"EXTF";700', '"DTVF";510').replace("20250701;4;20250701;20260630", "20260101;4;20260101;20260131")
    _write(tmp_path / "EXTF_Buchungsstapel_jan.csv", rows=['5,00;"S";"EUR";;;;10001;8400;"";1501;"A";"";;"x"',
                                                          '5,00;"S";"EUR";;;;10001;8400;"";1502;"B";"";;"outside"'],
           first=first)
    con, _, load = _load(tmp_path)
    [f] = load.files
    assert (f.rows_loaded, f.rows_quarantined) == (1, 1)
    assert con.execute("select Belegdatum::varchar from raw.fibu__buchungen").fetchall() == [("2026-01-15",)]
    assert con.execute("select line from kontor.quarantine").fetchall() == [(4,)]


def test_declared_datev_without_extf_line_fails_with_a_fix(tmp_path: Path):
    (tmp_path / "EXTF_Buchungsstapel_x.csv").write_bytes((COLUMNS + "\r\n" + ROWS[0] + "\r\n").encode("cp1252"))
    con, _, load = _load(tmp_path)
    [f] = load.failures
    assert "not a DATEV header" in f.message and "fix:" in f.message
    assert con.execute("select count(*), min(status) from kontor.load_ledger").fetchone() == (1, "failed")


@pytest.mark.parametrize("text, value", [("1.000,00-", "-1000.00"), ("12,50-", "-12.50"), ("-3,00", "-3.00")])
def test_trailing_minus(tmp_path: Path, text: str, value: str):
    (tmp_path / "sap.csv").write_text(f"Beleg;Betrag\n1;{text}\n", encoding="utf-8")
    spec = """
sources:
  - name: sap
    format: {type: csv, delimiter: ";", decimal_separator: ",", thousands_separator: "."}
    tables:
      - name: fi
        location: sap.csv
        columns: [{name: Beleg, data_type: integer}, {name: Betrag, data_type: "decimal(14,2)"}]
"""
    con, _, load = _load(tmp_path, spec)
    assert load.files[0].rows_loaded == 1, load.files[0].message
    assert con.execute("select Betrag::varchar from raw.sap__fi").fetchone() == (value,)
