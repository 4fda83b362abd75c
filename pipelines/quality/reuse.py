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

import duckdb

from pipelines.quality.check_cache import code_fingerprint
from pipelines.quality.suites import Suite, referenced_relations
from pipelines.core.sql import table as qtable

DDL = """
create table if not exists kontor.gate_fingerprints (
    asset varchar not null,
    fingerprint varchar not null,
    run_id varchar not null,          -- the evaluation whose gate_results rows are reused
    checked_at timestamp not null,
    docs_page varchar
)
"""


def relation_fingerprint(con: duckdb.DuckDBPyConnection, relation: str) -> list:
    shape = [list(map(str, row[:2])) for row in con.execute(f"describe {qtable(relation)}").fetchall()]
    counts = con.execute(f"select count(*), sum(hash(t)::hugeint)::varchar, bit_xor(hash(t))::varchar "
                         f"from {qtable(relation)} as t").fetchall()[0]
    return [shape, list(counts)]


def fingerprint(con: duckdb.DuckDBPyConnection, suite: Suite, extra: object, today: dt.date) -> str | None:
    """The suite's fingerprint on the data as it is now; None when a relation cannot be read."""
    relations = dict.fromkeys([suite.relation, *(r for rule in suite.rules
                                                  for r in referenced_relations(rule, suite.relation))])
    try:
        data = {r: relation_fingerprint(con, r) for r in relations}
    except duckdb.Error:
        return None
    parts = [repr(suite), repr(extra), today.isoformat(), code_fingerprint(), data]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def previous_pass(con: duckdb.DuckDBPyConnection, suite: Suite, key: str) -> tuple[str, dt.datetime, str | None] | None:
    """The evaluation that passed on this fingerprint, if its results are all still there."""
    con.execute(DDL)
    row = con.execute("select run_id, checked_at, docs_page from kontor.gate_fingerprints "
                      "where asset = ? and fingerprint = ? order by checked_at desc limit 1",
                      [suite.asset, key]).fetchall()
    row = row[0] if row else None
    if row is None:
        return None
    names = {r[0] for r in con.execute("select rule from kontor.gate_results where run_id = ? and asset = ? "
                                       "and checked_at = ? and success", [row[0], suite.asset, row[1]]).fetchall()}
    return row if names >= {rule.name for rule in suite.rules} else None


def record_pass(con: duckdb.DuckDBPyConnection, suite: Suite, key: str, run_id: str, checked_at: dt.datetime,
                docs_page: str | None) -> None:
    con.execute(DDL)
    con.execute("insert into kontor.gate_fingerprints values (?, ?, ?, ?, ?)",
                [suite.asset, key, run_id, checked_at, docs_page])


def copy_results(con: duckdb.DuckDBPyConnection, suite: Suite, source: tuple[str, dt.datetime], run_id: str,
                 checked_at: dt.datetime) -> list[tuple]:
    """The earlier evaluation's rows again under this run; returns (rule, observed, unexpected, element)."""
    old_run, old_time = source
    con.execute("insert into kontor.gate_results select ?, ?, asset, rule, severity, success, observed_value, "
                "unexpected_count, element_count, description from kontor.gate_results "
                "where run_id = ? and asset = ? and checked_at = ?", [run_id, checked_at, old_run, suite.asset, old_time])
    return con.execute("select rule, observed_value, unexpected_count, element_count from kontor.gate_results "
                       "where run_id = ? and asset = ? and checked_at = ?", [run_id, suite.asset, checked_at]).fetchall()
