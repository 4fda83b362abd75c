"""kontor export on awkward tables: names that need quoting, separators and quotes in text, NULLs."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from pipelines.core.errors import KontorError
from pipelines.analysts.export import export_table


@pytest.fixture()
def con(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    con.execute('create schema "Ein Schema"')
    con.execute('''create table "Ein Schema"."Umsatz je Kunde" as select * from (values
        (1, 'Müller; "Sohn"', -1234.50::decimal(12, 2), 0.125::double, date '2026-01-31', timestamp '2026-01-31 23:59:01'),
        (2, null, null, null, null, null),
        (3, 'Zeile' || chr(10) || 'zwei', 1000000.00::decimal(12, 2), 1e-3::double, date '1999-12-01', null)
    ) t("Kunde Nr", name, betrag, anteil, datum, zeit)''')
    return con


def test_german_csv_is_what_excel_reads(con, tmp_path: Path):
    out = tmp_path / "x" / "de.csv"
    assert export_table(con, "Ein Schema.Umsatz je Kunde", out, "csv", german=True) == 3
    text = out.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(text[3:].decode("utf-8")), delimiter=";"))
    assert rows[0] == ["Kunde Nr", "name", "betrag", "anteil", "datum", "zeit"]
    assert rows[1] == ["1", 'Müller; "Sohn"', "-1234,50", "0,125", "31.01.2026", "31.01.2026 23:59:01"]
    assert rows[2] == ["2", "", "", "", "", ""]
    assert rows[3][1] == "Zeile\nzwei" and rows[3][2] == "1000000,00" and rows[3][4] == "01.12.1999"
    assert not list(out.parent.glob(".*"))                          # no temp file left


def test_plain_formats_keep_values(con, tmp_path: Path):
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"x.{fmt}"
        export_table(con, "Ein Schema.Umsatz je Kunde", out, fmt)
        back = duckdb.execute(f"select name, betrag::decimal(12, 2), datum from read_{fmt}(?) order by 1 nulls first",
                              [str(out)]).fetchall()
        assert [r[0] for r in back] == [None, 'Müller; "Sohn"', "Zeile\nzwei"]
        assert str(back[1][1]) == "-1234.50"


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tmp_path: Path):
    con = duckdb.connect()
    con.execute("create table main.big as select range as i from range(1048576)")
    with pytest.raises(KontorError, match="more than an Excel sheet holds"):
        export_table(con, "main.big", tmp_path / "big.xlsx", "xlsx")
    assert not (tmp_path / "big.xlsx").exists()


@pytest.mark.parametrize("german", [False, True])
def test_csv_cells_never_run_as_formulas(tmp_path: Path, german: bool):
    con = duckdb.connect()
    con.execute("""create table main.names as select * from (values
        ('@SUM(1+1)*cmd|'' /C calc''!A0', -12.5), ('=HYPERLINK("x")', 1.0), ('-12,50', 2.0), ('Müller GmbH', 3.0)
    ) t(name, amount)""")
    out = tmp_path / "names.csv"
    export_table(con, "main.names", out, "csv", german=german)
    text = out.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";" if german else ","))
    assert [r[0] for r in rows[1:]] == ["'@SUM(1+1)*cmd|' /C calc'!A0", "'=HYPERLINK(\"x\")", "-12,50", "Müller GmbH"]
    assert rows[1][1] == ("-12,5" if german else "-12.5")           # numbers stay numbers
