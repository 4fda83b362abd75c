"""Steward decisions: validated when made, honoured by every later run.

A decision names records (``crm:CRM-0000011``) or golden ids (``C-3f9a1c07b2``); golden ids are
expanded to their member records when the decision is made, and the decision is stored in terms
of records, whose ids never change, so it survives retraining and re-clustering.

Actions:
- ``merge``: the targets are one entity (must-link);
- ``split``: the target records leave the cluster they are in (cannot-link to the rest of it);
- ``distinct``: the targets are different entities (cannot-link between them);
- ``choose_value``: the golden record of the target takes ``value`` for ``attribute``;
- ``reopen``: earlier decisions on the target records no longer apply;
- ``approve``: a second steward approves a pending decision (``value`` = its decision id).

Four eyes: a ``choose_value`` on bank details (IBAN) and a ``merge`` of records with different valid
VAT IDs are stored as ``pending`` and take effect only once a different steward approves them.
A decision on unknown ids, or one contradicting an effective decision without ``reopen`` first,
is refused with a message and nothing is stored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipelines.engines.connection import CatalogError, Connection
from pipelines.entities.spec import ATTRIBUTES, EntitySpec
from pipelines.core.errors import KontorError
from pipelines.core.sql import render, table_expr, template

class StewardAction(str, Enum):
    """What a steward can decide (the launchpad's and the CLI's choices)."""
    merge = "merge"
    split = "split"
    distinct = "distinct"
    choose_value = "choose_value"
    reopen = "reopen"
    approve = "approve"


ACTIONS = tuple(a.value for a in StewardAction)
FOUR_EYES_ATTRIBUTES = ("iban",)


class DecisionError(KontorError):
    """A decision that cannot be recorded; says why and what to do."""


@dataclass
class Constraints:
    """What the effective decisions of one entity ask of the next run."""
    must_link: list[tuple[str, str]] = field(default_factory=list)
    cannot_link: list[tuple[str, str]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)   # records, attribute, value, steward, decision_id
    merged_by: dict[str, str] = field(default_factory=dict)          # record -> steward who merged it
    pending: list[dict[str, Any]] = field(default_factory=list)
    effective: list[dict[str, Any]] = field(default_factory=list)


def groups_of(decision: dict[str, Any]) -> list[list[str]]:
    """The record groups a merge / split / distinct is about (stored as JSON in ``value``)."""
    return json.loads(decision["value"]) if decision.get("value") else [list(decision["target_ids"])]


def effective_decisions(decisions: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(effective, pending) after approvals and reopens, in decision order."""
    by_id = {d["decision_id"]: d for d in decisions}
    approved = {int(d["value"]) for d in decisions if d["action"] == "approve"}
    live: list[dict] = []
    for d in decisions:
        if d["action"] == "approve":
            continue
        if d["action"] == "reopen":
            touched = set(d["target_ids"])
            live = [e for e in live if not touched & set(e["target_ids"])]
            continue
        if d["status"] == "pending" and d["decision_id"] not in approved:
            continue
        live.append(d)
    pending = [d for d in decisions if d["status"] == "pending" and d["decision_id"] not in approved
               and d["action"] != "approve" and d in by_id.values()
               and not any(r["action"] == "reopen" and r["decision_id"] > d["decision_id"]
                           and set(r["target_ids"]) & set(d["target_ids"]) for r in decisions)]
    return live, pending


def constraints(decisions: list[dict[str, Any]], entity: str) -> Constraints:
    mine = [d for d in decisions if d["entity"] == entity]
    live, pending = effective_decisions(mine)
    out = Constraints(pending=pending, effective=live)
    for d in live:
        if d["action"] == "merge":
            records = [r for g in groups_of(d) for r in g]
            out.must_link += [(records[0], r) for r in records[1:]]
            out.merged_by.update({r: d["steward"] for r in records})
        elif d["action"] in ("split", "distinct"):
            groups = groups_of(d)
            for i, a in enumerate(groups):
                for b in groups[i + 1:]:
                    out.cannot_link += [(x, y) for x in a for y in b]
        elif d["action"] == "choose_value":
            out.overrides.append({"records": list(d["target_ids"]), "attribute": d["attribute"], "value": d["value"],
                                  "steward": d["steward"], "decision_id": d["decision_id"]})
    return out


def _settles(item_id: str, members: set[str], d: dict[str, Any]) -> bool:
    """Whether decision ``d`` answers the review item ``item_id`` (whose records are ``members``)."""
    kind, _, rest = item_id.partition(":")
    records = set(d["target_ids"])
    if kind == "pair":
        a, _, b = rest.partition("|")
        if d["action"] == "merge":
            return {a, b} <= set(groups_of(d)[0])
        if d["action"] in ("split", "distinct"):
            groups = [set(g) for g in groups_of(d)]
            return any(a in g and b in h or b in g and a in h for i, g in enumerate(groups) for h in groups[i + 1:])
        return False
    if kind == "cluster" and not rest.endswith(":size"):
        attribute = rest.rpartition(":")[2]
        return d["action"] == "choose_value" and d["attribute"] == attribute and bool(records & members)
    # an unusual cluster size or a record without a usable name: any grouping decision on its records
    return d["action"] in ("merge", "split", "distinct") and bool(records & (members or {rest}))


def item_status(item_id: str, members: list[str], decided: Constraints) -> str | None:
    """``decided`` or ``pending`` when the stewards' decisions answer the item, else None (open).

    The one rule for both the pipeline's review queue and the live queue a steward sees between
    runs, so a decided item shows as decided at once and never comes back open."""
    kind, _, rest = item_id.partition(":")
    if kind == "decision":
        return "pending" if any(str(d["decision_id"]) == rest for d in decided.pending) else "decided"
    wanted = set(members)
    if any(_settles(item_id, wanted, d) for d in decided.effective):
        return "decided"
    if any(_settles(item_id, wanted, d) for d in decided.pending):
        return "pending"
    return None


def same_as(decision: dict[str, Any], decisions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The live or pending decision ``decision`` repeats (same action on the same records, same value), if any."""
    live, pending = effective_decisions([d for d in decisions if d["entity"] == decision["entity"]])
    if decision.get("duplicate"):
        return decision
    if decision["action"] == "approve":     # _approve found no earlier approval of the same decision
        return None
    if decision["action"] == "reopen":
        touched = set(decision["target_ids"])
        return None if any(touched & set(d["target_ids"]) for d in live + pending) else decision

    def shape(d: dict) -> tuple:
        if d["action"] == "choose_value":
            return (d["action"], d["attribute"], d["value"])
        return (d["action"], frozenset(frozenset(g) for g in groups_of(d)))

    for d in live + pending:
        if shape(d) == shape(decision) and (d["action"] != "choose_value" or set(d["target_ids"]) & set(decision["target_ids"])):
            return d
    return None


def prepare(con: Connection, spec: EntitySpec, request: dict[str, Any],
            decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """Check a requested decision against the current master data (``con``: the serving copy or the
    warehouse) and the decisions so far; return the decision to store, or raise ``DecisionError``."""
    action = request.get("action")
    steward = (request.get("steward") or "").strip()
    targets = [str(t).strip() for t in request.get("target_ids") or [] if str(t).strip()]
    if action not in ACTIONS:
        raise DecisionError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    if not steward:
        raise DecisionError("a decision needs the steward's name (steward)")
    mine = [d for d in decisions if d["entity"] == spec.name]
    base = {"entity": spec.name, "action": action, "steward": steward, "comment": request.get("comment"),
            "attribute": None, "value": None, "status": "active", "approves": None, "run_id": request.get("run_id")}
    if action == "approve":
        return _approve(base, request, mine)
    if not targets:
        raise DecisionError(f"{action}: name the records or golden ids it is about (target_ids)")
    groups = _expand(con, spec, targets)
    records = [r for g in groups for r in g]
    if action == "reopen":
        return {**base, "target_ids": records}
    live, _ = effective_decisions(mine)
    if action == "merge":
        if len(records) < 2:
            raise DecisionError("merge: name at least two records or golden ids")
        _contradiction(live, records, ("split", "distinct"), "merge")
        # records with different valid VAT IDs are two legal entities on paper: four eyes (compared
        # by number: "CHE-123.456.788 MWST" and "... TVA" are one)
        vat_columns = [("vat_key", "vat_id_valid")] if spec.declared is None else \
            [(a.key, f"{a.name}_valid") for a in spec.declared if a.type == "vat_id"]
        vats = {v for key, valid in vat_columns for (v,) in _rows(con, _sql("decision_vat_ids", spec, vat=key, valid=valid), [records])}
        status = "pending" if len(vats) > 1 else "active"
        return {**base, "target_ids": records, "value": json.dumps([records]), "status": status,
                "comment": _note(request.get("comment"), f"records with different valid VAT IDs ({', '.join(sorted(vats))}): "
                                 "needs a second steward's approval" if status == "pending" else None)}
    if action == "split":
        cluster = _rows(con, _sql("decision_cluster_members", spec), [records])
        rest = sorted({r for (r,) in cluster} - set(records))
        if not rest:
            raise DecisionError("split: the records are the whole cluster already; nothing to split off")
        _contradiction(live, records + rest, ("merge",), "split", pairs=[(a, b) for a in records for b in rest])
        return {**base, "target_ids": records, "value": json.dumps([records, rest])}
    if action == "distinct":
        if len(groups) < 2:
            raise DecisionError("distinct: name at least two records or golden ids")
        pairs = [(a, b) for i, g in enumerate(groups) for h in groups[i + 1:] for a in g for b in h]
        _contradiction(live, records, ("merge",), "distinct", pairs=pairs)
        return {**base, "target_ids": records, "value": json.dumps(groups)}
    # choose_value
    attribute = request.get("attribute")
    value = request.get("value")
    known = ATTRIBUTES if spec.declared is None else tuple(a.name for a in spec.declared)
    if attribute not in known:
        raise DecisionError(f"choose_value: unknown attribute {attribute!r}; one of {', '.join(known)}")
    if value is None or str(value).strip() == "":
        raise DecisionError("choose_value: give the value to keep (value)")
    goldens = {g for (g,) in _rows(con, _sql("decision_golden_ids", spec), [records])}
    if len(goldens) != 1:
        raise DecisionError(f"choose_value: the targets belong to {len(goldens)} golden records; name one golden record")
    # bank details need four eyes: the IBAN, or an attribute declared of type iban
    four_eyes = FOUR_EYES_ATTRIBUTES if spec.declared is None else \
        tuple(a.name for a in spec.declared if a.type in FOUR_EYES_ATTRIBUTES)
    status = "pending" if attribute in four_eyes else "active"
    return {**base, "target_ids": records, "attribute": attribute, "value": str(value).strip(), "status": status,
            "comment": _note(request.get("comment"), "bank details: needs a second steward's approval" if status == "pending" else None)}


def _approve(base: dict, request: dict, mine: list[dict]) -> dict:
    try:
        target = int(str(request.get("value") or (request.get("target_ids") or [""])[0]).strip())
    except ValueError:
        raise DecisionError("approve: give the id of the pending decision (value or target_ids)") from None
    decision = next((d for d in mine if d["decision_id"] == target), None)
    _, pending = effective_decisions(mine)
    prior = next((d for d in mine if d["action"] == "approve" and d.get("approves") == target), None)
    if prior is not None:       # approved already: the same approval again changes nothing
        return {**prior, "duplicate": True}
    if decision is None:
        raise DecisionError(f"approve: there is no decision {target} for {base['entity']}")
    if decision not in pending:
        raise DecisionError(f"approve: decision {target} is not pending (it is {decision['status']}, or approved or reopened already)")
    if decision["steward"].casefold() == base["steward"].casefold():
        raise DecisionError(f"approve: decision {target} was made by {decision['steward']}; four eyes means a second, "
                            "different steward approves it")
    return {**base, "target_ids": list(decision["target_ids"]), "value": str(target), "approves": target}


def _contradiction(live: list[dict], records: list[str], against: tuple[str, ...], action: str,
                   pairs: list[tuple[str, str]] | None = None) -> None:
    wanted = set(records)
    for d in live:
        if d["action"] not in against:
            continue
        groups = groups_of(d)
        if d["action"] == "merge":
            together = set(groups[0])
            clash = [(a, b) for a, b in (pairs or []) if a in together and b in together]
        else:
            apart = [(set(a), set(b)) for i, a in enumerate(groups) for b in groups[i + 1:]]
            clash = [(x, y) for a, b in apart for x in a & wanted for y in b & wanted]
        if clash:
            a, b = clash[0]
            raise DecisionError(f"{action} contradicts decision {d['decision_id']} ({d['action']} by {d['steward']}) "
                                f"on {a} and {b}; fix: reopen those records first (action reopen), then decide again")


def _expand(con: Connection, spec: EntitySpec, targets: list[str]) -> list[list[str]]:
    """Each target as a group of record ids: a golden id stands for its current members."""
    groups, unknown = [], []
    for t in targets:
        members = [r for (r,) in _rows(con, _sql("decision_golden_members", spec), [t])]
        if not members:
            members = [r for (r,) in _rows(con, _sql("decision_record", spec), [t])]
        if not members:
            unknown.append(t)
        groups.append(members)
    if unknown:
        raise DecisionError(f"unknown id(s) for {spec.name}: {', '.join(unknown)}; use a golden id (e.g. "
                            f"{spec.id_prefix}-…) or a record id system:source_id as `kontor steward list` shows them")
    return groups


def _rows(con: Connection, sql: str, params: list | None = None) -> list[tuple]:
    try:
        return con.execute(sql, params or []).fetchall()
    except CatalogError:
        raise DecisionError("no master data yet: run the pipeline (kontor run) before recording decisions") from None


def _sql(name: str, spec: EntitySpec, **columns: str) -> str:
    """Template ``name`` with the entity's ``:clusters`` and ``:standardised`` tables and ``columns``."""
    return render(template(__file__, name), clusters=table_expr(spec.table("clusters")),
                  standardised=table_expr(spec.table("standardised")), **columns)


def _note(comment: str | None, note: str | None) -> str | None:
    return "; ".join(x for x in (comment, note) if x) or None
