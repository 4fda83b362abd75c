"""GX suites on DuckDB by metric pushdown: GX says what to compute and judges it; DuckDB computes.

1. Each rule is a real GX Expectation (registry lookup, GX's own argument validation).
2. ``expectation.get_validation_dependencies`` names the GX metrics it needs, with GX's own
   domain and value kwargs (``column_values.between.unexpected_count`` ...).
3. Those metrics become DuckDB SQL: ONE scan for every row condition (each predicate projected
   once; ``count_if`` and ``min_by(struct, row, K)`` for the first K failing values in row order),
   one sort/group query per uniqueness condition, float mean/sum like pandas on the one fetched
   column, and the SQL of ``unexpected_rows_expectation``; they run concurrently. Conditions with
   no exact SQL twin (strftime, a regex pandas would run on Python ``re``) are evaluated by GX's
   own pandas condition on the column's DISTINCT values.
4. ``expectation.metrics_validate`` (GX's code) applies ``mostly``, denominators and
   ``result_format`` and builds each ``ExpectationValidationResult``.

Results are identical to GX's pandas engine (docs/research/gx_on_duckdb/FINDINGS.md; tests in
tests/quality/test_parity.py), at about 0.15x its time and a fraction of its memory.

>>> import great_expectations as gx
>>> from pipelines.engines.connection import connect
>>> con = connect(); _ = con.execute("create table t as select range as x from range(10)")
>>> suite = gx.ExpectationSuite(name="t", expectations=[gx.expectations.ExpectColumnValuesToBeBetween(column="x", max_value=8)])
>>> DuckDBGate(con, "t").validate(suite).results[0].result["unexpected_count"]
1
"""
from __future__ import annotations

import datetime as dt
import decimal
import itertools
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import great_expectations as gx
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.execution_engine.pandas_batch_data import PandasBatchData
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.exceptions import MetricProviderError
from great_expectations.expectations.metrics.query_metric_provider import UnsubstitutableQueryBraceError
from great_expectations.expectations.registry import get_metric_provider
from great_expectations.validator.metric_configuration import MetricConfiguration
from great_expectations.validator.metrics_calculator import MetricsCalculator
from great_expectations.validator.validation_statistics import calc_validation_statistics
from sqlglot import exp, parse_one
from sqlglot.errors import ParseError

from pipelines.engines import catalog
from pipelines.engines.connection import Connection, EngineError
from pipelines.quality.conditions import (
    FLOAT_TYPES,
    ROW,
    Columns,
    Cond,
    RuleError,
    UnsupportedMetric,
    compile_condition,
    convert_values,
    filtered,
    struct,
)
from pipelines.core.sql import render, table_expr, template

# Expectation types the gate computes (tests/quality/fixtures/parity.yml checks each against GX's
# pandas engine). Any other GX type whose metrics are among those compiled works as well; the rest
# are reported by ``kontor check``.
SUPPORTED_TYPES = (
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique",
    "expect_column_values_to_be_between", "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set", "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex", "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal", "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_dateutil_parseable", "expect_column_values_to_be_json_parseable",
    "expect_column_pair_values_a_to_be_greater_than_b", "expect_column_pair_values_to_be_equal",
    "expect_table_row_count_to_be_between", "expect_table_row_count_to_equal",
    "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
    "expect_column_to_exist", "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between",
    "expect_column_mean_to_be_between", "expect_column_sum_to_be_between", "expect_column_min_to_be_between",
    "expect_column_max_to_be_between", "expect_column_median_to_be_between", "expect_column_stdev_to_be_between",
    "expect_column_unique_value_count_to_be_between", "unexpected_rows_expectation",
)
SUFFIXES = ("unexpected_count", "unexpected_values", "unexpected_index_list", "unexpected_index_query",
            "filtered_row_count")
EXACT_FLOAT = ("column.mean", "column.sum", "column.median", "column.standard_deviation")
QUERY_METRICS = ("unexpected_rows_query.table", "unexpected_rows_query.row_count")


@dataclass
class Item:
    """One expectation being planned: GX's object, the metrics it needs, or why it cannot run."""

    config: ExpectationConfiguration
    expectation: Any = None
    metric_configs: list[MetricConfiguration] = field(default_factory=list)
    error: Exception | None = None
    traceback: str = ""


@dataclass
class Plan:
    items: list[Item] = field(default_factory=list)
    conds: dict[str, Cond] = field(default_factory=dict)
    aggs: dict[str, exp.Expression] = field(default_factory=dict)   # key -> SQL aggregate in the scan
    exact: dict[str, MetricConfiguration] = field(default_factory=dict)   # key -> pandas-exact float
    queries: dict[str, exp.Query] = field(default_factory=dict)     # key -> unexpected_rows_query, parsed
    where: dict[Any, tuple[str, str | None]] = field(default_factory=dict)  # metric id -> (key, suffix)
    signatures: dict[str, str] = field(default_factory=dict)      # condition + kwargs -> cond key
    rows_only: bool = False         # DuckDBGate.plan_rows: planned without data, value sets not judged


def format_query(query: str, batch: str) -> str:
    """``query`` with ``{batch}`` replaced by ``batch``, as GX's ``UnexpectedRowsExpectation`` does.

    GX fills the placeholder with ``str.format``, so every other brace is a field too and must be
    doubled (``{{`` for a literal ``{``); a query GX would refuse is refused here, with GX's own
    error class and a reason that names the fix.

    >>> format_query("select * from {batch} where tags = '{{a}}'", batch="marts.t")
    "select * from marts.t where tags = '{a}'"
    """
    try:
        return query.format(batch=batch)
    except KeyError as exc:
        reason = f"`{exc.args[0]}` is not a placeholder of unexpected_rows_query (only `{{batch}}` is)."
    except IndexError:
        reason = ("The query contains a positional placeholder such as `{}` or `{3}`; a regex "
                  "quantifier like `x{3}` is the usual cause.")
    except ValueError as exc:
        reason = f"The query contains an unpaired or malformed brace: {exc}."
    raise UnsubstitutableQueryBraceError(query, reason)


class DuckDBGate:
    """Validate GX ExpectationSuites against one DuckDB table or view."""

    def __init__(self, con: Connection, relation: str, concurrent: bool = True, keep_rows: int = 0):
        self.con = con
        self.keep_rows = keep_rows    # positions of the first N rows a uniqueness rule flags, kept
        self._kept: dict[str, str] = {}   # cond key -> registered view of those positions
        self.relation = relation
        self.concurrent = concurrent
        table = table_expr(relation)
        self.rel_sql = table.sql("duckdb")
        parts = relation.split(".")
        schema, name = (parts[0], parts[1]) if len(parts) == 2 else ("main", parts[0])
        is_table = catalog.table_exists(con, schema, name)
        # ROW = position in `select * from <relation>`, i.e. pandas' RangeIndex after .df(). Tables
        # have rowid; views get a streaming row_number() (no sort, no extra cost).
        position = exp.column("rowid") if is_table else _streamed_position()
        self.rel = exp.select(exp.alias_(position, ROW, copy=False), exp.Star()).from_(table, copy=False).subquery(copy=False)
        rows = con.execute(render(template(__file__, "describe"), relation=table)).fetchall()
        self.columns = [r[0] for r in rows]
        self.cols = Columns({r[0]: r[1] for r in rows}, relation)
        self._engine = PandasExecutionEngine()    # handed to GX so it judges with pandas rules
        self._registered: list[str] = []
        self._keys = itertools.count()
        self._plan: Plan | None = None
        self._rows_only = False                     # planned by plan_rows: no data, queries not run here
        self._judged: set[str] = set()              # after plan_rows: conditions judge_values evaluated
        self.row_count = 0                         # of the last validation
        self.fallbacks: list[str] = []            # conditions redone on GX pandas (regex on Python re)

    # ------------------------------------------------------------------ planning
    def plan(self, configs: list[ExpectationConfiguration], result_format: str = "SUMMARY") -> Plan:
        """Ask GX which metrics each expectation needs and compile them; no data is read."""
        plan = Plan()
        for cfg in configs:
            item = Item(config=cfg)
            plan.items.append(item)
            try:
                item.expectation = cfg.to_domain_obj()
                deps = item.expectation.get_validation_dependencies(
                    execution_engine=self._engine, runtime_configuration={"result_format": result_format})
                for mc in deps.metric_configurations.values():
                    item.metric_configs.append(mc)
                    self._plan_metric(plan, mc)
            except Exception as e:  # noqa: BLE001 - reported per expectation, like GX does
                item.error, item.traceback = e, traceback.format_exc()
        return plan

    def _key(self, prefix: str) -> str:
        return f"{prefix}{next(self._keys)}"

    def _plan_metric(self, plan: Plan, mc: MetricConfiguration) -> None:
        if mc.id in plan.where:
            return
        name = mc.metric_name
        head, _, suffix = name.rpartition(".")
        if suffix in SUFFIXES:
            vk = dict(mc.metric_value_kwargs or {})
            rf = vk.pop("result_format", None)
            dom = {k: v for k, v in dict(mc.metric_domain_kwargs).items() if v is not None and k not in ("batch_id", "table")}
            signature = repr((head, sorted(dom.items()), sorted(vk.items())))
            cond = plan.conds.get(plan.signatures.get(signature, ""))
            if cond is None:
                cond = Cond(key=self._key("c"), metric=head, domain=dom, value_kwargs=vk)
                plan.signatures[signature] = cond.key
                try:
                    provider = get_metric_provider(f"{head}.condition", self._engine)[0]
                except MetricProviderError:
                    provider = None
                compile_condition(self.cols, cond, getattr(provider, "filter_column_isnull", True))
                if cond.re2 is not None:
                    self._check_re2(cond.re2)
                plan.conds[cond.key] = cond
            cond.wanted.add(suffix)
            if rf:
                if rf.get("unexpected_index_column_names"):
                    raise UnsupportedMetric("result_format unexpected_index_column_names is not supported")
                if rf.get("include_unexpected_rows"):
                    raise UnsupportedMetric("result_format include_unexpected_rows is not supported")
                if rf.get("result_format") == "COMPLETE":
                    cond.complete, cond.k = True, max(cond.k, MAX_RESULT_RECORDS)
                else:
                    cond.k = max(cond.k, min(rf.get("partial_unexpected_count", 20), MAX_RESULT_RECORDS))
            plan.where[mc.id] = (cond.key, suffix)
        elif name in ("table.columns", "table.column_count"):
            plan.where[mc.id] = ("__columns__", name)
        elif name in QUERY_METRICS:
            query = self._query(mc)
            key = next((k for k, q in plan.queries.items() if q == query), None) or self._key("q")
            plan.queries[key] = query
            plan.where[mc.id] = (key, name.rpartition(".")[2])
        else:
            key = self._key("a")
            if self._exact_float(mc):
                plan.exact[key] = mc
            else:
                plan.aggs[key] = self._aggregate(mc)
            plan.where[mc.id] = (key, None)

    def _check_re2(self, rx: str) -> None:
        try:
            self.con.execute(template(__file__, "regex_compiles"), [rx]).fetchall()
        except EngineError as e:
            raise RuleError(f"invalid regex {rx!r} for DuckDB's RE2: {e}", kwarg="regex") from e

    def _query(self, mc: MetricConfiguration) -> exp.Query:
        """An unexpected_rows_query with {batch} substituted as GX does, read by sqlglot (in DuckDB's
        dialect, as the Spark gate reads it) so that the gate's statements nest it; bound, not run."""
        if mc.metric_domain_kwargs.get("row_condition"):
            raise UnsupportedMetric("row_condition is not supported by Kontor's gate yet")
        try:
            query = format_query(mc.metric_value_kwargs["unexpected_rows_query"], batch=self.rel_sql)
        except Exception as e:  # noqa: BLE001 - GX's message names the brace and the fix
            raise RuleError(str(e), kwarg="unexpected_rows_query") from e
        try:
            tree = parse_one(query, dialect="duckdb")
        except ParseError as e:
            raise RuleError(f"unexpected_rows_query is not SQL that sqlglot reads in DuckDB's dialect: "
                            f"{str(e).splitlines()[0]}", kwarg="unexpected_rows_query") from e
        if not isinstance(tree, exp.Query):
            raise RuleError(f"unexpected_rows_query must be a query (SELECT ...), not a {tree.key.upper()} statement",
                            kwarg="unexpected_rows_query")
        if self._rows_only:
            return tree
        try:
            self.con.execute(exp.Describe(this=_select_all(tree)).sql("duckdb", copy=False)).fetchall()
        except EngineError as e:
            raise RuleError(f"unexpected_rows_query does not run on DuckDB: {str(e).splitlines()[0]}",
                            kwarg="unexpected_rows_query") from e
        return tree

    def _exact_float(self, mc: MetricConfiguration) -> bool:
        name = mc.metric_domain_kwargs.get("column")
        return (mc.metric_name in EXACT_FLOAT and name in self.cols.types
                and self.cols.type(name).startswith(FLOAT_TYPES + ("DECIMAL",)))

    def _aggregate(self, mc: MetricConfiguration) -> exp.Expression:
        m, d = mc.metric_name, mc.metric_domain_kwargs
        if d.get("row_condition"):
            raise UnsupportedMetric("row_condition is not supported by Kontor's gate yet")
        if m == "table.row_count":
            return _count_star()
        name = d.get("column")
        if name is None:
            raise UnsupportedMetric(m)
        build = AGGREGATES.get(m)
        if build is None:
            raise UnsupportedMetric(m)
        x = self.cols.pv(name, "column")
        aggregate = filtered(build(x), exp.not_(self.cols.isnull(name), copy=False))
        return exp.Coalesce(this=aggregate, expressions=[exp.Literal.number(0)]) if m == "column.sum" else aggregate

    # ------------------------------------------------------------------ execution
    def _via_gx(self, cond: Cond, fetch: Callable[[str], pd.DataFrame] | None = None,
                register: Callable[[str, pd.DataFrame], None] | None = None) -> None:
        """GX's own pandas condition on the DISTINCT values; the failing ones go back as a set.
        ``fetch`` (the distinct values' query, DuckDB SQL -> DataFrame) and ``register`` (the set
        as a named relation) default to this connection (``judge_values`` passes Spark's)."""
        name = cond.domain["column"]
        x = self.cols.pv(name)
        distinct = exp.select(exp.alias_(x, "v", copy=False)).distinct(copy=False).from_(self.rel.copy(), copy=False).where(cond.filter.copy(), copy=False)
        sql = distinct.sql("duckdb", copy=False)
        df = fetch(sql) if fetch is not None else self.con.execute(sql).df()
        df.columns = [name]
        if len(df) == 0:
            cond.unexpected = exp.false()
            return
        engine = PandasExecutionEngine()
        engine.load_batch_data("distinct", PandasBatchData(engine, df))
        kwargs = {k: v for k, v in cond.value_kwargs.items() if k != "result_format"}
        unexpected, _, _ = MetricsCalculator(execution_engine=engine, show_progress_bars=False).get_metric(
            MetricConfiguration(f"{cond.metric}.condition", {"column": name, "batch_id": "distinct"}, kwargs))
        bad = df.loc[unexpected[unexpected].index, [name]].rename(columns={name: "v"}).reset_index(drop=True)
        view = f"_kontor_gate_bad_{cond.key}_{id(self)}"
        if register is not None:
            register(view, bad)
        else:
            self.con.register(view, bad)
            self._registered.append(view)
        cond.unexpected = x.isin(query=exp.select(exp.column("v")).from_(exp.table_(view, quoted=True), copy=False))

    def _scan_sql(self, conds: dict[str, Cond], aggs: dict[str, exp.Expression]) -> str:
        sel = [exp.alias_(_count_star(), "__n", copy=False)]
        sel += [exp.alias_(aggregate, key) for key, aggregate in aggs.items()]
        proj = []
        for key, c in conds.items():
            if c.kind != "row":
                if "filtered_row_count" in c.wanted:
                    sel.append(exp.alias_(exp.CountIf(this=c.filter.copy()), f"{key}_f", copy=False))
                continue
            sel += [exp.alias_(flag, alias) for alias, flag in c.verify.items()]
            # each predicate once per row (a regex evaluated once, not in count_if and min_by)
            hit = exp.column(f"__u_{key}")
            proj.append(exp.alias_(exp.and_(exp.paren(c.filter), exp.paren(c.unexpected), copy=False), hit.name, copy=False))
            sel.append(exp.alias_(exp.CountIf(this=hit.copy()), f"{key}_n", copy=False))
            if "filtered_row_count" in c.wanted:
                sel.append(exp.alias_(exp.CountIf(this=c.filter.copy()), f"{key}_f", copy=False))
            if c.wanted & {"unexpected_values", "unexpected_index_list"}:
                sel.append(exp.alias_(filtered(_first(_row_value(exp.column(ROW), c.value), exp.column(ROW), c.k), hit),
                                      f"{key}_s", copy=False))
            if c.complete and "unexpected_index_list" in c.wanted:
                sel.append(exp.alias_(filtered(_ordered_list(exp.column(ROW)), hit), f"{key}_i", copy=False))
        inner = exp.select(exp.Star(), *proj).from_(self.rel.copy(), copy=False).subquery(copy=False)
        return exp.select(*sel).from_(inner, copy=False).sql("duckdb", copy=False)

    def _unique_sql(self, c: Cond) -> str:
        """Count and first K unexpected rows of a uniqueness condition, without a join back.

        One column: sort-based (lag/lead over the value), cheap on nearly sorted keys. Several:
        GROUP BY (count, min(row)); the first K unexpected rows lie in the K groups with the
        smallest min(row), so only those groups are read again. With ``keep_rows`` the positions
        of the first ``keep_rows`` unexpected rows come along (for the quarantine).
        """
        k, keep = c.k, self.keep_rows
        r, v = exp.column("r"), exp.column("v")
        if "column" in c.domain:
            x = self.cols.pv(c.domain["column"])
            w = exp.to_identifier("w")
            sorted_rows = (exp.select(exp.alias_(exp.column(ROW), "r", copy=False), exp.alias_(x, "v", copy=False),
                                      exp.alias_(exp.Window(this=exp.Lag(this=x.copy()), alias=w.copy(), over="OVER"), "p", copy=False),
                                      exp.alias_(exp.Window(this=exp.Lead(this=x.copy()), alias=w.copy(), over="OVER"), "nx", copy=False))
                           .from_(self.rel.copy(), copy=False).where(c.filter.copy(), copy=False))
            sorted_rows.set("windows", [exp.Window(this=w, order=_order(x))])
            sel = [exp.alias_(_count_star(), f"{c.key}_n", copy=False), exp.alias_(_first(_row_value(r, v), r, k), f"{c.key}_s", copy=False)]
            if c.complete:
                sel.append(exp.alias_(_ordered_list(r), f"{c.key}_i", copy=False))
            if keep:
                sel.append(exp.alias_(_first(r, r, keep), f"{c.key}_q", copy=False))
            repeated = exp.or_(exp.EQ(this=v.copy(), expression=exp.column("p")),
                               exp.EQ(this=v.copy(), expression=exp.column("nx")), copy=False)
            return exp.select(*sel).from_(sorted_rows.subquery(copy=False), copy=False).where(repeated, copy=False).sql("duckdb", copy=False)
        cols = c.domain["column_list"]
        names = [f"k{i}" for i in range(len(cols))]
        values = [self.cols.pv(x) for x in cols]
        # struct '=' treats NULL fields as equal, as pandas.duplicated does
        key = struct(list(zip(names, values)))
        gkey = struct([(n, exp.column(n)) for n in names])

        def key_in(groups: str) -> exp.Expression:   # the rows in the domain whose key is among groups'
            return exp.and_(exp.paren(c.filter), key.isin(query=exp.select(gkey.copy()).from_(exp.to_table(groups), copy=False)), copy=False)

        groups = (exp.select(*(exp.alias_(value, n, copy=False) for n, value in zip(names, values)),
                             exp.alias_(_count_star(), "n", copy=False), exp.alias_(exp.Min(this=exp.column(ROW)), "r", copy=False))
                  .from_(self.rel.copy(), copy=False).where(c.filter.copy(), copy=False))
        groups.set("group", exp.Group(all=True))
        groups = groups.having(_repeated(), copy=False)
        # the first max(K, keep) unexpected rows lie in the groups with the smallest min(row)
        top = exp.select(exp.Star()).from_(exp.to_table("g"), copy=False).order_by(exp.Ordered(this=r.copy(), nulls_first=False), copy=False).limit(max(k, keep), copy=False)
        top_rows = (exp.select(exp.alias_(exp.column(ROW), "r", copy=False), exp.alias_(c.value, "v"))
                    .from_(self.rel.copy(), copy=False).where(key_in("top"), copy=False))
        sel = [exp.alias_(exp.select(exp.Coalesce(this=exp.Sum(this=exp.column("n")), expressions=[exp.Literal.number(0)]))
                          .from_(exp.to_table("g"), copy=False).subquery(copy=False), f"{c.key}_n", copy=False),
               exp.alias_(exp.select(_first(_row_value(r, v), r, k)).from_(exp.to_table("top_rows"), copy=False).subquery(copy=False), f"{c.key}_s", copy=False)]
        if c.complete:
            rows = exp.select(_ordered_list(exp.column(ROW))).from_(self.rel.copy(), copy=False).where(key_in("g"), copy=False)
            sel.append(exp.alias_(rows.subquery(copy=False), f"{c.key}_i", copy=False))
        if keep:
            sel.append(exp.alias_(exp.select(_first(r, r, keep)).from_(exp.to_table("top_rows"), copy=False).subquery(copy=False), f"{c.key}_q", copy=False))
        return (exp.select(*sel).with_("g", as_=groups, materialized=True, copy=False).with_("top", as_=top, copy=False)
                .with_("top_rows", as_=top_rows, materialized=True, copy=False).sql("duckdb", copy=False))

    def _unique_rows_sql(self, c: Cond) -> str:
        """Every row of a repeated value (GX's unexpected rows for uniqueness), in row order: the
        repeated keys by hash aggregate, then one streaming pass that a LIMIT can stop early."""
        cols = c.domain.get("column_list") or [c.domain["column"]]
        key = struct([(f"k{i}", self.cols.pv(x)) for i, x in enumerate(cols)])
        repeated = exp.select(key).from_(self.rel.copy(), copy=False).where(c.filter.copy(), copy=False)
        repeated.set("group", exp.Group(all=True))
        repeated = repeated.having(_repeated(), copy=False)
        return (exp.select(exp.Star()).from_(self.rel.copy(), copy=False)
                .where(exp.and_(exp.paren(c.filter), key.isin(query=repeated), copy=False), copy=False).sql("duckdb", copy=False))

    def _exact_aggregate(self, mc: MetricConfiguration, con: Connection):
        """Float aggregates as pandas computes them on the .df() column (no bottleneck installed):
        mean/sum replace missing by 0 and sum pairwise (numpy) over the full array; SQL sums differ
        in the last ulp. std/median: pandas itself on the fetched column."""
        name = mc.metric_domain_kwargs["column"]
        column = exp.select(exp.alias_(self.cols.pv(name), "v", copy=False)).from_(self.rel.copy(), copy=False)
        a = con.execute(column.sql("duckdb", copy=False)).fetchnumpy()["v"]
        data = np.ma.getdata(a).astype("float64", copy=False)
        missing = np.ma.getmaskarray(a) | np.isnan(data)
        m = mc.metric_name
        if m in ("column.mean", "column.sum"):
            total = np.where(missing, 0.0, data).sum(dtype=np.float64)
            if m == "column.sum":
                return float(total)
            n = int(missing.size - missing.sum())
            return float(total / n) if n else float("nan")   # a Python float: GX's renderer rejects np.float64
        s = pd.Series(np.where(missing, np.nan, data))
        return float(s.std() if m == "column.standard_deviation" else s[~s.isnull()].median())

    def _query_metrics(self, key: str, query: exp.Query, con: Connection) -> dict:
        count = con.execute(exp.select(_count_star()).from_(query.subquery(), copy=False).sql("duckdb", copy=False)).fetchall()[0][0]
        cur = con.execute(_select_all(query).limit(MAX_RESULT_RECORDS, copy=False).sql("duckdb", copy=False))
        names = [d[0] for d in cur.description]
        rows = [{n: _json_value(v) for n, v in zip(names, r)} for r in cur.fetchall()]
        return {f"{key}_row_count": int(count), f"{key}_table": rows}

    def _run(self, conds: dict[str, Cond], aggs: dict[str, exp.Expression], exact: dict[str, MetricConfiguration],
             queries: dict[str, exp.Query]) -> dict:
        """The scan on self.con (it holds the registered value sets), the rest on cursors, at once."""
        tasks = [("scan", self._scan_sql(conds, aggs))]
        tasks += [("sql", self._unique_sql(c)) for c in conds.values() if c.kind == "unique"]
        tasks += [("exact", key) for key in exact] + [("query", key) for key in queries]

        def run(task):
            kind, what = task
            con = self.con if kind == "scan" or not self.concurrent else self.con.cursor()
            try:
                if kind == "exact":
                    return {what: self._exact_aggregate(exact[what], con)}
                if kind == "query":
                    return self._query_metrics(what, queries[what], con)
                cur = con.execute(what)
                return dict(zip([d[0] for d in cur.description], cur.fetchall()[0]))
            finally:
                if con is not self.con:
                    con.close()

        out: dict = {}
        if self.concurrent and len(tasks) > 1:
            with ThreadPoolExecutor(max_workers=min(len(tasks), 8)) as pool:
                for part in pool.map(run, tasks):
                    out.update(part)
        else:
            for task in tasks:
                out.update(run(task))
        return out

    def compute(self, plan: Plan) -> tuple[dict, dict[str, Exception]]:
        """All metric values; if the combined run fails, each part alone, to blame only the culprit."""
        errors: dict[str, Exception] = {}
        for key, c in list(plan.conds.items()):
            if c.via_gx:
                try:
                    self._via_gx(c)
                except Exception as e:  # noqa: BLE001
                    errors[key] = e
                    del plan.conds[key]
        try:
            row = self._run(plan.conds, plan.aggs, plan.exact, plan.queries)
        except EngineError:
            row = {}
            parts = ([({k: c}, {}, {}, {}) for k, c in plan.conds.items()] + [({}, {k: s}, {}, {}) for k, s in plan.aggs.items()]
                     + [({}, {}, {k: m}, {}) for k, m in plan.exact.items()] + [({}, {}, {}, {k: q}) for k, q in plan.queries.items()])
            for part in parts:
                try:
                    row.update(self._run(*part))
                except EngineError as e:
                    for key in itertools.chain(*(p.keys() for p in part)):
                        errors[key] = e
        # data that needs Python `re` semantics (non-ASCII with \w, newlines with $): exact path
        redo = {k: c for k, c in plan.conds.items() if any(row.get(a) for a in c.verify)}
        for key, c in redo.items():
            c.verify = {}
            self._via_gx(c)
            row.update(self._run({key: c}, {}, {}, {}))
        self.fallbacks = sorted(f"{c.metric}:{c.domain}" for c in redo.values())
        for key, c in plan.conds.items():
            if c.kind == "unique" and row.get(f"{key}_q") is not None:
                view = f"_kontor_gate_rows_{key}_{id(self)}"
                self.con.register(view, pd.DataFrame({"r": np.asarray(row[f"{key}_q"], dtype="int64")}))
                self._registered.append(view)
                self._kept[key] = view
        return row, errors

    def _metric_value(self, plan: Plan, mc: MetricConfiguration, row: dict):
        key, suffix = plan.where[mc.id]
        if key == "__columns__":
            return list(self.columns) if suffix == "table.columns" else len(self.columns)
        if key in plan.queries:
            return row[f"{key}_{suffix}"]
        if suffix is None:
            v = row[key]
            if isinstance(v, decimal.Decimal):
                v = float(v)
            if v is None and mc.metric_name.startswith("column."):
                v = float("nan")   # pandas: mean/median/std of nothing is NaN
            return v
        c = plan.conds[key]
        if suffix == "unexpected_count":
            return int(row.get(f"{key}_n") or 0)   # count_if is NULL on empty input
        if suffix == "filtered_row_count":
            return int(row.get(f"{key}_f") or 0)
        sample = sorted(row.get(f"{key}_s") or [], key=lambda s: s["r"])
        if suffix == "unexpected_values":
            return convert_values(c, sample)
        if suffix == "unexpected_index_list":
            return list(row.get(f"{key}_i") or []) if c.complete else [s["r"] for s in sample]
        if suffix == "unexpected_index_query":
            return self._failing_sql(c)
        raise UnsupportedMetric(mc.metric_name)

    def _failing_sql(self, c: Cond) -> str:
        if c.kind == "unique":
            return self._unique_rows_sql(c)
        return (exp.select(exp.Star()).from_(self.rel.copy(), copy=False)
                .where(exp.and_(exp.paren(c.filter), exp.paren(c.unexpected), copy=False), copy=False).sql("duckdb", copy=False))

    # ------------------------------------------------------------------ public API
    def check(self, suite: gx.ExpectationSuite | list[ExpectationConfiguration]) -> list[tuple[int, Exception]]:
        """Compile without reading data: (index of the expectation, why it cannot run) per problem."""
        plan = self.plan(_configs(suite))
        return [(i, it.error) for i, it in enumerate(plan.items) if it.error is not None]

    def validate(self, suite: gx.ExpectationSuite | list[ExpectationConfiguration], result_format: str = "SUMMARY",
                 suite_name: str | None = None) -> ExpectationSuiteValidationResult:
        """One validation of a suite (or of expectation configurations, each constructed by GX here, so
        one bad rule fails alone). Value sets registered for it stay until ``release()``."""
        self.release()
        runtime = {"result_format": result_format}
        suite_name = suite_name or getattr(suite, "name", self.relation)
        plan = self._plan = self.plan(_configs(suite), result_format)
        row, errors = self.compute(plan)
        self.row_count = int(row.get("__n") or 0)
        results = []
        for it in plan.items:
            err = it.error
            if err is None:
                bad = [plan.where[mc.id][0] for mc in it.metric_configs if plan.where[mc.id][0] in errors]
                if bad:
                    err = errors[bad[0]]
            if err is None:
                try:
                    metrics = {mc.id: self._metric_value(plan, mc, row) for mc in it.metric_configs}
                    results.append(it.expectation.metrics_validate(
                        metrics=metrics, runtime_configuration=dict(runtime), execution_engine=self._engine))
                    continue
                except Exception as e:  # noqa: BLE001 - GX reports it in the result
                    err, it.traceback = e, traceback.format_exc()
            results.append(ExpectationValidationResult(
                success=False, expectation_config=it.config,
                exception_info={"raised_exception": True, "exception_message": f"{type(err).__name__}: {err}",
                                "exception_traceback": it.traceback or repr(err)}))
        stats = calc_validation_statistics(results)
        return ExpectationSuiteValidationResult(
            results=results, success=stats.success, suite_name=suite_name,
            statistics={"evaluated_expectations": stats.evaluated_expectations,
                        "successful_expectations": stats.successful_expectations,
                        "unsuccessful_expectations": stats.unsuccessful_expectations,
                        "success_percent": stats.success_percent},
            meta={"great_expectations_version": gx.__version__, "engine": "kontor-duckdb-metric-pushdown",
                  "batch_spec": {"data_asset_name": self.relation},
                  "active_batch_definition": {"datasource_name": "duckdb", "data_asset_name": self.relation,
                                              "batch_definition_name": "whole_table"}})

    def plan_rows(self, suite: gx.ExpectationSuite | list[ExpectationConfiguration]) -> None:
        """Plan ``suite`` without reading data, so that ``failing_rows_sql`` answers for its
        expectations: the failing rows of a relation whose data is elsewhere, written against a
        stand-in with its columns and run where the data is (``spark_gate.py``). A query's other
        relations need not exist here. A condition GX judges on pandas (``via_gx``) needs the
        data's values: its ``failing_rows_sql`` is None until ``judge_values``."""
        self.release()
        self._judged = set()
        self._rows_only = True
        try:
            self._plan = self.plan(_configs(suite))
        finally:
            self._rows_only = False
        self._plan.rows_only = True

    def judge_values(self, index: int, fetch: Callable[[str], pd.DataFrame],
                     register: Callable[[str, pd.DataFrame], None]) -> bool:
        """After ``plan_rows``: judge expectation ``index``'s condition that GX evaluates on pandas
        over the data's distinct values, fetched where the data is (``fetch`` runs the DuckDB SQL
        there) and the failing values registered there (``register``), so that its
        ``failing_rows_sql`` answers. False when it has no such condition."""
        plan = self._plan
        if plan is None or plan.items[index].error is not None:
            return False
        cond = self._own_condition(plan, plan.items[index])
        if cond is None or not cond.via_gx:
            return False
        self._via_gx(cond, fetch, register)
        self._judged.add(cond.key)
        return True

    def failing_rows_sql(self, index: int) -> str | None:
        """SQL for the rows expectation ``index`` of the last validation flagged (None: not row-level).

        Columns are the relation's own plus ``__kontor_row`` (position), in row order (DuckDB keeps
        insertion order without ORDER BY, ``preserve_insertion_order``).
        """
        plan = self._plan
        if plan is None or plan.items[index].error is not None:
            return None
        item = plan.items[index]
        for mc in item.metric_configs:
            key, _ = plan.where[mc.id]
            if key in plan.queries:
                return (exp.select(exp.alias_(_streamed_position(), ROW, copy=False), exp.Star())
                        .from_(plan.queries[key].subquery(), copy=False).sql("duckdb", copy=False))
        cond = self._own_condition(plan, item)
        if cond is not None and cond.key in self._kept:   # the first keep_rows rows, found while validating
            kept = exp.select(exp.column("r")).from_(exp.table_(self._kept[cond.key], quoted=True), copy=False)
            return exp.select(exp.Star()).from_(self.rel.copy(), copy=False).where(exp.column(ROW).isin(query=kept, copy=False), copy=False).sql("duckdb", copy=False)
        # no ORDER BY: rows stream in insertion (= row) order, so a LIMIT stops the scan early
        if cond is None or (cond.via_gx and plan.rows_only and cond.key not in self._judged):
            return None
        return self._failing_sql(cond)

    @staticmethod
    def _own_condition(plan: Plan, item: Item) -> Cond | None:
        """The expectation's own map condition (not the not-null count GX also asks for)."""
        own = getattr(item.expectation, "map_metric", None)
        for mc in item.metric_configs:
            key, suffix = plan.where[mc.id]
            if key in plan.conds and suffix == "unexpected_count" and plan.conds[key].metric == own:
                return plan.conds[key]
        return None

    def release(self) -> None:
        self._kept = {}
        for view in self._registered:
            try:
                self.con.unregister(view)
            except Exception:  # noqa: BLE001 - already gone with its connection
                pass
        self._registered = []


# GX column aggregates (over the non-missing values; column.sum also coalesced to 0, as pandas sums nothing)
AGGREGATES = {
    "column.mean": lambda x: exp.Avg(this=x),
    "column.min": lambda x: exp.Min(this=x),
    "column.max": lambda x: exp.Max(this=x),
    "column.sum": lambda x: exp.Sum(this=x),
    "column.median": lambda x: exp.Median(this=x),
    "column.standard_deviation": lambda x: exp.StddevSamp(this=x),
    "column.distinct_values.count": lambda x: exp.Count(this=exp.Distinct(expressions=[x])),
}


def _streamed_position() -> exp.Expression:
    """``row_number() OVER () - 1``: a row's position as rows stream (no sort, no extra cost)."""
    return exp.Sub(this=exp.Window(this=exp.RowNumber(), over="OVER"), expression=exp.Literal.number(1))


def _count_star() -> exp.Count:
    return exp.Count(this=exp.Star())


def _repeated() -> exp.Expression:
    """``count(*) > 1``: a group of more than one row."""
    return exp.GT(this=_count_star(), expression=exp.Literal.number(1))


def _order(x: exp.Expression) -> exp.Order:
    """``ORDER BY x`` (DuckDB's default, NULLs last)."""
    return exp.Order(expressions=[exp.Ordered(this=x.copy(), nulls_first=False)])


def _ordered_list(x: exp.Expression) -> exp.Expression:
    """DuckDB's ``list(x ORDER BY x)``."""
    return exp.ArrayAgg(this=exp.Order(this=x.copy(), expressions=_order(x).expressions))


def _first(value: exp.Expression, order: exp.Expression, k: int) -> exp.ArgMin:
    """DuckDB's ``min_by(value, order, k)``: the values of the ``k`` smallest ``order``, as a list."""
    return exp.ArgMin(this=value.copy(), expression=order.copy(), count=exp.Literal.number(k))


def _row_value(row: exp.Expression, value: exp.Expression) -> exp.Struct:
    """``struct_pack(r := row, v := value)``: an unexpected value with its row position."""
    return struct([("r", row), ("v", value)])


def _select_all(query: exp.Query) -> exp.Select:
    """``SELECT * FROM (query)``."""
    return exp.select(exp.Star()).from_(query.subquery(), copy=False)


def _configs(suite) -> list[ExpectationConfiguration]:
    return list(suite.expectation_configurations) if isinstance(suite, gx.ExpectationSuite) else list(suite)


def _json_value(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime, dt.time)):
        return v.isoformat()
    return v


def expectation_configuration(rule_type: str, kwargs: dict, severity: str, description: str | None,
                              meta: dict | None = None) -> ExpectationConfiguration:
    return ExpectationConfiguration(type=rule_type, kwargs=dict(kwargs), severity=severity,
                                    description=description, meta=meta or None)


