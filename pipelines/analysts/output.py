"""Printing query results: an aligned table for people, CSV, JSON or Markdown for other programs.

Numbers are right-aligned with thousands separators, except integer columns that are
identifiers or calendar parts (``order_no``, ``customer_id``, ``year``): ``2,026`` would be
wrong there. No value is ever cut: in a terminal too narrow for the table, cells wrap (and a
note says so); into a pipe or file the table is as wide as its widest row.

>>> format_value(1234567, "BIGINT", "net")
'1,234,567'
>>> format_value(2026, "INTEGER", "year")
'2026'
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import re
import sys
from typing import Any, TextIO

_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|"
                      r"FLOAT|DOUBLE|REAL|DECIMAL)")
_INTEGER = re.compile(r"^U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?$")
# Integer columns that name things rather than count them: no separators.
_ID_LIKE = re.compile(r"(^|_)(id|no|nr|number|key|code|year|quarter|month|week|day|dow|line|version|batch)$|^(year|yyyy)",
                      re.IGNORECASE)


def is_numeric(type_name: str) -> bool:
    return bool(_NUMERIC.match(type_name.upper()))


def format_value(value: Any, type_name: str = "", column: str = "") -> str:
    """One cell as text for the table: thousands separators on measures, ISO dates, '' for NULL."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        plain = _INTEGER.match(type_name.upper()) and _ID_LIKE.search(column)
        return str(value) if plain else f"{value:,}"
    if isinstance(value, (float, decimal.Decimal)):
        return f"{value:,}"
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        # exact: JSON numbers from the digits, never through a float
        return json.loads(str(value)) if value.is_finite() else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def write_csv(columns: list[str], rows: list[tuple], out: TextIO) -> None:
    """CSV opened in spreadsheets: text cells that would run as formulas are neutralised."""
    from pipelines.core.csvsafe import neutralise

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(c) for c in columns])
    writer.writerows([neutralise(v) for v in row] for row in rows)


def write_json(columns: list[str], rows: list[tuple], out: TextIO) -> None:
    records = [{c: _json_value(v) for c, v in zip(columns, row)} for row in rows]
    json.dump(records, out, default=str, ensure_ascii=False, indent=1)
    out.write("\n")


def write_markdown(columns: list[str], types: list[str], rows: list[tuple], out: TextIO) -> None:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", "<br>")

    out.write("| " + " | ".join(cell(c) for c in columns) + " |\n")
    out.write("|" + "|".join("---:" if is_numeric(t) else "---" for t in types) + "|\n")
    for row in rows:
        out.write("| " + " | ".join(cell(format_value(v, t, c)) for v, t, c in zip(row, types, columns)) + " |\n")


def write_table(columns: list[str], types: list[str], rows: list[tuple], out: TextIO | None = None) -> list[str]:
    """An aligned table; returns notes for the user (e.g. that cells wrapped to fit the terminal)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    out = out or sys.stdout
    cells = [[format_value(v, t, c) for v, t, c in zip(row, types, columns)] for row in rows]
    widths = [max([len(c)] + [max((len(x) for x in row[i].splitlines()), default=0) for row in cells])
              for i, c in enumerate(columns)]
    needed = sum(widths) + 3 * len(columns) + 1
    tty = out.isatty()
    console = Console(file=out, width=None if tty else max(needed, 20), highlight=False, soft_wrap=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column, type_name in zip(columns, types):
        # fold, never an ellipsis: an IBAN or id cut short looks like a valid value
        table.add_column(column, justify="right" if is_numeric(type_name) else "left", overflow="fold")
    for row in cells:
        table.add_row(*(Text(x) for x in row))  # Text: a value is never read as rich markup
    console.print(table)
    if tty and needed > console.width:
        return [f"the table is {needed} characters wide, the terminal {console.width}: long cells wrap; "
                "use --format csv or a wider window for one line per row"]
    return []

