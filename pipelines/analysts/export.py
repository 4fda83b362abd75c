"""``kontor export``: one table of the serving copy as a file for Excel and BI tools.

- ``parquet``: typed, compressed; BI tools and pandas/polars read it as it is.
- ``csv``: RFC 4180, comma, point as decimal separator, ISO dates, UTF-8.
- ``csv`` with ``german=True``: what Excel with German regional settings opens by double-click:
  ``;`` between fields, decimal comma (``1234,50``), dates ``DD.MM.YYYY``, UTF-8 with a byte order
  mark (so Excel does not guess cp1252 and break umlauts). DuckDB's CSV writer has no decimal
  comma, so numbers and dates are formatted in the SELECT, built with sqlglot.
- ``xlsx``: one sheet, typed cells, header row frozen (xlsxwriter through polars); at most
  Excel's 1,048,575 data rows, else an error that says to use Parquet or CSV.

Both CSV dialects neutralise text cells a spreadsheet would run as a formula (``pipelines.core.csvsafe``);
xlsx cells are typed strings, which Excel never evaluates.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlglot import exp

from pipelines.core.csvsafe import neutralise_expr
from pipelines.core.errors import KontorError
from pipelines.engines.connection import Connection, fetch_polars

EXCEL_MAX_ROWS = 1_048_575
_NUMBER = ("DECIMAL", "DOUBLE", "FLOAT", "REAL")
_BOM = b"\xef\xbb\xbf"


def _columns(con: Connection, table: exp.Table) -> list[tuple[str, str]]:
    return [(row[0], str(row[1]).upper()) for row in con.execute(exp.Describe(this=table).sql("duckdb")).fetchall()]


def csv_select(con: Connection, table: exp.Table, german: bool = False) -> exp.Select:
    """``select`` of every column for a CSV people open in a spreadsheet: text cells that would run
    as a formula neutralised (``pipelines.core.csvsafe``); with ``german`` numbers in decimal comma and
    dates as DD.MM.YYYY."""
    projections = []
    for name, type_name in _columns(con, table):
        column = exp.column(name, quoted=True)
        if type_name == "VARCHAR":
            projections.append(neutralise_expr(name))
            continue
        if not german:
            projections.append(column)
            continue
        if type_name.startswith(_NUMBER):
            value = exp.func("replace", exp.cast(column, "varchar"), exp.Literal.string("."), exp.Literal.string(","))
        elif type_name == "DATE":
            value = exp.func("strftime", column, exp.Literal.string("%d.%m.%Y"))
        elif type_name.startswith("TIMESTAMP"):
            value = exp.func("strftime", column, exp.Literal.string("%d.%m.%Y %H:%M:%S"))
        else:
            projections.append(column)
            continue
        projections.append(exp.alias_(value, name, quoted=True))
    return exp.select(*projections).from_(table)


def _copy(con: Connection, query: exp.Expression, path: Path, options: dict[str, object]) -> None:
    props = ", ".join(f"{k} {exp.Literal.string(v).sql('duckdb') if isinstance(v, str) else v}" for k, v in options.items())
    con.execute(f"copy ({query.sql('duckdb')}) to {exp.Literal.string(str(path)).sql('duckdb')} ({props})")


def export_table(con: Connection, relation: str, path: Path, fmt: str, german: bool = False) -> int:
    """Write ``relation`` (schema.table) to ``path``; returns the rows written. The file appears
    whole or not at all (written beside it, then renamed)."""
    schema, name = relation.split(".", 1)
    table = exp.table_(name, db=schema, quoted=True)
    rows = con.execute(exp.select(exp.func("count", exp.Star())).from_(table).sql("duckdb")).fetchall()[0][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            _copy(con, exp.select("*").from_(table), tmp, {"format": "parquet", "compression": "zstd"})
        elif fmt == "csv" and not german:
            _copy(con, csv_select(con, table), tmp, {"format": "csv", "header": "true"})
        elif fmt == "csv":
            body = tmp.with_suffix(".body")
            _copy(con, csv_select(con, table, german=True), body, {"format": "csv", "header": "true", "delimiter": ";"})
            with open(tmp, "wb") as out, open(body, "rb") as src:
                out.write(_BOM)
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            body.unlink()
        elif fmt == "xlsx":
            if rows > EXCEL_MAX_ROWS:
                raise KontorError(f"{relation} has {rows:,} rows, more than an Excel sheet holds ({EXCEL_MAX_ROWS:,}); "
                                  "fix: --format parquet or csv")
            frame = fetch_polars(con, exp.select("*").from_(table).sql("duckdb"))
            frame.write_excel(tmp, worksheet=name[:31], autofit=True, freeze_panes=(1, 0))
        else:
            raise KontorError(f"unknown format {fmt!r}; fix: parquet, csv or xlsx")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".body").unlink(missing_ok=True)
    return rows
