"""GX row conditions as DuckDB SQL, with the GX pandas engine's semantics.

A GX *map metric* (``column_values.between``, ``compound_columns.unique`` ...) flags rows as
unexpected inside a domain (non-missing values, or ``ignore_row_if`` for pairs and column lists).
``compile_condition`` turns one into a ``Cond``: the domain filter and the "unexpected" predicate as
SQL over the gated relation. The rules are the ones measured against GX 1.24's pandas engine in
docs/research/gx_on_duckdb/FINDINGS.md §4 (missing = NULL or NaN; NULL counts as unexpected; regex
is search, on RE2 unless pandas itself would switch to Python ``re``; lengths in code points ...).

The SQL is built as sqlglot expressions (DuckDB's dialect when written out): a column is a quoted
identifier (``col``), a value a literal (``lit``), never text pasted into text.

>>> cols = Columns({"Konto Nr": "VARCHAR", "amount": "DOUBLE"}, "marts.t")
>>> cols.isnull("amount").sql("duckdb")
'("amount" IS NULL OR ISNAN("amount"))'
>>> print(between(cols.col("Konto Nr"), {"min_value": "O'Brien"}).sql("duckdb"))
("Konto Nr" >= 'O''Brien')
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sqlglot import exp

FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
TEXT_TYPES = ("VARCHAR",)
ROW = "__kontor_row"   # row position (= pandas' RangeIndex of the relation read into a DataFrame)

# Value-wise conditions with no exact SQL twin: GX's own pandas condition runs on the DISTINCT values.
VIA_GX_PANDAS = {
    "column_values.match_strftime_format",
    "column_values.dateutil_parseable",
    "column_values.json_parseable",
}


class UnsupportedMetric(Exception):
    """A metric GX asks for that Kontor's gate does not compute (yet)."""


class RuleError(Exception):
    """A rule that cannot run on this relation; ``kwarg`` names the argument at fault."""

    def __init__(self, message: str, kwarg: str | None = None, column: str | None = None):
        super().__init__(message)
        self.kwarg, self.column = kwarg, column


def lit(v: Any) -> exp.Expression:
    """A Python value as a literal (regexes must be constants, so no parameters).

    >>> [lit(x).sql("duckdb") for x in (None, True, 3, 0.5, float("nan"), "it's", dt.date(2024, 1, 31))]
    ['NULL', 'TRUE', '3', 'CAST(0.5 AS DOUBLE)', "CAST('nan' AS DOUBLE)", "'it''s'", "CAST('2024-01-31' AS DATE)"]
    """
    if v is None:
        return exp.null()
    if isinstance(v, bool):
        return exp.Boolean(this=v)
    if isinstance(v, int):
        return exp.Literal.number(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return exp.cast(exp.Literal.string("nan" if math.isnan(v) else "inf" if v > 0 else "-inf"), "DOUBLE", copy=False)
        return exp.cast(exp.Literal.number(repr(v)), "DOUBLE", copy=False)
    if isinstance(v, decimal.Decimal):
        return exp.cast(exp.Literal.number(str(v)), "DOUBLE", copy=False)
    if isinstance(v, dt.datetime):
        return exp.cast(exp.Literal.string(v.isoformat(sep=" ")), "TIMESTAMP", copy=False)
    if isinstance(v, dt.date):
        return exp.cast(exp.Literal.string(v.isoformat()), "DATE", copy=False)
    if isinstance(v, str):
        return exp.Literal.string(v)
    raise RuleError(f"cannot use {v!r} ({type(v).__name__}) as a value")


def col(name: str) -> exp.Column:
    """A column by its name, as a quoted identifier (a quote in the name doubled by sqlglot)."""
    return exp.column(exp.to_identifier(name, quoted=True))


def struct(fields: list[tuple[str, exp.Expression]]) -> exp.Struct:
    """DuckDB's ``struct_pack(name := value, ...)``."""
    return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value.copy())
                                   for name, value in fields])


def filtered(aggregate: exp.Expression, condition: exp.Expression) -> exp.Filter:
    """``aggregate FILTER (WHERE condition)``."""
    return exp.Filter(this=aggregate, expression=exp.Where(this=condition.copy()))


@dataclass
class Cond:
    """One row-level condition on one domain (a GX map metric such as column_values.between)."""

    key: str                         # alias in the generated SQL
    metric: str                      # GX condition metric name
    domain: dict
    value_kwargs: dict
    filter: exp.Expression = field(default_factory=exp.true)        # GX's domain filter (missing values, ignore_row_if)
    unexpected: exp.Expression = field(default_factory=exp.false)   # TRUE where GX flags the row as unexpected
    value: exp.Expression | None = None   # what GX reports as the unexpected value
    value_kind: str = "scalar"       # scalar | pair | record
    kind: str = "row"                # row: in the single scan | unique: own sort/group query
    verify: dict = field(default_factory=dict)   # alias -> aggregate flag; TRUE: redo on GX pandas
    value_types: list = field(default_factory=list)
    k: int = 20                      # unexpected values / indices to keep
    complete: bool = False
    wanted: set = field(default_factory=set)
    via_gx: bool = False             # evaluated by GX's pandas condition on distinct values
    re2: str | None = None           # the regex as DuckDB (RE2) runs it


class Columns:
    """The relation's columns and types, and SQL for them as GX's pandas engine sees them."""

    def __init__(self, types: dict[str, str], relation: str):
        self.types = types
        self.relation = relation

    def col(self, name: str, kwarg: str | None = None) -> exp.Column:
        if name not in self.types:
            raise RuleError(f"column {name!r} does not exist in {self.relation}", kwarg=kwarg, column=name)
        return col(name)

    def type(self, name: str) -> str:
        return self.types[name].upper()

    def is_float(self, name: str) -> bool:
        return self.type(name).startswith(FLOAT_TYPES)

    def is_text(self, name: str) -> bool:
        return self.type(name) in TEXT_TYPES

    def isnull(self, name: str, kwarg: str | None = None) -> exp.Expression:
        # pandas reads a DuckDB NaN as NaN, which it counts as missing
        c = self.col(name, kwarg)
        if self.is_float(name):
            return exp.paren(exp.or_(c.is_(exp.null()), exp.IsNan(this=c.copy()), copy=False), copy=False)
        return exp.paren(c.is_(exp.null()), copy=False)

    def pv(self, name: str, kwarg: str | None = None) -> exp.Expression:
        """The column as a pandas value after DuckDB's .df(): DECIMAL becomes float64."""
        c = self.col(name, kwarg)
        return exp.cast(c, "DOUBLE", copy=False) if self.type(name).startswith("DECIMAL") else c

    def txt(self, name: str) -> exp.Expression:
        """pandas ``column.astype(str)``."""
        return self.col(name) if self.is_text(name) else exp.cast(self.pv(name), "VARCHAR", copy=False)


def domain_filter(cols: Columns, metric: str, domain: dict, filters_nulls: bool) -> exp.Expression:
    if "column" in domain:
        return exp.not_(cols.isnull(domain["column"], "column"), copy=False) if filters_nulls else exp.true()
    if "column_A" in domain:
        a, b = cols.isnull(domain["column_A"], "column_A"), cols.isnull(domain["column_B"], "column_B")
        rule = domain.get("ignore_row_if", "both_values_are_missing")
        return {"both_values_are_missing": lambda: exp.not_(exp.paren(exp.and_(a, b, copy=False), copy=False), copy=False),
                "either_value_is_missing": lambda: exp.not_(exp.paren(exp.or_(a, b, copy=False), copy=False), copy=False),
                "neither": exp.true}[rule]()
    if "column_list" in domain:
        nulls = [cols.isnull(c, "column_list") for c in domain["column_list"]]
        rule = domain.get("ignore_row_if", "all_values_are_missing")
        return {"all_values_are_missing": lambda: exp.not_(exp.paren(exp.and_(*nulls, copy=False), copy=False), copy=False),
                "any_value_is_missing": lambda: exp.not_(exp.paren(exp.or_(*nulls, copy=False), copy=False), copy=False),
                "never": exp.true}[rule]()
    raise UnsupportedMetric(f"{metric} on domain {sorted(domain)}")


def compile_condition(cols: Columns, cond: Cond, filters_nulls: bool) -> None:
    """Fill ``cond``'s expressions. Conditions evaluated by GX itself (strftime ...) set ``via_gx``."""
    m, d, kw = cond.metric, cond.domain, cond.value_kwargs
    if d.get("row_condition") or d.get("condition_parser"):
        raise UnsupportedMetric("row_condition is not supported by Kontor's gate yet")
    cond.filter = domain_filter(cols, m, d, filters_nulls)
    if "column" in d:
        cond.value, cond.value_types = cols.pv(d["column"]), [cols.types[d["column"]]]
    elif "column_A" in d:
        cond.value_kind = "pair"
        a, b = d["column_A"], d["column_B"]
        cond.value = struct([("a", cols.pv(a)), ("b", cols.pv(b))])
        cond.value_types = [cols.types[a], cols.types[b]]
    else:
        cond.value_kind = "record"
        names = d["column_list"]
        cond.value = struct([(c, cols.pv(c)) for c in names])
        cond.value_types = [cols.types[c] for c in names]

    expected = None  # GX's "expected" predicate; NULL counts as unexpected, as in pandas
    if m == "column_values.nonnull":
        cond.unexpected = cols.isnull(d["column"])
        return
    if m == "column_values.null":
        cond.unexpected = exp.not_(cols.isnull(d["column"]), copy=False)
        return
    if m in ("column_values.in_set", "column_values.not_in_set"):
        values = kw.get("value_set")
        if values is None:          # GX: no set means every value is expected
            cond.unexpected = exp.false()
            return
        vals = compatible_values(cols, d["column"], values)
        inset = cols.pv(d["column"]).isin(*(lit(v) for v in vals), copy=False) if vals else exp.false()
        expected = inset if m.endswith(".in_set") else exp.not_(exp.paren(inset, copy=False), copy=False)
    elif m == "column_values.between":
        expected = between(cols.pv(d["column"]), kw, cols=cols, name=d["column"])
    elif m in ("column_values.match_regex", "column_values.not_match_regex"):
        expected = _regex(cols, cond, kw["regex"], negate=m.endswith(".not_match_regex"))
        if expected is None:
            return
    elif m == "column_values.value_length.between":
        expected = between(exp.Length(this=cols.txt(d["column"])), kw)
    elif m == "column_values.value_length.equals":
        expected = exp.EQ(this=exp.Length(this=cols.txt(d["column"])), expression=lit(kw["value"]))
    elif m in ("column_values.unique", "compound_columns.unique"):
        # pandas: ~duplicated(keep=False) on the domain: EVERY row of a repeated value is unexpected
        cond.kind = "unique"
        return
    elif m == "column_pair_values.a_greater_than_b":
        op = exp.GTE if kw.get("or_equal") else exp.GT
        expected = op(this=cols.pv(d["column_A"]), expression=cols.pv(d["column_B"]))
    elif m == "column_pair_values.equal":
        expected = exp.EQ(this=cols.pv(d["column_A"]), expression=cols.pv(d["column_B"]))
    elif m in VIA_GX_PANDAS:
        cols.col(d["column"], "column")
        cond.via_gx = True
        return
    else:
        raise UnsupportedMetric(m)
    cond.unexpected = exp.not_(exp.Coalesce(this=expected, expressions=[exp.false()]), copy=False)


def compatible_values(cols: Columns, name: str, values) -> list:
    """pandas ``isin``: values of another type never match (and must not make DuckDB cast)."""
    t = cols.type(name)
    if t in TEXT_TYPES:
        return [v for v in values if isinstance(v, str)]
    if t == "BOOLEAN":
        return [v for v in values if isinstance(v, bool)]
    if t.startswith(("DATE", "TIMESTAMP")):
        return [v for v in values if isinstance(v, (dt.date, dt.datetime))]
    return [v for v in values if isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)]


def between(expr: exp.Expression, kw: dict, cols: Columns | None = None, name: str | None = None) -> exp.Expression:
    lo, hi = kw.get("min_value"), kw.get("max_value")
    if lo is None and hi is None:
        raise RuleError("min_value and max_value cannot both be None", kwarg="min_value")
    if lo is not None and hi is not None and lo > hi:
        raise RuleError(f"min_value {lo!r} is greater than max_value {hi!r}", kwarg="min_value")
    if cols is not None and name is not None:
        _check_bound_types(cols, name, lo, hi)
    parts = []
    if lo is not None:
        parts.append((exp.GT if kw.get("strict_min") else exp.GTE)(this=expr.copy(), expression=lit(lo)))
    if hi is not None:
        parts.append((exp.LT if kw.get("strict_max") else exp.LTE)(this=expr.copy(), expression=lit(hi)))
    return exp.paren(exp.and_(*parts, copy=False), copy=False)


def _check_bound_types(cols: Columns, name: str, lo, hi) -> None:
    """Bounds of another kind than the column fail in GX pandas at run time; say so before."""
    t = cols.type(name)
    bounds = [(k, v) for k, v in (("min_value", lo), ("max_value", hi)) if v is not None]
    for key, v in bounds:
        if t in TEXT_TYPES and not isinstance(v, str):
            raise RuleError(f"{key} {v!r} is a number but column {name!r} is text ({t})", kwarg=key)
        if t.startswith(("DATE", "TIMESTAMP")) and not isinstance(v, (dt.date, dt.datetime)):
            raise RuleError(f"{key} {v!r} is not a date but column {name!r} is {t}; fix: write a date, "
                            "e.g. 2024-01-31", kwarg=key)
        numeric = t.startswith(("DECIMAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT",
                                "UINTEGER", "USMALLINT", "UTINYINT")) or t.startswith(FLOAT_TYPES)
        if numeric and not isinstance(v, (int, float, decimal.Decimal)):
            raise RuleError(f"{key} {v!r} is not a number but column {name!r} is {t}", kwarg=key)


# What in a pattern makes pandas 3 leave pyarrow's RE2 for Python's ``re`` (see ``regex_mode``).
_ESCAPES_ALWAYS = set("sSuUNgZ0123456789")   # \s \S: RE2 misses e.g. "\x0b"; unicode escapes,
#                                              backreferences, octal; \Z (RE2 spells it \z)
_ESCAPES_NONASCII = set("wWdDbB")             # ASCII-only in RE2, Unicode-aware in Python
_ESCAPES_SAME = set("Aafnrtvx")               # the same in both


def regex_mode(rx: str) -> tuple[dict, str]:
    """Where DuckDB's RE2 may not give what GX's pandas engine gives for a pattern, per kind of data.

    pandas 3 runs ``str.contains`` on pyarrow's RE2 unless the pattern needs Python ``re``:
    lookaround, backreferences, unicode escapes and ``\\s`` always; ``\\w``/``\\d``/``\\b`` on
    non-ASCII data; ``$`` on data with newlines (pandas' documented reasons; its own test of them
    is private). This scan over the pattern's text finds the same constructs, erring towards
    Python: ``(?`` groups other than ``(?:`` and ``(?P<name>``, an escape it does not know to be
    the same in both, and any ``$`` also count. ``always`` sends the rule through GX's own pandas
    condition (exact, slower); ``nonascii``/``newline`` make the gate check the data and do the
    same when it holds such values. Erring costs only time: the answer is GX's either way.
    Returns the flags and the pattern for RE2 (unchanged).

    >>> regex_mode(r"^\\w+@")[0]
    {'always': False, 'nonascii': True, 'newline': False}
    >>> regex_mode(r"(?<=user)\\d+")[0]["always"], regex_mode(r"[a-z]{2,}$")[0]["newline"]
    (True, True)
    """
    mode = {"always": False, "nonascii": False, "newline": False}
    i = 0
    while i < len(rx):
        char = rx[i]
        if char == "\\" and i + 1 < len(rx):
            escaped = rx[i + 1]
            if escaped in _ESCAPES_ALWAYS:
                mode["always"] = True
            elif escaped in _ESCAPES_NONASCII:
                mode["nonascii"] = True
            elif escaped.isalnum() and escaped not in _ESCAPES_SAME:
                mode["always"] = True
            i += 2
            continue
        if char == "(" and rx.startswith("(?", i) and not rx.startswith(("(?:", "(?P<"), i):
            mode["always"] = True
        elif char == "$":
            mode["newline"] = True
        i += 1
    return mode, rx


def _regex(cols: Columns, cond: Cond, rx: str, negate: bool) -> exp.Expression | None:
    try:
        re.compile(rx)
    except re.error as e:
        raise RuleError(f"invalid regex {rx!r}: {e}", kwarg="regex") from e
    mode, rx2 = regex_mode(rx)
    if mode["always"]:
        cols.col(cond.domain["column"], "column")
        cond.via_gx = True
        return None
    txt = cols.txt(cond.domain["column"])
    if mode["nonascii"]:
        multibyte = exp.NEQ(this=exp.func("strlen", txt, dialect="duckdb"), expression=exp.Length(this=txt.copy()))
        cond.verify[f"{cond.key}_va"] = filtered(exp.LogicalOr(this=multibyte), cond.filter)
    if mode["newline"]:
        newline = exp.func("contains", txt, exp.func("chr", exp.Literal.number(10), dialect="duckdb"), dialect="duckdb")
        cond.verify[f"{cond.key}_vn"] = filtered(exp.LogicalOr(this=newline), cond.filter)
    cond.re2 = rx2
    hit = exp.RegexpLike(this=txt.copy(), expression=lit(rx2))
    return exp.not_(hit, copy=False) if negate else hit


def pandas_value(v, duck_type: str):
    """A DuckDB value as pandas yields it after .df() (what GX puts in partial_unexpected_list)."""
    t = duck_type.upper()
    if v is None:
        if t.startswith(FLOAT_TYPES) or t.startswith("DECIMAL"):
            return float("nan")   # a fresh NaN each time: Counter keeps them apart, like pandas
        if t.startswith(("DATE", "TIMESTAMP")):
            return pd.NaT
        return None
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return pd.Timestamp(v)
    return v


def convert_values(cond: Cond, structs) -> list:
    out = []
    for s in structs:
        v = s["v"]
        if cond.value_kind == "scalar":
            out.append(pandas_value(v, cond.value_types[0]))
        elif cond.value_kind == "pair":
            out.append((pandas_value(v["a"], cond.value_types[0]), pandas_value(v["b"], cond.value_types[1])))
        else:
            out.append({k: pandas_value(x, t) for (k, x), t in zip(v.items(), cond.value_types)})
    return out
