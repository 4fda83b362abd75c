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
from pipelines.quality.runner import RuleOutcome, run_suite, sample_markdown
from pipelines.models.compile import CompiledProject
from pipelines.quality.spec import Rule, Suite, expectations_dir, load_suites, referenced_relations
from pipelines.core.settings import Settings
from pipelines.core.errors import did_you_mean
from pipelines.quality.checking import create_schema


def asset_key(asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset.split("/"))


def _spec(suite: Suite, rule: Rule, known: set[dg.AssetKey], blocking: bool = True) -> dg.AssetCheckSpec:
    deps = [asset_key(r.replace(".", "/", 1)) for r in referenced_relations(rule, suite.relation)]
    deps += [asset_key(a) for a in rule.meta.get("deps", [])]      # a dbt test's ref()s
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


def build_gate_check(suite: Suite, known: set[dg.AssetKey], target_dir: Path,
                     row_key: Sequence[str] | None = None, name: str | None = None,
                     after=None, blocking: bool = True, spark: bool = False) -> dg.AssetChecksDefinition:
    """``after(con, outcome)`` runs once the suite is judged (dbt's store_failures). A suite that
    cannot block (``blocking=False``: it reads assets downstream of its own) fails its step
    instead when an error rule fails, so the run still fails as ``dbt build`` does. ``spark``
    (``[tool.kontor] engine = "spark"``): a relation this run wrote to Spark is judged there by
    GX's Spark engine (``pipelines/quality/spark_gate.py``), any other (the entity stage's) on DuckDB."""
    key = asset_key(suite.asset)
    specs = [_spec(suite, rule, known, blocking) for rule in suite.rules]
    row_key = list(row_key or [])

    def gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, spark=None) -> Iterable[dg.AssetCheckResult]:
        # on Spark, what this run wrote there (landed sources, models) is judged there
        engine = spark.engine() if spark is not None and spark.written(suite.relation) else None
        with warehouse.connection() as con:
            outcome = run_suite(con, suite, run_id=context.run.run_id, row_key=row_key, docs_target=target_dir,
                                engine=engine)
            if after is not None and engine is None:
                after(con, outcome)
        for o in outcome.rules:
            if not o.success:
                log = context.log.error if o.rule.blocking else context.log.warning
                log(f"{suite.asset}: {o.rule.name} failed ({o.rule.severity}): {o.summary}")
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
            yield from gate(context, warehouse, spark)
        return check(_gate_on_spark)

    def _gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterable[dg.AssetCheckResult]:
        yield from gate(context, warehouse)
    return check(_gate)


def layer_models(compiled: CompiledProject) -> set[str]:
    """The assets (``schema/name``) of the model layer when it runs in one step, else none."""
    if not compiled.project.one_step:
        return set()
    return {f"{cm.model.schema}/{n}" for n, cm in compiled.models.items() if cm.materialized != "ephemeral"}


def layer_gates(settings: Settings, compiled: CompiledProject, loaded: tuple[list, list] | None = None) -> tuple[list, list]:
    """(the gates the one-step model layer runs inside its step, its unit tests): ``expectations/*.yml``
    and dbt's data tests on models, healthy files only (``build_gates`` reports the problems).
    ``loaded``: ``load_suites``' result, read once for both."""
    from pipelines.models.stage import LayerGate
    from pipelines.models.dbt_tests import collect_tests, late_tests, store_failures_sql, test_suites
    from pipelines.models.dbt_unit import collect_unit_tests

    models = layer_models(compiled)
    if not models:
        return [], []
    suites, problems = loaded or load_suites(expectations_dir(settings.project_dir), settings.relative)
    broken = {p.file for p in problems}
    row_keys = {f"{cm.model.schema}/{cm.model.name}": tuple(cm.unique_key) for cm in compiled.models.values() if cm.unique_key}

    def waits_for(suite: Suite) -> frozenset:
        read = {r.replace(".", "/", 1) for rule in suite.rules for r in referenced_relations(rule, suite.relation)}
        read |= {a for rule in suite.rules for a in rule.meta.get("deps", [])}
        return frozenset(read & models - {suite.asset})

    gates = [LayerGate(s, row_keys.get(s.asset, ()), waits_for=waits_for(s))
             for s in suites if s.file not in broken and s.asset in models]
    tests, problems = collect_tests(compiled, settings.relative)
    tests = [] if problems else [t for t in tests if t.asset in models]
    late = late_tests(compiled, tests)
    target_schema = (compiled.project.target or {}).get("schema", "main")
    for group, is_late in ([t for t in tests if t.name not in late], False), ([t for t in tests if t.name in late], True):
        for s in test_suites(group):
            after = []
            for t in group:
                if t.asset == s.asset and t.store_failures:
                    schema, sql = store_failures_sql(t, target_schema)
                    after += [create_schema(schema), sql]
            gates.append(LayerGate(s, row_keys.get(s.asset, ()), tuple(after), waits_for(s), late=is_late))
    unit, problems = collect_unit_tests(compiled)
    return gates, [] if problems else [t for t in unit if t.asset in models]


def build_gates(settings: Settings, compiled: CompiledProject, assets: Sequence[dg.AssetsDefinition],
                problems_out: list | None = None, loaded: tuple[list, list] | None = None,
                spark: bool = False) -> list[dg.AssetChecksDefinition]:
    """The project's gates: ``expectations/*.yml``; a model's rows are keyed by its unique_key.
    Raises on problems, unless ``problems_out`` collects them (the broken files' gates left out).
    The gates of models the one-step layer runs itself are left out (``layer_gates``)."""
    row_keys = {f"{cm.model.schema}/{cm.model.name}": cm.unique_key for cm in compiled.models.values() if cm.unique_key}
    in_layer = layer_models(compiled)
    suites, problems = loaded or load_suites(expectations_dir(settings.project_dir), settings.relative)
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
    return [build_gate_check(s, known, target_dir, (row_keys or {}).get(s.asset), spark=spark) for s in suites]


def build_dbt_test_checks(settings: Settings, compiled: CompiledProject, assets: Sequence[dg.AssetsDefinition],
                          row_keys: Mapping[str, Sequence[str]]) -> list[dg.AssetChecksDefinition]:
    """dbt's data_tests/tests and singular tests: one more gate per tested asset (pipelines/models/dbt_tests.py)."""
    from pipelines.models.dbt_tests import collect_tests, late_tests, store_failures_sql, test_suites

    tests, problems = collect_tests(compiled, settings.relative)
    if problems:
        raise ProjectError(problems)
    known = {k for a in assets for k in a.keys}
    target_schema = (compiled.project.target or {}).get("schema", "main")

    def storing(suite_tests):
        def after(con, outcome):
            for test in suite_tests:
                schema, sql = store_failures_sql(test, target_schema)
                con.execute(create_schema(schema))
                con.execute(sql)
        return after if suite_tests else None

    in_layer = layer_models(compiled)     # tests of models run inside the model layer's step (assets/model_layer.py)
    tests = [t for t in tests if t.asset not in in_layer]
    late = late_tests(compiled, tests)   # they read a model downstream of their own: dbt runs them last
    checks = []
    for group, blocking in ((t for t in tests if t.name not in late), True), ((t for t in tests if t.name in late), False):
        group = list(group)
        for s in test_suites(group):
            checks.append(build_gate_check(
                s, known, settings.target_dir, row_keys.get(s.asset),
                name=f"dbt_tests__{s.schema}__{s.table}" + ("" if blocking else "__late"), blocking=blocking,
                after=storing([t for t in group if t.asset == s.asset and t.store_failures])))
    from assets.models import build_unit_test_checks   # dbt's unit_tests: comparisons, not failing rows

    return checks + build_unit_test_checks(compiled, skip=in_layer)
