"""``kontor check`` for expectation files: every rule judged before any run, as ``file:line: message``.

GX decides whether a rule is an expectation at all (its registry) and whether its arguments are
valid (its pydantic models). Whether the columns exist, the bounds fit the column's type and the
regex compiles is decided by Kontor's gate compiling the rule against an *empty catalog*: an
in-memory DuckDB holding every raw table with its declared types and every model as a view over
them. DuckDB binds those views without data, so a model's column names and types are exactly
what a run will produce.
"""
from __future__ import annotations

import functools
import graphlib

from sqlglot import exp

from pipelines.core.errors import Problem
from pipelines.engines.connection import Connection, EngineError, connect
from pipelines.models.compile import CompiledProject
from pipelines.models import materialize
from pipelines.models.materialize import SNAPSHOT_COLUMNS
from pipelines.models.project import seed_columns
from pipelines.quality.check_cache import SuiteVerdicts
from pipelines.quality.spec import Rule, Suite, expectations_dir, load_suites, referenced_relations
from pipelines.core.settings import Settings
from pipelines.sources.spec import LINEAGE_COLUMNS
from pipelines.core.errors import did_you_mean
from pipelines.core.sql import render, table_expr, template, verbatim


def known_relations(compiled: CompiledProject) -> dict[str, str]:
    """asset key -> relation, for every asset a suite may gate."""
    known = {f"raw/{t.key}": t.raw_table for t in compiled.project.sources.tables}
    known |= {f"seeds/{s.name}": s.relation for s in compiled.project.seeds.values()}
    known |= {f"{cm.model.schema}/{cm.model.name}": cm.model.relation for cm in compiled.models.values()}
    known |= {relation.replace(".", "/", 1): relation for relation in untyped_relations(compiled)}
    return known


def untyped_relations(compiled: CompiledProject) -> dict[str, list[str]]:
    """Tables other stages build in Python (the entity stage's golden records ...): relation ->
    column names. Their types are known only after a run."""
    externals = getattr(compiled.project, "externals", {}) or {}
    return {relation: list(cols) for relation, cols in externals.values()}


def empty_catalog(compiled: CompiledProject) -> Connection:
    """Every relation of the project, empty; a model that does not bind is left out (its own check says why)."""
    con = connect()          # in memory; extensions never downloaded
    for sql, may_fail in catalog_statements(compiled):
        try:
            con.execute(sql)
        except EngineError:
            if not may_fail:
                raise
    return con


def catalog_statements(compiled: CompiledProject) -> list[tuple[str, bool]]:
    """What ``empty_catalog`` runs, in order, as (SQL, may fail): a model's view may not bind."""
    out: list[tuple[str, bool]] = []
    schemas = {"raw", "seeds"} | {cm.model.schema for cm in compiled.models.values()}
    for schema in sorted(schemas):
        out.append((create_schema(schema), False))
    for t in compiled.project.sources.tables:
        cols = [(c.name, c.data_type) for c in t.columns] + list(LINEAGE_COLUMNS.items())
        out.append((_create_table(t.raw_table, cols), False))
        out.append((render(template(__file__, "current_view"), current=table_expr(t.raw_table + "__current"),
                           raw=table_expr(t.raw_table)), False))
    for relation, cols in untyped_relations(compiled).items():   # so models that ref them bind
        out.append((create_schema(relation.split(".")[0]), False))
        out.append((_create_table(relation, [(c, "varchar") for c in cols], if_not_exists=True), False))
    for seed in compiled.project.seeds.values():
        out.append((_create_table(seed.relation, [(c, "varchar") for c in seed_columns(seed)]), False))
    for name in _stable_order(compiled):
        cm = compiled.models[name]
        columns = [exp.Star()]
        if cm.materialized == "snapshot":
            columns += [exp.alias_(exp.cast(exp.null(), "timestamp"), c) for c in SNAPSHOT_COLUMNS]
        # the model's compiled SQL is text from the models stage, nested as it is
        query = exp.select(*columns).from_(exp.Subquery(this=verbatim(cm.sql)))
        out.append((render(template(__file__, "model_view"), relation=table_expr(cm.model.relation), query=query), True))
    return out


def catalog_inputs(compiled: CompiledProject) -> list:
    """All ``catalog_statements`` are made of, as JSON (the catalog's key: cheaper than the statements)."""
    return [sorted({"raw", "seeds"} | {cm.model.schema for cm in compiled.models.values()}),
            [(t.raw_table, [(c.name, c.data_type) for c in t.columns]) for t in compiled.project.sources.tables],
            LINEAGE_COLUMNS, template(__file__, "current_view"), sorted(untyped_relations(compiled).items()),
            [(seed.relation, seed_columns(seed)) for seed in compiled.project.seeds.values()], SNAPSHOT_COLUMNS,
            [(compiled.models[name].model.relation, compiled.models[name].materialized == "snapshot",
              compiled.models[name].sql) for name in _stable_order(compiled)]]


def _stable_order(compiled: CompiledProject) -> list[str]:
    """``compiled.order`` (a topological order, which varies between processes with the order of
    Python's sets) as one order: dependencies first, ties by name. The same project gives the
    same statements, so a check finds the catalog the last one built (``SuiteVerdicts.catalog``).

    >>> from types import SimpleNamespace as N
    >>> m = lambda *refs: N(refs=list(refs))
    >>> _stable_order(N(order=["c", "b", "a"], models={"a": m(), "b": m("c"), "c": m()}))
    ['a', 'c', 'b']
    """
    names = set(compiled.order)
    graph = graphlib.TopologicalSorter()
    for name in sorted(names):
        graph.add(name, *sorted(r for r in compiled.models[name].refs if r in names))
    graph.prepare()
    out: list[str] = []
    while graph.is_active():
        ready = sorted(graph.get_ready())
        out += ready
        graph.done(*ready)
    return out


def create_schema(schema: str) -> str:
    """``create schema if not exists``: the models stage's template."""
    return render(template(materialize.__file__, "create_schema"), schema=schema)


def _create_table(relation: str, columns: list[tuple[str, str]], if_not_exists: bool = False) -> str:
    """``create table`` of empty columns typed as declared (types as the sources' spec normalised them).

    >>> _create_table("raw.crm__accounts", [("Konto Nr", "decimal(12, 2)"), ("_line", "bigint")])
    'CREATE TABLE "raw"."crm__accounts" ("Konto Nr" DECIMAL(12, 2), "_line" BIGINT)'
    """
    schema = exp.Schema(this=table_expr(relation), expressions=[
        exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=_data_type(kind).copy())
        for name, kind in columns])
    return exp.Create(this=schema, kind="TABLE", exists=if_not_exists).sql("duckdb")


@functools.lru_cache(maxsize=1024)
def _data_type(kind: str) -> exp.DataType:
    """A type as sqlglot reads it, once per spelling (callers copy it: a node has one parent)."""
    return exp.DataType.build(kind, dialect="duckdb", udt=True)


def check_expectations(settings: Settings, compiled: CompiledProject,
                       entities: list[str] = ()) -> tuple[list[Problem], int]:
    """Problems of every expectation file, and how many rules were checked. Entity assets
    (``entities/<entity>_*``) are built by Python, not SQL: GX judges their rules' arguments,
    their columns are known only after a run."""
    suites, problems = load_suites(expectations_dir(settings.project_dir), settings.relative)
    if not suites:
        return problems, 0
    known = known_relations(compiled)
    known |= {s.asset: s.relation for s in suites if any(s.asset.startswith(f"entities/{e}_") for e in entities)}
    untyped = untyped_relations(compiled)
    inputs = catalog_inputs(compiled)
    verdicts = SuiteVerdicts(settings.target_dir / ".cache" / "check_expectations.json")
    # The catalog's relations and column types as DuckDB bound them the last time it was built
    # from the same inputs; DuckDB builds it (binding every view) only when they changed, or
    # when a suite must be judged again.
    shapes = verdicts.catalog(inputs)
    opened: list[Connection] = []

    def catalog() -> Connection:
        if not opened:
            opened.append(empty_catalog(compiled))
        return opened[0]

    try:
        if shapes is None:
            shapes = verdicts.remember_catalog(inputs, catalog())
        for suite in suites:
            key = verdicts.key(suite, known, untyped, catalog, shapes)
            found = verdicts.get(key)
            if found is None:   # judged by GX: seconds for its import, so only when something changed
                found = check_suite(catalog(), suite, known, untyped)
                verdicts.put(key, found)
            problems += found
    finally:
        for con in opened:
            con.close()
    verdicts.save()
    order = {s.file: i for i, s in enumerate(suites)}
    problems.sort(key=lambda p: (order.get(p.file, -1), p.line or 0))
    return problems, sum(len(s.rules) for s in suites)


def check_suite(con: Connection, suite: Suite, known: dict[str, str],
                untyped: dict[str, list[str]] | None = None) -> list[Problem]:
    from pipelines.quality.gate import DuckDBGate, format_query
    from pipelines.quality.runner import gx_configs

    if suite.asset not in known:
        return [Problem(suite.file, None, f"no asset {suite.asset!r} to gate; fix: name the file <schema>.<name>.yml "
                                          f"after an existing asset{did_you_mean(suite.asset, set(known))}")]
    problems = []
    for rule in suite.rules:
        for relation in referenced_relations(rule, suite.relation):
            if relation.replace(".", "/", 1) not in known:
                problems.append(Problem(suite.file, rule.kwarg_line("unexpected_rows_query"),
                                        f"{rule.name}: the query reads {relation!r}, which is no asset of the project"))
    gate = None   # without a typed relation GX still judges the arguments, and names are checked below
    if suite.relation not in (untyped or {}):
        try:
            gate = DuckDBGate(con, suite.relation)
        except EngineError:
            pass      # the model does not bind on its own; its own check says why
    if gate is not None and suite.row_key:
        for col in suite.row_key:
            if col not in gate.columns:
                problems.append(Problem(suite.file, suite.row_key_line, f"row_key column {col!r} does not exist in "
                                        f"{suite.relation}{did_you_mean(col, set(gate.columns))}"))
    if gate is None:   # GX fills {batch} only at run time; a stray brace must fail here all the same
        for rule in suite.rules:
            query = rule.kwargs.get("unexpected_rows_query")
            if rule.type == "unexpected_rows_expectation" and isinstance(query, str):
                try:
                    format_query(query, batch=suite.relation)
                except Exception as exc:  # noqa: BLE001 - GX's message says what to do
                    problems.append(Problem(suite.file, rule.kwarg_line("unexpected_rows_query"), f"{rule.name}: {exc}"))
    configs = gx_configs(suite)
    if gate is not None:
        errors = gate.check(configs)
    else:
        errors = []
        for i, cfg in enumerate(configs):
            try:
                cfg.to_domain_obj()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((i, e))
    for i, error in errors:
        problems += rule_problems(suite.rules[i], error, gate.columns if gate else [])
    names = (untyped or {}).get(suite.relation)
    if names is not None:
        failed = {i for i, _ in errors}
        for i, rule in enumerate(suite.rules):
            for col in rule.columns() if i not in failed else []:
                if col not in names:
                    key = next((k for k, v in rule.kwargs.items() if v == col or (isinstance(v, list) and col in v)), None)
                    problems.append(Problem(rule.file, rule.kwarg_line(key), f"{rule.name}: column {col!r} does not exist "
                                            f"in {suite.relation}{did_you_mean(col, set(names))}"))
    return problems


def rule_problems(rule: Rule, error: Exception, columns: list[str]) -> list[Problem]:
    """GX's and the gate's complaints about one rule, at the line of the argument at fault."""
    from great_expectations.compatibility.pydantic import ValidationError
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    from pipelines.quality.conditions import RuleError, UnsupportedMetric
    from pipelines.quality.gate import SUPPORTED_TYPES

    def at(key: str | None, message: str) -> Problem:
        return Problem(rule.file, rule.kwarg_line(key), f"{rule.name}: {message}")

    if isinstance(error, ExpectationNotFoundError):
        return [Problem(rule.file, rule.line, f"unknown expectation type {rule.type!r}"
                        f"{did_you_mean(rule.type, set(list_registered_expectation_implementations()))}")]
    if isinstance(error, ValidationError):
        fields = set(get_expectation_impl(rule.type).__fields__)
        out, seen = [], set()
        for err in error.errors():
            loc = str(err["loc"][0]) if err["loc"] else "__root__"
            if loc in seen or (err["type"] == "type_error.dict" and loc in rule.kwargs):
                continue   # union types repeat one mistake per member; dict = GX suite parameter
            seen.add(loc)
            if loc == "__root__":
                continue
            if err["type"] == "value_error.extra":
                out.append(at(loc, f"unknown argument {loc!r} for {rule.type}{did_you_mean(loc, fields)}"))
            elif err["type"] == "value_error.missing":
                out.append(Problem(rule.file, rule.line, f"{rule.name}: {rule.type} needs the argument {loc!r}"))
            else:
                out.append(at(loc, f"invalid {loc} {rule.kwargs.get(loc)!r}: {err['msg']}"))
        if not out:   # only whole-rule complaints (e.g. between with neither bound)
            out = [at(None, f"invalid arguments: {err['msg']}") for err in error.errors() if not err["loc"]
                   or err["loc"][0] == "__root__"][:1]
        return out
    if isinstance(error, RuleError):
        if error.column is not None:
            key = next((k for k, v in rule.kwargs.items() if v == error.column or
                        (isinstance(v, list) and error.column in v)), error.kwarg)
            return [at(key, f"{error}{did_you_mean(error.column, set(columns))}")]
        return [at(error.kwarg, str(error))]
    if isinstance(error, UnsupportedMetric):
        return [Problem(rule.file, rule.line, f"{rule.name}: {rule.type} cannot run on Kontor's DuckDB gate "
                                              f"({error}); fix: use a supported expectation (README, Quality gates)")]
    if rule.type not in SUPPORTED_TYPES:   # GX could not even plan it without a pandas batch
        return [Problem(rule.file, rule.line, f"{rule.name}: {rule.type} cannot run on Kontor's DuckDB gate "
                                              f"({type(error).__name__}: {error}); fix: use a supported "
                                              "expectation (README, Quality gates)")]
    return [Problem(rule.file, rule.line, f"{rule.name}: {type(error).__name__}: {error}")]
