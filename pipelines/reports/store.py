"""Facts as a warehouse table, ``reports.facts``: one row per number, with the SQL file it came from.

Analysts can ask which figure a PDF printed (``where report = 'monthly_pack' and period =
'2026-10' and version = 1``); snapshot KPIs read their own history from here.
"""
from __future__ import annotations

import hashlib
import json

import duckdb
import pyarrow as pa

FACTS_DDL = """
create schema if not exists reports;
create table if not exists reports.facts (
    report varchar not null,
    period varchar not null,
    version integer not null,
    kpi varchar not null,          -- KPI name, or table:<name> for a table's cells
    measure varchar not null,      -- value, compare_value, delta, delta_pct, zscore, history, member_value, ...
    comparison varchar,            -- previous_period | same_period_last_year | plan
    dimension varchar,             -- driver dimension (e.g. product_group × region), or 'period' for history
    member varchar,                -- driver member, history period, or a table row's first cell
    value double,
    unit varchar,
    sql_file varchar not null,
    computed_at timestamp not null
);
"""


def facts_digest(facts: dict) -> str:
    """What the report says, without the clock or run-to-run counters: equal digests mean the
    same numbers from the same data under the same gate verdicts. The number of gates run, load
    times and open review items are left out: they change with every run, not with the facts."""
    gates = facts["data_status"]["gates"]
    stable = {
        "period": facts["period"], "data_through": facts["data_through"], "coverage": facts.get("coverage"),
        "kpis": facts["kpis"], "tables": facts["tables"],
        "gate_problems": sorted((p["asset"], p["rule"], p["severity"]) for p in gates["problems"]),
        "ungated": gates.get("ungated", []),
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()


def _rows(facts: dict, version: int) -> list[tuple]:
    base = (facts["report"], facts["period"]["key"], version)
    rows = []

    def add(kpi, measure, value, unit, sql_file, comparison=None, dimension=None, member=None):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((*base, kpi, measure, comparison, dimension, member, float(value), unit, sql_file))

    for k in facts["kpis"]:
        name, unit, sql = k["name"], k["unit"], k["sql_file"]
        add(name, "value", k["value"], unit, sql)
        for cmp, c in k["comparisons"].items():
            add(name, "compare_value", c["value"], unit, sql, cmp)
            add(name, "delta", c["delta"], "pp" if unit == "%" else unit, sql, cmp)
            add(name, "delta_pct", c["delta_pct"], "%", sql, cmp)
        if k["zscore"]:
            add(name, "zscore", k["zscore"]["z"], None, sql)
        for h in k["history"]:
            add(name, "history", h["value"], unit, sql, dimension="period", member=h["period"])
        for d in k["drivers"]:
            for m in d["members"]:
                add(name, "member_value", m["value"], unit, sql, d["comparison"], d["dimension"], m["member"])
                if "contribution" in m:
                    add(name, "member_compare_value", m["compare_value"], unit, sql, d["comparison"], d["dimension"], m["member"])
                    add(name, "contribution", m["contribution"], "pp" if unit == "%" else unit, sql, d["comparison"],
                        d["dimension"], m["member"])
        for a in k["anomalies"]:
            add(name, f"anomaly_{a['rule']}", a.get("z", a.get("delta_pct", a.get("delta"))), None, sql,
                a.get("comparison"), a.get("dimension"), a.get("member"))
    for t in facts["tables"].values():
        for row in t["rows"]:
            label = None if not row else str(row[0])
            for column, value in zip(t["columns"], row):
                add(f"table:{t['name']}", column["name"], value, column["unit"], t["sql_file"], member=label)
    return rows


def store_facts(con: duckdb.DuckDBPyConnection, facts: dict, version: int) -> int:
    """Replace the rows of this (report, period, version) in ``reports.facts``; returns the row count."""
    con.execute(FACTS_DDL)
    rows = _rows(facts, version)
    names = ["report", "period", "version", "kpi", "measure", "comparison", "dimension", "member", "value", "unit", "sql_file"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)},
                     schema=pa.schema([(n, pa.int32() if n == "version" else pa.float64() if n == "value" else pa.string())
                                       for n in names]))
    con.execute("begin")
    try:
        con.execute("delete from reports.facts where report = ? and period = ? and version = ?",
                    [facts["report"], facts["period"]["key"], version])
        con.register("_kontor_fact_rows", table)
        con.execute("insert into reports.facts select *, cast(? as timestamp) from _kontor_fact_rows",
                    [facts["computed_at"]])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_kontor_fact_rows")
    return len(rows)
