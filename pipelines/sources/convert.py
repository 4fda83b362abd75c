"""Typed values out of extract text, with a reason for every value that does not convert.

DuckDB's own CSV casting rejects German numbers (``1.234,50``) even with a decimal comma, so
extracts are read as text and converted here, column by column, in one SQL pass. A value
that is present but does not convert yields NULL and a reason naming the column, the value
and the fix; the row then goes to quarantine instead of ``raw``.
"""
from __future__ import annotations

import re

from pipelines.sources.spec import Column, FileFormat
from pipelines.core.sql import ident, literal

# The range of each integer type, by the name a declared type normalizes to (sqlglot writes hugeint
# as int128 and uhugeint as uint128; both spellings are kept).
_INTEGER_RANGE = {
    "tinyint": (-2**7, 2**7 - 1), "smallint": (-2**15, 2**15 - 1), "int": (-2**31, 2**31 - 1),
    "integer": (-2**31, 2**31 - 1), "bigint": (-2**63, 2**63 - 1), "int128": (-2**127, 2**127 - 1),
    "hugeint": (-2**127, 2**127 - 1), "utinyint": (0, 2**8 - 1), "usmallint": (0, 2**16 - 1),
    "uinteger": (0, 2**32 - 1), "ubigint": (0, 2**64 - 1), "uint128": (0, 2**128 - 1),
    "uhugeint": (0, 2**128 - 1),
}
_INTEGER = set(_INTEGER_RANGE)
_FLOAT = {"double", "float", "real"}
# Control characters other than tab, LF and CR, and U+FFFD (a byte the encoding does not
# define) mark binary junk or a wrong encoding in a text field.
CONTROL_CHARS = "[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F\\x{FFFD}]"
_GERMAN_NUMBER = r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$|^[+-]?\d+,\d+$"


def base_type(data_type: str) -> str:
    return data_type.split("(")[0].strip()


def _scale(data_type: str) -> int | None:
    """Decimal places a type keeps: 0 for integers, s for decimal(p,s), None for floats."""
    kind = base_type(data_type)
    if kind in _INTEGER:
        return 0
    if kind in ("decimal", "numeric"):
        args = data_type[data_type.find("(") + 1:data_type.rfind(")")].split(",") if "(" in data_type else []
        return int(args[1]) if len(args) == 2 else 3   # DuckDB's default decimal is (18,3)
    return None


def _precision(data_type: str) -> int:
    """Total digits a decimal(p,s) keeps (DuckDB's default decimal is (18,3))."""
    args = data_type[data_type.find("(") + 1:data_type.rfind(")")].split(",") if "(" in data_type else []
    return int(args[0]) if args and args[0].strip() else 18


def _number_pattern(fmt: FileFormat, scale: int | None) -> str:
    """A number as the file writes it. Integers take no decimals and decimals no more places than
    the column keeps: DuckDB would round ``12,6`` to 13 and ``1,005`` to 1.01 without a word."""
    dec = re.escape(fmt.decimal_separator)
    digits = r"\d+" if not fmt.thousands_separator else rf"(\d{{1,3}}({re.escape(fmt.thousands_separator)}\d{{3}})+|\d+)"
    fraction = "" if scale == 0 else (rf"({dec}\d+)?" if scale is None else rf"({dec}\d{{1,{scale}}})?")
    return rf"^[+-]?{digits}{fraction}$"


def _trailing_minus_pattern(fmt: FileFormat, scale: int | None) -> str:
    """SAP and other ERPs write the sign behind the number: ``1.000,00-``."""
    return _number_pattern(fmt, scale).replace("^[+-]?", "^").replace("$", "-$")


def _needs_number_rewrite(fmt: FileFormat) -> bool:
    return fmt.decimal_separator != "." or bool(fmt.thousands_separator)


def _sane_date(expr: str) -> str:
    # strptime's %Y and ISO casts accept '24' as the year 24: a two-digit year, never a real date here.
    return f"case when year({expr}) between 1000 and 9999 then {expr} end"


def _datev_date(text: str, otherwise: str, period: tuple) -> str:
    """DATEV writes a Belegdatum as day and month only (``3112``, or ``105`` for 1 May), the year
    being that of the header's date range; a range across a year end (a fiscal year from July)
    takes the year in which the day falls inside the range. Eight digits are ``DDMMYYYY``."""
    start, stop = period
    ddmm = f"lpad({text}, 4, '0')"
    # The range is checked on MMDD as a number (DDMM 3112 -> 1231: month * 100 + day), so each value
    # is parsed once; arithmetic on the number costs half what cutting and joining the text did.
    number = f"try_cast({text} as integer)"
    mmdd = f"(({number} % 100) * 100 + {number} // 100)"
    lo, hi = int(f"{start:%m%d}"), int(f"{stop:%m%d}")

    def day(year: int) -> str:
        return f"try_strptime({ddmm} || '{year}', '%d%m%Y')::date"

    if start.year == stop.year:
        short = f"case when {mmdd} between {lo} and {hi} then {day(start.year)} end"
    elif start.year + 1 == stop.year and f"{stop:%m%d}" < f"{start:%m%d}":
        short = f"case when {mmdd} >= {lo} then {day(start.year)} when {mmdd} <= {hi} then {day(stop.year)} end"
    else:   # a range over a year long: the day could be in several years; the first in range wins
        bounds = f"between {literal(start.isoformat())}::date and {literal(stop.isoformat())}::date"
        short = "coalesce(" + ", ".join(f"case when {day(y)} {bounds} then {day(y)} end"
                                        for y in range(start.year, stop.year + 1)) + ")"
    return (f"case when regexp_full_match({text}, '\\d{{3,4}}') then {short} "
            f"when regexp_full_match({text}, '\\d{{8}}') then try_strptime({text}, '%d%m%Y')::date "
            f"else {otherwise} end")


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
    scale = _scale(target)
    if kind in _INTEGER | {"decimal", "numeric"} or (kind in _FLOAT and _needs_number_rewrite(fmt)):
        def plain(value: str) -> str:
            if fmt.thousands_separator:
                value = f"replace({value}, {literal(fmt.thousands_separator)}, '')"
            # An integer's pattern has no decimal separator: nothing to replace (a replace per value
            # cost more than the cast).
            if fmt.decimal_separator != "." and scale != 0:
                value = f"replace({value}, {literal(fmt.decimal_separator)}, '.')"
            return value

        # The value as read first: a match starts with a sign or digit and ends with a digit, so it is
        # its own trim, and most values skip the trim (which cost as much as the match). The trailing
        # minus is tried only where the usual form did not match: no cost for the rest.
        pattern = literal(_number_pattern(fmt, scale))
        # A trailing minus moves to the front before the cast, never a negation after it: negating an
        # unsigned value raised "Overflow in negation" and failed the whole file, and -128 fits a
        # tinyint whose 128 does not. A value the type cannot hold is NULL, its row quarantined.
        return (f"case when regexp_full_match({src}, {pattern}) then try_cast({plain(src)} as {target}) "
                f"when regexp_full_match({text}, {pattern}) "
                f"then try_cast({plain(text)} as {target}) "
                f"when regexp_full_match({text}, {literal(_trailing_minus_pattern(fmt, scale))}) "
                f"then try_cast({plain(chr(39) + '-' + chr(39) + f' || rtrim({text}, {literal(chr(45))})')} as {target}) end")
    if kind == "date":
        parsed = f"try_strptime({text}, {literal(fmt.date_format)})::date" if fmt.date_format else f"try_cast({text} as date)"
        if fmt.date_format and fmt.date_format != "%Y-%m-%d":
            # An ISO date is unambiguous whatever the declared format: a clerk's hand-fixed row or a
            # second export tool writes 2026-10-05 into a %d.%m.%Y column.
            parsed = (f"coalesce({parsed}, case when regexp_full_match({text}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') "
                      f"then try_strptime({text}, '%Y-%m-%d')::date end)")
        if fmt.datev_period:
            parsed = _datev_date(text, parsed, fmt.datev_period)
        return _sane_date(parsed)
    if kind.startswith("timestamp"):
        fmt_ts = fmt.timestamp_format or fmt.date_format
        parsed = f"try_strptime({text}, {literal(fmt_ts)})::{target}" if fmt_ts else f"try_cast({text} as {target})"
        return _sane_date(parsed)
    return f"try_cast({text} as {target})"


def _typed_implies_present(col: Column, stage_type: str | None, fmt: FileFormat) -> bool:
    """Whether a non-NULL typed value proves the source value present (neither NULL nor blank).

    True for a typed stage (its values convert NULL to NULL), and for numbers (the pattern needs a
    digit), dates and timestamps (a blank never parses) read from text; not for text columns or
    the plain ``try_cast`` of other types (a blank string casts to an empty BLOB, say)."""
    if stage_type is not None and stage_type.lower() != "varchar":
        return True
    kind = base_type(col.data_type)
    if col.is_text:
        return False
    if kind in _INTEGER | {"decimal", "numeric"} or (kind in _FLOAT and _needs_number_rewrite(fmt)):
        return True
    return kind == "date" or kind.startswith("timestamp")


def _expected(col: Column, fmt: FileFormat) -> str:
    kind = base_type(col.data_type)
    if kind == "date" and fmt.datev_period:
        start, stop = fmt.datev_period
        return (f"a DATEV date (DDMM within the file's range {start:%d.%m.%Y} to {stop:%d.%m.%Y}, or DDMMYYYY"
                + (f", or {fmt.date_format}" if fmt.date_format else "") + ")")
    if kind == "date" and fmt.date_format:
        return f"a date in format {fmt.date_format}"
    if kind.startswith("timestamp") and (fmt.timestamp_format or fmt.date_format):
        return f"a timestamp in format {fmt.timestamp_format or fmt.date_format}"
    scale = _scale(col.data_type)
    if scale is not None or _needs_number_rewrite(fmt) and kind in _FLOAT:
        parts = ["no decimal places" if scale == 0 else f"at most {scale} decimal places" if scale else ""]
        if _needs_number_rewrite(fmt):
            parts.append(f"decimal separator '{fmt.decimal_separator}'")
            if fmt.thousands_separator:
                parts.append(f"thousands separator '{fmt.thousands_separator}'")
        detail = ", ".join(p for p in parts if p)
        return f"{col.data_type} ({detail})" if detail else col.data_type
    return col.data_type


def _out_of_range_reason(col: Column, src: str, fmt: FileFormat, typed: str) -> str | None:
    """A ``when`` branch naming a well-formed number the column's type cannot hold (a negative one in
    an unsigned column, too many digits), evaluated only for a value that did not convert."""
    kind = base_type(col.data_type)
    if kind not in _INTEGER and kind not in ("decimal", "numeric"):
        return None
    scale = _scale(col.data_type)
    text = f"trim({src})"
    number = (f"{typed} is null and (regexp_full_match({text}, {literal(_number_pattern(fmt, scale))}) "
              f"or regexp_full_match({text}, {literal(_trailing_minus_pattern(fmt, scale))}))")
    value = f"'''' || left({src}, 60) || ''''"
    if kind in _INTEGER:
        low, high = _INTEGER_RANGE[kind]
        whole = f"{col.name}: cannot read " + "{value}" + f" as {col.data_type}: outside its range ({low} to {high})"
        branches = ""
        if low == 0:
            negative = (f"{col.name}: cannot read " + "{value}" + f" as {col.data_type}: a negative number in an "
                        f"unsigned column ({col.data_type} holds 0 to {high}); fix: correct the value, or declare "
                        "a signed type")
            branches = (f"when {number} and (starts_with({text}, '-') or ends_with({text}, '-')) "
                        f"then {_reason(negative, value)} ")
        return branches + f"when {number} then {_reason(whole, value)}"
    digits = _precision(col.data_type) - (scale or 0)
    too_large = (f"{col.name}: cannot read " + "{value}" + f" as {col.data_type}: too large "
                 f"(at most {digits} digit{'s' if digits != 1 else ''} before the decimal separator)")
    return f"when {number} then {_reason(too_large, value)}"


def _reason(template: str, value: str) -> str:
    """SQL for ``template`` with ``{value}`` replaced by the SQL expression ``value``."""
    before, after = template.split("{value}")
    return f"{literal(before)} || {value} || {literal(after)}"


def error_expr(col: Column, stage_col: str | None, stage_type: str | None, fmt: FileFormat,
               check_control: bool = True, value: str | None = None) -> str:
    """SQL yielding a reason when the column's value is missing or unreadable, else NULL.

    ``check_control=False`` when the whole file is known to hold no control characters.
    ``value`` names the typed value when the query already computed it (else ``value_expr`` is
    inlined): a conversion is the costly part, evaluated once per value, not twice.
    Returns the literal ``null`` when no value can ever have a reason (an optional text column
    without the control check), so the caller can leave it out."""
    name = col.name
    if stage_col is None:
        return "null"
    src = ident(stage_col)
    is_text_stage = stage_type is None or stage_type.lower() == "varchar"
    missing = f"{src} is null" + (f" or trim({src}) = ''" if is_text_stage else "")
    typed = value if value is not None else f"({value_expr(col, stage_col, stage_type, fmt)})"
    branches = []
    if not (is_text_stage and check_control) and _typed_implies_present(col, stage_type, fmt):
        # The common case decided by one NULL test: a value that converted is neither missing nor
        # unreadable (checking for blanks first cost as much as a conversion).
        branches.append(f"when {typed} is not null then null")
    if col.required:
        branches.append(f"when {missing} then {literal(name + ': required value is missing')}")
    elif col.is_text and not (is_text_stage and check_control):
        return "null"
    else:
        branches.append(f"when {missing} then null")
    if is_text_stage and check_control:
        branches.append(
            f"when regexp_matches({src}, {literal(CONTROL_CHARS)}) then "
            f"{literal(name + ': control characters or bytes invalid in the file encoding (binary data or wrong encoding?)')}"
        )
    if not col.is_text and is_text_stage:
        out_of_range = _out_of_range_reason(col, src, fmt, typed)
        if out_of_range:
            branches.append(out_of_range)
    if not col.is_text:
        reason = f"{literal(name + ': cannot read ')} || '''' || left({src}::varchar, 60) || '''' || {literal(' as ' + _expected(col, fmt))}"
        if is_text_stage and base_type(col.data_type) in _INTEGER | _FLOAT | {"decimal", "numeric"} \
                and fmt.decimal_separator == ".":
            hint = literal("; it looks like German number format: set format decimal_separator ',' and thousands_separator '.'")
            reason += f" || case when regexp_full_match(trim({src}), {literal(_GERMAN_NUMBER)}) then {hint} else '' end"
        if is_text_stage and (base_type(col.data_type) == "date" or base_type(col.data_type).startswith("timestamp")):
            hint = literal("; a two-digit year? write four digits, or declare the format with %y")
            reason += f" || case when regexp_matches(trim({src}), '(^|[^0-9])[0-9]{{2}}$') then {hint} else '' end"
        branches.append(f"when {typed} is null then {reason}")
    return "case " + " ".join(branches) + " end"
