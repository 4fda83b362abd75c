"""Compile a project: render every model, parse it with sqlglot, order the DAG, find problems.

``kontor check`` and the asset factory both start here. Output columns (``*`` expanded against
the sources' declared columns and upstream models) are inferred lazily: the UI and the lineage
need them, plain compilation does not.
"""
from __future__ import annotations

import functools
import graphlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.schema import MappingSchema

from pipelines.core import parsed
from pipelines.core.parsed import parses_to_one_query
from pipelines.core.errors import KontorError, Problem
from pipelines.core.sql import verbatim
from pipelines.models.project import MATERIALIZATIONS, Model, ModelProject, seed_columns
from pipelines.models.spec import CONFIG_KEYS, DBT_CONFIG_KEYS
from pipelines.models.render import Rendered, Renderer, line_of
from pipelines.sources.spec import LINEAGE_COLUMNS
from pipelines.core.errors import did_you_mean


@dataclass
class CompiledModel:
    model: Model
    sql: str                                  # compiled SQL in DuckDB's dialect
    refs: list[str]
    sources: list[tuple[str, str]]
    config: dict[str, Any]
    tree: exp.Expression | None = None   # ``ast``, once built
    runtime: bool = False          # its Jinja queries the warehouse: rendered again when it runs
    ephemerals: list[str] = field(default_factory=list)   # ephemeral models inlined as CTEs
    parsed_from: str = ""          # sha256 of the dialect and the text ``ast`` was parsed from
    # (text, dialect) of a tree not built yet: a text remembered as parsing to one query
    # (``parsed.parses_to_one_query``) is loaded when ``ast`` is first read; a run reads none.
    deferred: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def ast(self) -> exp.Expression | None:
        """The parsed SELECT (None: the model's SQL did not parse, or is rendered at run time)."""
        if self.tree is None and self.deferred is not None:
            text, dialect = self.deferred
            self.tree = next(s for s in parsed.parse(text, read=dialect) if s is not None)
            self.deferred = None
        return self.tree

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
    # dbt tests rendered again when judged (``dbt_tests.rendered_now``): name -> DbtTest
    runtime_tests: dict[str, Any] = field(default_factory=dict)
    cache_dir: Path | None = None     # where run-time results computed from the files alone are kept (target/)

    @cached_property
    def _schema_and_columns(self) -> tuple[MappingSchema, dict[str, list[str] | None], dict[tuple[str, str], dict[str, str]]]:
        schema = MappingSchema(dialect="duckdb")
        # sqlglot folds unquoted identifiers to lower case; DuckDB keeps the case they were created
        # with (AccountId, an alias AccountName). names[(schema, table)] maps lower case back to it,
        # so column lineage names columns that exist (Dagster matches them case-sensitively).
        names: dict[tuple[str, str], dict[str, str]] = {}
        # the tables of each name: what sqlglot can resolve a model's table references to
        by_name: dict[str, list[tuple[str, str, list[tuple[str, str]]]]] = {}

        def add(db: str, table: str, cols: dict[str, str]) -> None:
            schema.add_table(exp.table_(table, db=db), cols, dialect="duckdb")
            names[(db, table)] = {c.lower(): c for c in cols}
            by_name.setdefault(table.lower(), []).append((db, table, list(cols.items())))

        for table in self.project.sources.tables:
            cols = {c.name: c.data_type for c in table.columns} | LINEAGE_COLUMNS
            for relation in (table.key, f"{table.key}__current"):    # the table, its current-state view
                add("raw", relation, cols)
        for seed in self.project.seeds.values():
            add(seed.schema, seed.alias or seed.name, {c: "varchar" for c in seed_columns(seed)})
        for relation, cols in self.project.externals.values():
            db, table = relation.split(".")
            add(db, table, {c: "unknown" for c in cols})
        remembered = _InferredColumns(self.cache_dir)
        columns: dict[str, list[str] | None] = {}
        for name in self.order:
            cm = self.models[name]
            key = _inference_key(cm, self.models, names, by_name) if remembered.path is not None else None
            found = remembered.get(key)
            if found is not None:
                cols = found[0]
            else:
                cols = _output_columns(cm, schema)
                if cols:
                    cols = _as_created(cm, cols, names, self.models)
                remembered.put(key, cols)
            columns[name] = cols
            if cols:
                add(cm.model.schema, cm.model.name, {c: "unknown" for c in cols})
        remembered.save()
        return schema, columns, names

    @cached_property
    def lineage(self):
        """Column lineage per model, cached in ``cache_dir`` (``pipelines.models.lineage.LineageCache``)."""
        from pipelines.models.lineage import LineageCache   # lineage imports this module

        return LineageCache(self)

    def column_name(self, schema: str, table: str, column: str) -> str:
        """A column's name as DuckDB created it (``accountid`` → ``AccountId``)."""
        return self._schema_and_columns[2].get((schema, table), {}).get(column.lower(), column)

    @property
    def schema(self) -> MappingSchema:
        return self._schema_and_columns[0]

    def output_columns(self, name: str) -> list[str] | None:
        return self._schema_and_columns[1].get(name)

    def hooks(self, name: str, kind: str) -> list[str]:
        """dbt's pre_hook/post_hook statements of a model (a string, a list, or {sql: ...}), rendered."""
        cm = self.models[name]
        raw = cm.config.get(kind) or []
        out = []
        for hook in raw if isinstance(raw, list) else [raw]:
            text = hook.get("sql", "") if isinstance(hook, dict) else str(hook)
            rendered = self.renderer.render(text, cm.model.rel_path, cm.model.relation, node=_node(cm.model))
            if rendered.problems:
                raise KontorError("\n".join(str(p) for p in rendered.problems))
            if rendered.sql.strip():
                out.append(rendered.sql)
        return out

    def render_for_run(self, name: str, is_incremental: bool, con=None) -> str:
        """The SQL to run: compiled once, or rendered again when it depends on the run
        (``is_incremental()``, or ``run_query``/``execute`` which need the warehouse, its own or
        an ephemeral model's it inlines); the ephemeral models it refs in front, as CTEs."""
        cm = self.models[name]
        if not is_incremental and not cm.runtime:
            return cm.sql
        sql = self._render_now(name, is_incremental, con)
        if not cm.ephemerals:
            return sql
        return _with_ephemerals(sql, [(e, self._render_now(e, False, con) if self.models[e].runtime else self.models[e].sql)
                                      for e in cm.ephemerals])

    def _render_now(self, name: str, is_incremental: bool, con) -> str:
        cm = self.models[name]
        self.renderer.con = con
        try:
            rendered = self.renderer.render(cm.model.raw_sql, cm.model.rel_path, cm.model.relation,
                                            is_incremental=is_incremental, node=_node(cm.model))
        finally:
            self.renderer.con = None
        if rendered.problems:
            raise KontorError("\n".join(str(p) for p in rendered.problems))
        return _to_duckdb(rendered.sql, cm.config.get("dialect", "duckdb"))


def _as_created(cm: CompiledModel, columns: list[str], names: dict[tuple[str, str], dict[str, str]],
                models: dict[str, CompiledModel]) -> list[str]:
    """Output columns in the case DuckDB gives them: an alias as written (the outermost first, then
    those of CTEs), else the upstream column's own name (``select Name`` or ``*``)."""
    aliases: dict[str, str] = {}
    for alias in cm.ast.find_all(exp.Alias):       # breadth first: the outer select's aliases win
        aliases.setdefault(alias.alias.lower(), alias.alias)
    upstream: dict[str, str] = {}
    for ref in cm.refs:
        up = models.get(ref)
        upstream.update(names.get((up.model.schema, up.model.name) if up else ("seeds", ref), {}))
    for system, table in cm.sources:
        upstream.update(names.get(("raw", f"{system}__{table}"), {}))
    return [aliases.get(c.lower()) or upstream.get(c.lower()) or c for c in columns]


@functools.cache
def _code_digest() -> str:
    """This module's text: how output columns are inferred is part of what a remembered answer depends on."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _inference_key(cm: CompiledModel, models: dict[str, CompiledModel], names: dict[tuple[str, str], dict[str, str]],
                   by_name: dict[str, list[tuple[str, str, list[tuple[str, str]]]]]) -> str | None:
    """What a model's output columns are inferred from (``_output_columns``, ``_as_created``): its
    parsed text, the columns of what its refs and sources name, and every table known so far that
    bears the name of a table it reads, with its columns. None for a tree made elsewhere (no text
    to name it by): inferred, not remembered."""
    if cm.ast is None or not cm.parsed_from:
        return None
    read = sorted({t.name.lower() for t in cm.ast.find_all(exp.Table)})
    upstream = [(models[ref].model.schema, models[ref].model.name) if ref in models else ("seeds", ref) for ref in cm.refs]
    upstream += [("raw", f"{system}__{table}") for system, table in cm.sources]
    parts = [sqlglot.__version__, _code_digest(), cm.parsed_from, [(*u, names.get(u)) for u in upstream],
             [(t, sorted(by_name.get(t, []))) for t in read]]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class _InferredColumns:
    """Output columns inferred by earlier processes, in ``<cache_dir>/.cache/output_columns.json``:
    ``_inference_key`` (sqlglot's version, this module, the parsed text, the tables it reads) -> columns. sqlglot's inference is most of what ``kontor check`` computes
    for a model; an edited model (or one upstream) has another key, so an entry is never stale,
    only unused. Without a ``cache_dir`` nothing is remembered."""

    KEEP = 5000
    VERSION = 1

    def __init__(self, cache_dir: Path | None):
        self.path = Path(cache_dir) / ".cache" / "output_columns.json" if cache_dir is not None else None
        self.known: dict[str, list[str] | None] = {}
        self.used: dict[str, list[str] | None] = {}
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("version") == self.VERSION and isinstance(data.get("columns"), dict):
                    self.known = data["columns"]
            except (OSError, ValueError, AttributeError):   # a damaged file is recomputed, never trusted
                self.known = {}

    def get(self, key: str | None) -> tuple[list[str] | None] | None:
        """``(columns,)`` when remembered (columns may be None: not inferable), else None."""
        if key is None or self.path is None or key not in self.known:
            return None
        found = self.known[key]
        if found is not None and not (isinstance(found, list) and all(isinstance(c, str) for c in found)):
            return None
        self.used[key] = found
        return (list(found) if found is not None else None,)

    def put(self, key: str | None, columns: list[str] | None) -> None:
        if key is not None and self.path is not None:
            self.used[key] = list(columns) if columns is not None else None

    def save(self) -> None:
        if self.path is None or all(k in self.known and self.known[k] == v for k, v in self.used.items()):
            return
        earlier = [(k, v) for k, v in self.known.items() if k not in self.used]
        keep = dict(earlier[max(0, len(earlier) - max(0, self.KEEP - len(self.used))):])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": self.VERSION, "columns": {**keep, **self.used}}), encoding="utf-8")
            os.replace(tmp, self.path)     # whole or absent, whoever else writes it
        except OSError:
            pass                           # a read-only target: inferred again next time


def _output_columns(cm: CompiledModel, schema: MappingSchema) -> list[str] | None:
    if cm.ast is None:
        return None
    from sqlglot.optimizer.qualify import qualify   # only when not remembered: its import alone is 0.1 s
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
        statements = [s for s in parsed.parse(rendered.sql, read=dialect) if s is not None]
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


def package_model_problems(project: ModelProject, renderer: Renderer) -> list[Problem]:
    """A package whose models are not all disabled is refused (once): Kontor does not build package
    models yet. ``enabled`` written as Jinja is rendered as dbt renders it."""
    from pipelines.models.dbt_schema import _render_value

    refused: dict[str, Problem] = {}
    for package, file, enabled in project.package_models:
        if package not in refused and _render_value(renderer, enabled, file) is not False:
            refused[package] = Problem(file, None, f"package {package!r} has models; building package models is "
                                                   f"not supported yet; fix: disable them in dbt_project.yml "
                                                   f"(models: {package}: +enabled: false) if the project does not use them")
    return list(refused.values())


def _renderer(project: ModelProject, relations: dict[str, str], display, bytecode_cache=None) -> Renderer:
    if project.dbt is None:
        source_keys = {(t.system, t.name) for t in project.sources.tables}
        return Renderer(project.macro_files, relations, set(), source_keys, project.vars, display,
                        bytecode_cache=bytecode_cache)
    from pipelines.models.dbt_schema import target_context

    return Renderer(project.macro_files, relations, set(), set(), project.vars, display,
                    packages=project.package_macros, root_package=project.dbt.name,
                    source_relations=project.dbt_sources, target=target_context(project),
                    docs=project.docs, package_vars=project.package_vars,
                    dispatch=(project.dbt.doc or {}).get("dispatch"), bytecode_cache=bytecode_cache,
                    refused=project.refused_models)


def compile_project(project: ModelProject, display=lambda p: str(p), cache_dir: Path | None = None) -> CompiledProject:
    """``cache_dir``: where Jinja's compiled templates are kept between runs (``target/``)."""
    relations = {m.name: m.relation for m in project.models.values()} | \
                {s.name: s.relation for s in project.seeds.values()} | \
                {name: relation for name, (relation, _) in project.externals.items()}
    bytecode_cache = None
    if cache_dir is not None:
        import jinja2

        try:
            (Path(cache_dir) / "jinja").mkdir(parents=True, exist_ok=True)
            bytecode_cache = jinja2.FileSystemBytecodeCache(str(Path(cache_dir) / "jinja"))
        except OSError:
            pass
    renderer = _renderer(project, relations, display, bytecode_cache)
    problems = list(project.problems) + list(renderer.problems)
    parsed: dict[str, dict[str, Any]] = {}
    if project.dbt is not None:
        # dbt's parse phase: every node's config (schema, alias, enabled) before any ref() resolves.
        from pipelines.models.dbt_schema import resolve_relations

        parsed = resolve_relations(project, renderer, problems)
        problems += package_model_problems(project, renderer)
        relations.update({m.name: m.relation for m in project.models.values()})
        relations.update({s.name: s.relation for s in project.seeds.values()})
        # An ephemeral model is no relation: a ref() to it names a CTE the referring model gets.
        relations.update({name: EPHEMERAL_PREFIX + name for name, config in parsed.items()
                          if config.get("materialized") == "ephemeral"})
    config_keys = DBT_CONFIG_KEYS if project.dbt is not None else CONFIG_KEYS
    compiled: dict[str, CompiledModel] = {}
    if project.dbt is not None:       # dbt's `graph`: what is compiled so far, then the whole project
        complete: list[bool] = []
        renderer.graph = functools.partial(_graph, project, compiled, complete, {})
    for model in project.models.values():
        if parsed and parsed.get(model.name, {}).get("enabled", True) is False:
            continue
        rendered = renderer.render(model.raw_sql, model.rel_path, model.relation, node=_node(model))
        config = {**model.folder_config, **model.properties.config, **rendered.config}
        problems += rendered.problems
        # {{ config(...) }} keys are checked like the YAML ones: a typo such as materialised='table'
        # would otherwise be ignored silently and the model built as a view.
        external = config.get("materialized") == "external"
        for key in rendered.config:
            if key not in config_keys and not (external and key in _EXTERNAL_KEYS):
                problems.append(Problem(model.rel_path, line_of(model.raw_sql, rf"\b{re.escape(key)}\s*="),
                                        f"unknown config {key!r}{did_you_mean(key, config_keys)}"))
        materialized = config.get("materialized")
        if materialized not in MATERIALIZATIONS + (("ephemeral",) if project.dbt is not None else ()):
            custom = renderer.custom_materializations.get(str(materialized))
            problems.append(Problem(model.rel_path, line_of(model.raw_sql, r"materialized\s*="),
                                    f"materialization {materialized!r} is a custom materialization ({custom}), which "
                                    f"Kontor does not run; fix: use one of {', '.join(MATERIALIZATIONS)}" if custom else
                                    "materialization 'external' is dbt-duckdb's (the model written to a file), which "
                                    "Kontor does not write; fix: materialized='table' (a post-hook can COPY it to the "
                                    "file)" if external else
                                    f"unknown materialization {materialized!r}; use one of {', '.join(MATERIALIZATIONS)}"))
        dialect = str(config.get("dialect", "duckdb"))
        deferred = not rendered.problems and not rendered.runtime and parses_to_one_query(rendered.sql, dialect)
        ast, parse_problems = _parse(model, rendered, dialect) if not rendered.problems and not rendered.runtime \
            and not deferred else (None, [])
        if project.dbt is not None and parse_problems and parse_problems[0].message.startswith("SQL syntax error"):
            # dbt parses Jinja, not SQL: a model DuckDB cannot parse fails when it runs and skips
            # what is below it, the rest of the project builds. So does it here, DuckDB the judge
            # (sqlglot may refuse what DuckDB reads); `kontor check` still names it.
            for p in parse_problems:
                warning = Problem(p.file, p.line, f"{p.message}; the model fails when it runs (as in dbt), "
                                                  "what is below it is skipped")
                if warning not in project.warnings:
                    project.warnings.append(warning)
            parse_problems = []
        problems += parse_problems
        sql = _to_duckdb(rendered.sql, dialect) if ast is not None or deferred else rendered.sql
        cm = CompiledModel(model, sql, rendered.refs, rendered.sources, config, ast,
                           deferred=(rendered.sql, dialect) if deferred else None)
        if ast is not None or deferred:
            cm.parsed_from = hashlib.sha256(f"{dialect}\0{rendered.sql}".encode()).hexdigest()
        cm.runtime = rendered.runtime
        if cm.materialized == "incremental" and cm.config.get("incremental_strategy") != "append" \
                and not cm.unique_key and project.dbt is None:   # dbt-duckdb appends without a unique_key
            # The line of the config that makes it incremental, when the SQL says so (else the file).
            line = line_of(model.raw_sql, r"materialized\s*=") or line_of(model.raw_sql, r"\bconfig\s*\(")
            problems.append(Problem(model.rel_path, line, f"{cm.materialized} model needs config unique_key "
                                    "(or incremental_strategy='append')"))
        problems += _snapshot_problems(cm)
        if project.dbt is not None:
            from pipelines.models.dbt_schema import config_problems

            problems += config_problems(cm, project.target.get("database"))
        if cm.config.get("enabled", True) is False:
            continue
        compiled[model.name] = cm
    for cm in compiled.values():
        for ref in cm.refs:
            if ref in project.models and ref not in compiled:
                problems.append(Problem(cm.model.rel_path, line_of(cm.model.raw_sql, rf"ref\(\s*['\"]{re.escape(ref)}['\"]"),
                                        f"ref({ref!r}) points at a disabled model (config enabled=false)"))
    order = _order(compiled, problems)
    _inline_ephemerals(compiled, order)
    if project.dbt is not None:
        complete.append(True)
    return CompiledProject(project, renderer, compiled, order, problems)


def _graph(project: ModelProject, compiled: dict[str, CompiledModel], complete: list[bool],
           kept: dict) -> tuple[dict, bool]:
    """dbt's graph for the renderer; built once when the project is compiled, while it is being
    compiled built afresh (each read then marks its model for a run-time render anyway)."""
    from pipelines.models import dbt_graph

    if complete:
        if "graph" not in kept:
            kept["graph"] = dbt_graph.build(project, compiled)
        return kept["graph"], True
    return dbt_graph.build(project, compiled), False


EPHEMERAL_PREFIX = "__dbt__cte__"


def _aliased(query: exp.Expression, name: str, kind: type[exp.CTE] | type[exp.Subquery]) -> exp.Expression:
    return kind(this=query, alias=exp.TableAlias(this=exp.to_identifier(EPHEMERAL_PREFIX + name)))


def _inline_ephemerals(compiled: dict[str, CompiledModel], order: list[str]) -> None:
    """Each model that refs ephemeral models (directly or through others) gets them as CTEs, in
    dependency order, in front of its own query (as dbt does; DuckDB lets the query's own WITH
    nest inside)."""
    def needed(name: str, seen: list[str]) -> list[str]:
        for ref in compiled[name].refs:
            if ref in compiled and compiled[ref].materialized == "ephemeral" and ref not in seen:
                needed(ref, seen)
                seen.append(ref)
        return seen
    rank = {n: i for i, n in enumerate(order)}
    for name, cm in compiled.items():
        ephemerals = sorted(needed(name, []), key=lambda n: rank.get(n, 0))
        if ephemerals and cm.materialized != "ephemeral":
            cm.sql = _with_ephemerals(cm.sql, [(e, compiled[e].sql) for e in ephemerals])
            cm.ephemerals = ephemerals
            # an ephemeral model that asks the warehouse (dbt_utils.date_spine) is rendered again,
            # with the model that inlines it, when that runs
            cm.runtime = cm.runtime or any(compiled[e].runtime for e in ephemerals)


def _with_ephemerals(sql: str, ephemerals: list[tuple[str, str]]) -> str:
    """``sql`` with the ephemeral models ((name, SQL), in dependency order) in front, as CTEs; each
    query on lines of its own: a trailing -- comment ends before the bracket."""
    query = exp.select("*").from_(_aliased(verbatim("\n" + sql + "\n"), "outer", exp.Subquery))
    query.set("with_", exp.With(expressions=[_aliased(verbatim("\n" + e_sql + "\n"), e, exp.CTE)
                                             for e, e_sql in ephemerals]))
    return query.sql(dialect="duckdb")


# dbt-duckdb's external materialization's own config keys: reported once, with the materialization
_EXTERNAL_KEYS = {"format", "location", "delimiter", "options", "glue_register", "glue_database", "partition_by"}


def _node(model: Model) -> dict[str, Any]:
    """dbt's ``model`` in the Jinja context: enough of the node for macros that read it."""
    return {"name": model.name, "alias": model.alias or model.name, "schema": model.schema,
            "resource_type": model.resource_type, "fqn": model.fqn or [model.name],
            "original_file_path": model.rel_path, "path": model.rel_path,
            "unique_id": ".".join([model.resource_type, *model.fqn[:1], model.name]),   # dbt's model.<package>.<name>
            "config": {**model.folder_config, **model.properties.config}, "package_name": (model.fqn or [""])[0],
            "tags": list(model.folder_config.get("tags", [])), "description": model.properties.description}


def _snapshot_problems(cm: CompiledModel) -> list[Problem]:
    """Snapshot settings checked before any run, not discovered half-way through one."""
    if cm.materialized != "snapshot":
        return []
    model, problems = cm.model, []
    strategy = cm.config.get("strategy", "timestamp")
    if strategy not in ("timestamp", "check"):
        problems.append(Problem(model.rel_path, line_of(model.raw_sql, r"strategy\s*="),
                                f"unknown snapshot strategy {strategy!r}; use 'timestamp' or 'check'"))
    elif strategy == "timestamp" and not cm.config.get("updated_at"):
        problems.append(Problem(model.rel_path, line_of(model.raw_sql, r"\bconfig\s*\("),
                                "snapshot with strategy 'timestamp' needs config updated_at (or use strategy='check')"))
    if not cm.unique_key:
        problems.append(Problem(model.rel_path, line_of(model.raw_sql, r"\bconfig\s*\("),
                                "snapshot needs config unique_key"))
    return problems


def _order(compiled: dict[str, CompiledModel], problems: list[Problem]) -> list[str]:
    graph = {name: {r for r in cm.refs if r in compiled} for name, cm in compiled.items()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        path = list(reversed(exc.args[1]))     # path[i] refs path[i + 1]; first and last are the same
        first = compiled[path[0]].model
        # Point at the ref() in the first model that closes the cycle, so file:line names an edit.
        line = line_of(first.raw_sql, rf"ref\(\s*['\"]{re.escape(path[1])}['\"]")
        problems.append(Problem(first.rel_path, line, "cycle: " + " → ".join(f"ref({n!r})" for n in path)))
        return []


def check_documented_columns(compiled: CompiledProject) -> list[Problem]:
    """Columns described in YAML that the query does not produce (a renamed column, a typo)."""
    problems = []
    for name in compiled.order:
        cm = compiled.models[name]
        if compiled.project.dbt is not None:
            continue    # dbt documents columns without checking them (a contract does: enforced at build)
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
