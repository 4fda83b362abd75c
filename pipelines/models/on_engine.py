"""The models stage through an engine object (``pipelines.engines``): the compiled DuckDB SQL of
each model, built as a view or table on whichever engine runs it.

Views, tables, incremental models (``SparkEngine.merge``: ``MERGE INTO`` where the table format
has it, else the merged table rewritten and swapped in) and snapshots (``snapshot_sql``: the next
state of the whole table as one query, built beside the old table and swapped in, as Spark's
Parquet tables cannot update rows). Hooks, enforced contracts and models whose Jinja queries the
warehouse are refused with their file, as are transpilation failures. The inputs (raw tables, seeds, the entity stage's tables) come from the
DuckDB warehouse: ``model_inputs`` lists them and ``pipelines.engines.engine.copy_tables`` copies
them across.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pipelines.core.errors import KontorError, Problem
from pipelines.engines.engine import Engine
from pipelines.engines.spark_rules import Untranslatable, node_line, rewrite
from pipelines.models.compile import CompiledModel, CompiledProject

if TYPE_CHECKING:
    from sqlglot import exp

ENGINE_MATERIALIZATIONS = ("view", "table", "incremental", "snapshot")


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


def snapshot_sql(cm: CompiledModel, source: exp.Table, existing: list[str] | None,
                 changes_rel: exp.Table | None = None, now: datetime | None = None) -> tuple[list[str], str]:
    """The snapshot's next state in DuckDB's dialect (``source``: a relation holding the query's
    rows; ``existing``: the table's columns, None for the first snapshot), with what
    ``materialize.build_snapshot`` does in place on DuckDB: history rows kept; the current version
    of a changed key closed at the new version's start and the new version opened; new keys
    opened; with ``invalidate_hard_deletes`` the current version of a key that disappeared closed
    now. Returns ([the query of the changed keys, to be stored as ``changes_rel``; the query of
    the table's next state], detail); for a first snapshot only the second."""
    from sqlglot import exp

    from pipelines.models.materialize import _col, _same_keys, _snapshot_names, _version_columns

    target = exp.table_(cm.model.alias or cm.model.name, db=cm.model.schema, quoted=True)
    key, strategy, names = cm.unique_key, cm.config.get("strategy", "timestamp"), _snapshot_names(cm)
    vf, vt = names["valid_from"], names["valid_to"]
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    now_sql = exp.cast(exp.Literal.string(now.isoformat(sep=" ")), "timestamp")
    if strategy == "timestamp":
        updated = cm.config.get("updated_at")
        if not updated:
            raise KontorError(f"{cm.model.rel_path}: snapshot with strategy 'timestamp' needs config updated_at")
        start = _col(updated, "n") if names["scd_id"] else exp.cast(_col(updated, "n"), "timestamp")
    elif strategy == "check":
        start = now_sql
    else:
        raise KontorError(f"{cm.model.rel_path}: unknown snapshot strategy {strategy!r}; use 'timestamp' or 'check'")
    meta_cols = [v for v in (names["scd_id"], names["updated_at"], names["valid_from"], names["valid_to"]) if v]

    def meta(begin: exp.Expression) -> dict[str, exp.Expression]:
        return {column.alias: column.this for column in _version_columns(names, key, begin)}

    if existing is None:
        first = exp.select("n.*", *_version_columns(names, key, start)).from_(source.as_("n"))
        return [first.sql(dialect="duckdb")], "first snapshot"
    # the table's columns: a column the query gained is left out (DuckDB adds it), one it lost fails
    source_cols = [c for c in existing if c not in meta_cols]
    on = _same_keys(key, "c", "n")
    if strategy == "timestamp":
        changed = exp.GT(this=start.copy(), expression=_col(vf, "c"))
    else:
        check = cm.config.get("check_cols", "all")
        cols = [c for c in source_cols if c not in key] if check == "all" else list(check)
        changed = exp.or_(*(exp.NullSafeNEQ(this=_col(c, "c"), expression=_col(c, "n")) for c in cols)) if cols else exp.false()
    hard_deletes = cm.config.get("invalidate_hard_deletes") or cm.config.get("hard_deletes") == "invalidate"
    close = exp.Case().when(exp.and_(_col(vt, "t").is_(exp.null()), exp.column("__start", "x").is_(exp.null()).not_()),
                            exp.column("__start", "x"))
    if hard_deletes:
        close = close.when(exp.and_(_col(vt, "t").is_(exp.null()), exp.column("__seen", "g").is_(exp.null())), now_sql)
    kept = [exp.alias_(close.else_(_col(vt, "t")), vt, quoted=True) if c == vt else _col(c, "t") for c in existing]
    changes_meta, new_meta = meta(exp.column("__start", "n")), meta(start)
    versions = [changes_meta[c].copy() if c in changes_meta else _col(c, "n") for c in existing]
    opened = [new_meta[c].copy() if c in new_meta else _col(c, "n") for c in existing]
    current = exp.select("*").from_(target.copy()).where(_col(vt).is_(exp.null()))
    # Spark's optimizer failed on this as one query with CTEs (a plan validation error in
    # RemoveRedundantAliases): the query's rows and the changed keys are work tables instead.
    changes = exp.select("n.*", exp.alias_(start.copy(), "__start")).from_(source.as_("n")) \
        .join(current.subquery("c"), on=on).where(changed)
    seen = exp.select(*(_col(k) for k in key), exp.alias_(exp.true(), "__seen")).distinct().from_(source.copy())
    query = exp.union(
        exp.select(*kept).from_(target.as_("t"))
        .join(changes_rel.as_("x"), on=_same_keys(key, "t", "x"), join_type="left")
        .join(seen.subquery("g"), on=_same_keys(key, "t", "g"), join_type="left"),
        exp.select(*versions).from_(changes_rel.as_("n")),
        exp.select(*opened).from_(source.as_("n")).where(~exp.Exists(this=exp.select(exp.Literal.number(1)).from_(
            target.as_("c")).where(exp.and_(_col(vt, "c").is_(exp.null()), on.copy())))),
        distinct=False)
    return [changes.sql(dialect="duckdb"), query.sql(dialect="duckdb")], "snapshot rebuilt (Parquet has no UPDATE)"


def _snapshot(engine: Engine, cm: CompiledModel, schema: str, relation: str, sql: str,
              existing: list[str] | None) -> tuple[int | None, str]:
    from sqlglot import exp

    from pipelines.core.sql import render, template

    work = {part: f"__kontor_snapshot_{part}_{relation}" for part in ("rows", "changes")}
    rel = {part: exp.table_(name, db=schema, quoted=True) for part, name in work.items()}
    try:
        engine.create_or_replace(schema, work["rows"], sql, "table")
        steps, detail = snapshot_sql(cm, rel["rows"], existing, rel["changes"])
        if len(steps) == 2:
            engine.create_or_replace(schema, work["changes"], steps[0], "table")
        return engine.create_or_replace(schema, relation, steps[-1], "table"), detail
    finally:
        for table in rel.values():
            engine.execute(render(template(__file__, "drop_table_if_exists"), relation=table))


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
        elif kind == "snapshot":
            # history is the point of a snapshot: a full refresh never drops it (as in dbt)
            existing = engine.columns(schema, relation) if engine.kind_of(schema, relation) == "table" else None
            rows, detail = _snapshot(engine, cm, schema, relation, sql, existing)
        else:
            rows = engine.create_or_replace(schema, relation, sql, kind)
    except Untranslatable as exc:
        raise KontorError(f"{cm.model.rel_path}: {exc}") from exc
    except KontorError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine's own error, with the model's file in front
        raise KontorError(f"{cm.model.rel_path}: {cm.materialized} {cm.model.relation} failed on "
                          f"{engine.name}: {_reason(exc)}") from exc
    return Built(cm.model.relation, kind, rows, time.perf_counter() - started, detail, sql)


def _reason(exc: Exception) -> str:
    """The engine's message in one line: Py4J puts "An error occurred while calling o41.sql." first."""
    lines = [line.strip().removeprefix(": ") for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("An error occurred while calling")]
    return (useful or lines or [type(exc).__name__])[0][:500]


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
