"""Typed values out of extract text, with a reason for every value that does not convert.

DuckDB's own CSV casting rejects German numbers (``1.234,50``) even with a decimal comma, so
extracts are read as text and converted here, column by column, in one SQL pass. A value
that is present but does not convert yields NULL and a reason naming the column, the value
and the fix; the row then goes to quarantine instead of ``raw``.
"""
from __future__ import annotations

import re

from pipelines.sources.spec import Column, FileFormat
from pipelines.sql import ident, literal

_INTEGER = {"tinyint", "smallint", "integer", "int", "bigint", "hugeint", "ubigint", "uinteger"}
_FLOAT = {"double", "float", "real"}
# Control characters other than tab, LF and CR, and U+FFFD (a byte the encoding does not
# define) mark binary junk or a wrong encoding in a text field.
CONTROL_CHARS = "[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F\\x{FFFD}]"
_GERMAN_NUMBER = r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$|^[+-]?\d+,\d+$"


def base_type(data_type: str) -> str:
    return data_type.split("(")[0].strip()


def _number_pattern(fmt: FileFormat) -> str:
    dec = re.escape(fmt.decimal_separator)
    if fmt.thousands_separator:
        th = re.escape(fmt.thousands_separator)
        return rf"^[+-]?(\d{{1,3}}({th}\d{{3}})+|\d+)({dec}\d+)?$"
    return rf"^[+-]?\d+({dec}\d+)?$"


def _needs_number_rewrite(fmt: FileFormat) -> bool:
    return fmt.decimal_separator != "." or bool(fmt.thousands_separator)


def value_expr(col: Column, stage_col: str | None, stage_type: str | None, fmt: FileFormat) -> str:
    """SQL for the typed value of ``col`` from stage column ``stage_col`` (NULL if absent)."""
    target = col.data_type
    if stage_col is None:
        return f"cast(null as {target})"
    src = ident(stage_col)
    if stage_type is not None and stage_type.lower() != "varchar":
        return src if stage_type.lower() == target else f"try_cast({src} as {target})"
    if col.is_text:
        return src
    text = f"trim({src})"
    kind = base_type(target)
    if kind in _INTEGER | _FLOAT | {"decimal", "numeric"} and _needs_number_rewrite(fmt):
        plain = text
        if fmt.thousands_separator:
            plain = f"replace({plain}, {literal(fmt.thousands_separator)}, '')"
        if fmt.decimal_separator != ".":
            plain = f"replace({plain}, {literal(fmt.decimal_separator)}, '.')"
        return (f"case when regexp_full_match({text}, {literal(_number_pattern(fmt))}) "
                f"then try_cast({plain} as {target}) end")
    if kind == "date" and fmt.date_format:
        return f"try_cast(try_strptime({text}, {literal(fmt.date_format)}) as date)"
    if kind.startswith("timestamp") and (fmt.timestamp_format or fmt.date_format):
        return f"try_strptime({text}, {literal(fmt.timestamp_format or fmt.date_format)})::{target}"
    return f"try_cast({text} as {target})"


def _expected(col: Column, fmt: FileFormat) -> str:
    kind = base_type(col.data_type)
    if kind == "date" and fmt.date_format:
        return f"a date in format {fmt.date_format}"
    if kind.startswith("timestamp") and (fmt.timestamp_format or fmt.date_format):
        return f"a timestamp in format {fmt.timestamp_format or fmt.date_format}"
    if kind in _INTEGER | _FLOAT | {"decimal", "numeric"} and _needs_number_rewrite(fmt):
        sep = f"decimal separator '{fmt.decimal_separator}'"
        if fmt.thousands_separator:
            sep += f", thousands separator '{fmt.thousands_separator}'"
        return f"{col.data_type} ({sep})"
    return col.data_type


def error_expr(col: Column, stage_col: str | None, stage_type: str | None, fmt: FileFormat) -> str:
    """SQL yielding a reason when the column's value is missing or unreadable, else NULL."""
    name = col.name
    if stage_col is None:
        return "null"
    src = ident(stage_col)
    is_text_stage = stage_type is None or stage_type.lower() == "varchar"
    missing = f"{src} is null" + (f" or trim({src}) = ''" if is_text_stage else "")
    branches = []
    if col.required:
        branches.append(f"when {missing} then {literal(name + ': required value is missing')}")
    else:
        branches.append(f"when {missing} then null")
    if is_text_stage:
        branches.append(
            f"when regexp_matches({src}, {literal(CONTROL_CHARS)}) then "
            f"{literal(name + ': control characters or bytes invalid in the file encoding (binary data or wrong encoding?)')}"
        )
    if not col.is_text:
        reason = f"{literal(name + ': cannot read ')} || '''' || left({src}::varchar, 60) || '''' || {literal(' as ' + _expected(col, fmt))}"
        if is_text_stage and base_type(col.data_type) in _INTEGER | _FLOAT | {"decimal", "numeric"} \
                and fmt.decimal_separator == ".":
            hint = literal("; it looks like German number format: set format decimal_separator ',' and thousands_separator '.'")
            reason += f" || case when regexp_full_match(trim({src}), {literal(_GERMAN_NUMBER)}) then {hint} else '' end"
        branches.append(f"when ({value_expr(col, stage_col, stage_type, fmt)}) is null then {reason}")
    return "case " + " ".join(branches) + " end"
