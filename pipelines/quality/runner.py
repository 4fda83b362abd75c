"""Run one suite on its relation: judge every rule, keep the evidence, render the docs.

Evidence lands in the warehouse beside the data (the contract other parts of Kontor read, e.g.
the reports' trust banner):

- ``kontor.gate_results``: one row per rule and evaluation (run, time, asset, rule, severity,
  success, observed value, unexpected and element counts, description);
- ``kontor.gate_quarantine``: the failing rows of row-level rules (asset, rule, severity, the
  row's key as text, the row as JSON), at most ``quarantine_limit`` per rule and run, in row order.

The engine knows nothing of Dagster: ``assets/checks.py`` turns a ``SuiteOutcome`` into checks.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipelines.engines.connection import Connection
from pipelines.quality.spec import GX_SEVERITY, Rule, Suite
from pipelines.core.sql import render, template, verbatim
from pipelines.core.warehouse import ensure_bookkeeping

QUARANTINE_LIMIT = 10_000
SAMPLE_ROWS = 5


@dataclass
class RuleOutcome:
    rule: Rule
    success: bool
    observed: str | None
    unexpected_count: int | None
    element_count: int | None
    unexpected_percent: float | None = None
    exception: str | None = None
    quarantined: int = 0
    sample: list[dict] = field(default_factory=list)    # first failing rows: row_key + the row
    result: Any = None                                  # GX's ExpectationValidationResult

    @property
    def summary(self) -> str:
        """One line for the CLI and logs: what failed, by how much."""
        if self.exception:
            return f"could not be evaluated: {self.exception}"
        parts = []
        if self.unexpected_count is not None and self.element_count is not None:
            parts.append(f"{self.unexpected_count:,} of {self.element_count:,} rows unexpected")
        if self.observed is not None and self.unexpected_count is None:
            parts.append(f"observed {self.observed}")
        return ", ".join(parts) or ("passed" if self.success else "failed")


@dataclass
class SuiteOutcome:
    suite: Suite
    rules: list[RuleOutcome]
    docs_page: Path | None = None

    @property
    def failed_errors(self) -> list[RuleOutcome]:
        return [r for r in self.rules if not r.success and r.rule.blocking]


def gx_configs(suite: Suite) -> list:
    from pipelines.quality.gate import expectation_configuration

    return [expectation_configuration(r.type, r.kwargs, GX_SEVERITY[r.severity], r.description,
                                      {**r.meta, "kontor": {"name": r.name, "file": f"{r.file}:{r.line}"}})
            for r in suite.rules]


def row_key_sql(columns: list[str], row_key: list[str] | None) -> str:
    """The row's key as text: the declared key, else the raw lineage (file:line), else its position.

    >>> print(row_key_sql(["Konto", "Jahr", "x"], ["Konto", "Jahr"]))
    CONCAT_WS('|', CAST("Konto" AS TEXT), CAST("Jahr" AS TEXT))
    >>> print(row_key_sql(["_source_file", "_line"], None))
    _source_file || ':' || CAST(_line AS TEXT)
    """
    return row_key_expr(columns, row_key).sql("duckdb")


def row_key_expr(columns: list[str], row_key: list[str] | None) -> exp.Expression:
    """``row_key_sql`` as a sqlglot expression, for a template's placeholder."""
    def text(column: str, quoted: bool = True) -> exp.Expression:
        return exp.cast(exp.column(column, quoted=quoted), "varchar")

    if row_key and all(c in columns for c in row_key):
        parts = [text(c) for c in row_key]
        return parts[0] if len(parts) == 1 else exp.func("concat_ws", exp.Literal.string("|"), *parts, dialect="duckdb")
    if "_source_file" in columns and "_line" in columns:
        return exp.DPipe(this=exp.DPipe(this=exp.column("_source_file"), expression=exp.Literal.string(":")),
                         expression=text("_line", quoted=False))
    return exp.DPipe(this=exp.Literal.string("row "), expression=text("__kontor_row", quoted=False))


def row_json_sql(columns: list[str]) -> str:
    """The row as one JSON object, a key per column.

    >>> print(row_json_sql(["id", "O'Brien"]))
    TO_JSON({'id': "id", 'O''Brien': "O'Brien"})
    """
    return row_json_expr(columns).sql("duckdb")


def row_json_expr(columns: list[str]) -> exp.Expression:
    """``row_json_sql`` as a sqlglot expression, for a template's placeholder."""
    row = exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(c), expression=exp.column(c, quoted=True))
                                  for c in columns])
    return exp.func("to_json", row, dialect="duckdb")


def run_suite(con: Connection, suite: Suite, *, run_id: str, row_key: list[str] | None = None,
              docs_target: Path | None = None, checked_at: dt.datetime | None = None,
              quarantine_limit: int = QUARANTINE_LIMIT, engine=None) -> SuiteOutcome:
    """Validate ``suite`` on its relation through ``con`` and write the evidence. A suite that
    passed before on the same data passes again without GX (``pipelines/quality/reuse.py``).
    With a Spark ``engine`` (``pipelines.engines``) the relation is Spark's, judged by GX's Spark
    engine (``pipelines/quality/spark_gate.py``); the evidence still lands in ``con``."""
    checked_at = checked_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    if engine is not None and engine.name == "spark":
        from pipelines.quality.spark_gate import run_suite_on_spark

        return run_suite_on_spark(engine, con, suite, run_id=run_id, checked_at=checked_at,
                                  row_key=row_key, quarantine_limit=quarantine_limit)
    key, reused = _reuse(con, suite, run_id, row_key, quarantine_limit, checked_at)
    if reused is not None:
        return reused
    outcome = _validate(con, suite, run_id=run_id, row_key=row_key, docs_target=docs_target, checked_at=checked_at,
                        quarantine_limit=quarantine_limit)
    if key is not None and all(o.success for o in outcome.rules):
        from pipelines.quality.reuse import record_pass

        cur = con.cursor()
        try:
            record_pass(cur, suite, key, run_id, checked_at, str(outcome.docs_page) if outcome.docs_page else None)
        finally:
            cur.close()
    return outcome


def _reuse(con: Connection, suite: Suite, run_id: str, row_key: list[str] | None,
           quarantine_limit: int, checked_at: dt.datetime) -> tuple[str | None, SuiteOutcome | None]:
    """The data's fingerprint, and the outcome of an earlier pass on it recorded for this run."""
    from pipelines.quality.reuse import copy_results, fingerprint, previous_pass

    cur = con.cursor()
    try:
        ensure_bookkeeping(cur)
        key = fingerprint(cur, suite, (row_key, quarantine_limit), checked_at.date())
        found = previous_pass(cur, suite, key) if key else None
        if found is None:
            return key, None
        rows = {r[0]: r[1:] for r in copy_results(cur, suite, found[:2], run_id, checked_at)}
    finally:
        cur.close()
    outcomes = []
    for rule in suite.rules:
        observed, unexpected, element = rows[rule.name]
        percent = 100.0 * unexpected / element if unexpected is not None and element else None
        outcomes.append(RuleOutcome(rule=rule, success=True, observed=observed, unexpected_count=unexpected,
                                    element_count=element, unexpected_percent=percent))
    return key, SuiteOutcome(suite=suite, rules=outcomes, docs_page=Path(found[2]) if found[2] else None)


def _validate(con: Connection, suite: Suite, *, run_id: str, row_key: list[str] | None,
              docs_target: Path | None, checked_at: dt.datetime, quarantine_limit: int) -> SuiteOutcome:
    import great_expectations as gx

    from pipelines.quality.gate import DuckDBGate

    cur = con.cursor()   # the gate registers value sets; keep them off the caller's connection
    try:
        ensure_bookkeeping(cur)
        gate = DuckDBGate(cur, suite.relation, keep_rows=quarantine_limit)
        configs = gx_configs(suite)
        result = gate.validate(configs, suite_name=suite.name)
        outcomes = [_outcome(rule, evr, gate.row_count) for rule, evr in zip(suite.rules, result.results)]
        try:
            record(cur, suite, outcomes, gate.failing_rows_sql, list(suite.row_key or row_key or []),
                   run_id=run_id, checked_at=checked_at, quarantine_limit=quarantine_limit)
        finally:
            gate.release()
    finally:
        cur.close()
    page = None
    if docs_target is not None:
        from pipelines.quality.datadocs import DataDocs

        page = DataDocs(docs_target).publish(suite.asset, gx.ExpectationSuite(name=suite.name, expectations=_built(configs)),
                                             result, run_id, checked_at)
    return SuiteOutcome(suite=suite, rules=outcomes, docs_page=page)


def record(cur: Connection, suite: Suite, outcomes: list[RuleOutcome],
           failing: Callable[[int], str | None], key_columns: list[str], *, run_id: str, checked_at: dt.datetime,
           quarantine_limit: int) -> None:
    """The evidence of one evaluation, in one transaction: each rule's failing rows into
    ``kontor.gate_quarantine`` by row key (``failing(i)``: SQL on ``cur`` for the rows rule ``i``
    flagged, None for a rule that is not row-level), then every rule's result into
    ``kontor.gate_results``. Both engines' gates write through here (Spark's failing rows arrive
    as Arrow, ``spark_gate.py``)."""
    cur.execute("begin")
    try:   # the results and their rows land together, or not at all
        for i, outcome in enumerate(outcomes):
            rows = failing(i) if (outcome.unexpected_count or 0) > 0 else None
            if rows:
                outcome.quarantined = _quarantine(cur, rows, key_columns, suite, outcome.rule, run_id, checked_at,
                                                  quarantine_limit)
                outcome.sample = _sample(cur, suite, outcome.rule, run_id, checked_at)
        cur.executemany(template(__file__, "gate_results_insert"), [
            [run_id, checked_at, suite.asset, o.rule.name, o.rule.severity, o.success, o.observed,
             o.unexpected_count, o.element_count, o.rule.description or _describe(o.rule)] for o in outcomes])
        cur.execute("commit")
    except BaseException:
        cur.execute("rollback")
        raise


def _built(configs: list) -> list:
    """The expectations GX could construct (a rule it rejects is on the page as a failed result)."""
    built = []
    for cfg in configs:
        try:
            built.append(cfg.to_domain_obj())
        except Exception:  # noqa: BLE001 - the failure is in the rule's result already
            continue
    return built


def _outcome(rule: Rule, evr, row_count: int) -> RuleOutcome:
    res = evr.result or {}
    exc = (evr.exception_info or {}) if evr.exception_info else {}
    if exc and not exc.get("raised_exception"):   # GX keys exception_info by metric on some paths
        exc = next((v for v in exc.values() if isinstance(v, dict) and v.get("raised_exception")), {})
    message = exc.get("exception_message") if exc.get("raised_exception") else None
    unexpected = res.get("unexpected_count")
    element = res.get("element_count")
    observed = res.get("observed_value")
    if rule.type == "unexpected_rows_expectation" and observed is not None:
        unexpected, element = int(observed), element if element is not None else row_count
    if element is None and message is None:
        element = row_count
    return RuleOutcome(rule=rule, success=bool(evr.success), observed=_text(observed, res),
                       unexpected_count=None if unexpected is None else int(unexpected),
                       element_count=None if element is None else int(element),
                       unexpected_percent=res.get("unexpected_percent"), exception=message, result=evr)


def _text(observed, res: dict) -> str | None:
    if observed is not None:
        if isinstance(observed, float):
            return "NaN" if math.isnan(observed) else f"{observed:.6g}"
        return observed if isinstance(observed, str) else json.dumps(observed, default=str, ensure_ascii=False)
    pct = res.get("unexpected_percent")
    if pct is not None:
        return f"{pct:.4g}% unexpected"
    return None


def _describe(rule: Rule) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in rule.kwargs.items())
    return f"{rule.type}({args})"


def _quarantine(cur, failing: str, key_columns: list[str], suite: Suite, rule: Rule, run_id: str,
                checked_at: dt.datetime, limit: int) -> int:
    # ``failing`` is the gate's query as SQL text (its compiler, or the rule's own unexpected_rows_query),
    # nested as it is; the names around it go through sqlglot, the values are bound.
    query = verbatim(failing)
    described = [d[0] for d in cur.execute(render(template(__file__, "describe"), relation=query)).fetchall()]
    key = row_key_expr(described, key_columns)   # a query's rows may lack the key (an aggregate)
    row = row_json_expr([n for n in described if n != "__kontor_row"])
    cur.execute(render(template(__file__, "quarantine_insert"), row_key=key, row_json=row, failing=exp.paren(query)),
                [run_id, checked_at, suite.asset, rule.name, rule.severity, int(limit)])
    return int(cur.execute(template(__file__, "quarantined_count"),
                           [run_id, suite.asset, rule.name, checked_at]).fetchall()[0][0])


def _sample(cur, suite: Suite, rule: Rule, run_id: str, checked_at: dt.datetime) -> list[dict]:
    rows = cur.execute(template(__file__, "quarantined_sample"),
                       [run_id, suite.asset, rule.name, checked_at, SAMPLE_ROWS]).fetchall()
    return [{"row_key": key, **json.loads(js)} for key, js in rows]


def sample_markdown(outcome: RuleOutcome, max_columns: int = 8) -> str | None:
    """The first failing rows as a Markdown table: the key, the rule's columns, then others."""
    if not outcome.sample:
        return None
    first = outcome.sample[0]
    wanted = ["row_key", *[c for c in outcome.rule.columns() if c in first]]
    wanted += [c for c in first if c not in wanted and not c.startswith("_")]
    cols = wanted[:max_columns]

    def cell(v) -> str:
        return ("" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")[:60]

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in outcome.sample]
    if outcome.quarantined > len(outcome.sample):
        lines.append(f"\n{outcome.quarantined:,} failing rows in kontor.gate_quarantine "
                     f"(rule = '{outcome.rule.name}')")
    return "\n".join(lines)
