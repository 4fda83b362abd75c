"""The models stage's entry point: build the SQL models and seeds on the warehouse, dbt build's way.

:func:`build` one model, :func:`seed`, a model's :func:`lineage` (cached in ``target/``),
dbt's :func:`unit_tests` (evidence in ``kontor.gate_results``). A :class:`Layer` is every model of
one step (``assets/model_layer.py``, the default): built in dependency order on one connection,
each model after its unit tests, then its gates (``expectations/*.yml``, dbt's data tests, through
``quality.stage.judge``) judged as soon as it and the models they read are built. dbt build's
rules: a model that fails stops only the models downstream of it, the rest go on; a failed unit
test leaves its model unbuilt (and what is below it); a failed error test (gate rule) stops the
models downstream of every model it reads (a ``relationships`` test, or a singular test reading
two models, stops no model below just one of them). A test that reads a model downstream of its
own (dbt runs it last) blocks nothing; when it fails, the run fails. A run yields events
(:class:`Built`, :class:`UnitTested`, :class:`Judged`) and ends with its ``failures``. The assets
and ``benchmarks/models_vs_dbt.py`` call these.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.core.templates import template
from pipelines.engines.connection import Connection, EngineError
from pipelines.models.compile import CompiledModel, CompiledProject
from pipelines.models.materialize import Catalog, Materialized, build_seed, materialize
from pipelines.quality.stage import Gate, judge as judge_gate

if TYPE_CHECKING:
    from pipelines.core.errors import Problem
    from pipelines.models.lineage import ColumnRef

LOG = logging.getLogger("kontor.models")


def build(con: Connection, compiled: CompiledProject, name: str, full_refresh: bool = False,
          catalog: Catalog | None = None) -> Materialized:
    """Build model ``name``; ``catalog``: the warehouse's relations, read once and kept up to date
    by a run of many models on one connection (read again after a model with hooks: they may run any SQL)."""
    hooked = catalog is not None and any(compiled.models[name].config.get(h) for h in ("pre_hook", "post_hook"))
    try:
        return materialize(con, compiled, name, full_refresh, None if hooked else catalog)
    finally:
        if hooked:
            catalog.refresh(con)


def seed(con: Connection, seed) -> int:
    """Load a seed (``project.Seed``) as a table; its rows."""
    return build_seed(con, seed)


def lineage(compiled: CompiledProject, name: str, save: bool = True) -> dict[str, list[ColumnRef]]:
    """A model's column lineage, from the lineage cache (kept in target/ while the files do not
    change); ``save``: write a newly computed entry at once (a layer saves at its end)."""
    found = compiled.lineage.get(name)
    if save:
        compiled.lineage.save()
    return found


def dependencies(cm: CompiledModel, compiled: CompiledProject) -> list[tuple[str, ...]]:
    """The relations (``(schema, name)``: the assets) a model reads."""
    keys = []
    for ref in cm.refs:
        target = compiled.models.get(ref)
        if target is not None and target.materialized == "ephemeral":
            keys += dependencies(target, compiled)        # an ephemeral model is no asset: its inputs are
        elif target is not None:
            keys.append((target.model.schema, ref))
        elif ref in compiled.project.externals:       # e.g. entities.customer_xref
            keys.append(tuple(compiled.project.externals[ref][0].split(".")))
        else:
            found = compiled.project.seeds.get(ref)
            keys.append((found.schema if found else "seeds", ref))
    return list(dict.fromkeys(keys + _sources(cm, compiled)))


def _sources(cm: CompiledModel, compiled: CompiledProject) -> list[tuple[str, ...]]:
    """Kontor sources are ingested assets (``raw/<system>__<table>``); a dbt source is an existing
    relation, which depends on the seed or model that builds it if the project has one."""
    project = compiled.project
    if project.dbt is None:
        return [("raw", f"{system}__{table}") for system, table in cm.sources]
    builders = {s.relation: (s.schema, s.name) for s in project.seeds.values()}
    builders |= {c.model.relation: (c.model.schema, c.model.name) for c in compiled.models.values()}
    external = {relation: tuple(asset.split("/")) for asset, (relation, _) in external_sources(compiled).items()}
    found = (project.dbt_sources.get(src) for src in cm.sources)
    return [builders.get(r) or external[r] for r in found if r in builders or r in external]


def external_sources(compiled: CompiledProject) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """A dbt project's sources that no seed or model of it builds (an EL tool or a loader script
    fills them), each a plain ``schema.identifier`` table: asset (``schema/identifier``, as a
    model's) -> (relation, the (source, table) names declaring it). The model layer gives each an
    external asset, which the models reading it depend on and its source tests gate
    (an ``external_location`` source, files read in place, only when it has tests: they are gated
    on a temporary view over the files, ``dbt_tests.in_place_views``)."""
    import sqlglot
    from sqlglot import exp

    from pipelines.models.render import Relation

    project = compiled.project
    if project.dbt is None:
        return {}
    built = {s.relation for s in project.seeds.values()} | {c.model.relation for c in compiled.models.values()}
    owned = {f"{s.schema}/{s.name}" for s in project.seeds.values()}
    owned |= {f"{c.model.schema}/{n}" for n, c in compiled.models.items()}
    out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    tested = {(src, table) for src, table, _ in project.source_tests}
    for name, relation in project.dbt_sources.items():
        if hasattr(relation, "relation"):
            # read in place (dbt-duckdb's external_location): an asset of its own when tested, so
            # its tests are judged before the models reading it, as dbt build runs them
            schema, _, identifier = relation.relation.rpartition(".")
            if name in tested and f"{schema}/{identifier}" not in owned:
                out.setdefault(f"{schema}/{identifier}", (relation, []))[1].append(name)
            continue
        if relation in built or str(Relation.parse(relation)) in built:
            continue
        try:
            table = sqlglot.parse_one(relation, into=exp.Table, read="duckdb")
        except sqlglot.errors.ParseError:
            continue
        if not isinstance(table.this, exp.Identifier) or not table.db or table.catalog:
            continue
        asset = f"{table.db}/{table.name}"
        if asset not in owned:
            out.setdefault(asset, (relation, []))[1].append(name)
    return out


def unit_tests(con: Connection, compiled: CompiledProject, tests: Sequence, run_id: str,
               log=LOG) -> Iterator[tuple]:
    """dbt's unit tests (``dbt_unit.UnitTest``): (test, passed, detail) each, its evidence kept
    beside the gates' (``kontor.gate_results``), as every check keeps it."""
    from pipelines.core.warehouse import ensure_bookkeeping
    from pipelines.models.dbt_unit import run_unit_test

    if tests:
        ensure_bookkeeping(con)
    for t in tests:
        try:
            passed, detail = run_unit_test(con, compiled, t)
        except Exception as exc:  # noqa: BLE001 - reported as the test's failure
            passed, detail = False, f"could not run: {exc}"
        con.execute(template(__file__, "unit_test_result"),
                    [run_id, t.asset, t.name, passed, detail[:500], f"dbt unit test {t.file}:{t.line}"])
        if not passed:
            log.error(f"{t.asset}: unit test {t.name} failed: {detail}")
        yield t, passed, detail


@dataclass
class Built:
    asset: str
    built: Materialized
    lineage: dict | None


@dataclass
class UnitTested:
    asset: str
    test: object
    passed: bool
    detail: str


@dataclass
class Judged:
    gate: Gate
    outcome: object                      # quality.runner.SuiteOutcome


@dataclass
class Layer:
    """Every model of one step (``broken`` ones, of ``kontor dev`` with a broken file, keep their
    place and fail with their problems), with the gates and unit tests the step runs."""

    compiled: CompiledProject
    gates: Sequence[Gate]
    unit_tests: Sequence
    target_dir: Path
    broken: Mapping[str, list[Problem]] = field(default_factory=dict)

    def __post_init__(self):
        names = [n for n in self.compiled.order if self.compiled.models[n].materialized != "ephemeral"]
        self.models = [*self.broken, *names]
        self.assets = {n: f"{self.compiled.project.models[n].schema}/{n}" if n in self.broken
                       else f"{self.compiled.models[n].model.schema}/{n}" for n in self.models}
        in_layer = set(self.assets.values())
        self.parents: dict[str, set[str]] = {}
        self.upstream: dict[str, set[str]] = {}   # every asset above a model, in the layer or not (seeds)
        by_asset = {a: n for n, a in self.assets.items()}
        for n in names:         # in dependency order: a parent's upstream is known before its children's
            direct = {"/".join(d) for d in dependencies(self.compiled.models[n], self.compiled)}
            self.parents[n] = direct & in_layer
            self.upstream[n] = direct.union(*(self.upstream.get(by_asset[a], ()) for a in self.parents[n]))
        # the dbt sources nothing here builds (asset -> relation): their tests are judged in the step
        self.sources = {asset: relation for asset, (relation, _) in external_sources(self.compiled).items()}
        self.units: dict[str, list] = {}
        for t in self.unit_tests:
            self.units.setdefault(t.asset, []).append(t)


class LayerRun:
    """One execution of the layer: of ``selected`` assets and ``checks`` ((asset, check name)), on
    DuckDB or, given ``spark`` (``assets/spark.py``'s ``SparkResource``), on Spark; what it has
    built, blocked and failed."""

    def __init__(self, layer: Layer, run_id: str, selected: set[str], checks: set[tuple[str, str]],
                 full_refresh: bool = False, log=LOG, spark=None):
        self.layer, self.compiled, self.target_dir = layer, layer.compiled, layer.target_dir
        self.run_id, self.selected, self.checks, self.full_refresh, self.log = run_id, selected, checks, full_refresh, log
        self.spark = spark                  # the SparkResource when the models run on Spark
        self.done: set[str] = set()         # models processed by this step: built, failed or skipped
        self.blocked: set[str] = set()      # ... and those that stop their downstream models
        self.failed_tests: list[frozenset[str]] = []   # the assets each failed error test reads
        self.failures: dict[str, str] = {}
        self.built: list[tuple[str, str]] = []
        self.pending: list[Gate] = []
        for gate in layer.gates:   # only the rules of this step: a split of the layer (a cycle through entities) runs the rest
            rules = tuple(r for r in gate.suite.rules if (gate.suite.asset, r.name) in checks)
            if rules:
                self.pending.append(replace(gate, suite=replace(gate.suite, rules=rules)))

    def events(self, con: Connection) -> Iterator[Built | UnitTested | Judged]:
        layer = self.layer
        self.catalog = Catalog(con)        # read once: this step is the warehouse's one writer
        if self.spark is not None:
            self.on_spark(con, [n for n in layer.models if n not in layer.broken and layer.assets[n] in self.selected])
        self.run_hooks(con, "on-run-start")
        yield from self.judge_ready(con)   # dbt build's order: the tests of sources before the models reading them
        for name in layer.models:
            asset = layer.assets[name]
            if asset not in self.selected:
                continue
            if name in layer.broken:
                self.fail(asset, f"model {self.compiled.project.models[name].rel_path} cannot be built: "
                                 + "; ".join(str(p) for p in layer.broken[name]))
            elif layer.parents[name] & self.blocked:
                self.skip(asset, sorted(layer.parents[name] & self.blocked))
            elif tested := [t for t in self.failed_tests if t <= layer.upstream.get(name, set())]:
                self.skip(asset, sorted(set().union(*tested)), "failed a test reading them all")
            else:
                yield from self.build(con, name, asset)
            self.done.add(asset)
            yield from self.judge_ready(con)
        yield from self.judge_ready(con, final=True)
        self.run_hooks(con, "on-run-end")
        if self.spark is not None:
            copied = self.spark.copy_back(con, self.built, self.target_dir / "tmp" / "from_spark")
            self.log.info(f"copied {len(copied)} model(s) from Spark into the DuckDB warehouse")
        self.compiled.lineage.save()

    def run_hooks(self, con, key: str) -> None:
        """dbt_project.yml's ``on-run-start``/``on-run-end``, rendered with the warehouse (on-run-end
        also sees ``schemas`` and ``database_schemas``: those of the models built) and run on it;
        a failing one fails the step, naming its line."""
        import json

        from pipelines.core.errors import KontorError

        hooks = self.compiled.project.run_hooks.get(key, [])
        if not hooks:
            return
        project, renderer = self.compiled.project, self.compiled.renderer
        schemas = sorted({self.compiled.models[n].model.schema for n in self.layer.models
                          if n in self.compiled.models and self.layer.assets[n] in self.built_assets()})
        database = str((project.target or {}).get("database") or "")
        prefix = "" if key == "on-run-start" else \
            "{% set schemas = " + json.dumps(schemas) + " %}{% set database_schemas = " + \
            json.dumps([[database, s] for s in schemas]) + " %}"
        file = project.dbt.file if project.dbt is not None else "dbt_project.yml"
        for text, line in hooks:
            renderer.con = con
            try:
                rendered = renderer.render(prefix + text, file, "")
            finally:
                renderer.con = None
            try:
                if rendered.problems:
                    raise KontorError("; ".join(p.message for p in rendered.problems))
                if rendered.sql.strip():
                    con.execute(rendered.sql)
            except (KontorError, EngineError) as exc:
                raise KontorError(f"{file}:{line}: {key} failed: {exc}") from exc
            self.log.info(f"{key} ({file}:{line}) ran")

    def built_assets(self) -> set[str]:
        return set(self.done) - self.blocked

    def fail(self, asset: str, reason: str) -> None:
        self.failures[asset] = reason
        self.blocked.add(asset)
        self.log.error(f"{asset}: {reason}")

    def skip(self, asset: str, because: list[str], what: str = "failed") -> None:
        self.blocked.add(asset)
        self.log.warning(f"{asset}: skipped, upstream {', '.join(because)} {what}")

    def on_spark(self, con, names: list[str]) -> None:
        """Build on Spark: first copy from DuckDB what the step's models and gates read that this
        run did not write to Spark (the entity stage's tables, a model of an earlier run)."""
        from pipelines.models.on_engine import step_inputs
        from pipelines.quality.spec import referenced_relations

        read = step_inputs(self.compiled, names)
        external = {relation: asset for asset, (relation, _) in external_sources(self.compiled).items()}
        for gate in self.pending:
            if gate.suite.relation in external:     # a source's tests: its table, as the models read it
                read.append(tuple(external[gate.suite.relation].split("/", 1)))
            for rule in gate.suite.rules:
                read += [tuple(r.split(".", 1)) for r in referenced_relations(rule, gate.suite.relation)]
        mine = {(self.compiled.models[n].model.schema, self.compiled.models[n].model.alias or n) for n in names}
        copied = self.spark.stage_inputs(con, [r for r in dict.fromkeys(read) if r not in mine],
                                         self.target_dir / "tmp" / "to_spark")
        if copied:
            self.log.info(f"copied to Spark from DuckDB: {', '.join(copied)}")

    def build(self, con, name: str, asset: str) -> Iterator[Built | UnitTested]:
        # dbt build's order: a model's unit tests run before it is built, and a failed one leaves
        # it unbuilt (and what is below it). One whose input is ``this`` while the model is not in
        # the warehouse yet runs after the build, on its columns (dbt refuses it: "Not able to get
        # columns for unit test ... because the relation doesn't exist").
        tests = [t for t in self.layer.units.get(asset, []) if (asset, t.name) in self.checks]
        model = self.compiled.models[name].model
        exists = (model.schema, model.alias or model.name) in self.catalog.relations
        after = [t for t in tests if not exists and any(g.this for g in t.given)]
        if self.spark is not None:
            self._copy_given_back(con, [t for t in tests if t not in after])
        failed = False
        for test, passed, detail in unit_tests(con, self.compiled, [t for t in tests if t not in after],
                                               self.run_id, self.log):
            failed = failed or not passed
            yield UnitTested(asset, test, passed, detail)
        if failed:
            self.blocked.add(asset)
            self.log.warning(f"{asset}: not built, a unit test of it failed")
            return
        try:
            if self.spark is not None:
                built = self._build_on_spark(name)
            else:
                built = build(con, self.compiled, name, self.full_refresh, self.catalog)
        except Exception as exc:  # noqa: BLE001 - dbt build's rule: the rest goes on
            self.fail(asset, str(exc).strip() or type(exc).__name__)
            return
        yield Built(asset, built, lineage(self.compiled, name, save=False))     # saved once, at the end
        if self.spark is not None:
            self._copy_given_back(con, after)
        for test, passed, detail in unit_tests(con, self.compiled, after, self.run_id, self.log):
            if not passed:
                self.blocked.add(asset)
            yield UnitTested(asset, test, passed, detail)

    def _copy_given_back(self, con, tests: list) -> None:
        """A unit test runs on DuckDB and reads its inputs' column types there; a model this run
        built on Spark is in the DuckDB warehouse only after the step (or as an earlier run left
        it), so each such input is copied back before the tests (before: "columns [...] are not
        in the input (it has [])" on a first run); a test of ``this`` that runs after the build
        gets the model itself."""
        from pipelines.models.render import Relation

        wanted = []
        for test in tests:
            for given in test.given:
                rel = Relation.parse(given.relation)
                pair = (rel.schema or "main", rel.identifier)
                if self.spark.written(f"{pair[0]}.{pair[1]}") and pair not in wanted:
                    wanted.append(pair)
        if wanted:
            self.spark.copy_back(con, wanted, self.target_dir / "tmp" / "from_spark")

    def _build_on_spark(self, name: str) -> Materialized:
        from pipelines.models.on_engine import build_model

        cm = self.compiled.models[name]
        built = build_model(self.spark.engine(), self.compiled, name, full_refresh=self.full_refresh)
        schema, relation = cm.model.schema, cm.model.alias or cm.model.name
        self.spark.wrote(f"{schema}.{relation}")
        self.built.append((schema, relation))
        return Materialized(built.relation, built.kind, built.rows, "; ".join(filter(None, ["built on Spark", built.detail])),
                            built.sql)

    def judge_ready(self, con, final: bool = False) -> Iterator[Judged]:
        """Every pending gate whose asset and the models it reads are done (``final``: all left)."""
        def finished(asset: str) -> bool:
            return asset in self.done or asset not in self.selected

        waiting = []
        for gate in self.pending:
            if final or (finished(gate.suite.asset) and all(finished(a) for a in gate.waits_for)):
                yield from self.judge(con, gate)
            else:
                waiting.append(gate)
        self.pending = waiting

    def judge(self, con, gate: Gate) -> Iterator[Judged]:
        asset = gate.suite.asset
        missing = sorted(a for a in {asset, *gate.waits_for} & self.blocked)
        if missing:      # not evaluated: what it reads was not built; its results stay missing
            self.blocked.add(asset)
            self.log.warning(f"{asset}: gate {gate.suite.file} not evaluated, {', '.join(missing)} not built")
            return
        if asset in self.layer.sources and not hasattr(self.layer.sources[asset], "relation") \
                and tuple(asset.lower().split("/", 1)) not in \
                {(schema.lower(), name.lower()) for schema, name in self.catalog.relations}:
            # dbt build: the source's tests error, the models reading it are skipped
            self.failures[asset] = (f"source table {self.layer.sources[asset]} is not in the warehouse, so its tests "
                                    "cannot run; fix: load it (the loader or EL tool that fills it) before the run")
            self.log.error(f"{asset}: {self.failures[asset]}")
            self.failed_tests.append(frozenset({asset}))
            return
        # a source read in place is gated on a DuckDB view over its files: judged on DuckDB, also in a Spark run
        engine = self.spark.engine() if self.spark is not None and not gate.before else None
        if self.compiled.runtime_tests:
            from pipelines.models.dbt_tests import rendered_now

            gate = rendered_now(con, self.compiled, gate)
        try:
            outcome = judge_gate(con, gate, run_id=self.run_id, docs_target=self.target_dir, engine=engine, log=self.log)
        except EngineError as exc:
            if not gate.before:
                raise
            # a source read in place whose files cannot be read: its tests error (as in dbt build),
            # the models reading it are skipped
            self.failures[asset] = f"source {self.layer.sources.get(asset, asset)} cannot be read: {exc}"
            self.log.error(f"{asset}: {self.failures[asset]}")
            self.failed_tests.append(frozenset({asset}))
            return
        yield Judged(gate, outcome)
        if outcome.failed_errors and gate.late:
            self.failures[asset] = "; ".join(f"check {o.rule.name!r} failed ({o.summary})" for o in outcome.failed_errors)
        else:
            # dbt build's rule (the test edges of its graph): a failed test stops the models
            # every node it reads is upstream of; its asset's other tests still run
            self.failed_tests += [frozenset({asset, *o.rule.meta.get("deps", ())}) for o in outcome.failed_errors]
