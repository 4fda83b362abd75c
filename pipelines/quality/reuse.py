"""A passing gate on data that has not changed passes again: its verdict is reused, without GX.

A rule's outcome is a function of the rule, the data it reads and the code that judges it. The
data is fingerprinted in DuckDB (row count and two order-independent sums of the rows' 64-bit
hashes, plus the column names and types) for the gated relation and every relation a rule's
query reads. When a suite passed on the same fingerprint before, on the same day (a rule may
compare with today's date), in this warehouse, with the same code, the run records that verdict
under its own run id (``kontor.gate_results``) and skips Great Expectations, whose import alone
takes seconds: a re-run with nothing new is mostly gates. Failing gates are always judged again,
so their failing rows and Data Docs are always this run's.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from pipelines.engines.connection import Connection, EngineError
from pipelines.quality.check_cache import code_fingerprint
from pipelines.quality.spec import Suite, referenced_relations
from pipelines.core.sql import render, table_expr, template

DDL = template(__file__, "gate_fingerprints")


def relation_fingerprint(con: Connection, relation: str) -> list:
    table = table_expr(relation)
    shape = [list(map(str, row[:2])) for row in con.execute(render(template(__file__, "relation_shape"),
                                                                   relation=table)).fetchall()]
    counts = con.execute(render(template(__file__, "relation_hashes"), relation=table)).fetchall()[0]
    return [shape, list(counts)]


def fingerprint(con: Connection, suite: Suite, extra: object, today: dt.date) -> str | None:
    """The suite's fingerprint on the data as it is now; None when a relation cannot be read."""
    relations = dict.fromkeys([suite.relation, *(r for rule in suite.rules
                                                  for r in referenced_relations(rule, suite.relation))])
    try:
        data = {r: relation_fingerprint(con, r) for r in relations}
    except EngineError:
        return None
    parts = [repr(suite), repr(extra), today.isoformat(), code_fingerprint(), data]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def previous_pass(con: Connection, suite: Suite, key: str) -> tuple[str, dt.datetime, str | None] | None:
    """The evaluation that passed on this fingerprint, if its results are all still there."""
    con.execute(DDL)
    row = con.execute(template(__file__, "previous_pass"), [suite.asset, key]).fetchall()
    row = row[0] if row else None
    if row is None:
        return None
    names = {r[0] for r in con.execute(template(__file__, "passed_rules"), [row[0], suite.asset, row[1]]).fetchall()}
    return row if names >= {rule.name for rule in suite.rules} else None


def record_pass(con: Connection, suite: Suite, key: str, run_id: str, checked_at: dt.datetime,
                docs_page: str | None) -> None:
    con.execute(DDL)
    con.execute(template(__file__, "record_pass"), [suite.asset, key, run_id, checked_at, docs_page])


def copy_results(con: Connection, suite: Suite, source: tuple[str, dt.datetime], run_id: str,
                 checked_at: dt.datetime) -> list[tuple]:
    """The earlier evaluation's rows again under this run; returns (rule, observed, unexpected, element)."""
    old_run, old_time = source
    con.execute(template(__file__, "copy_results"), [run_id, checked_at, old_run, suite.asset, old_time])
    return con.execute(template(__file__, "evaluation_results"), [run_id, suite.asset, checked_at]).fetchall()
