"""One asset per SQL model (and per seed): key ``<schema>/<name>``, group from the folder.

By default the models' assets run together in one step (``assets/model_layer.py``, which takes
each model's spec from here); ``models_in_one_step = false`` makes each its own step.

Dependencies come from ``ref`` and ``source``; ``code_version`` from the compiled SQL, so the UI
marks a model stale when its SQL changes; after each build the row count, the compiled SQL and
the column lineage are attached as metadata. A run tagged ``kontor/full_refresh=true`` rebuilds
incremental models from scratch.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
import hashlib

import dagster as dg

from assets.resources import WarehouseResource
from pipelines.models.compile import CompiledModel, CompiledProject
from pipelines.models.materialize import build_seed, materialize
from pipelines.models.project import Seed

FULL_REFRESH_TAG = "kontor/full_refresh"


def relation_key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([schema, name])


def _deps(cm: CompiledModel, compiled: CompiledProject) -> list[dg.AssetKey]:
    keys = []
    for ref in cm.refs:
        target = compiled.models.get(ref)
        if target is not None and target.materialized == "ephemeral":
            keys += _deps(target, compiled)        # an ephemeral model is no asset: its inputs are
        elif target is not None:
            keys.append(relation_key(target.model.schema, ref))
        elif ref in compiled.project.externals:       # e.g. entities.customer_xref
            keys.append(relation_key(*compiled.project.externals[ref][0].split(".")))
        else:
            seed = compiled.project.seeds.get(ref)
            keys.append(relation_key(seed.schema if seed else "seeds", ref))
    keys += _source_keys(cm, compiled)
    return list(dict.fromkeys(keys))


def _source_keys(cm: CompiledModel, compiled: CompiledProject) -> list[dg.AssetKey]:
    """Kontor sources are ingested assets (``raw/<system>__<table>``); a dbt source is an existing
    relation, which depends on the seed or model that builds it if the project has one."""
    project = compiled.project
    if project.dbt is None:
        return [relation_key("raw", f"{system}__{table}") for system, table in cm.sources]
    builders = {s.relation: relation_key(s.schema, s.name) for s in project.seeds.values()}
    builders |= {c.model.relation: relation_key(c.model.schema, c.model.name) for c in compiled.models.values()}
    return [builders[r] for r in (project.dbt_sources.get(src) for src in cm.sources) if r in builders]


def _column_schema(cm: CompiledModel) -> dg.TableSchema | None:
    docs = cm.model.properties.columns
    if not docs:
        return None
    return dg.TableSchema(columns=[dg.TableColumn(c.name, str(c.data_type or "unknown"), description=c.description or None)
                                   for c in docs])


def _column_lineage(compiled: CompiledProject, name: str, save: bool = True) -> dg.TableColumnLineage | None:
    """Lineage as Dagster metadata, from the lineage cache (kept in target/ while the files do not
    change); ``save``: write a newly computed entry at once (the one-step layer saves at its end)."""
    deps = {}
    found = compiled.lineage.get(name)
    if save:
        compiled.lineage.save()
    for column, refs in found.items():
        deps[column] = [dg.TableColumnDep(asset_key=relation_key(r.schema, r.table), column_name=r.column) for r in refs]
    return dg.TableColumnLineage(deps) if any(deps.values()) else None


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
        deps=_deps(cm, compiled),
        group_name=model.group,
        description=model.properties.description or f"{cm.materialized} {model.relation} from {model.rel_path}",
        code_version=cm.code_version,
        kinds={"duckdb", "sql"},
        tags={"kontor/layer": model.schema, **tags},
        owners=[owner if ":" in str(owner) or "@" in str(owner) else f"team:{owner}"] if owner else None,
        metadata=metadata,
    )


def build_model_asset(compiled: CompiledProject, name: str) -> dg.AssetsDefinition:
    @dg.asset(**model_spec_args(compiled, name))
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        with warehouse.connection() as con:
            built = materialize(con, compiled, name, full_refresh=full_refresh)
        result_metadata = {
            "materialization": built.kind,
            "compiled_sql": dg.MetadataValue.md(f"```sql\n{built.sql}\n```"),
        }
        if built.rows is not None:      # views are not executed to count them
            result_metadata["dagster/row_count"] = dg.MetadataValue.int(built.rows)
        if built.detail:
            result_metadata["detail"] = built.detail
        lineage = _column_lineage(compiled, name)
        if lineage is not None:
            result_metadata["dagster/column_lineage"] = lineage
        return dg.MaterializeResult(metadata=result_metadata)

    return _build


def build_seed_asset(seed: Seed) -> dg.AssetsDefinition:
    @dg.asset(key=relation_key(seed.schema, seed.name), group_name="seeds", kinds={"duckdb", "csv"},
              description=f"Seed {seed.rel_path}, loaded as a table.", metadata={"file": seed.rel_path},
              code_version=hashlib.sha256(seed.path.read_bytes()).hexdigest()[:16])
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connection() as con:
            rows = build_seed(con, seed)
        return dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(rows)})

    return _load


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
    from pipelines.models.dbt_unit import collect_unit_tests, run_unit_test
    from pipelines.core.warehouse import ensure_bookkeeping

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
                    ensure_bookkeeping(con)
                    for t in group:
                        try:
                            passed, detail = run_unit_test(con, compiled, t)
                        except Exception as exc:  # noqa: BLE001 - reported as the test's failure
                            passed, detail = False, f"could not run: {exc}"
                        # Evidence beside the gates' (kontor.gate_results), as every check keeps it.
                        con.execute("insert into kontor.gate_results values (?, now()::timestamp, ?, ?, 'error', ?, ?, null, null, ?)",
                                    [context.run.run_id, key.to_user_string(), t.name, passed, detail[:500],
                                     f"dbt unit test {t.file}:{t.line}"])
                        if not passed:
                            context.log.error(f"{key.to_user_string()}: unit test {t.name} failed: {detail}")
                        yield dg.AssetCheckResult(asset_key=key, check_name=t.name, passed=passed,
                                                  severity=dg.AssetCheckSeverity.ERROR, description=detail[:2000])
            return _unit
        checks.append(_make())
    return checks
