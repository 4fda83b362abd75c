"""The steward's flow, shared by the Dagster steward job and ``kontor steward``: list what needs a
decision, show one item, record a decision (checked, appended to the state store with its audit
event, or refused with nothing stored).

Decisions are checked against the serving copy (the master data of the last successful run), so
a steward can decide while a pipeline run holds the warehouse.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipelines.engines.connection import CatalogError, Connection, EngineError, connect
from pipelines.entities.decisions import DecisionError, constraints, item_status, prepare, same_as
from pipelines.entities.spec import EntitySpec
from pipelines.core.errors import KontorError
from pipelines.core.services import StateLocation
from pipelines.stewards.identity import Identity
from pipelines.core.settings import Settings
from pipelines.core.sql import render, table_expr, template


def entity_sql(name: str, **tables: str | exp.Expression) -> str:
    """The steward template ``sql/<name>.sql`` with each ``:placeholder`` a table (``schema.table``,
    e.g. ``spec.table("clusters")``) or a sqlglot node."""
    return render(template(__file__, name), **{key: table_expr(value) if isinstance(value, str) else value
                                                for key, value in tables.items()})


def _compiled(settings: Settings):
    from pipelines.models.compile import compile_project
    from pipelines.models.project import load_models
    from pipelines.sources.spec import load_sources

    sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    return compile_project(load_models(settings, sources), display=settings.relative)


def entity_specs(settings: Settings) -> dict[str, EntitySpec]:
    from pipelines.entities.spec import load_entities
    from pipelines.core.errors import ProjectError

    compiled = _compiled(settings)
    entities = load_entities(settings, {name: compiled.output_columns(name) for name in compiled.models})
    if compiled.problems or entities.problems:
        raise ProjectError(compiled.problems + entities.problems)
    return entities.entities


def _spec(settings: Settings, entity: str) -> EntitySpec:
    specs = entity_specs(settings)
    if entity not in specs:
        raise KontorError(f"unknown entity {entity!r}; entities: {', '.join(sorted(specs)) or 'none'} (models/entities/*.yml)")
    return specs[entity]


@contextmanager
def master_data(settings: Settings) -> Iterator[Connection]:
    """Read-only view of the last published master data."""
    path = Path(settings.serving_path)
    if not path.is_file():
        raise KontorError("no master data yet: run the pipeline first (kontor run)")
    con = connect(path, read_only=True)
    try:
        yield con
    finally:
        con.close()


def state_store(settings: Settings, location: StateLocation | None = None):
    """The state store at ``location`` (the Dagster resource's), else where the command line's is."""
    from pipelines.core.state import StateStore

    return StateStore.at(settings, location) if location is not None else StateStore.from_settings(settings)


def decide(settings: Settings, request: dict[str, Any], identity: Identity,
           location: StateLocation | None = None) -> dict[str, Any]:
    """Check and record one decision by ``identity`` (authenticated by the caller: the OS user, the
    review page, a verified token) in the state store at ``location``; returns it with its id.
    Raises ``DecisionError`` (nothing stored)."""
    request = {**request, "steward": identity.name}
    spec = _spec(settings, str(request.get("entity")))
    store = state_store(settings, location)
    try:
        decisions = store.decisions(spec.name)
        with master_data(settings) as con:
            decision = prepare(con, spec, request, decisions)
        prior = same_as(decision, decisions)
        if prior is not None:
            return {**prior, "duplicate": True, "message": _repeated(prior)}
        with store.transaction():
            decision_id = store.append_decision(decision)
            decision = {**decision, "decision_id": decision_id}
            store.append_audit([{
                "run_id": decision.get("run_id"), "actor": f"steward:{decision['steward']}", "kind": "decision",
                "entity": spec.name, "object_id": str(decision_id), "before": None,
                "after": {**{k: decision[k] for k in ("action", "target_ids", "attribute", "value", "status", "approves")},
                          **identity.audit()},
                "detail": decision.get("comment"),
            }])
        return decision
    finally:
        store.close()


def _repeated(prior: dict[str, Any]) -> str:
    if prior.get("decision_id") is None:
        return f"nothing to {prior['action']}: no decision applies to {', '.join(prior['target_ids'][:4])}; nothing stored"
    return (f"same as decision {prior['decision_id']} ({prior['action']} by {prior['steward']}, {prior['status']}); "
            "nothing stored")


def pending_and_effective(settings: Settings, entity: str) -> tuple[list[dict], list[dict]]:
    store = state_store(settings)
    try:
        c = constraints(store.decisions(entity), entity)
        return c.pending, c.effective
    finally:
        store.close()


QUEUE_STATUSES = ("open", "pending", "decided", "all")


def queue(settings: Settings, entity: str | None = None, status: str = "open") -> list[dict[str, Any]]:
    """Review items (``status`` open, pending, decided or all) in the review queue's own order.

    The status is live: the last run's queue joined with the decisions in the state store now, so
    an item shows as decided (or pending approval) the moment the decision is recorded, and a
    decision recorded since the run that waits for approval is listed too."""
    if status not in QUEUE_STATUSES:
        raise KontorError(f"--status {status!r}: use one of {', '.join(QUEUE_STATUSES)}")
    specs = entity_specs(settings)
    names = [entity] if entity else sorted(specs)
    items = []
    with master_data(settings) as con:
        for name in names:
            if name not in specs:
                raise KontorError(f"unknown entity {name!r}; entities: {', '.join(sorted(specs))}")
            items += [i for i in _live_queue(con, specs[name], load_constraints(settings, name))
                      if status == "all" or i["status"] == status]
    return items


def _live_queue(con: Connection, spec: EntitySpec, decided) -> list[dict[str, Any]]:
    table = spec.table("review_queue")
    try:
        columns = {d[0] for d in con.execute(entity_sql("review_queue_columns", queue=table)).description}
    except CatalogError:
        return []
    # the entity stage's own ranking: its rank column, else the order it wrote the items in
    ranked = "review_queue" if "rank" in columns else "review_queue_unranked"
    rows = con.execute(entity_sql(ranked, queue=table)).fetchall()
    items, listed = [], set()
    for rank, r in enumerate(rows, 1):
        members = r[6] or []
        live = item_status(r[0], [m["unique_id"] for m in members], decided)
        items.append({"entity": spec.name, "item_id": r[0], "kind": r[1], "reason": r[2], "priority": r[3],
                      "match_probability": r[4], "golden_ids": r[5], "members": members, "rank": rank,
                      "status": live or (r[7] if r[1] != "decision" else "decided")})
        listed.add(r[0])
    # four-eyes decisions recorded since the last run: waiting for a second steward, or approved since
    four_eyes = decided.pending + [d for d in decided.effective if d["status"] == "pending"]
    for d in (d for d in four_eyes if f"decision:{d['decision_id']}" not in listed):
        items.append({"entity": spec.name, "item_id": f"decision:{d['decision_id']}", "kind": "decision",
                      "reason": f"pending approval: {d['action']} by {d['steward']}"
                                + (f" ({d['attribute']} = {d['value']})" if d["action"] == "choose_value" else "")
                                + f" on {', '.join(d['target_ids'][:6])}; a second, different steward approves it",
                      "priority": 0, "match_probability": None, "golden_ids": [], "members": [], "rank": 0,
                      "status": "pending" if d in decided.pending else "decided"})
    # approvals first: they are the quickest to settle and block a change already decided
    return sorted(items, key=lambda i: (i["kind"] != "decision", i["rank"]))


def show(settings: Settings, entity: str, item: str) -> dict[str, Any]:
    """A review item, a golden id or a record id: the records side by side, with the conflicts."""
    spec = _spec(settings, entity)
    with master_data(settings) as con:
        queued = con.execute(entity_sql("queued_item", queue=spec.table("review_queue")), [item]).fetchall()
        if queued:
            golden_ids = list(queued[0][0])
            reason = queued[0][2]
        else:
            golden_ids = [r[0] for r in con.execute(entity_sql("golden_ids_of", clusters=spec.table("clusters")),
                                                    [item, item]).fetchall()]
            reason = None
        if not golden_ids:
            raise KontorError(f"{item!r} is neither a review item, a golden id nor a record of {entity}; see kontor steward list")
        records = con.execute(_declared_sql(spec, "item_records", "s", clusters=spec.table("clusters"),
                                            standardised=spec.table("standardised")), [golden_ids]).fetchall()
        golden = con.execute(_declared_sql(spec, "item_golden", None, golden=spec.table("golden")), [golden_ids]).fetchall()
        conflicts = con.execute(entity_sql("item_conflicts", conflicts=spec.table("conflicts")), [golden_ids]).fetchall()
    names = shown_attributes(spec)
    return {"item": item, "reason": reason, "golden": golden, "records": records, "conflicts": conflicts,
            "golden_columns": ("golden id", "name", "street", "no", "postcode", "city", "VAT ID", "IBAN", "in review")
            if spec.declared is None else ("golden id", "name", *names, "in review"),
            "record_columns": ("golden id", "record", "system", "name", "street", "postcode", "city", "VAT ID", "valid",
                               "IBAN", "valid", "e-mail", "phone", "updated")
            if spec.declared is None else ("golden id", "record", "system", *names, "updated")}


# what a steward compares for an entity of the company schema (declared entities: their attributes)
COMPANY_ATTRIBUTES = ("name", "street", "postcode", "city", "vat_id", "iban", "email", "phone")


def shown_attributes(spec: EntitySpec) -> tuple[str, ...]:
    """The attributes a steward sees of each record, in the entity file's order."""
    return COMPANY_ATTRIBUTES if spec.declared is None else tuple(a.name for a in spec.declared)


def _declared_sql(spec: EntitySpec, name: str, alias: str | None, **tables: str) -> str:
    """Template ``name`` for the company schema, ``name_declared`` with the declared attributes
    (as text, as the review queue holds them) for an entity declared by attributes."""
    if spec.declared is None:
        return entity_sql(name, **tables)
    attributes = [exp.cast(exp.column(a.name, table=alias), "varchar").as_(a.name) for a in spec.declared]
    return entity_sql(f"{name}_declared", **tables, attributes=attributes)


def item_with_origins(settings: Settings, entity: str, item_id: str) -> dict[str, Any]:
    """One item of the live queue with its records as they are now: golden id and where each came
    from (the extract's file and line when the raw table still holds it, else the system's id);
    ``attributes`` the ones a steward compares, ``noun`` what one golden record is."""
    spec = _spec(settings, entity)
    found = [i for i in queue(settings, entity, "all") if i["item_id"] == item_id]
    if not found:
        raise KontorError(f"{item_id!r} is not in the review queue of {entity}; see kontor steward list --status all")
    item = dict(found[0], attributes=shown_attributes(spec), noun="company" if spec.declared is None else entity)
    uids = [m["unique_id"] for m in item["members"] or []]
    if item["kind"] == "decision":     # an approval: the records of the decision
        decision = next((d for d in state_decisions(settings, entity) if f"decision:{d['decision_id']}" == item_id), None)
        uids = list(decision["target_ids"]) if decision else []
    ids = raw_ids(settings, spec)
    with master_data(settings) as con:
        item["members"] = [_origin(con, spec, uid, m, ids) for uid, m in
                           zip(uids, item["members"] or [None] * len(uids))]
    return item


def raw_ids(settings: Settings, spec: EntitySpec) -> dict[str, tuple[str, str]]:
    """Per system, the raw table and column its record ids come from (by column lineage through
    the staging model, e.g. ``stg_accounting__debitoren.account_no`` ← ``raw.accounting__debitoren.Konto``)."""
    from pipelines.models.lineage import ColumnRef, trace

    compiled = _compiled(settings)
    found = {}
    for inp in spec.inputs:
        cm = compiled.models.get(inp.model)
        if cm is None or cm.ast is None:       # a broken model: the system's id must do
            continue
        todo = [trace(compiled, ColumnRef(cm.model.schema, inp.model, inp.id))]
        while todo:
            node = todo.pop()
            if node.ref.schema == "raw":
                found.setdefault(inp.system, (node.ref.table, node.ref.column))
            todo += node.upstream
    return found


def _origin(con: Connection, spec: EntitySpec, uid: str, member: dict | None,
            ids: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    row = con.execute(_declared_sql(spec, "record_origin", "s", standardised=spec.table("standardised"),
                                    clusters=spec.table("clusters")), [uid]).fetchone()
    if row is None:
        return {"unique_id": uid, "system": uid.partition(":")[0], "source_id": uid.partition(":")[2],
                "origin": "no longer in the data", "golden_id": None}
    keys = (("system", "source_id", "name", "street", "postcode", "city", "vat_id", "iban", "email", "phone", "golden_id")
            if spec.declared is None else ("system", "source_id", "golden_id", *shown_attributes(spec)))
    out = {**(member or {}), **dict(zip(keys, row)), "unique_id": uid}
    where = (ids or {}).get(out["system"])
    out["origin"] = (_file_line(con, *where, out["source_id"]) if where else None) or f"{out['system']} id {out['source_id']}"
    return out


def _file_line(con: Connection, table: str, column: str, source_id: str) -> str | None:
    """``file:line`` of the record's latest load in its raw table (ids compared as trimmed text, any case)."""
    try:
        hit = con.execute(entity_sql("record_file_line", raw_table=exp.table_(table, db="raw", quoted=True),
                                     id_column=exp.column(column, quoted=True)), [source_id]).fetchone()
    except EngineError:       # a raw table without lineage columns (or gone): the system's id must do
        return None
    return f"{Path(hit[0]).name}:{hit[1]}" if hit and hit[0] else None


def state_decisions(settings: Settings, entity: str) -> list[dict]:
    store = state_store(settings)
    try:
        return store.decisions(entity)
    finally:
        store.close()


def load_constraints(settings: Settings, entity: str):
    """The effective decisions of an entity, for a pipeline run (empty when no store exists yet)."""
    store = state_store(settings)
    try:
        return constraints(store.decisions(entity), entity)
    finally:
        store.close()


__all__ = ["DecisionError", "decide", "queue", "show", "load_constraints", "pending_and_effective"]
