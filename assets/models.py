"""One asset per SQL model (and per seed): key ``<schema>/<name>``, group from the folder.

Dagster wiring only; the engine's entry point is ``pipelines/models/stage.py``. By default the models'
assets run together in one step (``assets/model_layer.py``, which takes each model's spec from
here); ``models_in_one_step = false`` makes each its own step.

Dependencies come from ``ref`` and ``source``; ``code_version`` from the compiled SQL, so the UI
marks a model stale when its SQL changes; after each build the row count, the compiled SQL and
the column lineage are attached as metadata. A run tagged ``kontor/full_refresh=true`` rebuilds
incremental models from scratch.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
import hashlib
import re

import dagster as dg

from assets.resources import WarehouseResource
from pipelines.models import stage
from pipelines.models.compile import CompiledModel, CompiledProject
from pipelines.models.materialize import Materialized
from pipelines.models.project import Seed

FULL_REFRESH_TAG = "kontor/full_refresh"


def relation_key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([schema, name])


def _column_schema(cm: CompiledModel) -> dg.TableSchema | None:
    docs = cm.model.properties.columns
    if not docs:
        return None
    return dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.data_type or "unknown"), description=c.description or None)
                                   for c in docs])


def built_metadata(built: Materialized, lineage: dict | None) -> dict:
    """A built model's materialisation metadata: row count, compiled SQL, column lineage."""
    metadata = {"materialization": built.kind, "compiled_sql": dg.MetadataValue.md(f"```sql\n{built.sql}\n```")}
    if built.rows is not None:      # views are not executed to count them
        metadata["dagster/row_count"] = dg.MetadataValue.int(built.rows)
    if built.detail:
        metadata["detail"] = built.detail
    deps = {column: [dg.TableColumnDep(asset_key=relation_key(r.schema, r.table), column_name=r.column) for r in refs]
            for column, refs in (lineage or {}).items()}
    if any(deps.values()):
        metadata["dagster/column_lineage"] = dg.TableColumnLineage(deps)
    return metadata


# What a materialisation says that does not change from run to run of the same SQL: given to
# Dagster through ``context.add_asset_metadata``, it goes into the materialisation only, not also
# into the step's output event (as a result's own metadata would: serialised twice per model).
STATIC_KEYS = ("compiled_sql", "dagster/column_lineage")


def built_result(context: dg.AssetExecutionContext, key: dg.AssetKey, metadata: dict) -> dg.MaterializeResult:
    """A built model's result: ``metadata`` (``built_metadata``) on its materialisation, the
    ``STATIC_KEYS`` of it through the context (the materialisation carries the same keys)."""
    static = {k: metadata.pop(k) for k in STATIC_KEYS if k in metadata}
    if static:
        context.add_asset_metadata(static, asset_key=key)
    return dg.MaterializeResult(asset_key=key, metadata=metadata)


def model_spec_args(compiled: CompiledProject, name: str) -> dict:
    """What the UI shows of a model (key, deps, group, description, code version, kinds, tags,
    owners, metadata): the arguments of ``dg.asset`` and ``dg.AssetSpec`` alike."""
    cm = compiled.models[name]
    model = cm.model
    metadata = {
        "materialized": cm.materialized,
        "file": model.rel_path,
        "dagster/table_name": model.relation,
    }
    if cm.unique_key:
        metadata["unique_key"] = ", ".join(cm.unique_key)
    schema = _column_schema(cm)
    if schema:
        metadata["dagster/column_schema"] = schema
    owner = cm.config.get("owner") or model.properties.meta.get("owner")
    tags = {str(t): "" for t in cm.config.get("tags", [])}
    return dict(
        key=relation_key(model.schema, model.name),
        deps=[dg.AssetKey(list(d)) for d in stage.dependencies(cm, compiled)],
        group_name=model.group,
        description=model.properties.description or f"{cm.materialized} {model.relation} from {model.rel_path}",
        code_version=cm.code_version,
        kinds={"duckdb", "sql"},
        tags={"kontor/layer": model.schema, **tags},
        owners=dagster_owners(owner),
        metadata=metadata,
    )


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def dagster_owners(owner) -> list[str] | None:
    """A model's ``owner`` (config or meta, one or a list) as Dagster takes owners: an e-mail
    address or ``team:<name>``; anything else (dbt projects write ``'@ran'``, ``Data Team``) is a
    team's name. Dagster refuses other owners, and the whole code location with them."""
    if not owner:
        return None
    found = []
    for one in owner if isinstance(owner, (list, tuple)) else [owner]:
        one = str(one.get("email") or one.get("name") or "") if isinstance(one, dict) else str(one).strip()
        if one:
            found.append(one if one.startswith("team:") or _EMAIL.fullmatch(one) else f"team:{one}")
    return found or None


def build_model_asset(compiled: CompiledProject, name: str) -> dg.AssetsDefinition:
    @dg.asset(**model_spec_args(compiled, name))
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        with warehouse.connection() as con:
            built = stage.build(con, compiled, name, full_refresh=full_refresh)
        return built_result(context, context.asset_key, built_metadata(built, stage.lineage(compiled, name)))

    return _build


def build_seed_asset(seed: Seed) -> dg.AssetsDefinition:
    @dg.asset(key=relation_key(seed.schema, seed.name), group_name="seeds", kinds={"duckdb", "csv"},
              description=f"Seed {seed.rel_path}, loaded as a table.", metadata={"file": seed.rel_path},
              code_version=hashlib.sha256(seed.path.read_bytes()).hexdigest()[:16])
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            rows = stage.seed(con, seed)
        return dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(rows)})

    return _load


def build_source_assets(compiled: CompiledProject) -> list[dg.AssetsDefinition]:
    """A dbt project's sources that no seed or model builds (an EL tool or a loader script fills
    them): external assets, so lineage shows them above the models reading them, and their dbt
    source tests are asset checks on them (judged in the model layer's step before those models)."""
    specs = []
    for asset, (relation, declared) in stage.external_sources(compiled).items():
        names = ", ".join(f"{src}.{table}" for src, table in declared)
        specs.append(dg.AssetSpec(dg.AssetKey(asset.split("/")), group_name="sources", kinds={"duckdb"},
                                  description=f"dbt source {names}: {relation}, loaded outside the project "
                                              "(no seed or model builds it).",
                                  metadata={"dagster/table_name": relation, "dbt_source": names}))
    return [dg.AssetsDefinition(specs=specs)] if specs else []   # external: nothing here materialises them


def build_model_assets(compiled: CompiledProject) -> list[dg.AssetsDefinition]:
    """One asset per model and seed: the layer of one step per model (``models_in_one_step = false``).
    The default, every model in one step, is ``assets/model_layer.py``."""
    seeds = [build_seed_asset(s) for s in compiled.project.seeds.values()]
    return seeds + [build_model_asset(compiled, name) for name in compiled.order
                    if compiled.models[name].materialized != "ephemeral"]


def build_unit_test_checks(compiled: CompiledProject, skip: set[str] = frozenset()) -> list[dg.AssetChecksDefinition]:
    """dbt's unit_tests: one blocking check per test on its model (pipelines/models/dbt_unit.py);
    not those of ``skip``'s models (the one-step layer runs them in its step)."""
    from pipelines.core.errors import ProjectError
    from pipelines.models.dbt_unit import collect_unit_tests

    tests, problems = collect_unit_tests(compiled)
    if problems:
        raise ProjectError(problems)
    by_asset: dict[str, list] = {}
    for t in tests:
        if t.asset not in skip:
            by_asset.setdefault(t.asset, []).append(t)
    checks = []
    for asset, group in by_asset.items():
        key = dg.AssetKey(asset.split("/"))
        specs = [dg.AssetCheckSpec(name=t.name, asset=key, blocking=True, description=f"dbt unit test ({t.file}:{t.line})",
                                   metadata={"declared_in": f"{t.file}:{t.line}"}) for t in group]

        def _make(group=group, key=key):
            @dg.multi_asset_check(specs=specs, name=f"dbt_unit_tests__{'__'.join(key.path)}")
            def _unit(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
                with warehouse.connection() as con:
                    for t, passed, detail in stage.unit_tests(con, compiled, group, context.run.run_id, context.log):
                        yield dg.AssetCheckResult(asset_key=key, check_name=t.name, passed=passed,
                                                  severity=dg.AssetCheckSeverity.ERROR, description=detail[:2000])
            return _unit
        checks.append(_make())
    return checks
