"""Typed values out of extract text, with a reason for every value that does not convert.

DuckDB's own CSV casting rejects German numbers (``1.234,50``) even with a decimal comma, so
extracts are read as text and converted here, column by column, in one SQL pass. A value
that is present but does not convert yields NULL and a reason naming the column, the value
and the fix; the row then goes to quarantine instead of ``raw``.
"""
from __future__ import annotations

import functools
import re

from pipelines.sources.spec import Column, FileFormat
from sqlglot import exp

from pipelines.core.sql import data_type

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


def _fn(name: str, *args: exp.Expression | str | int) -> exp.Expression:
    """A DuckDB function call, written as named; a str argument is a string literal, an int a
    number. (``exp.func`` would build sqlglot's typed node through the dialect's parser: the same
    SQL, at 30 times the cost, which ingest pays per column and file.)"""
    return exp.Anonymous(this=name, expressions=[
        _lit(a) if isinstance(a, str) else exp.Literal.number(a) if isinstance(a, int) else a for a in args])


@functools.lru_cache(maxsize=256)
def _type(text: str) -> exp.DataType:
    return data_type(text)


def _lit(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def _case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None) -> exp.Case:
    return exp.Case(ifs=[exp.If(this=cond, true=then) for cond, then in whens], default=default)


def _concat(*parts: exp.Expression) -> exp.Expression:
    """``a || b || ...`` (DuckDB's: NULL if any part is NULL)."""
    out = parts[0]
    for part in parts[1:]:
        out = exp.DPipe(this=out, expression=part, safe=True)
    return out


def _try_cast(value: exp.Expression, target: str) -> exp.Expression:
    return exp.TryCast(this=value, to=_type(target).copy())


def _as(value: exp.Expression, target: str) -> exp.Expression:
    return exp.Cast(this=value, to=_type(target).copy())


def _sane_date(value) -> exp.Expression:
    """``value()`` if its year has four digits, else NULL. strptime's %Y and ISO casts accept '24'
    as the year 24: a two-digit year, never a real date here."""
    return _case((exp.Between(this=_fn("year", value()), low=exp.Literal.number(1000), high=exp.Literal.number(9999)),
                  value()))


def _datev_date(text, otherwise: exp.Expression, period: tuple) -> exp.Expression:
    """DATEV writes a Belegdatum as day and month only (``3112``, or ``105`` for 1 May), the year
    being that of the header's date range; a range across a year end (a fiscal year from July)
    takes the year in which the day falls inside the range. Eight digits are ``DDMMYYYY``."""
    start, stop = period
    # The range is checked on MMDD as a number (DDMM 3112 -> 1231: month * 100 + day), so each value
    # is parsed once; arithmetic on the number costs half what cutting and joining the text did.
    def mmdd() -> exp.Expression:
        number = lambda: _try_cast(text(), "integer")   # noqa: E731
        return exp.Paren(this=exp.Add(
            this=exp.Mul(this=exp.Paren(this=exp.Mod(this=number(), expression=exp.Literal.number(100))),
                         expression=exp.Literal.number(100)),
            expression=exp.IntDiv(this=number(), expression=exp.Literal.number(100))))
    lo, hi = exp.Literal.number(int(f"{start:%m%d}")), exp.Literal.number(int(f"{stop:%m%d}"))

    def day(year: int) -> exp.Expression:
        return _as(_fn("try_strptime", _concat(_fn("lpad", text(), 4, "0"), _lit(str(year))), "%d%m%Y"), "date")

    if start.year == stop.year:
        short = _case((exp.Between(this=mmdd(), low=lo, high=hi), day(start.year)))
    elif start.year + 1 == stop.year and f"{stop:%m%d}" < f"{start:%m%d}":
        short = _case((exp.GTE(this=mmdd(), expression=lo), day(start.year)),
                      (exp.LTE(this=mmdd(), expression=hi), day(stop.year)))
    else:   # a range over a year long: the day could be in several years; the first in range wins
        years = [_case((exp.Between(this=day(y), low=_as(_lit(start.isoformat()), "date"),
                                     high=_as(_lit(stop.isoformat()), "date")), day(y)))
                 for y in range(start.year, stop.year + 1)]
        short = exp.Coalesce(this=years[0], expressions=years[1:])
    return _case((_fn("regexp_full_match", text(), "\\d{3,4}"), short),
                 (_fn("regexp_full_match", text(), "\\d{8}"), _as(_fn("try_strptime", text(), "%d%m%Y"), "date")),
                 default=otherwise)


def value_expr(col: Column, stage_col: str | None, stage_type: str | None, fmt: FileFormat) -> exp.Expression:
    """The typed value of ``col`` from stage column ``stage_col`` (NULL if absent)."""
    target = col.data_type
    if stage_col is None:
        return _as(exp.null(), target)
    src = lambda: exp.column(stage_col, quoted=True)   # noqa: E731  (a node per place)
    if stage_type is not None and stage_type.lower() != "varchar":
        return src() if stage_type.lower() == target else _try_cast(src(), target)
    if col.is_text:
        return src()
    text = lambda: _fn("trim", src())   # noqa: E731
    kind = base_type(target)
    scale = _scale(target)
    if kind in _INTEGER | {"decimal", "numeric"} or (kind in _FLOAT and _needs_number_rewrite(fmt)):
        def plain(value: exp.Expression) -> exp.Expression:
            if fmt.thousands_separator:
                value = _fn("replace", value, fmt.thousands_separator, "")
            # An integer's pattern has no decimal separator: nothing to replace (a replace per value
            # cost more than the cast).
            if fmt.decimal_separator != "." and scale != 0:
                value = _fn("replace", value, fmt.decimal_separator, ".")
            return value

        # The value as read first: a match starts with a sign or digit and ends with a digit, so it is
        # its own trim, and most values skip the trim (which cost as much as the match). The trailing
        # minus is tried only where the usual form did not match: no cost for the rest.
        pattern = _number_pattern(fmt, scale)
        # A trailing minus moves to the front before the cast, never a negation after it: negating an
        # unsigned value raised "Overflow in negation" and failed the whole file, and -128 fits a
        # tinyint whose 128 does not. A value the type cannot hold is NULL, its row quarantined.
        branches = []
        if kind in _INTEGER and not any(ch in "+-0123456789" for ch in fmt.thousands_separator or ""):
            # An integer written as DuckDB writes it (``-?[0-9]+``, no leading zero) matches the
            # pattern and converts to the same value: told by casting it back to text, at a third
            # of the cost of the match, which most values then skip.
            branches.append((exp.EQ(this=_as(_try_cast(src(), target), "varchar"), expression=src()),
                             _try_cast(src(), target)))
        return _case(*branches,
                     (_fn("regexp_full_match", src(), pattern), _try_cast(plain(src()), target)),
                     (_fn("regexp_full_match", text(), pattern), _try_cast(plain(text()), target)),
                     (_fn("regexp_full_match", text(), _trailing_minus_pattern(fmt, scale)),
                      _try_cast(plain(_concat(_lit("-"), _fn("rtrim", text(), "-"))), target)))
    if kind == "date":
        def parsed() -> exp.Expression:
            out = _as(_fn("try_strptime", text(), fmt.date_format), "date") if fmt.date_format else _try_cast(text(), "date")
            if fmt.date_format and fmt.date_format != "%Y-%m-%d":
                # An ISO date is unambiguous whatever the declared format: a clerk's hand-fixed row or a
                # second export tool writes 2026-10-05 into a %d.%m.%Y column.
                out = exp.Coalesce(this=out, expressions=[_case((_fn("regexp_full_match", text(), "\\d{4}-\\d{2}-\\d{2}"),
                                                                 _as(_fn("try_strptime", text(), "%Y-%m-%d"), "date")))])
            return _datev_date(text, out, fmt.datev_period) if fmt.datev_period else out
        return _sane_date(parsed)
    if kind.startswith("timestamp"):
        fmt_ts = fmt.timestamp_format or fmt.date_format
        return _sane_date(lambda: _as(_fn("try_strptime", text(), fmt_ts), target) if fmt_ts else _try_cast(text(), target))
    return _try_cast(text(), target)


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


def _out_of_range_reason(col: Column, src, fmt: FileFormat, typed) -> list[tuple] | None:
    """``when`` branches naming a well-formed number the column's type cannot hold (a negative one in
    an unsigned column, too many digits), evaluated only for a value that did not convert."""
    kind = base_type(col.data_type)
    if kind not in _INTEGER and kind not in ("decimal", "numeric"):
        return None
    scale = _scale(col.data_type)
    text = lambda: _fn("trim", src())   # noqa: E731

    def number() -> exp.Expression:
        return exp.And(this=exp.Is(this=typed(), expression=exp.null()), expression=exp.Paren(this=exp.Or(
            this=_fn("regexp_full_match", text(), _number_pattern(fmt, scale)),
            expression=_fn("regexp_full_match", text(), _trailing_minus_pattern(fmt, scale)))))

    def reason(before: str, after: str) -> exp.Expression:
        return _concat(_lit(before), _lit("'"), _fn("left", src(), 60), _lit("'"), _lit(after))
    cannot = f"{col.name}: cannot read "
    if kind in _INTEGER:
        low, high = _INTEGER_RANGE[kind]
        branches = []
        if low == 0:
            negative = (f" as {col.data_type}: a negative number in an unsigned column ({col.data_type} holds 0 "
                        f"to {high}); fix: correct the value, or declare a signed type")
            branches.append((exp.And(this=number(), expression=exp.Paren(this=exp.Or(
                                 this=_fn("starts_with", text(), "-"), expression=_fn("ends_with", text(), "-")))),
                             reason(cannot, negative)))
        return branches + [(number(), reason(cannot, f" as {col.data_type}: outside its range ({low} to {high})"))]
    digits = _precision(col.data_type) - (scale or 0)
    too_large = (f" as {col.data_type}: too large "
                 f"(at most {digits} digit{'s' if digits != 1 else ''} before the decimal separator)")
    return [(number(), reason(cannot, too_large))]


def error_expr(col: Column, stage_col: str | None, stage_type: str | None, fmt: FileFormat,
               check_control: bool = True, value: str | None = None) -> exp.Expression | None:
    """A reason when the column's value is missing or unreadable, else NULL.

    ``check_control=False`` when the whole file is known to hold no control characters.
    ``value`` names the typed value when the query already computed it (else ``value_expr`` is
    inlined): a conversion is the costly part, evaluated once per value, not twice.
    Returns None when no value can ever have a reason (an optional text column without the
    control check), so the caller can leave it out."""
    name = col.name
    if stage_col is None:
        return None
    src = lambda: exp.column(stage_col, quoted=True)   # noqa: E731  (a node per place)
    is_text_stage = stage_type is None or stage_type.lower() == "varchar"

    def missing() -> exp.Expression:
        null = exp.Is(this=src(), expression=exp.null())
        return exp.Or(this=null, expression=exp.EQ(this=_fn("trim", src()), expression=_lit(""))) if is_text_stage else null

    def typed() -> exp.Expression:
        return exp.column(value) if value is not None else exp.Paren(this=value_expr(col, stage_col, stage_type, fmt))
    branches = []
    if not (is_text_stage and check_control) and _typed_implies_present(col, stage_type, fmt):
        # The common case decided by one NULL test: a value that converted is neither missing nor
        # unreadable (checking for blanks first cost as much as a conversion).
        branches.append((exp.Not(this=exp.Is(this=typed(), expression=exp.null())), exp.null()))
    if col.required:
        branches.append((missing(), _lit(name + ": required value is missing")))
    elif col.is_text and not (is_text_stage and check_control):
        return None
    else:
        branches.append((missing(), exp.null()))
    if is_text_stage and check_control:
        branches.append((_fn("regexp_matches", src(), CONTROL_CHARS),
                         _lit(name + ": control characters or bytes invalid in the file encoding (binary data or wrong encoding?)")))
    if not col.is_text and is_text_stage:
        branches += _out_of_range_reason(col, src, fmt, typed) or []
    if not col.is_text:
        parts = [_lit(name + ": cannot read "), _lit("'"), _fn("left", _as(src(), "varchar"), 60), _lit("'"),
                 _lit(" as " + _expected(col, fmt))]
        if is_text_stage and base_type(col.data_type) in _INTEGER | _FLOAT | {"decimal", "numeric"} \
                and fmt.decimal_separator == ".":
            hint = "; it looks like German number format: set format decimal_separator ',' and thousands_separator '.'"
            parts.append(_case((_fn("regexp_full_match", _fn("trim", src()), _GERMAN_NUMBER), _lit(hint)), default=_lit("")))
        if is_text_stage and (base_type(col.data_type) == "date" or base_type(col.data_type).startswith("timestamp")):
            hint = "; a two-digit year? write four digits, or declare the format with %y"
            parts.append(_case((_fn("regexp_matches", _fn("trim", src()), "(^|[^0-9])[0-9]{2}$"), _lit(hint)), default=_lit("")))
        branches.append((exp.Is(this=typed(), expression=exp.null()), _concat(*parts)))
    return _case(*branches)
