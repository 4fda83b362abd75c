"""Every SQL model in one subsettable multi-asset, executed in one Dagster step (dagster-dbt's pattern).

The default layer (``[tool.kontor] models_in_one_step = false`` or ``KONTOR_MODELS_IN_ONE_STEP=0``
gives one step per model, ``assets/models.py``). Each model is still its own asset in the UI,
with its dependencies, code version, metadata and column lineage; the step builds the selected
models (``context.selected_asset_keys``) in dependency order on one DuckDB connection and yields,
as each finishes:

- its materialisation (row count, compiled SQL, column lineage);
- its unit tests' results (dbt ``unit_tests:``), then its gates' results: ``expectations/*.yml``
  and dbt's data tests, through the same quality gate as every other asset (``run_suite``), as
  blocking asset checks. A gate that reads other models waits until they are built.

dbt build's rule: a model that fails, or whose error gate or unit test fails, stops only the
models downstream of it; the rest go on. At the end the step fails if anything failed, its
``dg.Failure`` naming each failed model (metadata ``kontor/failed_assets``: asset -> reason, which
``kontor run`` and the alerts turn into one line per model); failed gates are reported by their
own check results, as for any asset. A test that reads a model downstream of its own (dbt runs it
last) blocks nothing; when it fails, the step fails.

Why one step: Dagster's cost per step (events, step context, data-version reads) was the floor of
a ``kontor run`` of many models (``benchmarks/README.md``, ``models_vs_dbt.py``).
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg

from assets.models import FULL_REFRESH_TAG, _column_lineage, _deps, model_spec_args, relation_key
from assets.resources import WarehouseResource
from pipelines.core.alerts import FAILED_ASSETS
from pipelines.core.errors import Problem
from pipelines.models.compile import CompiledProject
from pipelines.quality.suites import Suite

LAYER = "sql_models"


@dataclass(frozen=True)
class LayerGate:
    """The rules of one suite on a model of the layer, and how the step runs them."""

    suite: Suite
    row_key: tuple[str, ...] = ()
    after: tuple[str, ...] = ()          # statements after the suite (dbt's store_failures)
    waits_for: frozenset = frozenset()   # other models of the layer (asset strings) the rules read
    late: bool = False                   # reads a model downstream of its own: blocks nothing, fails the step


def _key(asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset.split("/"))


def failed_assets(failures: Mapping[str, str]) -> dict:
    return {FAILED_ASSETS: dg.MetadataValue.json(dict(failures))}


def build_model_layer(compiled: CompiledProject, gates: Sequence[LayerGate], unit_tests: Sequence,
                      known: set[dg.AssetKey], target_dir: Path,
                      broken: Mapping[str, list[Problem]] | None = None, spark: bool = False) -> dg.AssetsDefinition:
    """The layer of ``compiled``'s models; ``broken`` models (``kontor dev`` with a broken file) keep
    their key in it and fail with their problems, stopping what is downstream of them.

    ``spark`` (``[tool.kontor] engine = "spark"``): the models are built on Spark through the
    engine object (``pipelines/models/on_engine.py``) and gated there (``spark_gate``); what the
    step reads that this run did not write to Spark is copied from DuckDB first, and what it
    built is copied back into DuckDB at its end (``assets/spark.py``)."""
    from assets.checks import _spec

    broken = dict(broken or {})
    names = [n for n in compiled.order if compiled.models[n].materialized != "ephemeral"]
    models = [*broken, *names]
    keys = {n: relation_key(compiled.project.models[n].schema, n) if n in broken
            else relation_key(compiled.models[n].model.schema, n) for n in models}
    assets = {n: keys[n].to_user_string() for n in models}
    in_layer = set(assets.values())
    specs = []
    for name in broken:
        model = compiled.project.models[name]
        specs.append(dg.AssetSpec(keys[name], group_name=model.group, kinds={"duckdb", "sql"}, skippable=True,
                                  tags={"kontor/broken": "true"}, metadata={"file": model.rel_path},
                                  description=f"model {model.rel_path} has problems; fix the file, then reload."))
    for name in names:
        # the same spec as the one-step-per-model layer's; skippable: a model downstream of a
        # failure is not yielded, and what depends on it is skipped
        specs.append(dg.AssetSpec(**model_spec_args(compiled, name), skippable=True))
    parents = {n: {d.to_user_string() for d in _deps(compiled.models[n], compiled)} & in_layer for n in names}
    check_specs = [_spec(g.suite, rule, known | set(keys.values()), blocking=not g.late)
                   for g in gates for rule in g.suite.rules]
    check_specs += [dg.AssetCheckSpec(name=t.name, asset=_key(t.asset), blocking=True,
                                      description=f"dbt unit test ({t.file}:{t.line})",
                                      metadata={"declared_in": f"{t.file}:{t.line}"}) for t in unit_tests]
    units: dict[str, list] = {}
    for t in unit_tests:
        units.setdefault(t.asset, []).append(t)

    def body(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark=None):
        run = _LayerRun(context, compiled, gates, units, target_dir)
        with warehouse.connection() as con:
            from pipelines.models.materialize import Catalog

            run.catalog = Catalog(con)        # read once: this step is the warehouse's one writer
            if spark is not None:
                run.on_spark(con, spark, [n for n in names if keys[n] in run.selected])
            for name in models:
                asset = assets[name]
                if keys[name] not in run.selected:
                    continue
                if name in broken:
                    run.fail(asset, f"model {compiled.project.models[name].rel_path} cannot be built: "
                                    + "; ".join(str(p) for p in broken[name]))
                elif parents[name] & run.blocked:
                    run.skip(asset, sorted(parents[name] & run.blocked))
                else:
                    yield from run.build(con, name, keys[name])
                run.done.add(asset)
                yield from run.judge_ready(con)
            yield from run.judge_ready(con, final=True)
            if spark is not None:
                run.copy_back(con)
        compiled.lineage.save()
        if run.failures:
            lines = [f"{asset}: {reason.splitlines()[0]}" for asset, reason in run.failures.items()]
            raise dg.Failure(description="; ".join(lines)[:4000], metadata=failed_assets(run.failures))

    layer = dg.multi_asset(specs=specs, check_specs=check_specs, can_subset=True, name=LAYER,
                           description="Every SQL model, built in dependency order in one step (assets/model_layer.py)"
                                       + (" on Spark." if spark else "."))
    if spark:
        from assets.spark import SparkResource

        def _layer_on_spark(context: dg.AssetExecutionContext, warehouse: WarehouseResource, spark: SparkResource):
            yield from body(context, warehouse, spark)
        return layer(_layer_on_spark)

    def _layer(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        yield from body(context, warehouse)
    return layer(_layer)


class _LayerRun:
    """What one execution of the layer has built, blocked and failed."""

    def __init__(self, context: dg.AssetExecutionContext, compiled: CompiledProject, gates: Sequence[LayerGate],
                 units: Mapping[str, list], target_dir: Path):
        self.context, self.compiled, self.units, self.target_dir = context, compiled, units, target_dir
        self.selected = set(context.selected_asset_keys)
        self.checks = checks = set(context.selected_asset_check_keys)
        self.full_refresh = context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        self.done: set[str] = set()         # models processed by this step: built, failed or skipped
        self.blocked: set[str] = set()      # ... and those that stop their downstream models
        self.failures: dict[str, str] = {}
        self.in_step = {k.to_user_string() for k in self.selected}
        self.pending: list[LayerGate] = []
        self.catalog = None
        self.spark = None                   # the SparkResource when the models run on Spark
        self.built: list[tuple[str, str]] = []
        for gate in gates:   # only the rules of this step: a split of the layer (a cycle through entities) runs the rest
            rules = tuple(r for r in gate.suite.rules if dg.AssetCheckKey(_key(gate.suite.asset), r.name) in checks)
            if rules:
                self.pending.append(replace(gate, suite=replace(gate.suite, rules=rules)))

    def fail(self, asset: str, reason: str) -> None:
        self.failures[asset] = reason
        self.blocked.add(asset)
        self.context.log.error(f"{asset}: {reason}")

    def skip(self, asset: str, because: list[str]) -> None:
        self.blocked.add(asset)
        self.context.log.warning(f"{asset}: skipped, upstream {', '.join(because)} failed")

    def on_spark(self, con, spark, names: list[str]) -> None:
        """Build on Spark: first copy from DuckDB what the step's models and gates read that this
        run did not write to Spark (the entity stage's tables, a model of an earlier run)."""
        from pipelines.models.on_engine import step_inputs
        from pipelines.quality.suites import referenced_relations

        self.spark = spark
        read = step_inputs(self.compiled, names)
        for gate in self.pending:
            for rule in gate.suite.rules:
                read += [tuple(r.split(".", 1)) for r in referenced_relations(rule, gate.suite.relation)]
        mine = {(self.compiled.models[n].model.schema, self.compiled.models[n].model.alias or n) for n in names}
        wanted = [r for r in dict.fromkeys(read) if r not in mine]
        copied = spark.stage_inputs(con, wanted, self.target_dir / "tmp" / "to_spark")
        if copied:
            self.context.log.info(f"copied to Spark from DuckDB: {', '.join(copied)}")

    def copy_back(self, con) -> None:
        """What the step built on Spark, copied into the DuckDB warehouse: the entity stage, the
        serving copy, ``kontor query`` and the reports read it there."""
        copied = self.spark.copy_back(con, self.built, self.target_dir / "tmp" / "from_spark")
        self.context.log.info(f"copied {len(copied)} model(s) from Spark into the DuckDB warehouse")

    def build(self, con, name: str, key: dg.AssetKey) -> Iterator:
        from pipelines.models.materialize import materialize_in

        asset = key.to_user_string()
        try:
            if self.spark is not None:
                built = self._build_on_spark(name)
            else:
                built = materialize_in(self.catalog, con, self.compiled, name, full_refresh=self.full_refresh)
        except Exception as exc:  # noqa: BLE001 - dbt build's rule: the rest goes on
            self.fail(asset, str(exc).strip() or type(exc).__name__)
            return
        metadata = {"materialization": built.kind, "compiled_sql": dg.MetadataValue.md(f"```sql\n{built.sql}\n```")}
        if built.rows is not None:       # views are not executed to count them
            metadata["dagster/row_count"] = dg.MetadataValue.int(built.rows)
        if built.detail:
            metadata["detail"] = built.detail
        lineage = _column_lineage(self.compiled, name, save=False)     # saved once, at the end of the step
        if lineage is not None:
            metadata["dagster/column_lineage"] = lineage
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        yield from self.unit_tests(con, asset, key)

    def _build_on_spark(self, name: str):
        from pipelines.models.materialize import Materialized
        from pipelines.models.on_engine import build_model

        cm = self.compiled.models[name]
        built = build_model(self.spark.engine(), self.compiled, name, full_refresh=self.full_refresh)
        schema, relation = cm.model.schema, cm.model.alias or cm.model.name
        self.spark.wrote(f"{schema}.{relation}")
        self.built.append((schema, relation))
        return Materialized(built.relation, built.kind, built.rows, "; ".join(filter(None, ["built on Spark", built.detail])),
                            built.sql)

    def unit_tests(self, con, asset: str, key: dg.AssetKey) -> Iterator[dg.AssetCheckResult]:
        from pipelines.core.warehouse import ensure_bookkeeping
        from pipelines.models.dbt_unit import run_unit_test

        tests = [t for t in self.units.get(asset, []) if dg.AssetCheckKey(key, t.name) in self.checks]
        if tests:
            ensure_bookkeeping(con)
        for t in tests:
            try:
                passed, detail = run_unit_test(con, self.compiled, t)
            except Exception as exc:  # noqa: BLE001 - reported as the test's failure
                passed, detail = False, f"could not run: {exc}"
            # Evidence beside the gates' (kontor.gate_results), as every check keeps it.
            con.execute("insert into kontor.gate_results values (?, now()::timestamp, ?, ?, 'error', ?, ?, null, null, ?)",
                        [self.context.run.run_id, asset, t.name, passed, detail[:500], f"dbt unit test {t.file}:{t.line}"])
            if not passed:
                self.blocked.add(asset)
                self.context.log.error(f"{asset}: unit test {t.name} failed: {detail}")
            yield dg.AssetCheckResult(asset_key=key, check_name=t.name, passed=passed,
                                      severity=dg.AssetCheckSeverity.ERROR, description=detail[:2000])

    def judge_ready(self, con, final: bool = False) -> Iterator[dg.AssetCheckResult]:
        """Every pending gate whose asset and the models it reads are done (``final``: all left)."""
        def finished(asset: str) -> bool:
            return asset in self.done or asset not in self.in_step

        waiting = []
        for gate in self.pending:
            if final or (finished(gate.suite.asset) and all(finished(a) for a in gate.waits_for)):
                yield from self.judge(con, gate)
            else:
                waiting.append(gate)
        self.pending = waiting

    def judge(self, con, gate: LayerGate) -> Iterator[dg.AssetCheckResult]:
        from assets.checks import _metadata
        from pipelines.quality.runner import run_suite

        asset = gate.suite.asset
        missing = sorted(a for a in {asset, *gate.waits_for} & self.blocked)
        if missing:      # not evaluated: what it reads was not built; its results stay missing
            self.blocked.add(asset)
            self.context.log.warning(f"{asset}: gate {gate.suite.file} not evaluated, {', '.join(missing)} not built")
            return
        engine = self.spark.engine() if self.spark is not None else None
        outcome = run_suite(con, gate.suite, run_id=self.context.run.run_id, row_key=list(gate.row_key) or None,
                            docs_target=self.target_dir, engine=engine)
        if engine is not None and gate.after:
            # dbt's store_failures reads the model where it was built; not written on Spark yet
            self.context.log.warning(f"{asset}: store_failures of {gate.suite.file} is not written on the Spark engine")
        for sql in gate.after if engine is None else ():
            con.execute(sql)
        key = _key(asset)
        for o in outcome.rules:
            if not o.success:
                (self.context.log.error if o.rule.blocking else self.context.log.warning)(
                    f"{asset}: {o.rule.name} failed ({o.rule.severity}): {o.summary}")
            yield dg.AssetCheckResult(asset_key=key, check_name=o.rule.name, passed=o.success,
                                      severity=dg.AssetCheckSeverity.ERROR if o.rule.blocking else dg.AssetCheckSeverity.WARN,
                                      description=o.summary, metadata=_metadata(o, outcome.docs_page))
        if outcome.failed_errors and gate.late:
            self.failures[asset] = "; ".join(f"check {o.rule.name!r} failed ({o.summary})" for o in outcome.failed_errors)
        elif outcome.failed_errors:
            self.blocked.add(asset)
