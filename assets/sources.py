"""One asset per declared source table: loads new extracts into ``raw.<system>__<table>``."""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.

import os
from pathlib import Path

import dagster as dg
from sqlglot import exp

from assets.resources import WarehouseResource
from pipelines.core.alerts import ALERT_METADATA, QUARANTINE_CHECK
from pipelines.core.errors import KontorError
from pipelines.core.retries import unreachable_location
from pipelines.sources.ingest import TableLoad, ingest_table
from pipelines.sources.options import IngestOptions
from pipelines.sources.spec import SourcesProject, SourceTable
from pipelines.core.sql import table_expr


def asset_key(table: SourceTable) -> dg.AssetKey:
    return dg.AssetKey(["raw", table.key])


def _column_schema(table: SourceTable) -> dg.TableSchema:
    return dg.TableSchema(columns=[
        dg.TableColumn(
            name=c.name, type=c.data_type, description=c.description or None,
            constraints=dg.TableColumnConstraints(nullable=not c.required, unique=c.name in table.primary_key
                                                  and len(table.primary_key) == 1),
        )
        for c in table.columns
    ])


def _definition_metadata(table: SourceTable) -> dict:
    where = table.location or f"query on connection {table.connection}"
    return {
        "system": table.system,
        "location": where,
        "format": table.format.type if table.location else "postgres",
        "primary_key": ", ".join(table.primary_key) or "none",
        "updated_at": table.updated_at or "none",
        "declared_in": f"{table.file}:{table.line}",
        "dagster/column_schema": _column_schema(table),
        "dagster/table_name": table.raw_table,
    }


def _files_markdown(load: TableLoad) -> str:
    lines = ["| file | status | batch | read | loaded | quarantined | note |", "|---|---|---|---|---|---|---|"]
    for f in load.files:
        note = "; ".join(filter(None, [f.message, *f.notes])).replace("|", "\\|")
        lines.append(f"| {f.path} | {f.status} | {f.batch_id or ''} | {f.rows_read} | {f.rows_loaded} "
                     f"| {f.rows_quarantined} | {note} |")
    return "\n".join(lines)




def outcome_line(load: TableLoad) -> str:
    """One line per source for ``kontor run``: loaded / quarantined / skipped / waiting."""
    count = lambda status: sum(f.status == status for f in load.files)  # noqa: E731
    parts = [f"loaded {count('loaded')} file(s), {load.total('rows_loaded'):,} rows",
             f"quarantined {load.total('rows_quarantined'):,} rows", f"skipped {count('skipped')} (already loaded)",
             f"waiting {count('waiting')}"]
    if load.failures:
        parts.append(f"failed {len(load.failures)}")
    return "; ".join(parts)


def quarantine_check(table: SourceTable, load: TableLoad, alert_pct: float) -> dg.AssetCheckResult:
    """Warn when more than ``alert_pct`` % of this run's rows were quarantined; all of them is an error."""
    read, quarantined = load.total("rows_read"), load.total("rows_quarantined")
    share = 100.0 * quarantined / read if read else 0.0
    all_bad = read > 0 and quarantined == read
    passed = share <= alert_pct and not all_bad
    description = (f"{quarantined:,} of {read:,} rows quarantined ({share:.1f} %, alert above {alert_pct:g} %)"
                   + ("; every row was quarantined: see kontor.quarantine for the reasons" if all_bad else ""))
    return dg.AssetCheckResult(
        asset_key=asset_key(table), check_name=QUARANTINE_CHECK, passed=passed,
        severity=dg.AssetCheckSeverity.ERROR if all_bad else dg.AssetCheckSeverity.WARN,
        description=description, metadata={"rows_read": read, "rows_quarantined": quarantined, "share_pct": round(share, 2),
                                           # a warning that alerts all the same (pipelines/core/alerts.py)
                                           ALERT_METADATA: True})


def build_source_asset(table: SourceTable, project: SourcesProject,
                       retry_policy: dg.RetryPolicy | None = None,
                       options: IngestOptions | None = None, spark: bool = False) -> dg.AssetsDefinition:
    """``spark``: ``[tool.kontor] engine = "spark"``: what was loaded is then landed in Spark's
    catalog (``SparkResource.land_source``); the ledger and quarantine stay in DuckDB."""
    description = table.description or f"{table.system} {table.name}, loaded from {table.location or 'a query'}."
    options = options or IngestOptions()

    def load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark=None) -> dg.MaterializeResult:
        # Transient failures (share not mounted, server down) honour the retry policy; a bad
        # extract fails at once: reading it again gives the same answer.
        attempt = _attempt(context, retry_policy)
        unreachable = unreachable_location(table, Path(warehouse.data_dir))
        if unreachable:
            raise dg.Failure(description=f"{table.key}: {unreachable}{attempt}; fix: mount the share or "
                                         f"correct location in {table.file}:{table.line}")
        with warehouse.connection() as con:
            try:
                load = ingest_table(
                    con, table, data_dir=Path(warehouse.data_dir), tmp_dir=Path(warehouse.tmp_dir),
                    connections=project.connections, env=dict(os.environ), run_id=context.run_id,
                    settle_seconds=options.settle_seconds,
                )
            except KontorError as exc:        # a configuration error (missing URL variable ...): no retry
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
            total = con.execute(exp.select(exp.func("count", exp.Star())).from_(table_expr(table.raw_table)).sql("duckdb")).fetchone()[0]
            landed = spark.land_source(con, table, Path(warehouse.tmp_dir) / "to_spark" / table.key) \
                if spark is not None and not load.failures else None
        metadata = {
            "dagster/row_count": dg.MetadataValue.int(total),
            "rows_read": load.total("rows_read"),
            "rows_loaded": load.total("rows_loaded"),
            "rows_quarantined": load.total("rows_quarantined"),
            "files_loaded": sum(f.status == "loaded" for f in load.files),
            "files_skipped": sum(f.status == "skipped" for f in load.files),
            "files_waiting": sum(f.status == "waiting" for f in load.files),
            "files_failed": len(load.failures),
            "kontor/outcome": outcome_line(load),
            "files": dg.MetadataValue.md(_files_markdown(load)),
        }
        if landed is not None:
            metadata["landed_on_spark"] = dg.MetadataValue.json(landed)
        if not load.files:
            context.log.warning(f"no file matches {table.location!r} in {warehouse.data_dir}")
        for f in load.files:
            if f.rows_quarantined:
                context.log.warning(f"{f.path}: {f.rows_quarantined} of {f.rows_read} rows quarantined (see kontor.quarantine)")
            if f.status == "waiting":
                context.log.warning(f"{f.path}: {f.message}; it is loaded by a later run")
        if load.failures:
            # a query failure is most often an unreachable server: worth a retry
            raise dg.Failure(description="; ".join(f.message for f in load.failures) + (attempt if table.query else ""),
                             metadata=metadata, allow_retries=bool(table.query))
        return dg.MaterializeResult(metadata=metadata, check_results=[quarantine_check(table, load, options.quarantine_alert_pct)])

    asset = dg.asset(
        key=asset_key(table),
        group_name="raw",
        description=description,
        kinds={"duckdb", table.format.type if table.location else "postgres"},
        tags={"kontor/system": table.system, "kontor/layer": "raw"},
        metadata=_definition_metadata(table),
        owners=[f"team:{table.owner}"] if table.owner else None,
        retry_policy=retry_policy,
        check_specs=[dg.AssetCheckSpec(QUARANTINE_CHECK, asset=asset_key(table),
                                       description=f"at most {options.quarantine_alert_pct:g} % of the rows loaded "
                                                   "in a run are quarantined")],
    )
    if spark:
        from assets.spark import SparkResource

        def _load_on_spark(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                           spark: SparkResource) -> dg.MaterializeResult:
            return load(context, warehouse, spark)
        _load_on_spark.__name__ = "_load"
        return asset(_load_on_spark)

    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        return load(context, warehouse)

    return asset(_load)


def _attempt(context: dg.AssetExecutionContext, policy: dg.RetryPolicy | None) -> str:
    if not policy or not policy.max_retries:
        return ""
    return f" (attempt {context.retry_number + 1} of {policy.max_retries + 1})"


def build_source_assets(project: SourcesProject, retry_policy: dg.RetryPolicy | None = None,
                        options: IngestOptions | None = None, spark: bool = False) -> list[dg.AssetsDefinition]:
    return [build_source_asset(t, project, retry_policy, options, spark) for t in project.tables]
