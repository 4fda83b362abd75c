"""The analysts' copy of the warehouse, published after everything upstream succeeded."""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from assets.resources import WarehouseResource
from pipelines.analysts.docs import TableDoc, apply_comments
from pipelines.sources.ingest import LINEAGE_COLUMNS
from pipelines.core.warehouse import BOOKKEEPING_DOCS, publish

SERVING_KEY = dg.AssetKey(["kontor", "serving_copy"])


RAW_GRAIN = "row of a delivered file (_source_file, _line); every delivery is kept (_batch_id)"
CURRENT_DOC = ("Current state of {relation}: for a full delivery the rows of the newest file, for a delta "
               "delivery the newest version of each key. Models read this view; the table keeps every delivery.")
CURRENT_GRAIN = "row of the current delivery (_source_file, _line)"
LINEAGE_DOCS = {
    "_system": "Source system the row came from (crm, erp, accounting ...)",
    "_source_file": "The file the row was read from, relative to the data directory (or the query's connection)",
    "_batch_id": "Load batch (kontor.load_ledger.batch_id): one per file and load",
    "_loaded_at": "When the row was loaded (UTC)",
    "_line": "Physical line of the row in its file (1 = the first line, the header included)",
}
assert set(LINEAGE_DOCS) == set(LINEAGE_COLUMNS)


def _value(v):
    return getattr(v, "value", v)


def table_docs(assets: Sequence[dg.AssetsDefinition], extra: Sequence[TableDoc] = ()) -> list[TableDoc]:
    """The description and column descriptions of every asset that is a warehouse table, as its
    definition carries them (from sources.yml, the models' YAML, the entity stage); the grain
    from the model's unique_key, or for raw tables the delivered file's line. ``extra``: tables
    described in code (the entity stage's), taking the asset's description where it has one."""
    docs, described = [], {doc.relation for doc in extra}
    for assets_def in assets:
        for spec in assets_def.specs:
            path = spec.key.path
            relation = str(_value(spec.metadata.get("dagster/table_name")) or ".".join(path))
            if len(path) != 2 or relation.count(".") != 1:
                continue
            schema = _value(spec.metadata.get("dagster/column_schema"))
            schema = getattr(schema, "schema", schema)
            columns = {c.name: c.description or "" for c in (schema.columns if schema is not None else [])}
            grain = str(_value(spec.metadata.get("unique_key")) or "")
            if path[0] == "raw":
                grain, columns = RAW_GRAIN, {**columns, **LINEAGE_DOCS}
                # the table's current state (pipelines/sources/deliveries.py), what models read
                docs.append(TableDoc(f"{relation}__current", CURRENT_DOC.format(relation=relation), CURRENT_GRAIN, columns))
            if relation in described:
                for doc in extra:
                    if doc.relation == relation and spec.description:
                        doc.description = spec.description
                continue
            docs.append(TableDoc(relation, spec.description or "", grain, columns))
    return [*docs, *extra]


def build_serving_asset(upstream: Sequence[dg.AssetKey], documented: Sequence[dg.AssetsDefinition] = (),
                        described: Sequence[TableDoc] = ()) -> dg.AssetsDefinition:
    docs = [*BOOKKEEPING_DOCS, *table_docs(documented, described)]

    @dg.asset(
        key=SERVING_KEY,
        deps=list(upstream),
        group_name="serving",
        kinds={"duckdb"},
        description="target/serving.duckdb: a consistent copy of the warehouse for analysts "
                    "(kontor query, DuckDB CLI), replaced atomically after a successful run (built on the "
                    "previous copy: only tables whose rows changed are written again); every table "
                    "and column described in the project's YAML carries its description as a comment.",
    )
    def _publish(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            # Models are replaced on every build, and their comments with them: written again here,
            # so the warehouse and the copy published from it carry every description.
            tables_commented, columns_commented = apply_comments(con, docs)
            published = publish(con, Path(warehouse.serving_path))
            path = published.path
            tables = con.execute(
                "select count(*) from information_schema.tables where table_schema not in ('information_schema', 'pg_catalog')"
            ).fetchone()[0]
        return dg.MaterializeResult(metadata={
            "path": dg.MetadataValue.path(str(path)),
            "tables": tables,
            "size_bytes": path.stat().st_size,
            "tables_described": tables_commented,
            "columns_described": columns_commented,
            # built on the previous copy (only the tables whose rows changed written again), or whole
            "incremental": published.incremental,
            "tables_copied": len(published.copied),
            "tables_kept": published.kept,
            **({"whole_copy_because": published.full_because} if not published.incremental else {}),
        })

    return _publish
