"""A number outside its column's type quarantines its row with a reason; it never fails the file.

SAP and other ERPs write the sign behind the number (``123-``). Negating a value already cast to
an unsigned type raised DuckDB's "Overflow in negation" and failed the whole file; a negative or an
overflowing value in any integer or decimal column must quarantine only its own row.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core import yamlfile
from pipelines.core.warehouse import connect
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import parse_sources

SPEC = """
sources:
  - name: sap
    format: {{type: csv, delimiter: ";", decimal_separator: ",", thousands_separator: "."}}
    tables:
      - name: fi
        location: sap.csv
        columns: [{{name: Beleg, data_type: integer}}, {{name: Wert, data_type: "{data_type}"}}]
"""

# (declared type, values that load -> their value, values that quarantine -> words the reason holds)
CASES = [
    ("ubigint", {"7": "7", "0-": "0", "18.446.744.073.709.551.615": "18446744073709551615"},
     {"123-": "negative", "-5": "negative", "18.446.744.073.709.551.616": "as ubigint: outside its range (0 to 18446744073709551615)"}),
    ("uinteger", {"4.294.967.295": "4294967295"},
     {"1-": "negative", "-1": "negative", "4.294.967.296": "outside its range"}),
    ("usmallint", {"65535": "65535"}, {"7-": "negative", "65536": "outside its range"}),
    ("utinyint", {"255": "255"}, {"7-": "negative", "-7": "negative", "256": "outside its range"}),
    ("uhugeint", {"12": "12", "1.000": "1000"}, {"12-": "negative", "-12": "negative", "12,5": "cannot read"}),
    ("tinyint", {"128-": "-128", "127": "127", "-128": "-128"}, {"129-": "as tinyint: outside its range (-128 to 127)", "128": "outside its range"}),
    ("bigint", {"9.223.372.036.854.775.808-": "-9223372036854775808"},
     {"9.223.372.036.854.775.809-": "outside its range", "9.223.372.036.854.775.808": "outside its range"}),
    ("hugeint", {"5-": "-5"}, {"170141183460469231731687303715884105728": "outside its range", "1.7-": "cannot read"}),
    ("decimal(5,2)", {"999,99-": "-999.99"},
     {"1.000,00-": "as decimal(5, 2): too large (at most 3 digits before", "1.000,00": "too large",
      "1,005-": "cannot read"}),
]


@pytest.mark.parametrize("data_type, good, bad", CASES, ids=[c[0] for c in CASES])
def test_out_of_range_values_quarantine_their_row(tmp_path: Path, data_type: str, good: dict, bad: dict):
    values = list(good) + list(bad)
    (tmp_path / "sap.csv").write_text(
        "Beleg;Wert\n" + "".join(f"{i};{v}\n" for i, v in enumerate(values, 1)), encoding="utf-8")
    table = parse_sources(yamlfile.loads(SPEC.format(data_type=data_type), "sources.yml"), "sources.yml").tables[0]
    con = connect(tmp_path / "w.duckdb")
    [f] = ingest_table(con, table, tmp_path, tmp_path / "tmp").files
    assert (f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("loaded", len(values), len(good), len(bad)), f.message
    assert con.execute("select Wert::varchar from raw.sap__fi order by _line").fetchall() == [(v,) for v in good.values()]
    rows = con.execute("select file, line, column_name, reason from kontor.quarantine order by line").fetchall()
    assert [(file, line, column) for file, line, column, _ in rows] == [
        ("sap.csv", line, "Wert") for line in range(len(good) + 2, len(values) + 2)]
    for (value, words), (_, _, _, reason) in zip(bad.items(), rows):
        assert reason.startswith("Wert: cannot read ") and f"'{value}'" in reason and words in reason, reason
        if words == "negative":
            assert "negative number in an unsigned column" in reason and "fix:" in reason, reason
