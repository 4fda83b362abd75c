"""Entity resolution as assets, per entity declared in ``models/entities/<entity>.yml``.

``entities/<e>_standardised`` → ``entities/<e>_model`` (trained Splink model, versioned) →
``entities/<e>_pairs`` (scored pairs, Splink's HTML under ``target/splink/<e>/``) → one step that
writes clusters, golden records, xref, conflicts, review queue and id history together (they must
always belong to the same run) → ``entities/<e>_sync_proposals`` (table + one CSV per system).

A run tagged ``kontor/retrain=true`` (``kontor run --retrain``) retrains the models.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
import json
from pathlib import Path

import dagster as dg

from assets.resources import StateStoreResource, WarehouseResource
from pipelines.entities import golden, matching
from pipelines.entities.decisions import constraints
from pipelines.entities.evaluate import evaluate, queue_figures
from pipelines.entities.golden import _exists
from pipelines.core.settings import Settings
from pipelines.entities.spec import EntitySpec
from pipelines.entities.standardise import standardise
from pipelines.stewards.identity import steward_settings
from pipelines.models.compile import CompiledProject

RETRAIN_TAG = "kontor/retrain"
RESOLVED_PARTS = ("clusters", "golden", "xref", "conflicts", "review_queue", "id_history")
PART_DESCRIPTIONS = {
    "clusters": "Every standardised record with the golden id of its cluster (and the id it had before).",
    "golden": "One golden record per cluster, attribute by attribute from survivorship; empty where a "
              "critical attribute is in review.",
    "xref": "Source record (system, source id) → golden id, with match probability and how it was matched.",
    "conflicts": "Attributes on which a cluster's records disagree: every candidate value with system, record, "
                 "updated_at, whether it won and why.",
    "review_queue": "Open items for data stewards, ranked by what a wrong decision would cost (priority 1 first, "
                    "cost): critical conflicts, clusters held together by a chain, pairs in the review band, "
                    "pairs a distinct_when rule kept apart against Splink's score, records without a usable name.",
    "id_history": "Append-only: golden ids created, merged into another, split off, retired; per run.",
}


def key(entity: str, part: str) -> dg.AssetKey:
    return dg.AssetKey(["entities", f"{entity}_{part}"])


def _count(con, table: str, where: str = "true") -> int:
    return con.execute(f"select count(*) from {table} where {where}").fetchall()[0][0]


def _md_table(header: list[str], rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(v if v is not None else "").replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


QUEUE_ATTRIBUTES = ("name", "street", "postcode", "city", "vat_id", "iban", "email", "phone")


def queue_markdown(items: list, open_items: int, attributes: tuple[str, ...] = QUEUE_ATTRIBUTES) -> str:
    """The review queue as a steward reads it: per item why it needs review and the records side
    by side, one column per record (a row per attribute: the company schema's, or the entity's
    declared ones), most important first."""
    if not items:
        return "No open items."
    out = [f"**{open_items} open item(s)**; the first {len(items)} (pending approvals first), most important first. "
           "Decide on the review page (metadata `review_page`: every item, one click per decision) or with `kontor steward decide`.", ""]
    for n, (item_id, reason, probability, members, status) in enumerate(items, 1):
        p = f" — match probability {probability:.3f}" if probability is not None else ""
        out += [f"#### {n}. `{item_id}` ({status}){p}", f"{reason}", ""]
        members = members or []
        if members:
            out.append("| | " + " | ".join(f"{m['system']} `{m['source_id']}`" for m in members) + " |")
            out.append("|---|" + "---|" * len(members))
            for attr in attributes:
                values = [str(m.get(attr) or "").replace("|", "\\|") for m in members]
                out.append(f"| {attr} | " + " | ".join(values) + " |")
            out.append("")
    return "\n".join(out)


def _declared_standardised_result(con, spec: EntitySpec, rows: int) -> dg.MaterializeResult:
    """Metadata of an entity declaring its attributes: records without any key, and the invalid
    values of each validating attribute."""
    valid = [c for c in spec.columns if c.endswith("_valid")]
    counts = ", ".join([f"count(*) filter (where not ({spec.matchable}))",
                        *[f"count(*) filter (where {c} = false)" for c in valid]])
    per_system = con.execute(f"select source_system, count(*), {counts} from {spec.table('standardised')} "
                             "group by 1 order by 1").fetchall()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": dg.MetadataValue.int(rows),
        "by_system": dg.MetadataValue.md(_md_table(["system", "records", "no key at all",
                                                    *[f"invalid {c[:-6]}" for c in valid]], per_system)),
        "no_usable_key": sum(r[2] for r in per_system),
        **{f"invalid_{c[:-6]}": sum(r[3 + i] for r in per_system) for i, c in enumerate(valid)},
    })


def build_entity_assets(spec: EntitySpec, compiled: CompiledProject, settings: Settings) -> tuple[list, list]:
    """(assets, asset checks) of one entity."""
    target_dir, data_dir = settings.target_dir, settings.data_dir
    relations = {name: cm.model.relation for name, cm in compiled.models.items()}
    staging_keys = [dg.AssetKey([compiled.models[i.model].model.schema, i.model]) for i in spec.inputs]
    # an attribute referring to another entity (a contact's company) is looked up in its xref
    staging_keys += [key(a.options["entity"], "xref") for a in spec.declared or [] if a.type == "reference"]
    splink_dir = target_dir / "splink" / spec.name
    owners = [spec.owner if ":" in str(spec.owner) or "@" in str(spec.owner) else f"team:{spec.owner}"] if spec.owner else None
    common = {"group_name": "entities", "kinds": {"duckdb", "splink"}, "owners": owners}

    @dg.asset(key=key(spec.name, "standardised"), deps=staging_keys, code_version=spec.settings_hash,
              description=f"{spec.name.title()} records of {', '.join(spec.systems)} in one schema: values as written "
                          "(name without legal form, street without number, ...) and matching keys; IBAN and VAT ID "
                          f"checked and flagged, never dropped. Declared in {spec.file}.",
              metadata={"declared_in": spec.file, "dagster/table_name": spec.table("standardised")}, **common)
    def _standardised(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            rows = standardise(con, spec, relations)
            if spec.declared is not None:
                return _declared_standardised_result(con, spec, rows)
            per_system = con.execute(f"""
                select source_system, count(*), count(*) filter (where name_key is null),
                       count(*) filter (where iban_valid = false), count(*) filter (where vat_id_valid = false)
                from {spec.table('standardised')} group by 1 order by 1""").fetchall()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "by_system": dg.MetadataValue.md(_md_table(["system", "records", "no usable name", "invalid IBAN",
                                                        "invalid VAT ID"], per_system)),
            "invalid_iban": sum(r[3] for r in per_system), "invalid_vat_id": sum(r[4] for r in per_system),
            "no_usable_name": sum(r[2] for r in per_system),
        })

    @dg.asset(key=key(spec.name, "model"), deps=[key(spec.name, "standardised")], code_version=spec.settings_hash,
              description="The trained Splink model (settings with m and u), one JSON per version under "
                          f"target/splink/{spec.name}/ and in entities._models. Retrained only when asked "
                          "(kontor run --retrain), when the settings change or when the input drifts.",
              **common)
    def _model(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        retrain = context.run.tags.get(RETRAIN_TAG, "").lower() == "true"
        with warehouse.connection() as con:
            trained = matching.ensure_model(con, spec, splink_dir, retrain=retrain)
        m_u = [(comp, lvl["label"], lvl["m"], lvl["u"]) for comp, levels in trained.training_log.get("m_u", {}).items()
               for lvl in levels]
        untrained = sorted({row[0] for row in m_u if row[2] is None or row[3] is None})
        return dg.MaterializeResult(metadata={
            "version": trained.version, "trained_this_run": trained.trained_now, "reason": trained.reason,
            "model_file": dg.MetadataValue.path(trained.path or ""),
            "probability_two_random_records_match": trained.training_log.get("probability_two_random_records_match"),
            "training": dg.MetadataValue.json({k: v for k, v in trained.training_log.items() if k != "m_u"}),
            "m_and_u": dg.MetadataValue.md(_md_table(["comparison", "level", "m", "u"], m_u)),
            "untrained_comparisons": ", ".join(untrained) or "none",
        })

    @dg.asset(key=key(spec.name, "pairs"), deps=[key(spec.name, "model")], code_version=spec.settings_hash,
              description=f"Scored candidate pairs at or above the review threshold "
                          f"({spec.thresholds['review_probability']}), with Splink's comparison levels. Charts "
                          f"and dashboards (offline HTML) under target/splink/{spec.name}/.",
              metadata={"dagster/table_name": spec.table("pairs")}, **common)
    def _pairs(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            model = json.loads(matching.latest_model(con, spec.name)[3])
            rows = matching.predict(con, spec, model, explain_dir=splink_dir)
            matched = _count(con, spec.table("pairs"), f"match_probability >= {spec.thresholds['match_probability']}")
        html = {name: dg.MetadataValue.path(str(splink_dir / f"{name}.html"))
                for name in ("match_weights", "waterfall", "comparison_viewer", "cluster_studio")}
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(rows), "pairs_above_match_threshold": matched,
            "pairs_in_review_band": rows - matched, **html,
        })

    @dg.multi_asset(
        name=f"resolve_{spec.name}",
        specs=[dg.AssetSpec(key(spec.name, part), deps=[key(spec.name, "pairs")], group_name="entities",
                            kinds={"duckdb"}, owners=owners, description=PART_DESCRIPTIONS[part],
                            code_version=spec.settings_hash,
                            metadata={"dagster/table_name": spec.table(part)})
               for part in RESOLVED_PARTS],
    )
    def _resolve(context: dg.AssetExecutionContext, warehouse: WarehouseResource, state_store: StateStoreResource):
        store = state_store.open(settings)
        try:
            decided = constraints(store.decisions(spec.name), spec.name)
            with warehouse.connection() as con:
                first_build = not _exists(con, spec.table("golden"))
                # a warehouse rebuilt from scratch: golden ids as the audit trail last recorded them
                previous = golden.replay_xref(store.audit(entity=spec.name, kind="xref_change")) \
                    if not _exists(con, spec.table("xref")) else None
                clusters = matching.connected_components(con, spec, decided.must_link, decided.cannot_link)
                # Crash safety: the entity tables change in one warehouse transaction, committed
                # only after the state store holds the run's events. A kill in between leaves the
                # old tables and at worst events recorded twice (replaying them is idempotent),
                # never half-replaced tables or golden ids the audit trail does not know.
                con.execute("begin transaction")
                try:
                    resolved = golden.resolve(con, spec, clusters, context.run_id, decided, previous)
                    events = list(resolved.changes)
                    if not any(e["kind"] == "golden_change" for e in events):
                        events.append({"run_id": context.run_id, "actor": f"rule:{spec.name}", "kind": "golden_change",
                                       "entity": spec.name, "object_id": None, "before": None,
                                       "after": {"golden_records": resolved.golden},
                                       "detail": "first build" if first_build else "no golden value changed"})
                    store.append_audit(events)
                    store.mirror(con)
                    con.execute("commit")
                except BaseException:
                    con.execute("rollback")
                    raise
        finally:
            store.close()
        with warehouse.connection() as con:
            accuracy = evaluate(con, spec, data_dir)
            if accuracy:    # what the review queue is worth: items per 1,000 records, share needing a human
                accuracy.update(queue_figures(con, spec, data_dir))
            queue = con.execute(f"""select item_id, reason, match_probability, members, status
                                   from {spec.table('review_queue')} where status in ('open', 'pending')
                                   order by status = 'open', priority, match_probability desc nulls last, item_id limit 15""").fetchall()
            open_items = _count(con, spec.table("review_queue"), "status = 'open'")
            counts = {part: _count(con, spec.table(part)) for part in RESOLVED_PARTS}
        accuracy_md = dg.MetadataValue.json(accuracy) if accuracy else "no ground truth"
        golden_meta = {"dagster/row_count": dg.MetadataValue.int(counts["golden"]),
                       "multi_member_clusters": resolved.multi_member, "ground_truth": accuracy_md,
                       "id_events_this_run": dg.MetadataValue.json(resolved.events)}
        if accuracy:
            golden_meta.update({"precision": accuracy["precision"], "recall": accuracy["recall"], "f1": accuracy["f1"]})
            for figure in ("hard_negatives_merged", "review_items_per_1000_records", "review_precision"):
                if figure in accuracy:
                    golden_meta[figure] = accuracy[figure]
            if "golden_values_equal" in accuracy:
                golden_meta["golden_values_equal"] = accuracy["golden_values_equal"]
        for part in RESOLVED_PARTS:
            meta = {"dagster/row_count": dg.MetadataValue.int(counts[part])}
            if part == "golden":
                meta.update(golden_meta)
            if part == "review_queue":
                meta["open_items"] = open_items
                attributes = QUEUE_ATTRIBUTES if spec.declared is None else tuple(a.name for a in spec.declared)
                meta["queue"] = dg.MetadataValue.md(queue_markdown(queue, open_items, attributes))
                meta["review_page"] = dg.MetadataValue.url(steward_settings(settings).review_url)
            if part == "clusters":
                meta["cluster_studio"] = dg.MetadataValue.path(str(splink_dir / "cluster_studio.html"))
            yield dg.MaterializeResult(asset_key=key(spec.name, part), metadata=meta)

    @dg.asset(key=key(spec.name, "sync_proposals"), deps=[key(spec.name, "golden"), key(spec.name, "xref")],
              code_version=spec.settings_hash,
              description="The changes each system would need to agree with the golden records, for import after "
                          f"human sign-off: a table and one CSV per system under target/sync/{spec.name}/. "
                          "Values in review are never proposed; IBAN and VAT ID changes require sign-off.",
              metadata={"dagster/table_name": spec.table("sync_proposals")}, **common)
    def _sync(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            files = golden.sync_proposals(con, spec, target_dir / "sync" / spec.name)
            per_system = con.execute(f"""select system, count(*), count(*) filter (where requires_signoff)
                                         from {spec.table('sync_proposals')} group by 1 order by 1""").fetchall()
            total = _count(con, spec.table("sync_proposals"))
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(total),
            "by_system": dg.MetadataValue.md(_md_table(["system", "proposals", "need sign-off"], per_system)),
            **{f"csv_{system}": dg.MetadataValue.path(str(path)) for system, path in files.items()},
        })

    @dg.asset_check(asset=key(spec.name, "review_queue"), name="no_open_review_items", blocking=True,
                    description="Warns while the review queue holds open items, and says how many.")
    def _queue_check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connection() as con:
            open_items = _count(con, spec.table("review_queue"), "status = 'open'")
            pending = _count(con, spec.table("review_queue"), "status = 'pending'")
        return dg.AssetCheckResult(
            passed=open_items == 0, severity=dg.AssetCheckSeverity.WARN,
            description=f"{open_items} open review item(s), {pending} decision(s) pending approval",
            metadata={"open_items": open_items, "pending_approvals": pending})

    return [_standardised, _model, _pairs, _resolve, _sync], [_queue_check]
