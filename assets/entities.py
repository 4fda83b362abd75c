"""Entity resolution as assets, per entity declared in ``models/entities/<entity>.yml``.

``entities/<e>_standardised`` → ``entities/<e>_model`` (trained Splink model, versioned) →
``entities/<e>_pairs`` (scored pairs, Splink's HTML under ``target/splink/<e>/``) → one step that
writes clusters, golden records, xref, conflicts, review queue and id history together (they must
always belong to the same run) → ``entities/<e>_sync_proposals`` (table + one CSV per system).

With ``[tool.kontor] engine = "spark"`` (``spark``) the standardised records and the scored pairs
are built on Spark and copied back (``stage.standardise_on_spark``, ``stage.score_on_spark``);
with ``[tool.kontor.spark] train = true`` the model is trained there too (``stage.train_on_spark``),
otherwise on DuckDB; with ``resolve = true`` the resolve step computes survivorship and the
golden, clusters, xref and conflicts tables there (``stage.resolve_on_spark``; clustering, ids,
overrides, review queue and audit events on DuckDB, in the same one transaction), otherwise all of
it on DuckDB; the sync proposals stay on DuckDB; no Splink charts on Spark.

A run tagged ``kontor/retrain=true`` (``kontor run --retrain``) retrains the models; one tagged
``kontor/evaluate=true`` (``kontor run --evaluate``) scores the resolved entities against the ground
truth their entity files name (the demo data's), otherwise not evaluated.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
from pathlib import Path

import dagster as dg

from assets.models import dagster_owners
from assets.resources import StateStoreResource, WarehouseResource
from pipelines.core.settings import Settings
from pipelines.entities import stage
from pipelines.entities.spec import EntitySpec
from pipelines.entities.stage import RESOLVED_PARTS
from pipelines.stewards.identity import steward_settings
from pipelines.models.compile import CompiledProject

RETRAIN_TAG = "kontor/retrain"
EVALUATE_TAG = "kontor/evaluate"
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


def _splink(con):
    """Splink's backend on the DuckDB warehouse ``con``, as its engine builds it (the entity stage
    takes it as given)."""
    from pipelines.engines.engine import DuckDBEngine

    return DuckDBEngine(con).splink()


def _with_spark_as(spark: bool):
    """Decorator: ``asset_fn(context, warehouse, spark=None)`` as Dagster's asset function, taking
    the Spark resource when ``spark`` (Dagster reads the resources from the signature)."""
    def decorate(asset_fn):
        if not spark:
            def on_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
                return asset_fn(context, warehouse)
            chosen = on_duckdb
        else:
            from assets.spark import SparkResource

            def on_spark(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         spark: SparkResource) -> dg.MaterializeResult:
                return asset_fn(context, warehouse, spark)
            chosen = on_spark
        chosen.__name__ = asset_fn.__name__
        return chosen
    return decorate


def build_entity_assets(spec: EntitySpec, compiled: CompiledProject, settings: Settings,
                        spark: bool = False, train_on_spark: bool = False,
                        resolve_on_spark: bool = False) -> tuple[list, list]:
    """(assets, asset checks) of one entity; ``spark``: standardised and pairs built on Spark;
    ``train_on_spark``: the model trained there too; ``resolve_on_spark``: survivorship and the
    golden records built there too."""
    target_dir, data_dir = settings.target_dir, settings.data_dir
    tmp_dir = Path(target_dir) / "tmp"
    relations = {name: cm.model.relation for name, cm in compiled.models.items()}
    staging_keys = [dg.AssetKey([compiled.models[i.model].model.schema, i.model]) for i in spec.inputs]
    # an attribute referring to another entity (a contact's company) is looked up in its xref
    staging_keys += [key(a.options["entity"], "xref") for a in spec.declared or [] if a.type == "reference"]
    splink_dir = target_dir / "splink" / spec.name
    owners = dagster_owners(spec.owner)
    common = {"group_name": "entities", "kinds": {"duckdb", "splink"}, "owners": owners}

    @dg.asset(key=key(spec.name, "standardised"), deps=staging_keys, code_version=spec.settings_hash,
              description=f"{spec.name.title()} records of {', '.join(spec.systems)} in one schema: values as written "
                          "(name without legal form, street without number, ...) and matching keys; IBAN and VAT ID "
                          f"checked and flagged, never dropped. Declared in {spec.file}.",
              metadata={"declared_in": spec.file, "dagster/table_name": spec.table("standardised")}, **common)
    @_with_spark_as(spark)
    def _standardised(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark=None) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            done = stage.standardise_on_spark(con, spark, spec, relations, tmp_dir) if spark is not None \
                else stage.standardise(con, spec, relations)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(done.rows),
            "by_system": dg.MetadataValue.md(_md_table(done.header, done.by_system)),
            **done.totals,
        })

    @dg.asset(key=key(spec.name, "model"), deps=[key(spec.name, "standardised")], code_version=spec.settings_hash,
              description="The trained Splink model (settings with m and u), one JSON per version under "
                          f"target/splink/{spec.name}/ and in entities._models. Retrained only when asked "
                          "(kontor run --retrain), when the settings change or when the input drifts.",
              **common)
    @_with_spark_as(train_on_spark)
    def _model(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark=None) -> dg.MaterializeResult:
        retrain = context.run.tags.get(RETRAIN_TAG, "").lower() == "true"
        with warehouse.connection() as con:
            trained = stage.train_on_spark(con, spark, spec, splink_dir, tmp_dir, retrain=retrain) if spark is not None \
                else stage.train(con, spec, _splink(con), splink_dir, retrain=retrain)
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
                          f"and dashboards (offline HTML) under target/splink/{spec.name}/ (the cluster studio "
                          "follows the resolve step).",
              metadata={"dagster/table_name": spec.table("pairs")}, **common)
    @_with_spark_as(spark)
    def _pairs(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark=None) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            scored = stage.score_on_spark(con, spark, spec, tmp_dir) if spark is not None \
                else stage.score(con, spec, _splink(con), explain_dir=splink_dir)
        html = {name: dg.MetadataValue.path(str(splink_dir / f"{name}.html"))
                for name in ("match_weights", "waterfall", "comparison_viewer")} if spark is None else {}
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(scored.pairs), "pairs_above_match_threshold": scored.matched,
            "pairs_in_review_band": scored.pairs - scored.matched, **html,
        })

    def resolve_parts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      state_store: StateStoreResource, spark=None):
        store = state_store.open(settings)
        try:
            with warehouse.connection() as con:
                # on Spark: survivorship and the golden, clusters, xref, conflicts tables computed there
                # clustering runs on DuckDB either way, with Splink's backend there
                splink = _splink(con)
                resolved = stage.resolve_on_spark(con, spark, spec, splink, context.run_id, tmp_dir, store) \
                    if spark is not None else stage.resolve(con, spec, splink, context.run_id, store)
        finally:
            store.close()
        evaluate = context.run.tags.get(EVALUATE_TAG, "").lower() == "true"
        with warehouse.connection() as con:
            # Splink's cluster studio on the resolved clusters
            studio = stage.studio(con, spec, _splink(con), splink_dir)
            done = stage.outcome(con, spec, data_dir if evaluate else None)
        accuracy, counts, open_items = done.accuracy, done.counts, done.open_items
        accuracy_md = dg.MetadataValue.json(accuracy) if accuracy else \
            "no ground truth" if evaluate else "not evaluated (kontor run --evaluate)"
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
                meta["queue"] = dg.MetadataValue.md(queue_markdown(done.queue, open_items, attributes))
                meta["review_page"] = dg.MetadataValue.url(steward_settings(settings).review_url)
            if part == "clusters":
                # none drawn when the pairs were scored on Spark (their comparison levels stay there)
                meta["cluster_studio"] = dg.MetadataValue.path(str(studio)) if studio else "not drawn in this run"
            yield dg.MaterializeResult(asset_key=key(spec.name, part), metadata=meta)

    resolve_asset = dg.multi_asset(
        name=f"resolve_{spec.name}",
        specs=[dg.AssetSpec(key(spec.name, part), deps=[key(spec.name, "pairs")], group_name="entities",
                            kinds={"duckdb", "spark"} if resolve_on_spark else {"duckdb"}, owners=owners,
                            description=PART_DESCRIPTIONS[part],
                            code_version=spec.settings_hash,
                            metadata={"dagster/table_name": spec.table(part)})
               for part in RESOLVED_PARTS],
    )
    if resolve_on_spark:
        from assets.spark import SparkResource

        def _resolve(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     state_store: StateStoreResource, spark: SparkResource):
            yield from resolve_parts(context, warehouse, state_store, spark)
    else:
        def _resolve(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     state_store: StateStoreResource):
            yield from resolve_parts(context, warehouse, state_store)
    _resolve = resolve_asset(_resolve)

    @dg.asset(key=key(spec.name, "sync_proposals"), deps=[key(spec.name, "golden"), key(spec.name, "xref")],
              code_version=spec.settings_hash,
              description="The changes each system would need to agree with the golden records, for import after "
                          f"human sign-off: a table and one CSV per system under target/sync/{spec.name}/. "
                          "Values in review are never proposed; IBAN and VAT ID changes require sign-off.",
              metadata={"dagster/table_name": spec.table("sync_proposals")}, **common)
    def _sync(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            synced = stage.sync(con, spec, target_dir / "sync" / spec.name)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": dg.MetadataValue.int(synced.total),
            "by_system": dg.MetadataValue.md(_md_table(["system", "proposals", "need sign-off"], synced.by_system)),
            **{f"csv_{system}": dg.MetadataValue.path(str(path)) for system, path in synced.files.items()},
        })

    @dg.asset_check(asset=key(spec.name, "review_queue"), name="no_open_review_items", blocking=True,
                    description="Warns while the review queue holds open items, and says how many.")
    def _queue_check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connection() as con:
            open_items, pending = stage.queue_counts(con, spec)
        return dg.AssetCheckResult(
            passed=open_items == 0, severity=dg.AssetCheckSeverity.WARN,
            description=f"{open_items} open review item(s), {pending} decision(s) pending approval",
            metadata={"open_items": open_items, "pending_approvals": pending})

    return [_standardised, _model, _pairs, _resolve, _sync], [_queue_check]
