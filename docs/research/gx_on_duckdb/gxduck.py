"""GX suites on DuckDB: GX decides *what* to compute and *how to judge it*; DuckDB computes it.

Design ("metric pushdown"):
  1. Every rule becomes a real GX Expectation (``ExpectationConfiguration(...).to_domain_obj()``),
     so GX's own registry and pydantic validation accept or reject it.
  2. ``expectation.get_validation_dependencies(...)`` tells which GX *metrics* it needs
     (``table.row_count``, ``column_values.nonnull.unexpected_count``,
     ``column_values.between.unexpected_values`` ...), with GX's own domain/value kwargs.
  3. Those metrics are compiled to DuckDB SQL: ONE scan for all row-level conditions (one boolean
     per condition projected once; ``count_if`` + ``min_by(struct(rowid, value), rowid, K)`` for
     the first K failing values in row order), one sort/group query per uniqueness condition,
     run concurrently. Value-wise conditions with no exact SQL twin (strftime; regexes that need
     Python ``re`` semantics, decided exactly like pandas decides) are evaluated by GX's *own
     pandas metric* on the column's DISTINCT values, and the failing values are pushed back into
     the scan as a set. Float mean/sum are computed like pandas (nanops) on the fetched column.
  4. ``expectation.metrics_validate(metrics, ...)`` — GX's own code — applies ``mostly``,
     denominators, result_format and builds the ``ExpectationValidationResult``.

Only the metric computation is ours; success, percentages and the result layout are GX's.
"""
from __future__ import annotations

import datetime as dt
import decimal
import math
import re
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

import great_expectations as gx
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.result_format import ResultFormat
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.execution_engine.pandas_batch_data import PandasBatchData
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.registry import _registered_metrics
from great_expectations.validator.metric_configuration import MetricConfiguration
from great_expectations.validator.metrics_calculator import MetricsCalculator
from great_expectations.validator.validation_statistics import calc_validation_statistics

SUFFIXES = (
    "unexpected_count",
    "unexpected_values",
    "unexpected_index_list",
    "unexpected_index_query",
    "filtered_row_count",
)
# Row-level conditions that are *value-wise* but have no exact SQL twin: GX's own pandas
# condition runs on the distinct values (exact by construction; cost ~ cardinality).
DISTINCT_VIA_GX_PANDAS = {
    "column_values.match_strftime_format",
    "column_values.dateutil_parseable",
    "column_values.json_parseable",
}
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
ROWID = "__gx_rowid"  # row position in the scan (= pandas RangeIndex of con.table(t).df())
TEXT_TYPES = ("VARCHAR",)


class UnsupportedMetric(Exception):
    """A metric GX asks for that this engine does not compile (yet)."""


class RuleError(Exception):
    """A rule that cannot run on this table (unknown column, bad argument ...)."""


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(v: Any) -> str:
    """Render a Python value as a DuckDB literal (no parameters: regexes must be constants)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "'nan'::DOUBLE"
        if math.isinf(v):
            return "'inf'::DOUBLE" if v > 0 else "'-inf'::DOUBLE"
        return repr(v) + "::DOUBLE"
    if isinstance(v, decimal.Decimal):
        return f"{v}::DOUBLE"
    if isinstance(v, dt.datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    raise RuleError(f"cannot render literal {v!r} ({type(v).__name__})")


@dataclass
class Cond:
    """One row-level condition on one domain (a GX map metric, e.g. column_values.between)."""

    key: str  # unique alias
    metric: str  # GX condition metric name
    domain: dict
    value_kwargs: dict
    filter_sql: str = "TRUE"  # GX's domain filter (nulls / ignore_row_if)
    unexpected_sql: str = "FALSE"  # TRUE where GX's condition flags the row as unexpected
    value_sql: str = ""  # what GX reports as the unexpected value
    value_kind: str = "scalar"  # scalar | pair | record
    kind: str = "row"  # row: in the single scan | unique: own sort/group query
    verify: dict = field(default_factory=dict)  # alias -> SQL flag; if TRUE, redo via GX pandas
    value_types: list = field(default_factory=list)
    ctes: list = field(default_factory=list)
    k: int = 20  # how many unexpected values/indices to keep
    complete: bool = False
    wanted: set = field(default_factory=set)


class DuckDBGate:
    """Validate GX ExpectationSuites against one DuckDB table or view."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str, exact_float_aggregates: bool = True,
                 concurrent: bool = True):
        self.con = con
        self.concurrent = concurrent
        self.table = table
        # rowid = position in `SELECT * FROM <relation>` (pandas' RangeIndex after .df()). Base tables
        # have the rowid pseudo-column; views get a streaming row_number() (no extra cost, no sort).
        is_table = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? OR "
            "schema_name || '.' || table_name = ? OR database_name || '.' || schema_name || '.' || table_name = ?",
            [table, table, table]).fetchone()[0] > 0
        self.rel = (f"(SELECT rowid, * FROM {table})" if is_table
                    else f"(SELECT row_number() OVER () - 1 AS rowid, * FROM {table})")
        self.exact_float_aggregates = exact_float_aggregates
        self._exact_aggs: dict = {}
        rows = con.execute(f"DESCRIBE {table}").fetchall()
        self.types = {r[0]: r[1] for r in rows}
        self.columns = [r[0] for r in rows]
        self._pandas_engine = PandasExecutionEngine()  # passed to GX so it applies pandas rules
        self._registered: list[str] = []
        self.fallbacks: list[str] = []
        self._check_only = False
        self.last_sql: list[str] = []

    # ------------------------------------------------------------------ columns
    def _col(self, name: str) -> str:
        if name not in self.types:
            raise RuleError(f"column {name!r} does not exist in {self.table}")
        return q(name)

    def _is_float(self, name):
        return self.types[name].upper().startswith(FLOAT_TYPES)

    def _isnull(self, name):
        # DuckDB NaN becomes NaN in pandas, which pandas treats as missing.
        c = self._col(name)
        return f"({c} IS NULL OR isnan({c}))" if self._is_float(name) else f"({c} IS NULL)"

    def _pv(self, name):
        """The column as GX's pandas engine sees it after DuckDB's .df() conversion."""
        c, t = self._col(name), self.types[name].upper()
        if t.startswith("DECIMAL"):
            return f"CAST({c} AS DOUBLE)"
        return c

    def _txt(self, name):
        """pandas: column.astype(str)."""
        t = self.types[name].upper()
        if t in TEXT_TYPES:
            return self._col(name)
        return f"CAST({self._pv(name)} AS VARCHAR)"

    # ------------------------------------------------------------------ conditions
    def _filter_for(self, metric: str, domain: dict) -> str:
        if "column" in domain:
            provider = _registered_metrics[f"{metric}.condition"]["providers"]["PandasExecutionEngine"][0]
            if getattr(provider, "filter_column_isnull", True):
                return f"NOT {self._isnull(domain['column'])}"
            return "TRUE"
        if "column_A" in domain:
            a, b = self._isnull(domain["column_A"]), self._isnull(domain["column_B"])
            rule = domain.get("ignore_row_if", "both_values_are_missing")
            return {"both_values_are_missing": f"NOT ({a} AND {b})",
                    "either_value_is_missing": f"NOT ({a} OR {b})",
                    "neither": "TRUE"}[rule]
        if "column_list" in domain:
            nulls = [self._isnull(c) for c in domain["column_list"]]
            rule = domain.get("ignore_row_if", "all_values_are_missing")
            return {"all_values_are_missing": "NOT (" + " AND ".join(nulls) + ")",
                    "any_value_is_missing": "NOT (" + " OR ".join(nulls) + ")",
                    "never": "TRUE"}[rule]
        raise UnsupportedMetric(f"domain {domain}")

    def _compile_cond(self, cond: Cond) -> None:
        m, d, kw = cond.metric, cond.domain, cond.value_kwargs
        if d.get("row_condition") or d.get("condition_parser"):
            raise UnsupportedMetric("row_condition is not compiled yet")
        cond.filter_sql = self._filter_for(m, d)
        if "column" in d:
            name = d["column"]
            cond.value_sql, cond.value_types = self._pv(name), [self.types[name]]
        elif "column_A" in d:
            cond.value_kind = "pair"
            a, b = d["column_A"], d["column_B"]
            cond.value_sql = f"struct_pack(a := {self._pv(a)}, b := {self._pv(b)})"
            cond.value_types = [self.types[a], self.types[b]]
        else:
            cond.value_kind = "record"
            cols = d["column_list"]
            cond.value_sql = "struct_pack(" + ", ".join(f"{q(c)} := {self._pv(c)}" for c in cols) + ")"
            cond.value_types = [self.types[c] for c in cols]

        expected = None  # SQL for GX's "expected" predicate (NULL counts as unexpected, like pandas)
        if m == "column_values.nonnull":
            cond.unexpected_sql = self._isnull(d["column"])
            return
        if m == "column_values.null":
            cond.unexpected_sql = f"NOT {self._isnull(d['column'])}"
            return
        if m in ("column_values.in_set", "column_values.not_in_set"):
            name = d["column"]
            vs = kw.get("value_set")
            if vs is None:
                cond.unexpected_sql = "FALSE"
                return
            vals = self._compatible_values(name, vs)
            inset = f"{self._pv(name)} IN ({', '.join(lit(v) for v in vals)})" if vals else "FALSE"
            expected = inset if m.endswith(".in_set") else f"NOT ({inset})"
        elif m == "column_values.between":
            expected = self._between(self._pv(d["column"]), kw, name=d["column"])
        elif m in ("column_values.match_regex", "column_values.not_match_regex"):
            # GX pandas: column.astype(str).str.contains(regex). pandas 3 runs that on pyarrow's
            # RE2 unless the pattern needs Python `re` semantics (lookaround, \s, \w/\d/\b on
            # non-ASCII data, $ with newlines in the data ...). Mirror pandas' own decision.
            try:
                re.compile(kw["regex"])
            except re.error as e:
                raise RuleError(f"invalid regex {kw['regex']!r}: {e}") from e
            mode, rx2 = self._regex_mode(kw["regex"])
            if mode["always"]:
                cond.unexpected_sql = self._distinct_via_gx(cond)
                return
            self._check_regex(rx2)
            txt = self._txt(d["column"])
            if mode["nonascii"]:
                cond.verify[f"{cond.key}_va"] = f"bool_or(strlen({txt}) <> length({txt})) FILTER (WHERE {cond.filter_sql})"
            if mode["newline"]:
                cond.verify[f"{cond.key}_vn"] = f"bool_or(contains({txt}, chr(10))) FILTER (WHERE {cond.filter_sql})"
            hit = f"regexp_matches({txt}, {lit(rx2)})"
            expected = hit if m.endswith(".match_regex") else f"NOT {hit}"
        elif m == "column_values.value_length.between":
            expected = self._between(f"length({self._txt(d['column'])})", kw, lengths=True)
        elif m == "column_values.value_length.equals":
            expected = f"length({self._txt(d['column'])}) = {lit(kw['value'])}"
        elif m in ("column_values.unique", "compound_columns.unique"):
            # pandas: ~duplicated(keep=False) on the filtered domain -> EVERY row of a repeated
            # value is unexpected (NaN/None equal to each other, like SQL GROUP BY / struct '=').
            cond.kind = "unique"
            return
        elif m == "column_pair_values.a_greater_than_b":
            op = ">=" if kw.get("or_equal") else ">"
            expected = f"{self._pv(d['column_A'])} {op} {self._pv(d['column_B'])}"
        elif m == "column_pair_values.equal":
            expected = f"{self._pv(d['column_A'])} = {self._pv(d['column_B'])}"
        elif m in DISTINCT_VIA_GX_PANDAS:
            cond.unexpected_sql = self._distinct_via_gx(cond)
            return
        else:
            raise UnsupportedMetric(m)
        cond.unexpected_sql = f"NOT coalesce({expected}, FALSE)"

    def _compatible_values(self, name, values):
        """pandas isin(): values of another type never match (and must not make DuckDB cast)."""
        t = self.types[name].upper()
        if t in TEXT_TYPES:
            return [v for v in values if isinstance(v, str)]
        if t in ("BOOLEAN",):
            return [v for v in values if isinstance(v, bool)]
        if t.startswith(("DATE", "TIMESTAMP")):
            return [v for v in values if isinstance(v, (dt.date, dt.datetime))]
        return [v for v in values if isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool)]

    def _between(self, expr, kw, name=None, lengths=False):
        lo, hi = kw.get("min_value"), kw.get("max_value")
        smin, smax = kw.get("strict_min"), kw.get("strict_max")
        if lo is None and hi is None:
            raise ValueError("min_value and max_value cannot both be None")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("min_value cannot be greater than max_value")
        if name is not None and self.types[name].upper() in TEXT_TYPES:
            if any(v is not None and not isinstance(v, str) for v in (lo, hi)):
                # GX pandas is_between() raises this for str values vs numeric bounds
                raise TypeError("Column values, min_value, and max_value must either be None or of the same type.")
        parts = []
        if lo is not None:
            parts.append(f"{expr} {'>' if smin else '>='} {lit(lo)}")
        if hi is not None:
            parts.append(f"{expr} {'<' if smax else '<='} {lit(hi)}")
        return "(" + " AND ".join(parts) + ")"

    @staticmethod
    def _regex_mode(rx):
        """pandas' own RE2-vs-Python decision for this pattern, per kind of data it depends on."""
        try:
            probe = lambda vals: bool(pd.array(vals, dtype="str")._needs_python_regex(rx))  # noqa: E731
            mode = {"always": probe(["a"]), "nonascii": probe(["\u00e9"]), "newline": probe(["\n"])}
            rx2 = pd.array(["a"], dtype="str")._preprocess_re_pattern(rx, True, 0)[0]
            return mode, rx2
        except Exception:  # noqa: BLE001 - pandas internals moved: always take the exact path
            return {"always": True, "nonascii": True, "newline": True}, rx

    def _check_regex(self, rx):
        try:
            self.con.execute(f"SELECT regexp_matches('', {lit(rx)})").fetchall()
        except duckdb.Error as e:
            raise RuleError(f"invalid regex {rx!r}: {e}") from e

    def _distinct_via_gx(self, cond: Cond) -> str:
        """Run GX's own pandas condition on the DISTINCT non-null values; return SQL for 'unexpected'."""
        name = cond.domain["column"]
        if self._check_only:  # check(): compile only, no data access
            self._col(name)
            return "FALSE"
        c = self._pv(name)
        df = self.con.execute(f"SELECT DISTINCT {c} AS v FROM {self.rel} WHERE {cond.filter_sql}").df()
        df.columns = [name]
        if len(df) == 0:
            return "FALSE"
        eng = PandasExecutionEngine()
        eng.load_batch_data("distinct", PandasBatchData(eng, df))
        mc = MetricsCalculator(execution_engine=eng, show_progress_bars=False)
        unexpected, _, _ = mc.get_metric(MetricConfiguration(
            f"{cond.metric}.condition", {"column": name, "batch_id": "distinct"},
            {k: v for k, v in cond.value_kwargs.items() if k != "result_format"}))
        bad = df.loc[unexpected[unexpected].index, [name]].rename(columns={name: "v"})
        view = f"_gx_bad_{cond.key}"
        self.con.register(view, bad.reset_index(drop=True))
        self._registered.append(view)
        return f"{c} IN (SELECT v FROM {view})"

    # ------------------------------------------------------------------ aggregates
    def _aggregate_sql(self, mc: MetricConfiguration) -> str:
        m, d = mc.metric_name, mc.metric_domain_kwargs
        if d.get("row_condition"):
            raise UnsupportedMetric("row_condition is not compiled yet")
        if m == "table.row_count":
            return "count(*)"
        name = d.get("column")
        if name is None:
            raise UnsupportedMetric(m)
        x = self._pv(name)
        t = self.types[name].upper() if name in self.types else ""
        if (self.exact_float_aggregates and m in ("column.mean", "column.sum", "column.median",
                                                  "column.standard_deviation")
                and t.startswith(FLOAT_TYPES + ("DECIMAL",))):
            # float rounding: pandas sums pairwise (numpy); SQL sums differ in the last ulp.
            # Fetch ONE column and let GX's own pandas metric compute it: identical by construction.
            sql = f"/* pandas */ {m}({x})"
            key = f"a{abs(hash(sql)) % 10**10}"
            self._exact_aggs[key] = lambda: self._gx_pandas_aggregate(mc, name)
            return sql
        nn = f"FILTER (WHERE NOT {self._isnull(name)})"
        return {
            "column.mean": f"avg({x}) {nn}",
            "column.min": f"min({x}) {nn}",
            "column.max": f"max({x}) {nn}",
            "column.sum": f"coalesce(sum({x}) {nn}, 0)",
            "column.median": f"median({x}) {nn}",
            "column.standard_deviation": f"stddev_samp({x}) {nn}",
        }.get(m) or self._raise(m)

    def _gx_pandas_aggregate(self, mc, name, con=None):
        """Float aggregates exactly as pandas computes them on the .df() column.

        mean/sum mirror pandas.core.nanops (no bottleneck installed): NaN/NULL -> 0, numpy
        pairwise sum over the full-length float64 array, divided by the non-missing count.
        std/median: pandas itself on the fetched column (rare, so no fast path).
        """
        a = self.con.cursor().execute(f"SELECT {self._pv(name)} AS v FROM {self.rel}").fetchnumpy()["v"]
        data = np.ma.getdata(a).astype("float64", copy=False)
        missing = np.ma.getmaskarray(a) | np.isnan(data)
        m = mc.metric_name
        if m in ("column.mean", "column.sum"):
            vals = np.where(missing, 0.0, data)
            total = vals.sum(dtype=np.float64)
            if m == "column.sum":
                return float(total)
            n = int(missing.size - missing.sum())
            # python float, not np.float64: GX's num_to_str (Data Docs) rejects np.float64
            return float(total / n) if n else float("nan")
        s = pd.Series(np.where(missing, np.nan, data))
        return float(s.std() if m == "column.standard_deviation" else s[~s.isnull()].median())

    @staticmethod
    def _raise(m):
        raise UnsupportedMetric(m)

    # ------------------------------------------------------------------ value conversion
    @staticmethod
    def _pandas_value(v, duck_type: str):
        t = duck_type.upper()
        if v is None:
            if t.startswith(FLOAT_TYPES) or t.startswith("DECIMAL"):
                return float("nan")
            if t.startswith(("DATE", "TIMESTAMP")):
                return pd.NaT
            return None
        if isinstance(v, decimal.Decimal):
            return float(v)
        if isinstance(v, (dt.date, dt.datetime)):
            return pd.Timestamp(v)
        return v

    def _convert_values(self, cond: Cond, structs):
        out = []
        for s in structs:
            v = s["v"]
            if cond.value_kind == "scalar":
                out.append(self._pandas_value(v, cond.value_types[0]))
            elif cond.value_kind == "pair":
                out.append((self._pandas_value(v["a"], cond.value_types[0]),
                            self._pandas_value(v["b"], cond.value_types[1])))
            else:
                out.append({k: self._pandas_value(x, t) for (k, x), t in zip(v.items(), cond.value_types)})
        return out

    # ------------------------------------------------------------------ planning
    def plan(self, configs: list[ExpectationConfiguration], result_format="SUMMARY"):
        """Ask GX for each expectation's metrics; compile them. Returns (items, conds, aggs)."""
        items, conds, aggs = [], {}, {}
        for cfg in configs:
            item = {"config": cfg, "error": None, "metric_configs": []}
            items.append(item)
            try:
                exp = cfg.to_domain_obj()
                item["expectation"] = exp
                deps = exp.get_validation_dependencies(
                    execution_engine=self._pandas_engine,
                    runtime_configuration={"result_format": result_format})
                for name, mc in deps.metric_configurations.items():
                    item["metric_configs"].append(mc)
                    self._plan_metric(mc, conds, aggs)
            except Exception as e:  # noqa: BLE001 - reported per expectation, like GX
                item["error"] = e
                item["traceback"] = traceback.format_exc()
        return items, conds, aggs

    def _plan_metric(self, mc: MetricConfiguration, conds, aggs):
        parts = mc.metric_name.rsplit(".", 1)
        if len(parts) == 2 and parts[1] in SUFFIXES:
            cond_metric, suffix = parts
            vk = dict(mc.metric_value_kwargs or {})
            rf = vk.pop("result_format", None)
            dom = {k: v for k, v in dict(mc.metric_domain_kwargs).items() if v is not None and k not in ("batch_id", "table")}
            key_src = repr((cond_metric, sorted(dom.items()), sorted(vk.items(), key=lambda x: x[0])))
            key = f"c{abs(hash(key_src)) % 10**10}"
            cond = conds.get(key)
            if cond is None:
                cond = Cond(key=key, metric=cond_metric, domain=dom, value_kwargs=vk)
                self._compile_cond(cond)
                conds[key] = cond
            cond.wanted.add(suffix)
            if rf:
                if rf.get("result_format") == "COMPLETE":
                    cond.complete = True
                    cond.k = max(cond.k, MAX_RESULT_RECORDS)
                else:
                    cond.k = max(cond.k, min(rf.get("partial_unexpected_count", 20), MAX_RESULT_RECORDS))
                if rf.get("unexpected_index_column_names"):
                    raise UnsupportedMetric("unexpected_index_column_names")
                if rf.get("include_unexpected_rows"):
                    raise UnsupportedMetric("include_unexpected_rows")
            mc._gxduck = (key, suffix)
        elif mc.metric_name == "table.columns":
            mc._gxduck = ("__columns__", None)
        elif mc.metric_name == "table.column_types":
            raise UnsupportedMetric("table.column_types (pandas dtypes) is not emulated")
        else:
            sql = self._aggregate_sql(mc)
            key = f"a{abs(hash(sql)) % 10**10}"
            aggs[key] = sql
            mc._gxduck = (key, None)

    # ------------------------------------------------------------------ execution
    def _select_list(self, conds, aggs):
        """Outer aggregates + inner projection: each condition's predicate is evaluated ONCE per row
        (as a boolean column) and reused by count_if / min_by FILTER (a regex evaluated once, not twice)."""
        sel, ctes, proj = [], [], []
        for key, sql in aggs.items():
            if key not in self._exact_aggs:
                sel.append(f"{sql} AS {key}")
        for key, c in conds.items():
            if c.kind != "row":
                if "filtered_row_count" in c.wanted:
                    sel.append(f"count_if({c.filter_sql}) AS {key}_f")
                continue
            ctes.extend(c.ctes)
            sel += [f"{sql} AS {alias}" for alias, sql in c.verify.items()]
            proj.append(f"(({c.filter_sql}) AND ({c.unexpected_sql})) AS __u_{key}")
            hit = f"__u_{key}"
            sel.append(f"count_if({hit}) AS {key}_n")
            if "filtered_row_count" in c.wanted:
                sel.append(f"count_if({c.filter_sql}) AS {key}_f")
            if c.wanted & {"unexpected_values", "unexpected_index_list"}:
                sel.append(f"min_by(struct_pack(r := {ROWID}, v := {c.value_sql}), {ROWID}, {c.k}) "
                           f"FILTER (WHERE {hit}) AS {key}_s")
            if c.complete and "unexpected_index_list" in c.wanted:
                sel.append(f"list({ROWID} ORDER BY {ROWID}) FILTER (WHERE {hit}) AS {key}_i")
        return sel, ctes, proj

    def _unique_sql(self, c: Cond) -> str:
        """count + first K unexpected (by rowid) for uniqueness, without a join back to the table.

        single column: sort-based (lag/lead over ORDER BY value) - cheap on (nearly) sorted keys;
        compound: GROUP BY (count, min(rowid)); the first K unexpected rows lie in the K groups
        with the smallest min(rowid), so only those groups are fetched again.
        """
        k, F, t = c.k, c.filter_sql, self.rel
        if "column" in c.domain:
            x = self._pv(c.domain["column"])
            full = f", list(r ORDER BY r) AS {c.key}_i" if c.complete else ""
            return (f"SELECT count(*) AS {c.key}_n, min_by(struct_pack(r := r, v := v), r, {k}) AS {c.key}_s{full} "
                    f"FROM (SELECT rowid AS r, {x} AS v, lag({x}) OVER w AS p, lead({x}) OVER w AS nx "
                    f"FROM {t} WHERE {F} WINDOW w AS (ORDER BY {x})) WHERE v = p OR v = nx")
        cols = c.domain["column_list"]
        gk = ", ".join(f"{self._pv(x)} AS k{i}" for i, x in enumerate(cols))
        # struct '=' treats NULL fields as equal (pandas.duplicated does too)
        key = "struct_pack(" + ", ".join(f"k{i} := {self._pv(x)}" for i, x in enumerate(cols)) + ")"
        gkey = "struct_pack(" + ", ".join(f"k{i} := k{i}" for i in range(len(cols))) + ")"
        full = (f", (SELECT list(rowid ORDER BY rowid) FROM {t} WHERE ({F}) AND {key} IN (SELECT {gkey} FROM g)) "
                f"AS {c.key}_i" if c.complete else "")
        return (f"WITH g AS MATERIALIZED (SELECT {gk}, count(*) AS n, min(rowid) AS r FROM {t} "
                f"WHERE {F} GROUP BY ALL HAVING count(*) > 1), "
                f"top AS (SELECT * FROM g ORDER BY r LIMIT {k}) "
                f"SELECT (SELECT coalesce(sum(n), 0) FROM g) AS {c.key}_n, "
                f"(SELECT min_by(struct_pack(r := rowid, v := {c.value_sql}), rowid, {k}) "
                f"FROM {t} WHERE ({F}) AND {key} IN (SELECT {gkey} FROM top)) AS {c.key}_s{full}")

    def _run_scan(self, conds, aggs) -> dict:
        """The single scan + one query per uniqueness condition + exact float aggregates.

        They are independent, so they run concurrently (the scan on self.con, which holds the
        registered distinct-value sets; the others on cursors of the same database).
        """
        sel, ctes, proj = self._select_list(conds, aggs)
        tasks = []
        if sel:
            inner = f"(SELECT rowid AS {ROWID}, *" + "".join(",\n        " + p for p in proj) + f"\n FROM {self.rel})"
            sql = (("WITH " + ", ".join(ctes) + "\n" if ctes else "") +
                   "SELECT " + ",\n       ".join(sel) + f"\nFROM {inner}")
            tasks.append((self.con, sql))
        tasks += [(None, self._unique_sql(c)) for c in conds.values() if c.kind == "unique"]
        self.last_sql += [sql for _, sql in tasks]

        def run(task):
            con, sql = task
            cur = (con or self.con.cursor()).execute(sql)
            names = [d[0] for d in cur.description]
            return dict(zip(names, cur.fetchone()))

        exact = [(k, fn) for k, fn in self._exact_aggs.items() if k in aggs]
        out = {}
        if self.concurrent and len(tasks) + len(exact) > 1:
            with ThreadPoolExecutor(max_workers=len(tasks) + len(exact)) as ex:
                futs = [ex.submit(run, t) for t in tasks]
                efuts = [(k, ex.submit(fn)) for k, fn in exact]
                for f in futs:
                    out.update(f.result())
                for k, f in efuts:
                    out[k] = f.result()
        else:
            for t in tasks:
                out.update(run(t))
            for k, fn in exact:
                out[k] = fn()
        return out

    def compute(self, conds, aggs) -> tuple[dict, dict]:
        """Run the single scan; if it fails, isolate the failing condition(s). Returns (row, errors)."""
        try:
            row = self._run_scan(conds, aggs)
            redo = {k: c for k, c in conds.items() if any(row.get(a) for a in c.verify)}
            for k, c in redo.items():  # data needs Python `re` semantics: GX pandas on distinct values
                c.verify = {}
                c.unexpected_sql = self._distinct_via_gx(c)
                row.update(self._run_scan({k: c}, {}))
            self.fallbacks = sorted(c.metric + ":" + str(c.domain) for c in redo.values())
            return row, {}
        except duckdb.Error:
            row, errors = {}, {}
            for key, sql in aggs.items():
                try:
                    row.update(self._run_scan({}, {key: sql}))
                except duckdb.Error as e:
                    errors[key] = e
            for key, c in conds.items():
                try:
                    row.update(self._run_scan({key: c}, {}))
                except duckdb.Error as e:
                    errors[key] = e
            return row, errors

    def _metric_value(self, mc, row, conds):
        key, suffix = mc._gxduck
        if key == "__columns__":
            return list(self.columns)
        if suffix is None:
            v = row[key]
            if isinstance(v, decimal.Decimal):
                v = float(v)
            if v is None and mc.metric_name.startswith("column."):
                v = float("nan")  # pandas: mean()/median()/std() of nothing is NaN
            return v
        c = conds[key]
        if suffix == "unexpected_count":
            return int(row[f"{key}_n"] or 0)
        if suffix == "filtered_row_count":
            return int(row[f"{key}_f"] or 0)
        sample = sorted(row.get(f"{key}_s") or [], key=lambda s: s["r"])
        if suffix == "unexpected_values":
            return self._convert_values(c, sample)
        if suffix == "unexpected_index_list":
            if c.complete:
                return list(row.get(f"{key}_i") or [])
            return [s["r"] for s in sample]
        if suffix == "unexpected_index_query":
            if c.kind == "unique":
                cols = ", ".join(self._pv(x) for x in (c.domain.get("column_list") or [c.domain["column"]]))
                return (f"SELECT * FROM {self.rel} WHERE ({c.filter_sql}) AND ({cols}) IN "
                        f"(SELECT {cols} FROM {self.rel} WHERE {c.filter_sql} GROUP BY ALL HAVING count(*) > 1)")
            return (f"SELECT * FROM {self.rel} WHERE ({c.filter_sql}) AND ({c.unexpected_sql})")
        raise UnsupportedMetric(mc.metric_name)

    # ------------------------------------------------------------------ public API
    def check(self, suite: gx.ExpectationSuite) -> list[str]:
        """Plan (compile) without scanning: unknown columns, unsupported metrics, bad args."""
        self._check_only = True
        try:
            items, _, _ = self.plan(list(suite.expectation_configurations))
        finally:
            self._check_only = False
            self._unregister()
        return [f"{it['config'].type}: {type(it['error']).__name__}: {it['error']}"
                for it in items if it["error"] is not None]

    def validate(self, suite: gx.ExpectationSuite, result_format="SUMMARY",
                 catch_exceptions=True) -> ExpectationSuiteValidationResult:
        self.last_sql = []
        self._exact_aggs = {}
        configs = list(suite.expectation_configurations)
        runtime = {"result_format": result_format.value if isinstance(result_format, ResultFormat) else result_format}
        try:
            items, conds, aggs = self.plan(configs, runtime["result_format"])
            row, scan_errors = self.compute(conds, aggs)
        finally:
            self._unregister()
        results = []
        for it in items:
            err = it["error"]
            if err is None:
                bad = [mc._gxduck[0] for mc in it["metric_configs"] if mc._gxduck[0] in scan_errors]
                if bad:
                    err = scan_errors[bad[0]]
            if err is None:
                try:
                    metrics = {mc.id: self._metric_value(mc, row, conds) for mc in it["metric_configs"]}
                    evr = it["expectation"].metrics_validate(
                        metrics=metrics, runtime_configuration=dict(runtime),
                        execution_engine=self._pandas_engine)
                    results.append(evr)
                    continue
                except Exception as e:  # noqa: BLE001
                    err = e
                    it["traceback"] = traceback.format_exc()
            if not catch_exceptions:
                raise err
            results.append(ExpectationValidationResult(
                success=False, expectation_config=it["config"],
                exception_info={"raised_exception": True,
                                "exception_message": f"{type(err).__name__}: {err}",
                                "exception_traceback": it.get("traceback") or repr(err)}))
        stats = calc_validation_statistics(results)
        return ExpectationSuiteValidationResult(
            results=results, success=stats.success, suite_name=suite.name,
            statistics={"evaluated_expectations": stats.evaluated_expectations,
                        "successful_expectations": stats.successful_expectations,
                        "unsuccessful_expectations": stats.unsuccessful_expectations,
                        "success_percent": stats.success_percent},
            meta={"great_expectations_version": gx.__version__,
                  "engine": "kontor-duckdb-metric-pushdown",
                  "batch_spec": {"data_asset_name": self.table, "duckdb_table": self.table},
                  "active_batch_definition": {"datasource_name": "duckdb", "data_asset_name": self.table,
                                              "batch_definition_name": "whole_table"}})

    def _unregister(self):
        for v in self._registered:
            try:
                self.con.unregister(v)
            except Exception:  # noqa: BLE001
                pass
        self._registered = []


def suite_from_rules(name: str, rules: list[dict]) -> gx.ExpectationSuite:
    """Kontor rules (type, kwargs, severity error|warn, description) -> GX suite (validated by GX)."""
    exps = []
    for r in rules:
        sev = {"error": "critical", "warn": "warning"}[r.get("severity", "error")]
        cfg = ExpectationConfiguration(type=r["type"], kwargs=dict(r.get("kwargs", {})),
                                       severity=sev, description=r.get("description"))
        exps.append(cfg.to_domain_obj())
    return gx.ExpectationSuite(name=name, expectations=exps)
