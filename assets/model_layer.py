"""Every SQL model in one subsettable multi-asset, executed in one Dagster step (dagster-dbt's pattern).

The default layer (``[tool.kontor] models_in_one_step = false`` or ``KONTOR_MODELS_IN_ONE_STEP=0``
gives one step per model, ``assets/models.py``). Each model is still its own asset in the UI,
with its dependencies, code version, metadata and column lineage. The step runs the selected
models (``context.selected_asset_keys``) through ``pipelines.models.stage.Layer`` (dbt build's
rules) and yields, as each finishes, its materialisation, then its unit tests' and gates' results
as blocking asset checks. At the end the step fails if anything failed, its ``dg.Failure`` naming
each failed model (metadata ``kontor/failed_assets``: asset -> reason, which ``kontor run`` and
the alerts turn into one line per model); failed gates are reported by their own check results.

Why one step: Dagster's cost per step (events, step context, data-version reads) was the floor of
a ``kontor run`` of many models (``benchmarks/README.md``, ``models_vs_dbt.py``).
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg

from assets.models import FULL_REFRESH_TAG, built_metadata, model_spec_args, built_result
from assets.resources import WarehouseResource
from pipelines.core.alerts import FAILED_ASSETS
from pipelines.core.errors import Problem
from pipelines.models import stage
from pipelines.models.compile import CompiledProject
from pipelines.quality.stage import Gate

LAYER = "sql_models"


def _key(asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset.split("/"))


def failed_assets(failures: Mapping[str, str]) -> dict:
    return {FAILED_ASSETS: dg.MetadataValue.json(dict(failures))}


def build_model_layer(compiled: CompiledProject, gates: Sequence[Gate], unit_tests: Sequence,
                      known: set[dg.AssetKey], target_dir: Path,
                      broken: Mapping[str, list[Problem]] | None = None, spark: bool = False) -> dg.AssetsDefinition:
    """The layer of ``compiled``'s models (``pipelines.models.stage.Layer``); ``broken`` models
    (``kontor dev`` with a broken file) keep their key in it and fail with their problems,
    stopping what is downstream of them.

    ``spark`` (``[tool.kontor] engine = "spark"``): the models are built on Spark through the
    engine object (``pipelines/models/on_engine.py``) and gated there (``spark_gate``); what the
    step reads that this run did not write to Spark is copied from DuckDB first, and what it
    built is copied back into DuckDB at its end (``assets/spark.py``)."""
    from assets.checks import _metadata, _spec

    layer = stage.Layer(compiled, gates, unit_tests, target_dir, dict(broken or {}))
    specs = []
    for name in layer.broken:
        model = compiled.project.models[name]
        specs.append(dg.AssetSpec(_key(layer.assets[name]), group_name=model.group, kinds={"duckdb", "sql"}, skippable=True,
                                  tags={"kontor/broken": "true"}, metadata={"file": model.rel_path},
                                  description=f"model {model.rel_path} has problems; fix the file, then reload."))
    for name in layer.models[len(layer.broken):]:
        # the same spec as the one-step-per-model layer's; skippable: a model downstream of a
        # failure is not yielded, and what depends on it is skipped
        specs.append(dg.AssetSpec(**model_spec_args(compiled, name), skippable=True))
    check_specs = [_spec(g.suite, rule, known | {_key(a) for a in layer.assets.values()}, blocking=not g.late)
                   for g in gates for rule in g.suite.rules]
    layer_sources = {g.suite.asset for g in gates} - set(layer.assets.values())
    check_specs += [dg.AssetCheckSpec(name=t.name, asset=_key(t.asset), blocking=True,
                                      description=f"dbt unit test ({t.file}:{t.line})",
                                      metadata={"declared_in": f"{t.file}:{t.line}"}) for t in unit_tests]

    def results(context, event):
        if isinstance(event, stage.Built):
            yield built_result(context, _key(event.asset), built_metadata(event.built, event.lineage))
        elif isinstance(event, stage.UnitTested):
            yield dg.AssetCheckResult(asset_key=_key(event.asset), check_name=event.test.name, passed=event.passed,
                                      severity=dg.AssetCheckSeverity.ERROR, description=event.detail[:2000])
        else:
            for o in event.outcome.rules:
                yield dg.AssetCheckResult(asset_key=_key(event.gate.suite.asset), check_name=o.rule.name, passed=o.success,
                                          severity=dg.AssetCheckSeverity.ERROR if o.rule.blocking else dg.AssetCheckSeverity.WARN,
                                          description=o.summary, metadata=_metadata(o, event.outcome.docs_page))

    def body(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark=None):
        run = stage.LayerRun(layer, context.run.run_id, {k.to_user_string() for k in context.selected_asset_keys},
                             {(k.asset_key.to_user_string(), k.name) for k in context.selected_asset_check_keys},
                             context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true", context.log, spark)
        with warehouse.connection() as con:
            for event in run.events(con):
                yield from results(context, event)
        if run.failures:
            lines = [f"{asset}: {reason.splitlines()[0]}" for asset, reason in run.failures.items()]
            raise dg.Failure(description="; ".join(lines)[:4000], metadata=failed_assets(run.failures))

    # A dbt source test is a check on the source's external asset (assets/models.py
    # build_source_assets), which the step does not materialise: Dagster takes such checks as
    # inputs of the step (dagster-dbt's source tests as checks pass the same keyword of
    # dg.multi_asset), so they are judged in it before the models reading the source.
    arbitrary = {"allow_arbitrary_check_specs": True} if layer_sources else {}
    multi = dg.multi_asset(specs=specs, check_specs=check_specs, can_subset=True, name=LAYER,
                           description="Every SQL model, built in dependency order in one step (assets/model_layer.py)"
                                       + (" on Spark." if spark else "."), **arbitrary)
    if spark:
        from assets.spark import SparkResource

        def _layer_on_spark(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark: SparkResource):
            yield from body(context, warehouse, spark)
        return multi(_layer_on_spark)

    def _layer(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        yield from body(context, warehouse)
    return multi(_layer)
