"""The quality stage's entry point: which gates a project has, and judging one.

:func:`load` reads ``expectations/*.yml`` (``spec``); a :class:`Gate` is one suite on its asset
with what judging it needs: the asset's row key (:func:`row_keys`, a model's ``unique_key``), the
statements after it (dbt's ``store_failures``, :func:`store_failures`), the assets its rules read
(:func:`reads`) and whether it reads an asset downstream of its own (``late``). :func:`dbt_test_gates`
are dbt's data tests as gates; :func:`layer_gates` every gate the one-step model layer
(:func:`layer_models`) runs in its own step; :func:`judge` runs a gate (``runner.run_suite``,
evidence into ``kontor.gate_results``), its statements after it, and logs what failed. The
Dagster checks (``assets/checks.py``), the model layer (``pipelines/models/stage.py``) and the
tests call these.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.core.errors import Problem
from pipelines.quality.spec import Rule, Suite, expectations_dir, load_suites, referenced_relations

if TYPE_CHECKING:
    from pipelines.core.settings import Settings
    from pipelines.engines.connection import Connection
    from pipelines.models.compile import CompiledProject
    from pipelines.quality.runner import SuiteOutcome

LOG = logging.getLogger("kontor.quality")


@dataclass(frozen=True)
class Gate:
    """The rules of one suite on an asset, and how a step runs them."""

    suite: Suite
    row_key: tuple[str, ...] = ()
    after: tuple[str, ...] = ()          # statements after the suite (dbt's store_failures)
    waits_for: frozenset = frozenset()   # other models of the layer (asset strings) the rules read
    late: bool = False                   # reads a model downstream of its own: blocks nothing, fails the step
    before: tuple[str, ...] = ()         # statements before the suite (the view over a source read in place)


def load(settings: Settings) -> tuple[list[Suite], list[Problem]]:
    """The project's suites (``expectations/*.yml``) and the problems of its files."""
    return load_suites(expectations_dir(settings.project_dir), settings.relative)


def row_keys(compiled: CompiledProject) -> dict[str, tuple[str, ...]]:
    """asset (``schema/name``) -> its row key: a model's ``unique_key``."""
    return {f"{cm.model.schema}/{cm.model.name}": tuple(cm.unique_key)
            for cm in compiled.models.values() if cm.unique_key}


def reads(suite: Suite, rules: Iterable[Rule] | None = None) -> list[str]:
    """The assets (``schema/name``) the rules (default: all of the suite's) read besides their
    own relation: the relations their queries name, then a dbt test's ``ref()``s; in order, once each."""
    found = []
    for rule in suite.rules if rules is None else rules:
        found += [r.replace(".", "/", 1) for r in referenced_relations(rule, suite.relation)]
        found += list(rule.meta.get("deps", []))
    return list(dict.fromkeys(found))


def store_failures(tests: Sequence, target_schema: str) -> tuple[str, ...]:
    """The statements writing dbt tests' failing rows where dbt writes them (its ``store_failures``)."""
    from pipelines.models.dbt_tests import store_failures_sql
    from pipelines.quality.checking import create_schema

    out: list[str] = []
    for test in tests:
        schema, sql = store_failures_sql(test, target_schema)
        out += [create_schema(schema), sql]
    return tuple(out)


def dbt_test_gates(compiled: CompiledProject, display: Callable = str, keep: Callable[[str], bool] = lambda asset: True,
                   keys: Mapping[str, Sequence[str]] | None = None) -> tuple[list[Gate], list[Problem]]:
    """dbt's data_tests/tests and singular tests on the assets ``keep`` keeps, as gates: one per
    tested asset, those that read a model downstream of their own apart (``late``: dbt runs them
    last); none when a test has problems (``pipelines/models/dbt_tests.py``)."""
    from pipelines.models.dbt_tests import collect_tests, in_place_views, late_tests, test_suites

    tests, problems = collect_tests(compiled, display)
    if problems:
        return [], problems
    tests = [t for t in tests if keep(t.asset)]
    late = late_tests(compiled, tests)
    target_schema = (compiled.project.target or {}).get("schema", "main")
    gates = []
    views = in_place_views(compiled)
    for is_late in (False, True):
        group = [t for t in tests if (t.name in late) == is_late]
        for s in test_suites(group):
            after = store_failures([t for t in group if t.asset == s.asset and t.store_failures], target_schema)
            before, drop = views.get(s.relation, (None, None))
            gates.append(Gate(s, tuple((keys or {}).get(s.asset, ())), after + ((drop,) if drop else ()),
                              late=is_late, before=(before,) if before else ()))
    return gates, []


def layer_models(compiled: CompiledProject) -> set[str]:
    """The assets (``schema/name``) of the model layer when it runs in one step, else none."""
    if not compiled.project.one_step:
        return set()
    return {f"{cm.model.schema}/{n}" for n, cm in compiled.models.items() if cm.materialized != "ephemeral"}


def layer_sources(compiled: CompiledProject) -> set[str]:
    """The external sources (``schema/name``: a dbt source no seed or model builds) whose tests the
    one-step model layer judges before the models reading them, else none."""
    from pipelines.models.stage import external_sources

    return set(external_sources(compiled)) if compiled.project.one_step else set()


def layer_gates(settings: Settings, compiled: CompiledProject, loaded: tuple[list, list] | None = None) -> tuple[list, list]:
    """(the gates the one-step model layer runs inside its step, its unit tests): ``expectations/*.yml``
    and dbt's data tests on models and on the sources nothing here builds, healthy files only (the Dagster layer reports the problems).
    ``loaded``: :func:`load`'s result, read once for both."""
    from dataclasses import replace

    from pipelines.models.dbt_unit import collect_unit_tests

    models = layer_models(compiled)
    if not models:
        return [], []
    suites, problems = loaded or load(settings)
    broken = {p.file for p in problems}
    keys = row_keys(compiled)

    def waits_for(suite: Suite) -> frozenset:
        return frozenset(set(reads(suite)) & models - {suite.asset})

    gates = [Gate(s, keys.get(s.asset, ()), waits_for=waits_for(s))
             for s in suites if s.file not in broken and s.asset in models]
    sources = layer_sources(compiled)
    tested, _ = dbt_test_gates(compiled, settings.relative, lambda asset: asset in models or asset in sources, keys)
    gates += [replace(g, waits_for=waits_for(g.suite)) for g in tested]
    unit, problems = collect_unit_tests(compiled)
    return gates, [] if problems else [t for t in unit if t.asset in models]


def judge(con: Connection, gate: Gate, *, run_id: str, docs_target: Path | None, engine=None,
          log=LOG, no_key: list | None = None) -> SuiteOutcome:
    """Run ``gate``'s suite on its relation (on Spark given a Spark ``engine``), then its
    statements after it (on DuckDB only), and log each failed rule. ``no_key``: what the suite is
    run with when the gate has no row key (it is part of the reuse fingerprint; the model layer
    has always passed None, a check ``[]``)."""
    from pipelines.quality.runner import run_suite

    asset = gate.suite.asset
    for sql in gate.before:
        (con if engine is None else engine).execute(sql)
    outcome = run_suite(con, gate.suite, run_id=run_id, row_key=list(gate.row_key) or no_key,
                        docs_target=docs_target, engine=engine)
    if engine is not None and gate.after:
        # dbt's store_failures reads the model where it was built; not written on Spark yet
        log.warning(f"{asset}: store_failures of {gate.suite.file} is not written on the Spark engine")
    for sql in gate.after if engine is None else ():
        con.execute(sql)
    for o in outcome.rules:
        if not o.success:
            (log.error if o.rule.blocking else log.warning)(
                f"{asset}: {o.rule.name} failed ({o.rule.severity}): {o.summary}")
    return outcome
