"""Data status for the trust banner: source freshness, quality gates, open steward items.

Every part may be absent (no ledger in a bare warehouse, no gates before the quality issue, no
review queue before entity resolution); then the status says so instead of failing.
"""
from __future__ import annotations

from datetime import datetime

from pipelines.core.sql import render, table_expr, template
from pipelines.engines.connection import Connection

# The pipeline's own records, not data: nothing to gate.
BOOKKEEPING = ("kontor", "reports")


def relations(con: Connection) -> set[str]:
    """Every ``schema.table`` (tables and views) in the warehouse."""
    rows = con.execute(template(__file__, "relations")).fetchall()
    return {f"{schema}.{name}" for schema, name in rows}


def _freshness(con, known: set[str], now: datetime, stale_hours: float) -> list[dict]:
    if "kontor.load_ledger" not in known:
        return []
    sources = []
    for system, table, last_loaded, failed in con.execute(template(__file__, "freshness")).fetchall():
        age = (now - last_loaded).total_seconds() / 3600 if last_loaded else None
        sources.append({"system": system, "table": table,
                        "last_loaded": last_loaded.isoformat(timespec="seconds") if last_loaded else None,
                        "age_hours": None if age is None else round(age, 1),
                        "stale": age is None or age > stale_hours, "failed_files": failed})
    return sources


def _data(reads: set[str]) -> list[str]:
    return sorted(r for r in reads if r.split(".")[0] not in BOOKKEEPING)


def _latest_gates(con, known: set[str], data: list[str]) -> list[tuple]:
    return con.execute(template(__file__, "latest_gates"), {"assets": [r.replace(".", "/", 1) for r in data]}).fetchall() \
        if "kontor.gate_results" in known and data else []


def failed_blocking_gates(con: Connection, reads: set[str]) -> list[dict]:
    """The blocking (error) rules whose latest result failed, on the ``schema.table`` names in
    ``reads``: a report must not be issued from that data.

    >>> from pipelines.engines.connection import connect
    >>> con = connect(); _ = con.execute("create schema kontor; create table kontor.gate_results as "
    ...     "select 'r1' run_id, timestamp '2026-11-22 05:00' checked_at, 'marts/fct_orders' asset, "
    ...     "'order_no_unique' rule, 'error' severity, false success, null observed_value, "
    ...     "2::bigint unexpected_count, 100::bigint element_count, 'duplicates' description")
    >>> [(g["relation"], g["rule"], g["unexpected_count"]) for g in failed_blocking_gates(con, {"marts.fct_orders"})]
    [('marts.fct_orders', 'order_no_unique', 2)]
    """
    rows = _latest_gates(con, relations(con), _data(reads))
    return [{"relation": asset.replace("/", ".", 1), "asset": asset, "rule": rule, "observed_value": observed,
             "unexpected_count": unexpected, "element_count": elements, "description": description,
             "checked_at": checked_at, "run_id": run_id}
            for asset, rule, severity, success, observed, unexpected, elements, description, checked_at, run_id in rows
            if severity == "error" and not success]


def _gates(con, known: set[str], reads: set[str]) -> dict:
    """The gates of exactly the tables a report reads, and the tables it reads that no gate checked."""
    data = _data(reads)
    rows = _latest_gates(con, known, data)
    gated = {r[0].replace("/", ".", 1) for r in rows}
    ungated = [r for r in data if r not in gated]
    if not rows:
        return {"state": "no gates run", "total": 0, "failed": 0, "warned": 0, "problems": [], "ungated": ungated,
                "tables": len(data)}
    problems = [
        {"asset": asset, "rule": rule, "severity": severity, "unexpected_count": unexpected,
         "element_count": elements, "description": description}
        for asset, rule, severity, success, _, unexpected, elements, description, _, _ in rows if not success
    ]
    failed = sum(1 for p in problems if p["severity"] == "error")
    warned = len(problems) - failed
    checked = max((r[8] for r in rows), default=None)
    return {"state": "failed" if failed else "warn" if warned else "ok",
            "total": len(rows), "failed": failed, "warned": warned, "problems": problems[:12],
            "ungated": ungated, "tables": len(data),
            "checked_at": checked.isoformat(timespec="seconds") if checked else None}


def _review(con, known: set[str], reads: set[str] | None = None) -> dict:
    """Open review items per entity: of the queues the report reads when it reads any (a report on
    companies counts their queues, so its status and its KPIs name the same items), else of all."""
    queues = sorted(r for r in known if r.startswith("entities.") and r.endswith("_review_queue"))
    if reads and set(queues) & set(reads):
        queues = [q for q in queues if q in reads]
    if not queues:
        return {"state": "no review queue", "open": {}, "total_open": 0}
    open_items = {}
    for relation in queues:
        entity = relation.removeprefix("entities.").removesuffix("_review_queue")
        sql = render(template(__file__, "open_review_items"), queue=table_expr(relation))
        open_items[entity] = con.execute(sql).fetchone()[0]
    total = sum(open_items.values())
    return {"state": "open items" if total else "clear", "open": open_items, "total_open": total}


def data_status(con: Connection, now: datetime, stale_hours: float = 36.0,
                reads: set[str] | None = None) -> dict:
    """``now`` and every timestamp here are UTC (the ledger and the gates record UTC). ``reads``:
    the ``schema.table`` names the report's SQL reads; the gates are theirs."""
    known = relations(con)
    sources = _freshness(con, known, now, stale_hours)
    loaded = [s["last_loaded"] for s in sources if s["last_loaded"]]
    return {
        "loaded_at": max(loaded) if loaded else None,
        "sources": sources,
        "stale_sources": [f"{s['system']}.{s['table']}" for s in sources if s["stale"]],
        "gates": _gates(con, known, reads or set()),
        "review": _review(con, known, reads),
    }
