"""Facts as a warehouse table, ``reports.facts``: one row per number, with the SQL file (and its
sha256) it came from, and for a derived figure (change, change in %, z-score, contribution) the
formula and the inputs it was computed from, so every printed number can be traced.

Analysts can ask which figure a PDF printed (``where report = 'monthly_pack' and period =
'2026-10' and version = 1``); snapshot KPIs read their own history from here.

>>> [r[:2] for r in _derived({"value": 110.0}, {"value": 100.0, "delta": 10.0, "delta_pct": 10.0}, "EUR")]
[('delta', 'value - compare_value'), ('delta_pct', '(value - compare_value) / abs(compare_value) * 100')]
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from sqlglot import exp

from pipelines.core.sql import template
from pipelines.engines import catalog
from pipelines.engines.connection import Connection

FACTS_DDL = template(__file__, "facts_table")      # the table, and the columns added since
COLUMNS = ["report", "period", "version", "kpi", "measure", "comparison", "dimension", "member", "value", "unit",
           "sql_file", "sql_sha256", "formula", "inputs"]


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


def _derived(kpi: dict, cmp: dict, unit: str) -> list[tuple[str, str, dict]]:
    """(measure, formula, inputs) of a KPI's change against one comparison."""
    inputs = {"value": kpi["value"], "compare_value": cmp["value"]}
    out = [("delta", "value - compare_value", inputs)]
    if cmp.get("delta_pct") is not None:
        out.append(("delta_pct", "(value - compare_value) / abs(compare_value) * 100", inputs))
    return out


_CONTRIBUTION = {
    "sum": "member_value - member_compare_value",
    "ratio": "(n1 - r0 * d1) / D1 - (n0 - r0 * d0) / D0  (n, d: the member's numerator and denominator, "
             "D: the total denominator, r0: the comparison's ratio; 1 = period, 0 = comparison)",
}


def _rows(facts: dict, version: int) -> list[tuple]:
    base = (facts["report"], facts["period"]["key"], version)
    rows = []

    def add(kpi, measure, value, unit, sql_file, sha, comparison=None, dimension=None, member=None, formula=None,
            inputs=None):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((*base, kpi, measure, comparison, dimension, member, float(value), unit, sql_file, sha,
                         formula, None if inputs is None else json.dumps(inputs, sort_keys=True)))

    for k in facts["kpis"]:
        name, unit, sql, sha = k["name"], k["unit"], k["sql_file"], k.get("sql_sha256")
        change_unit = "pp" if unit == "%" else unit
        add(name, "value", k["value"], unit, sql, sha)
        for cmp, c in k["comparisons"].items():
            add(name, "compare_value", c["value"], unit, sql, sha, cmp,
                formula="plan.csv or the KPI's target" if cmp == "plan" else None)
            derived = {m: (f, i) for m, f, i in _derived(k, c, unit)} if c.get("delta") is not None else {}
            add(name, "delta", c["delta"], change_unit, sql, sha, cmp, *(None, None), *derived.get("delta", (None, None)))
            add(name, "delta_pct", c["delta_pct"], "%", sql, sha, cmp, *(None, None), *derived.get("delta_pct", (None, None)))
        if k["zscore"]:
            z = k["zscore"]
            add(name, "zscore", z["z"], None, sql, sha, formula="(value - mean) / std over the previous n periods",
                inputs={"value": k["value"], "mean": z["mean"], "std": z["std"], "n": z["n"]})
        for h in k["history"]:
            add(name, "history", h["value"], unit, sql, sha, dimension="period", member=h["period"])
        for d in k["drivers"]:
            for m in d["members"]:
                args = (d["comparison"], d["dimension"], m["member"])
                add(name, "member_value", m["value"], unit, sql, sha, *args)
                if "contribution" in m:
                    add(name, "member_compare_value", m["compare_value"], unit, sql, sha, *args)
                    kind = "ratio" if "r0" in (m.get("contribution_inputs") or {}) else "sum"
                    add(name, "contribution", m["contribution"], change_unit, sql, sha, *args,
                        formula=_CONTRIBUTION[kind], inputs=m.get("contribution_inputs"))
                    if m.get("delta") is not None:
                        add(name, "member_delta", m["delta"], change_unit, sql, sha, *args,
                            formula="member_value - member_compare_value",
                            inputs={"member_value": m["value"], "member_compare_value": m["compare_value"]})
                    if m.get("delta_pct") is not None:
                        add(name, "member_delta_pct", m["delta_pct"], "%", sql, sha, *args,
                            formula="(member_value - member_compare_value) / abs(member_compare_value) * 100",
                            inputs={"member_value": m["value"], "member_compare_value": m["compare_value"]})
                    add(name, "share_pct", m.get("share_pct"), "%", sql, sha, None, d["dimension"], m["member"],
                        formula="abs(member volume) / abs(total volume) * 100 (volume: the denominator of a ratio)")
        for a in k["anomalies"]:
            if a["rule"] == "threshold":
                add(name, "anomaly_threshold", a.get("delta_pct") if a.get("delta_pct") is not None else a.get("delta"),
                    None, sql, sha, a.get("comparison"), formula="abs(change) >= threshold",
                    inputs={"change": a.get("delta_pct") if a.get("delta_pct") is not None else a.get("delta"),
                            "threshold": a["threshold"]})
            else:
                add(name, f"anomaly_{a['rule']}", a.get("z"), None, sql, sha, a.get("comparison"), a.get("dimension"),
                    a.get("member"), formula="abs(z) >= limit", inputs={"z": a.get("z"), "limit": a.get("limit")})
    for t in facts["tables"].values():
        for row in t["rows"]:
            label = None if not row else str(row[0])
            for column, value in zip(t["columns"], row):
                add(f"table:{t['name']}", column["name"], value, column["unit"], t["sql_file"], t.get("sql_sha256"),
                    member=label)
    return rows


def store_facts(con: Connection, facts: dict, version: int) -> int:
    """Replace the rows of this (report, period, version) in ``reports.facts``; returns the row count."""
    import pyarrow as pa   # here, not at start-up of every `kontor run` (0.2 s)

    con.execute(FACTS_DDL)
    rows = _rows(facts, version)
    names = COLUMNS
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)},
                     schema=pa.schema([(n, pa.int32() if n == "version" else pa.float64() if n == "value" else pa.string())
                                       for n in names]))
    con.execute("begin")
    try:
        con.execute(template(__file__, "facts_delete_issue"), [facts["report"], facts["period"]["key"], version])
        con.register("_kontor_fact_rows", table)
        con.execute(_insert_sql(), [facts["computed_at"]])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_kontor_fact_rows")
    return len(rows)


def _insert_sql() -> str:
    """``insert into reports.facts (COLUMNS..., computed_at) select *, cast(? as timestamp) from
    _kontor_fact_rows``: the registered rows, with the time the facts were computed."""
    rows = exp.select("*", exp.cast(exp.Placeholder(), "timestamp")).from_("_kontor_fact_rows")
    return exp.insert(rows, exp.table_("facts", db="reports"), columns=[*COLUMNS, "computed_at"]).sql("duckdb")


def publish_facts(con: Connection, serving: Path) -> bool:
    """Put ``reports.facts`` into the analysts' serving copy now, and nothing else: a copy of the
    serving file gets the writer's ``reports.facts`` (the table, its comments and every other
    table of the copy as they were) and replaces it atomically, like ``publish_serving``. The rest
    of the serving copy stays what the last successful run published, so a report issued after a
    failed run never publishes that run's unchecked tables. Returns False when there is no serving
    copy yet (the first successful run publishes everything)."""
    from pipelines.core.warehouse import replace_serving, serving_edited, serving_identity, serving_tmp

    if not serving.is_file():
        return False
    tmp = serving_tmp(serving)          # the temp name publish_serving cleans up after a crash
    before = serving_identity(serving)
    shutil.copyfile(serving, tmp)
    con.execute(template(__file__, "publish_attach"), [str(tmp)])
    try:
        con.execute(template(__file__, "publish_schema"))
        here, there = (sorted(c[2] for c in catalog.columns(con, "reports", "facts", database=database))
                       for database in (None, "kontor_facts_publish"))
        if there == here:           # keep the table and the comments the serving asset put on it
            con.execute(template(__file__, "publish_replace_rows"))
        else:
            con.execute(template(__file__, "publish_replace_table"))
    finally:
        con.execute(template(__file__, "publish_detach"))
    replace_serving(tmp, serving)
    # the next publish builds on this copy, writing reports.facts again (its record says so)
    serving_edited(serving, before, {("reports", "facts")})
    return True
