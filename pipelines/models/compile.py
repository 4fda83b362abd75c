"""Compile a project: render every model, parse it with sqlglot, order the DAG, find problems.

``kontor check`` and the asset factory both start here. Output columns (``*`` expanded against
the sources' declared columns and upstream models) are inferred lazily: the UI and the lineage
need them, plain compilation does not.
"""
from __future__ import annotations

import graphlib
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from pipelines.errors import Problem
from pipelines.models.project import MATERIALIZATIONS, Model, ModelProject, seed_columns
from pipelines.models.render import Rendered, Renderer
from pipelines.sources.ingest import LINEAGE_COLUMNS
from pipelines.sources.spec import did_you_mean


@dataclass
class CompiledModel:
    model: Model
    sql: str                                  # compiled SQL in DuckDB's dialect
    refs: list[str]
    sources: list[tuple[str, str]]
    config: dict[str, Any]
    ast: exp.Expression | None = None

    @property
    def materialized(self) -> str:
        return str(self.config.get("materialized", "view"))

    @property
    def unique_key(self) -> list[str]:
        key = self.config.get("unique_key") or []
        return [key] if isinstance(key, str) else list(key)

    @property
    def code_version(self) -> str:
        """Changes when the SQL or how it is materialised changes: the UI then marks it stale."""
        basis = self.sql + repr(sorted((k, repr(v)) for k, v in self.config.items()))
        return hashlib.sha256(basis.encode()).hexdigest()[:16]


@dataclass
class CompiledProject:
    project: ModelProject
    renderer: Renderer
    models: dict[str, CompiledModel]
    order: list[str]
    problems: list[Problem] = field(default_factory=list)

    @cached_property
    def _schema_and_columns(self) -> tuple[MappingSchema, dict[str, list[str] | None]]:
        schema = MappingSchema(dialect="duckdb")
        for table in self.project.sources.tables:
            cols = {c.name: c.data_type for c in table.columns} | LINEAGE_COLUMNS
            schema.add_table(exp.table_("__".join([table.system, table.name]), db="raw"), cols, dialect="duckdb")
        for seed in self.project.seeds.values():
            schema.add_table(exp.table_(seed.name, db="seeds"), {c: "varchar" for c in seed_columns(seed)}, dialect="duckdb")
        columns: dict[str, list[str] | None] = {}
        for name in self.order:
            cm = self.models[name]
            cols = _output_columns(cm, schema)
            columns[name] = cols
            if cols:
                schema.add_table(exp.table_(cm.model.name, db=cm.model.schema), {c: "unknown" for c in cols}, dialect="duckdb")
        return schema, columns

    @property
    def schema(self) -> MappingSchema:
        return self._schema_and_columns[0]

    def output_columns(self, name: str) -> list[str] | None:
        return self._schema_and_columns[1].get(name)

    def render_for_run(self, name: str, is_incremental: bool) -> str:
        cm = self.models[name]
        if not is_incremental:
            return cm.sql
        rendered = self.renderer.render(cm.model.raw_sql, cm.model.rel_path, cm.model.relation, is_incremental=True)
        return _to_duckdb(rendered.sql, cm.config.get("dialect", "duckdb"))


def _output_columns(cm: CompiledModel, schema: MappingSchema) -> list[str] | None:
    if cm.ast is None:
        return None
    try:
        qualified = qualify(cm.ast.copy(), schema=schema, dialect="duckdb", validate_qualify_columns=False,
                            quote_identifiers=False)
    except Exception:  # sqlglot cannot resolve every DuckDB construct; lineage is then unknown
        names = cm.ast.named_selects if isinstance(cm.ast, exp.Query) else []
        return None if "*" in names or not names else list(names)
    names = qualified.named_selects if isinstance(qualified, exp.Query) else []
    return None if not names or "*" in names else list(names)


def _to_duckdb(sql: str, dialect: str) -> str:
    if dialect == "duckdb":
        return sql.strip().rstrip(";").strip()
    return sqlglot.transpile(sql, read=dialect, write="duckdb", pretty=True)[0]


def _parse(model: Model, rendered: Rendered, dialect: str) -> tuple[exp.Expression | None, list[Problem]]:
    raw_lines, sql_lines = model.raw_sql.count("\n"), rendered.sql.count("\n")
    try:
        statements = [s for s in sqlglot.parse(rendered.sql, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        line, message = err.get("line"), err.get("description") or str(exc).splitlines()[0]
        where = line if raw_lines == sql_lines else None
        suffix = "" if where else f" (line {line} of the compiled SQL: kontor compile {model.name})"
        return None, [Problem(model.rel_path, where, f"SQL syntax error: {message}{suffix}")]
    except sqlglot.errors.TokenError as exc:
        return None, [Problem(model.rel_path, None, f"SQL syntax error: {exc}")]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None, [Problem(model.rel_path, None, "a model is exactly one SELECT (or WITH ... SELECT) statement; "
                              "Kontor creates the view or table itself")]
    return statements[0], []


def compile_project(project: ModelProject, display=lambda p: str(p)) -> CompiledProject:
    relations = {m.name: m.relation for m in project.models.values()} | \
                {s.name: s.relation for s in project.seeds.values()}
    source_keys = {(t.system, t.name) for t in project.sources.tables}
    renderer = Renderer(project.macro_files, relations, set(), source_keys, project.vars, display)
    problems = list(project.problems) + list(renderer.problems)
    compiled: dict[str, CompiledModel] = {}
    for model in project.models.values():
        rendered = renderer.render(model.raw_sql, model.rel_path, model.relation)
        config = {**model.folder_config, **model.properties.config, **rendered.config}
        problems += rendered.problems
        if config.get("materialized") not in MATERIALIZATIONS:
            problems.append(Problem(model.rel_path, None, f"unknown materialization {config.get('materialized')!r}; "
                                    f"use one of {', '.join(MATERIALIZATIONS)}"))
        dialect = str(config.get("dialect", "duckdb"))
        ast, parse_problems = _parse(model, rendered, dialect) if not rendered.problems else (None, [])
        problems += parse_problems
        sql = _to_duckdb(rendered.sql, dialect) if ast is not None else rendered.sql
        cm = CompiledModel(model, sql, rendered.refs, rendered.sources, config, ast)
        if cm.materialized in ("incremental", "snapshot") and cm.config.get("incremental_strategy") != "append" \
                and not cm.unique_key:
            problems.append(Problem(model.rel_path, None, f"{cm.materialized} model needs config unique_key "
                                    "(or incremental_strategy='append')"))
        compiled[model.name] = cm
    order = _order(compiled, problems)
    result = CompiledProject(project, renderer, compiled, order, problems)
    return result


def _order(compiled: dict[str, CompiledModel], problems: list[Problem]) -> list[str]:
    graph = {name: {r for r in cm.refs if r in compiled} for name, cm in compiled.items()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = compiled[cycle[0]].model
        problems.append(Problem(first.rel_path, None, "cycle: " + " → ".join(f"ref({n!r})" for n in reversed(cycle))))
        return []


def check_documented_columns(compiled: CompiledProject) -> list[Problem]:
    """Columns described in YAML that the query does not produce (a renamed column, a typo)."""
    problems = []
    for name in compiled.order:
        cm = compiled.models[name]
        produced = compiled.output_columns(name)
        if produced is None:
            continue
        lowered = {c.lower() for c in produced}
        for col in cm.model.properties.columns:
            if col.name.lower() not in lowered:
                problems.append(Problem(cm.model.properties.file, col.line,
                                        f"column {col.name!r} is documented for {name} but the query does not produce it"
                                        f"{did_you_mean(col.name, set(produced))}"))
    return problems
