"""Quality gates as Dagster asset checks: one multi-asset check per ``expectations/<asset>.yml``.

Every rule is its own check (name = the rule's name), evaluated together in one step so the
table is scanned once. ``error`` rules are blocking: when one fails, the step fails and the
assets downstream of the gated asset (reports above all) do not materialise. ``warn`` rules
report with WARN severity and block nothing, but downstream assets still wait for them, so a
report's trust banner counts every gate of the data it reads. A rule whose ``unexpected_rows_query`` reads other
assets depends on them too, so it runs after they are built.

Check metadata: observed value, unexpected and element counts, the first failing rows (their
key and the rule's columns, Markdown) and the path of the GX Data Docs page of the run.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of check functions at definition time and needs real types, not strings.
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import dagster as dg

from assets.resources import WarehouseResource
from pipelines.core.errors import Problem, ProjectError
from pipelines.quality import stage
from pipelines.quality.runner import RuleOutcome, sample_markdown
from pipelines.models.compile import CompiledProject
from pipelines.quality.spec import Rule, Suite
from pipelines.quality.stage import Gate, layer_models
from pipelines.core.settings import Settings
from pipelines.core.errors import did_you_mean


def asset_key(asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset.split("/"))


def _spec(suite: Suite, rule: Rule, known: set[dg.AssetKey], blocking: bool = True) -> dg.AssetCheckSpec:
    deps = [asset_key(a) for a in stage.reads(suite, [rule])]     # a query's relations, a dbt test's ref()s
    return dg.AssetCheckSpec(
        # Every gate is "blocking" in Dagster's sense, so assets downstream (reports above all) run
        # only after all of their upstream gates have been evaluated and see every result; only a
        # failure with ERROR severity (an error rule) stops them, a WARN one does not.
        name=rule.name, asset=asset_key(suite.asset), blocking=blocking,
        description=rule.description or f"{rule.type} ({rule.severity})",
        additional_deps=[d for d in dict.fromkeys(deps) if d in known],
        metadata={"severity": rule.severity, "expectation_type": rule.type, "declared_in": f"{rule.file}:{rule.line}"},
    )


def _metadata(o: RuleOutcome, docs_page: Path | None) -> dict:
    meta = {
        "severity": o.rule.severity,
        "expectation_type": o.rule.type,
        "observed_value": o.observed,
        "unexpected_count": o.unexpected_count,
        "element_count": o.element_count,
        "unexpected_percent": o.unexpected_percent,
        "quarantined_rows": o.quarantined or None,
        "failing_rows": dg.MetadataValue.md(sample_markdown(o)) if o.sample else None,
        "exception": o.exception,
        "data_docs": dg.MetadataValue.path(str(docs_page)) if docs_page else None,
        "declared_in": f"{o.rule.file}:{o.rule.line}",
    }
    return {k: v for k, v in meta.items() if v is not None}


def build_gate_check(gate: Gate, known: set[dg.AssetKey], target_dir: Path, name: str | None = None,
                     blocking: bool = True, spark: bool = False) -> dg.AssetChecksDefinition:
    """The check of one ``quality.stage.Gate``, judged by ``quality.stage.judge`` (its ``after``
    statements: dbt's store_failures). A gate that cannot block (``blocking=False``: it reads
    assets downstream of its own) fails its step instead when an error rule fails, so the run
    still fails as ``dbt build`` does. ``spark`` (``[tool.kontor] engine = "spark"``): a relation
    this run wrote to Spark is judged there by GX's Spark engine (``pipelines/quality/spark_gate.py``),
    any other (the entity stage's) on DuckDB."""
    suite = gate.suite
    key = asset_key(suite.asset)
    specs = [_spec(suite, rule, known, blocking) for rule in suite.rules]

    def run(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, spark=None) -> Iterable[dg.AssetCheckResult]:
        # on Spark, what this run wrote there (landed sources, models) is judged there
        engine = spark.engine() if spark is not None and spark.written(suite.relation) else None
        with warehouse.connection() as con:
            outcome = stage.judge(con, gate, run_id=context.run.run_id, docs_target=target_dir, engine=engine,
                                  log=context.log, no_key=[])
        for o in outcome.rules:
            yield dg.AssetCheckResult(
                asset_key=key, check_name=o.rule.name, passed=o.success,
                severity=dg.AssetCheckSeverity.ERROR if o.rule.blocking else dg.AssetCheckSeverity.WARN,
                description=o.summary, metadata=_metadata(o, outcome.docs_page))
        if not blocking and outcome.failed_errors:
            raise dg.Failure(f"{suite.asset}: " + "; ".join(f"{o.rule.name} failed: {o.summary}" for o in outcome.failed_errors))

    check = dg.multi_asset_check(specs=specs, name=name or f"gate__{suite.schema}__{suite.table}",
                                 description=suite.description or f"Quality gate of {suite.asset} ({suite.file}).")
    if spark:
        from assets.spark import SparkResource

        def _gate_on_spark(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                           spark: SparkResource) -> Iterable[dg.AssetCheckResult]:
            yield from run(context, warehouse, spark)
        return check(_gate_on_spark)

    def _gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterable[dg.AssetCheckResult]:
        yield from run(context, warehouse)
    return check(_gate)


def build_gates(settings: Settings, compiled: CompiledProject, assets: Sequence[dg.AssetsDefinition],
                problems_out: list | None = None, loaded: tuple[list, list] | None = None,
                spark: bool = False) -> list[dg.AssetChecksDefinition]:
    """The project's gates: ``expectations/*.yml``; a model's rows are keyed by its unique_key.
    Raises on problems, unless ``problems_out`` collects them (the broken files' gates left out).
    The gates of models the one-step layer runs itself are left out (``quality.stage.layer_gates``)."""
    row_keys = stage.row_keys(compiled)
    in_layer = layer_models(compiled)
    suites, problems = loaded or stage.load(settings)
    if problems_out is None:
        if problems:
            raise ProjectError(problems)
        return build_gate_checks([s for s in suites if s.asset not in in_layer], assets, settings.target_dir, row_keys,
                                 spark) + \
            build_dbt_test_checks(settings, compiled, assets, row_keys)
    try:
        dbt_tests = build_dbt_test_checks(settings, compiled, assets, row_keys)
    except ProjectError as exc:      # a broken dbt test leaves the other gates loadable
        dbt_tests = []
        problems_out.extend(exc.problems)
    problems = list(problems)
    known = {k for a in assets for k in a.keys}
    broken = {p.file for p in problems}
    healthy = [s for s in suites if s.file not in broken and asset_key(s.asset) in known]
    try:
        build_gate_checks([s for s in suites if s.file not in broken and s not in healthy], assets, settings.target_dir)
    except ProjectError as exc:
        problems += exc.problems
    problems_out.extend(problems)
    return build_gate_checks([s for s in healthy if s.asset not in in_layer], assets, settings.target_dir, row_keys,
                             spark) + dbt_tests


def build_gate_checks(suites: Sequence[Suite], assets: Sequence[dg.AssetsDefinition], target_dir: Path,
                      row_keys: Mapping[str, Sequence[str]] | None = None,
                      spark: bool = False) -> list[dg.AssetChecksDefinition]:
    """One check definition per suite; a suite for an asset that does not exist is a project error."""
    known = {k for a in assets for k in a.keys}
    names = {k.to_user_string() for k in known}
    problems = [Problem(s.file, None, f"no asset {s.asset!r} to gate; fix: name the file <schema>.<name>.yml "
                                      f"after an existing asset{did_you_mean(s.asset, names)}")
                for s in suites if asset_key(s.asset) not in known]
    if problems:
        raise ProjectError(problems)
    return [build_gate_check(Gate(s, tuple((row_keys or {}).get(s.asset) or ())), known, target_dir, spark=spark)
            for s in suites]


def build_dbt_test_checks(settings: Settings, compiled: CompiledProject, assets: Sequence[dg.AssetsDefinition],
                          row_keys: Mapping[str, Sequence[str]]) -> list[dg.AssetChecksDefinition]:
    """dbt's data_tests/tests and singular tests: one more gate per tested asset (``quality.stage.dbt_test_gates``)."""
    # tests of models, and of the sources nothing builds, run inside the model layer's step (assets/model_layer.py)
    in_layer = layer_models(compiled) | stage.layer_sources(compiled)
    gates, problems = stage.dbt_test_gates(compiled, settings.relative, lambda asset: asset not in in_layer, row_keys)
    if problems:
        raise ProjectError(problems)
    # a test reading a dbt source nothing materialises (relationships to a source) does not wait
    # for that source's checks: dbt build blocks no test with a failed test
    known = {k for a in assets if a.is_executable for k in a.keys}
    checks = [build_gate_check(g, known, settings.target_dir,
                               name=f"dbt_tests__{g.suite.schema}__{g.suite.table}" + ("__late" if g.late else ""),
                               blocking=not g.late)
              for g in gates]
    from assets.models import build_unit_test_checks   # dbt's unit_tests: comparisons, not failing rows

    return checks + build_unit_test_checks(compiled, skip=in_layer)
