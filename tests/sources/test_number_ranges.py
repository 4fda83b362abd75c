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


def _pattern_only(column: str, fmt, data_type: str) -> str:
    """An integer's value as the patterns alone define it (before the cast-back shortcut)."""
    from sqlglot import exp

    from pipelines.sources.convert import _number_pattern, _trailing_minus_pattern

    def lit(text: str) -> str:
        return exp.Literal.string(text).sql(dialect="duckdb")

    def plain(v: str) -> str:
        return f"replace({v}, {lit(fmt.thousands_separator)}, '')" if fmt.thousands_separator else v
    pat, minus, trim = lit(_number_pattern(fmt, 0)), lit(_trailing_minus_pattern(fmt, 0)), f"trim({column})"
    return (f"case when regexp_full_match({column}, {pat}) then try_cast({plain(column)} as {data_type}) "
            f"when regexp_full_match({trim}, {pat}) then try_cast({plain(trim)} as {data_type}) "
            f"when regexp_full_match({trim}, {minus}) then try_cast({plain(f'{lit(chr(45))} || rtrim({trim}, {lit(chr(45))})')} "
            f"as {data_type}) end")


@pytest.mark.parametrize("thousands", [None, ".", ",", " ", "'", "-"])
def test_integer_values_are_what_the_patterns_alone_give(thousands):
    import duckdb

    from pipelines.sources.convert import value_expr
    from pipelines.sources.spec import Column, FileFormat

    fmt = FileFormat(type="csv", decimal_separator="," if thousands != "," else ".", thousands_separator=thousands)
    texts = ["0", "-0", "+0", "00", "007", "7", "-7", "+7", "7-", " 7", "7 ", "1e3", "0x1F", "1_000", "1.000", "1,000",
             "1 000", "1'000", "1-000", "12.5", "12,5", "", " ", "-", "+", "--5", "5--", "1.2345", "255", "256", "-128",
             "-129", "127", "128", "65535", "65536", "4294967295", "4294967296", "-2147483648", "2147483648",
             "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615",
             "18446744073709551616", "170141183460469231731687303715884105727", "Ⅻ", "٣", "１２", "\t7", "7\n"]
    con = duckdb.connect()
    con.execute("create table t (x varchar)")
    con.executemany("insert into t values (?)", [[v] for v in texts] + [[None]])
    for data_type in ["tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger",
                      "ubigint", "uhugeint"]:
        ours = value_expr(Column(name="x", data_type=data_type), "x", "varchar", fmt).sql(dialect="duckdb")
        reference = _pattern_only('"x"', fmt, data_type)
        differ = con.execute(f"select x, ({ours})::varchar, ({reference})::varchar from t "
                             f"where ({ours}) is distinct from ({reference})").fetchall()
        assert differ == [], (data_type, thousands, differ)
