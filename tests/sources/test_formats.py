"""Parquet, JSON and XLSX extracts take the same path as CSV: typed, checked, quarantined with a line."""
from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import parse_sources
from pipelines.core import yamlfile
from pipelines.core.warehouse import connect

SPEC = """
sources:
  - name: shop
    tables:
      - name: items_{kind}
        location: items.{kind}
        format: {{type: {kind}}}
        primary_key: item_no
        columns:
          - {{name: item_no, data_type: varchar}}
          - {{name: price, data_type: "decimal(10,2)", required: true}}
          - {{name: since, data_type: date}}
"""

ROWS = pl.DataFrame({
    "item_no": ["A-1", "A-2", "A-3", "A-1", "A-4"],
    "price": ["12.50", "oops", "7", "9.99", None],
    "since": ["2026-01-31", "2026-02-01", "2026-13-01", "2026-03-01", "2026-03-02"],
})
# line (row) -> expected fate
EXPECTED_QUARANTINE = {2: "price", 3: "since", 4: "item_no", 5: "price"}


def _load(tmp_path: Path, kind: str):
    table = parse_sources(yamlfile.loads(SPEC.format(kind=kind), "sources.yml"), "sources.yml").tables[0]
    con = connect(tmp_path / "w.duckdb")
    return con, ingest_table(con, table, tmp_path, tmp_path / "tmp")


def _assert_outcome(con, load, first_line: int):
    [f] = load.files
    assert (f.status, f.rows_read, f.rows_loaded, f.rows_quarantined) == ("loaded", 5, 1, 4)
    quarantined = dict(con.execute("select line, column_name from kontor.quarantine order by line").fetchall())
    assert quarantined == {line + first_line - 1: col for line, col in EXPECTED_QUARANTINE.items()}
    item, price, since, line = con.execute(f"select item_no, price, since, _line from raw.shop__items_{f.path.split('.')[-1]}").fetchone()
    assert (item, str(price), str(since), line) == ("A-1", "12.50", "2026-01-31", first_line)


def test_parquet(tmp_path: Path):
    ROWS.write_parquet(tmp_path / "items.parquet")
    con, load = _load(tmp_path, "parquet")
    _assert_outcome(con, load, first_line=1)


def test_json_lines(tmp_path: Path):
    ROWS.write_ndjson(tmp_path / "items.json")
    con, load = _load(tmp_path, "json")
    _assert_outcome(con, load, first_line=1)


def test_xlsx(tmp_path: Path):
    ROWS.write_excel(tmp_path / "items.xlsx")
    con, load = _load(tmp_path, "xlsx")
    _assert_outcome(con, load, first_line=2)   # row 1 of the sheet is the header


def test_unreadable_parquet_fails_with_a_fix(tmp_path: Path):
    (tmp_path / "items.parquet").write_bytes(b"PAR1 this is not parquet")
    con, load = _load(tmp_path, "parquet")
    [f] = load.failures
    assert f.message.startswith("items.parquet: cannot be read as Parquet") and "fix:" in f.message
