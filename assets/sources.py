"""One asset per declared source table: loads new extracts into ``raw.<system>__<table>``
(Dagster wiring only; the engine's entry point is ``pipelines/sources/stage.py``)."""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.

import os
from pathlib import Path

import dagster as dg

from assets.resources import WarehouseResource
from pipelines.core.alerts import ALERT_METADATA, QUARANTINE_CHECK
from pipelines.core.errors import KontorError
from pipelines.sources import stage
from pipelines.sources.options import IngestOptions
from pipelines.sources.spec import SourcesProject, SourceTable


def asset_key(table: SourceTable) -> dg.AssetKey:
    return dg.AssetKey(["raw", table.key])


def _definition_metadata(table: SourceTable) -> dict:
    unique = lambda c: c.name in table.primary_key and len(table.primary_key) == 1  # noqa: E731
    columns = [dg.TableColumn(name=c.name, type=c.data_type, description=c.description or None,
                              constraints=dg.TableColumnConstraints(nullable=not c.required, unique=unique(c)))
               for c in table.columns]
    return {"system": table.system, "location": table.location or f"query on connection {table.connection}",
            "format": table.format.type if table.location else "postgres",
            "primary_key": ", ".join(table.primary_key) or "none", "updated_at": table.updated_at or "none",
            "declared_in": f"{table.file}:{table.line}", "dagster/column_schema": dg.TableSchema(columns=columns),
            "dagster/table_name": table.raw_table}


def quarantine_check(table: SourceTable, loaded: stage.Loaded, alert_pct: float) -> dg.AssetCheckResult:
    passed, error, description, figures = loaded.quarantine(alert_pct)
    return dg.AssetCheckResult(   # a warning that alerts all the same (pipelines/core/alerts.py)
        asset_key=asset_key(table), check_name=QUARANTINE_CHECK, passed=passed, description=description,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN, metadata={**figures, ALERT_METADATA: True})


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
        unreachable = stage.unreachable(table, Path(warehouse.data_dir), attempt)
        if unreachable:
            raise dg.Failure(description=unreachable)
        with warehouse.connection() as con:
            try:
                loaded = stage.load(con, table, Path(warehouse.data_dir), Path(warehouse.tmp_dir), project.connections,
                                    dict(os.environ), context.run_id, options.settle_seconds)
            except KontorError as exc:        # a configuration error (missing URL variable ...): no retry
                raise dg.Failure(description=str(exc), allow_retries=False) from exc
            landed = spark.land_source(con, table, Path(warehouse.tmp_dir) / "to_spark" / table.key) \
                if spark is not None and not loaded.load.failures else None
        metadata = {"dagster/row_count": dg.MetadataValue.int(loaded.rows), **loaded.figures,
                    "kontor/outcome": loaded.outcome_line, "files": dg.MetadataValue.md(loaded.files_markdown())}
        if landed is not None:
            metadata["landed_on_spark"] = dg.MetadataValue.json(landed)
        for warning in loaded.warnings:
            context.log.warning(warning)
        if loaded.failure is not None:
            raise dg.Failure(description=loaded.failure + (attempt if loaded.retry else ""), metadata=metadata,
                             allow_retries=loaded.retry)
        return dg.MaterializeResult(metadata=metadata, check_results=[quarantine_check(table, loaded, options.quarantine_alert_pct)])

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
