"""The analysts' copy of the warehouse, published after everything upstream succeeded."""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from assets.resources import WarehouseResource
from pipelines.warehouse import publish_serving

SERVING_KEY = dg.AssetKey(["kontor", "serving_copy"])


def build_serving_asset(upstream: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key=SERVING_KEY,
        deps=list(upstream),
        group_name="serving",
        kinds={"duckdb"},
        description="target/serving.duckdb: a consistent copy of the warehouse for analysts "
                    "(kontor query, DuckDB CLI), replaced atomically after a successful run.",
    )
    def _publish(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            path = publish_serving(con, Path(warehouse.serving_path))
            tables = con.execute(
                "select count(*) from information_schema.tables where table_schema not in ('information_schema', 'pg_catalog')"
            ).fetchone()[0]
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(str(path)),
            "tables": tables,
            "size_bytes": path.stat().st_size,
        })

    return _publish
