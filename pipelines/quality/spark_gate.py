"""Quality gates on Spark (``[tool.kontor] engine = "spark"``): the same suites, judged by GX's own
Spark execution engine through GX's public API.

``expectations/*.yml`` stay GX suites; on Spark nothing is compiled by Kontor: an ephemeral GX
context gets a Spark data source (``context.data_sources.add_spark``) on the running session, one
dataframe asset per gated relation with a whole-dataframe batch definition, and
``batch.validate(suite)`` computes every metric on Spark. Two things are Kontor's own:

- an ``unexpected_rows_query`` is written in DuckDB's dialect, like every SQL of the project, so it
  is transpiled to Spark SQL by the engine's rules (``pipelines.engines.spark_rules``) with its
  ``{batch}`` placeholder kept for GX (which fills it with a temporary view of the batch);
- a rule GX cannot construct, or a query that cannot be transpiled, fails alone with its reason,
  as on DuckDB.

The outcome has the shape of the DuckDB gate's (``pipelines.quality.runner.SuiteOutcome``) and its
evidence lands in the same DuckDB tables (``kontor.gate_results``, and the failing rows by row key
in ``kontor.gate_quarantine``: :func:`failing_rows`), since the reports, stewards and
``kontor query`` read the DuckDB side. Not yet on Spark: Data Docs pages and the reuse of an
earlier pass on the same data.
``tests/engines/test_spark_gates.py`` shows every shipped rule giving the DuckDB gate's results,
``tests/engines/test_spark_quarantine.py`` the same quarantined rows.

Reached through ``run_suite(..., engine=<SparkEngine>)``, which the Dagster gates and the model
layer call with ``[tool.kontor] engine = "spark"`` for what the run wrote to Spark. Suites run one after the other on a session: GX names the
temporary view of an ``unexpected_rows_query``'s batch ``tmp_view``, one name per session.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import traceback
from typing import TYPE_CHECKING, Any

from sqlglot import exp, parse_one

from pipelines.quality.conditions import ROW

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pipelines.engines.connection import Connection
    from pipelines.engines.engine import SparkEngine
    from pipelines.quality.runner import SuiteOutcome
    from pipelines.quality.spec import Suite

BATCH = "__kontor_batch__"      # stands for GX's {batch} while the query is transpiled
INDEX = "kontor_index"          # a rule's position in its suite, in the meta GX hands back
LOG = logging.getLogger("kontor.quality")
_names = itertools.count()


def spark_query(query: str) -> str:
    r"""An ``unexpected_rows_query`` in DuckDB's dialect as Spark SQL, ``{batch}`` kept for GX.

    GX fills ``{batch}`` with ``str.format``, so literal braces are doubled, before and after.

    >>> spark_query("select * from {batch} where regexp_full_match(p, '[0-9]{{5}}')")
    "SELECT * FROM {batch} WHERE p RLIKE '^(?:[0-9]{{5}})\\\\z'"
    """
    from pipelines.quality.gate import format_query
    from pipelines.engines.spark_rules import to_spark

    spark_sql = to_spark(format_query(query, batch=BATCH))
    return re.sub(rf"\b{BATCH}\b", "{batch}", spark_sql.replace("{", "{{").replace("}", "}}"))


class SparkGate:
    """Validate GX suites on Spark tables with GX's Spark execution engine (one ephemeral GX
    context and Spark data source per gate; one dataframe asset per relation validated)."""

    def __init__(self, spark: "SparkSession"):
        import great_expectations as gx

        self.spark = spark
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        # GX draws a progress bar per validation on stderr: noise in `kontor run`'s output
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # GX takes the active session (SparkDFExecutionEngine.get_or_create_spark_session); no
        # spark_config, so it changes none of the session's settings.
        self.datasource = self.context.data_sources.add_spark(name="kontor_spark")

    def validate(self, relation: str, configs: list, suite_name: str | None = None,
                 result_format: str = "BASIC"):
        """One validation of ``configs`` (ExpectationConfigurations) on the Spark table ``relation``
        (``schema.name``): an ExpectationSuiteValidationResult with one result per config, in order.

        ``BASIC`` by default: the counts and up to 20 unexpected values, without the value counts
        and row indexes of ``SUMMARY``, which cost Spark a job per rule and Kontor does not read."""
        import great_expectations as gx
        from great_expectations.core.expectation_validation_result import (
            ExpectationSuiteValidationResult,
            ExpectationValidationResult,
        )
        from great_expectations.validator.validation_statistics import calc_validation_statistics

        from pipelines.engines.engine import _spark_rel

        built: list[tuple[int, Any]] = []
        failed: dict[int, ExpectationValidationResult] = {}
        for i, cfg in enumerate(configs):
            try:
                if cfg.type == "unexpected_rows_expectation":
                    cfg = _with_spark_query(cfg)
                expectation = cfg.to_domain_obj()
                expectation.meta = {**(expectation.meta or {}), INDEX: i}
                built.append((i, expectation))
            except Exception as exc:  # noqa: BLE001 - one rule fails alone, with its reason
                failed[i] = ExpectationValidationResult(
                    success=False, expectation_config=configs[i],
                    exception_info={"raised_exception": True, "exception_message": f"{type(exc).__name__}: {exc}",
                                    "exception_traceback": traceback.format_exc()})
        asset = self.datasource.add_dataframe_asset(name=f"{relation}#{next(_names)}")
        batch = asset.add_batch_definition_whole_dataframe("whole_table").get_batch(
            batch_parameters={"dataframe": self.spark.table(_spark_rel(*relation.split(".", 1)))})
        results: dict[int, Any] = dict(failed)
        if built:
            suite = gx.ExpectationSuite(name=suite_name or relation, expectations=[e for _, e in built])
            validated = batch.validate(suite, result_format=result_format)
            # GX orders the results its own way, so each is matched to its config by the index in
            # its meta; GX keeps one of two rules that differ only in name or meta, so the other
            # is validated alone
            for evr in validated.results:
                results[evr.expectation_config.meta[INDEX]] = evr
            for i, expectation in built:
                if i not in results:
                    results[i] = batch.validate(expectation, result_format=result_format)
            for i, _ in built:
                results[i].expectation_config = configs[i]    # as written (DuckDB's dialect)
        ordered = [results[i] for i in range(len(configs))]
        stats = calc_validation_statistics(ordered)
        return ExpectationSuiteValidationResult(
            results=ordered, success=stats.success, suite_name=suite_name or relation,
            statistics={"evaluated_expectations": stats.evaluated_expectations,
                        "successful_expectations": stats.successful_expectations,
                        "unsuccessful_expectations": stats.unsuccessful_expectations,
                        "success_percent": stats.success_percent},
            meta={"great_expectations_version": gx.__version__, "engine": "gx-spark",
                  "batch_spec": {"data_asset_name": relation}})


def _with_spark_query(cfg):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    kwargs = dict(cfg.kwargs)
    kwargs["unexpected_rows_query"] = spark_query(kwargs["unexpected_rows_query"])
    return ExpectationConfiguration(type=cfg.type, kwargs=kwargs, severity=cfg.severity,
                                    description=cfg.description, meta=cfg.meta)


def run_suite_on_spark(engine: "SparkEngine", con: "Connection", suite: "Suite", *, run_id: str,
                       checked_at: dt.datetime | None = None, gate: SparkGate | None = None,
                       row_key: list[str] | None = None, quarantine_limit: int | None = None) -> "SuiteOutcome":
    """``suite`` judged on the Spark table of its relation; the results written to
    ``kontor.gate_results`` of the DuckDB warehouse ``con`` and the failing rows to
    ``kontor.gate_quarantine`` by row key (:func:`failing_rows`), as the DuckDB gate writes them."""
    from pipelines.core.warehouse import ensure_bookkeeping
    from pipelines.engines.engine import _spark_rel
    from pipelines.quality.runner import QUARANTINE_LIMIT, SuiteOutcome, _outcome, gx_configs, record

    checked_at = checked_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    limit = QUARANTINE_LIMIT if quarantine_limit is None else quarantine_limit
    gate = gate or SparkGate(engine.spark)
    result = gate.validate(suite.relation, gx_configs(suite), suite_name=suite.name)
    row_count = engine.spark.table(_spark_rel(*suite.relation.split(".", 1))).count()
    outcomes = [_outcome(rule, evr, row_count) for rule, evr in zip(suite.rules, result.results)]
    cur = con.cursor()
    try:
        ensure_bookkeeping(cur)
        views = failing_rows(engine, cur, suite, outcomes, limit)
        try:
            record(cur, suite, outcomes, lambda i: _select_all(views[i]) if i in views else None,
                   list(suite.row_key or row_key or []), run_id=run_id, checked_at=checked_at, quarantine_limit=limit)
        finally:
            for view in views.values():
                cur.unregister(view)
    finally:
        cur.close()
    return SuiteOutcome(suite=suite, rules=outcomes)


def failing_rows(engine: "SparkEngine", cur: "Connection", suite: "Suite", outcomes: list,
                 limit: int) -> dict[int, str]:
    """The rows each rule with unexpected rows flagged, computed on Spark and registered on
    ``cur`` as Arrow (rule index -> view name): the first ``limit`` in row order, as the DuckDB gate
    quarantines them.

    The SQL is the DuckDB gate's own: ``DuckDBGate.plan_rows`` on an empty stand-in with the
    Spark table's columns writes each rule's failing-rows query (``__kontor_row``, the row's
    position, first), the stand-in is replaced by the Spark table and the query transpiled
    (``spark_rules``; ``row_number() over ()`` counts rows in the order Spark reads them, which is
    the order they are copied back to DuckDB in). Only the failing rows travel; their key and JSON
    are written on DuckDB by the same statement as on the DuckDB engine (``runner.record``).
    A condition GX judges on pandas over the distinct values (strftime, dateutil, a regex only
    Python's ``re`` reads) is judged so here too: the distinct values come from Spark, GX's
    failing ones go back as a temporary view (``DuckDBGate.judge_values``)."""
    from pipelines.engines.engine import _spark_rel, _table
    from pipelines.engines.spark_rules import to_spark
    from pipelines.quality.gate import DuckDBGate
    from pipelines.quality.runner import gx_configs

    wanted = [i for i, o in enumerate(outcomes) if (o.unexpected_count or 0) > 0]
    if not wanted:
        return {}
    schema, name = suite.relation.split(".", 1)
    standin = f"__kontor_standin_{next(_names)}"
    cur.register(standin, engine.spark.table(_spark_rel(schema, name)).limit(0).toArrow())
    views: dict[int, str] = {}
    values_views: list[str] = []
    try:
        rows_gate = DuckDBGate(cur, standin)
        rows_gate.plan_rows(gx_configs(suite))

        def standin_to_spark(sql: str) -> str:
            return to_spark(parse_one(sql, dialect="duckdb").transform(
                lambda node: _table(schema, name) if isinstance(node, exp.Table) and node.name == standin and not node.db
                else node).sql("duckdb"))

        def register(view: str, values) -> None:      # GX's failing values, a temporary view on Spark
            engine.spark.createDataFrame(values).createOrReplaceTempView(view)
            values_views.append(view)

        for i in wanted:
            try:
                sql = rows_gate.failing_rows_sql(i)
                if sql is None and rows_gate.judge_values(
                        i, lambda q: engine.spark.sql(standin_to_spark(q)).toPandas(), register):
                    sql = rows_gate.failing_rows_sql(i)
                if sql is None:
                    if outcomes[i].exception is None:
                        LOG.warning(f"{suite.asset}: {suite.rules[i].name}: failing rows not quarantined on Spark "
                                    "(the DuckDB gate cannot plan a failing-rows query for it)")
                    continue
                first = (exp.select(exp.Star()).from_(parse_one(sql, dialect="duckdb").subquery(), copy=False)
                         .order_by(exp.column(ROW), copy=False).limit(limit, copy=False))
                rows = engine.spark.sql(standin_to_spark(first.sql("duckdb", copy=False))).toArrow()
            except Exception as exc:  # noqa: BLE001 - the verdict stands; only its rows are missing
                LOG.warning(f"{suite.asset}: {suite.rules[i].name}: failing rows not quarantined on Spark: "
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                continue
            view = f"__kontor_failing_{next(_names)}"
            cur.register(view, rows)
            views[i] = view
    except BaseException:
        for view in views.values():
            cur.unregister(view)
        raise
    finally:
        cur.unregister(standin)
        for view in values_views:
            engine.spark.catalog.dropTempView(view)
    return views


def _select_all(view: str) -> str:
    return exp.select(exp.Star()).from_(exp.to_identifier(view, quoted=True)).sql("duckdb")
