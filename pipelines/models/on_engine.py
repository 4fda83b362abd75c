"""The models stage through an engine object (``pipelines.engines``): the compiled DuckDB SQL of
each model, built as a view or table on whichever engine runs it.

Views, tables and incremental models (``SparkEngine.merge``: ``MERGE INTO`` where the table
format has it, else the merged table rewritten and swapped in). Snapshots, hooks, enforced
contracts and models whose Jinja queries the warehouse are refused with their file, as are
transpilation failures. The inputs (raw tables, seeds, the entity stage's tables) come from the
DuckDB warehouse: ``model_inputs`` lists them and ``pipelines.engines.engine.copy_tables`` copies
them across.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from pipelines.core.errors import KontorError, Problem
from pipelines.engines.engine import Engine
from pipelines.engines.spark_rules import Untranslatable, node_line, rewrite
from pipelines.models.compile import CompiledModel, CompiledProject

ENGINE_MATERIALIZATIONS = ("view", "table", "incremental")


@dataclass
class Built:
    relation: str
    kind: str
    rows: int | None
    seconds: float
    detail: str = ""
    sql: str = ""


def _unsupported(cm: CompiledModel) -> str | None:
    if cm.materialized not in ENGINE_MATERIALIZATIONS:
        return f"materialized={cm.materialized!r}"
    if cm.materialized == "incremental" and cm.config.get("on_schema_change") == "sync_all_columns":
        return "on_schema_change='sync_all_columns'"
    if cm.runtime:
        return "Jinja that queries the warehouse (run_query/is_incremental)"
    if cm.config.get("pre_hook") or cm.config.get("post_hook"):
        return "pre_hook/post_hook"
    if (cm.config.get("contract") or {}).get("enforced"):
        return "an enforced contract"
    return None


def model_inputs(compiled: CompiledProject, names: list[str] | None = None) -> list[tuple[str, str]]:
    """The relations the models read that no model builds: raw tables and their ``__current``
    views, seeds, external tables such as ``entities.customer_xref``; as (schema, name), from the
    compiled SQL itself."""
    import sqlglot
    from sqlglot import exp

    built = {(cm.model.schema, cm.model.alias or cm.model.name) for cm in compiled.models.values()}
    out: dict[tuple[str, str], None] = {}
    for name in names or compiled.order:
        cm = compiled.models[name]
        if cm.materialized == "ephemeral":
            continue
        for table in sqlglot.parse_one(cm.sql, read="duckdb").find_all(exp.Table):
            if table.db and (table.db, table.name) not in built:
                out[(table.db, table.name)] = None
    return list(out)


def step_inputs(compiled: CompiledProject, names: list[str]) -> list[tuple[str, str]]:
    """The relations models ``names`` read, as (schema, name), from their compiled SQL: the
    other models among them included (the caller leaves out what it builds itself)."""
    import sqlglot
    from sqlglot import exp

    out: dict[tuple[str, str], None] = {}
    for name in names:
        cm = compiled.models[name]
        if cm.materialized == "ephemeral":
            continue
        for table in sqlglot.parse_one(cm.sql, read="duckdb").find_all(exp.Table):
            if table.db:
                out[(table.db, table.name)] = None
    return list(out)


def build_model(engine: Engine, compiled: CompiledProject, name: str, full_refresh: bool = False) -> Built:
    """Model ``name`` on ``engine``; a failure raises ``KontorError`` with the model's file."""
    cm = compiled.models[name]
    reason = _unsupported(cm)
    if reason:
        raise KontorError(f"{cm.model.rel_path}: {reason} does not run on the {engine.name} engine yet; "
                          "fix: build it on DuckDB (engine = \"duckdb\") or make it a table or view")
    schema, relation = cm.model.schema, cm.model.alias or cm.model.name
    started = time.perf_counter()
    kind, detail, sql = cm.materialized, "", cm.sql
    try:
        if kind == "incremental":
            # config(full_refresh=false) protects a model whose history cannot be rebuilt (dbt's rule)
            full_refresh = full_refresh and cm.config.get("full_refresh", True) is not False
            if full_refresh or not engine.exists(schema, relation) or engine.kind_of(schema, relation) != "table":
                kind = "incremental (full)"
                rows = engine.create_or_replace(schema, relation, sql, "table")
            else:
                sql = compiled.render_for_run(name, is_incremental=True)
                key = [] if cm.config.get("incremental_strategy") == "append" else list(cm.unique_key)
                new_rows, how = engine.merge(schema, relation, sql, key)
                kind, detail = f"incremental ({how.split(' ')[0]})", f"{how}: {new_rows} rows"
                rows = engine.count(schema, relation)
        else:
            rows = engine.create_or_replace(schema, relation, sql, kind)
    except Untranslatable as exc:
        raise KontorError(f"{cm.model.rel_path}: {exc}") from exc
    except KontorError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine's own error, with the model's file in front
        raise KontorError(f"{cm.model.rel_path}: {cm.materialized} {cm.model.relation} failed on "
                          f"{engine.name}: {str(exc).splitlines()[0][:500]}") from exc
    return Built(cm.model.relation, kind, rows, time.perf_counter() - started, detail, sql)


def build_models(engine: Engine, compiled: CompiledProject, names: list[str] | None = None) -> list[Built]:
    """Every model (or ``names``) in dependency order on ``engine``; the first failure raises
    ``KontorError`` with the model's file."""
    return [build_model(engine, compiled, name) for name in compiled.order
            if (names is None or name in names) and compiled.models[name].materialized != "ephemeral"]


def transpile_problems(compiled: CompiledProject, display=str) -> list[Problem]:
    """``kontor check`` with the Spark engine: every model written as Spark SQL; what cannot be is
    a problem at the model's ``file:line`` (the line of the construct, when Jinja kept the lines)."""
    import sqlglot

    problems = []
    for name in compiled.order:
        cm = compiled.models[name]
        if cm.materialized == "ephemeral":
            continue
        reason = _unsupported(cm)
        if reason:
            problems.append(Problem(cm.model.rel_path, None, f"{reason} does not run on the spark engine yet; "
                                    "fix: build it on DuckDB or make it a table or view"))
            continue
        rendered = compiled.renderer.render(cm.model.raw_sql, cm.model.rel_path, cm.model.relation)
        same_lines = rendered.sql.count("\n") == cm.model.raw_sql.count("\n") and not cm.ephemerals
        try:
            tree = sqlglot.parse_one(rendered.sql if same_lines else cm.sql, read="duckdb")
            rewrite(tree).sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
        except Untranslatable as exc:
            line = node_line(exc.node)
            problems.append(Problem(cm.model.rel_path, line if same_lines else None,
                                    f"cannot run on Spark: {exc}" + ("" if same_lines or line is None else
                                                                     f" (line {line} of kontor compile {name})")))
        except sqlglot.errors.UnsupportedError as exc:
            problems.append(Problem(cm.model.rel_path, None, f"cannot run on Spark: {str(exc).splitlines()[0]}"))
    return problems
