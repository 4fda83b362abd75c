"""Materialise a compiled model on DuckDB: view, table, incremental, snapshot.

Every change runs in one transaction, so a failed build leaves the previous state: a table
(or view) replaces the previous one in one ``create or replace`` statement (a table that replaces
a view, or a view a table: built under a temporary name and swapped in); an incremental merge
deletes and inserts together; a snapshot closes and opens versions together.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlglot import exp, parse_one
from sqlglot.errors import ErrorLevel

from pipelines.core.errors import KontorError
from pipelines.engines import catalog as engine_catalog
from pipelines.engines.connection import Connection
from pipelines.models.compile import CompiledModel, CompiledProject
from pipelines.core.sql import add_column, data_type, render, template, verbatim

SNAPSHOT_COLUMNS = ("valid_from", "valid_to")


@dataclass
class Materialized:
    relation: str
    kind: str          # view | table | incremental (merge/append/full) | snapshot
    rows: int | None
    detail: str = ""
    sql: str = ""


def _rel(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


def _set_not_null(relation: exp.Table, column: str) -> str:
    """``alter table .. alter column .. set not null`` (an enforced contract's not_null constraint).
    Built as an expression: sqlglot 30 writes it right but warns "Unsupported ALTER COLUMN syntax"
    for SET NOT NULL (its generator only accepts DROP NOT NULL silently), so that warning is off
    for this one statement.

    >>> _set_not_null(_rel("marts", "x"), "a b")
    'ALTER TABLE "marts"."x" ALTER COLUMN "a b" SET NOT NULL'
    """
    action = exp.AlterColumn(this=exp.to_identifier(column, quoted=True), allow_null=False)
    return exp.Alter(this=relation, kind="TABLE", actions=[action]).sql("duckdb", unsupported_level=ErrorLevel.IGNORE)


def _sql(file: str, /, **names: str | exp.Expression) -> str:
    """``sql/<file>.sql`` with its names filled (``query``: a model's SQL, passed through as written)."""
    return render(template(__file__, file), **names)


def _col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column, of an unquoted alias (``n."id"``)."""
    return exp.Column(this=exp.to_identifier(name, quoted=True), table=exp.to_identifier(table) if table else None)


def _same_keys(key, left: str, right: str) -> exp.Expression:
    """``left.k is not distinct from right.k`` for every key column, and-ed."""
    return exp.and_(*(exp.NullSafeEQ(this=_col(k, left), expression=_col(k, right)) for k in key))


def _insert_by_name(target: exp.Table, query: exp.Select) -> str:
    return exp.Insert(this=target, expression=query, by_name=True).sql(dialect="duckdb")




def relation_type(con: Connection, schema: str, name: str) -> str | None:
    # the warehouse's own relations, not temporary or attached ones (about 5 ms per model)
    return engine_catalog.relation_kind(con, schema, name)


def _columns(con: Connection, relation: str | exp.Expression) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(_sql("describe", relation=relation)).fetchall()]


def _drop_any(con: Connection, schema: str, name: str, kind: str | None = "unknown") -> None:
    """Drop the relation; ``kind`` as looked up by the caller, if it did (a catalog look-up costs
    as much as building a small model)."""
    kind = relation_type(con, schema, name) if kind == "unknown" else kind
    if kind:
        con.execute(_sql(f"drop_{kind}", relation=_rel(schema, name)))


def _transaction(con: Connection, statements) -> None:
    con.execute("begin transaction")
    try:
        statements()
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _count(con, relation: str | exp.Table) -> int:
    return con.execute(_sql("count", relation=relation)).fetchone()[0]


def build_view(con, schema: str, name: str, sql: str, existing: str | None = "unknown") -> Materialized:
    """DuckDB binds the query when the view is created, so unknown tables and columns fail the
    build; the view is not executed (as in dbt): counting its rows would run the whole query."""
    existing = relation_type(con, schema, name) if existing == "unknown" else existing
    if existing != "table":
        # one statement (create or replace), so its own transaction: no begin/commit around it
        con.execute(_sql("create_view", relation=_rel(schema, name), query=verbatim(sql)))
        return Materialized(f"{schema}.{name}", "view", None, sql=sql)

    def swap():
        con.execute(_sql("drop_table", relation=_rel(schema, name)))
        con.execute(_sql("create_view", relation=_rel(schema, name), query=verbatim(sql)))
    _transaction(con, swap)
    return Materialized(f"{schema}.{name}", "view", None, sql=sql)


def _staged(name: str) -> str:
    """The name a table is built under before it is swapped in."""
    return f"__kontor_new_{name}"


def build_table(con, schema: str, name: str, sql: str, kind: str = "table", existing: str | None = "unknown",
                leftover: bool = True) -> Materialized:
    """``leftover``: a half-built table of a failed run may be in the way (False: the caller's
    catalog says there is none, and the drop is skipped)."""
    tmp = _staged(name)
    if leftover:
        con.execute(_sql("drop_table_if_exists", relation=_rel(schema, tmp)))
    existing = relation_type(con, schema, name) if existing == "unknown" else existing
    if existing != "view":
        # One statement instead of begin, create, drop, rename, commit: DuckDB's CREATE OR
        # REPLACE is atomic (a failing query leaves the previous table) and answers with the
        # number of rows written, so no count(*) afterwards.
        rows_written = con.execute(_sql("create_or_replace_table", relation=_rel(schema, name),
                                        query=verbatim(sql))).fetchone()[0]
        return Materialized(f"{schema}.{name}", kind, rows_written, sql=sql)

    rows: list[int] = []

    def swap():
        # DuckDB answers CREATE TABLE AS with the number of rows written: no count(*) afterwards.
        rows.append(con.execute(_sql("create_table", relation=_rel(schema, tmp), query=verbatim(sql))).fetchone()[0])
        _drop_any(con, schema, name, existing)
        con.execute(_sql("rename_table", relation=_rel(schema, tmp), name=name))
    _transaction(con, swap)
    return Materialized(f"{schema}.{name}", kind, rows[0], sql=sql)


def _add_new_columns(con, target: exp.Table, staged: str) -> list[str]:
    existing = {c for c, _ in _columns(con, target)}
    added = []
    for column, typ in _columns(con, staged):
        if column not in existing:
            con.execute(add_column(target, column, typ))
            added.append(column)
    return added


def build_incremental(con, cm: CompiledModel, sql: str) -> Materialized:
    """Merge (delete the rows of keys that arrive, insert the new ones: dbt's delete+insert and,
    for the result, its merge) or append. New columns: ``on_schema_change`` as in dbt (a dbt
    project's default is ignore, Kontor's append_new_columns)."""
    schema, name = cm.model.schema, cm.model.alias or cm.model.name
    target = _rel(schema, name)
    con.execute(_sql("staged_increment", query=verbatim(sql)))
    new_rows = _count(con, "__kontor_increment")
    key = cm.unique_key
    strategy = "append" if cm.config.get("incremental_strategy") == "append" or not key else "merge"
    on_change = cm.config.get("on_schema_change", "ignore" if cm.model.fqn else "append_new_columns")
    old_cols = [c for c, _ in _columns(con, target)]
    new_cols = [c for c, _ in _columns(con, "__kontor_increment")]
    if on_change == "fail" and set(old_cols) != set(new_cols):
        raise KontorError(f"{cm.model.rel_path}: the columns changed (now {new_cols}, the table has {old_cols}) and "
                          "on_schema_change is 'fail'; fix: run with --full-refresh or set on_schema_change")

    added: list[str] = []

    def merge():
        if on_change in ("append_new_columns", "sync_all_columns"):
            added.extend(_add_new_columns(con, target, "__kontor_increment"))
        if on_change == "sync_all_columns":
            for column in (c for c in old_cols if c not in new_cols):
                con.execute(_sql("drop_column", relation=target, column=column))
        if strategy == "merge":
            con.execute(_sql("merge_delete", relation=target, keys=_same_keys(key, "t", "n")))
        kept = [c for c in new_cols if c in old_cols or c in added]      # ignore: new columns stay out
        con.execute(_insert_by_name(target, exp.select(*(_col(c) for c in kept)).from_("__kontor_increment")))
    _transaction(con, merge)
    con.execute(_sql("drop_increment"))
    detail = f"{strategy}: {new_rows} rows" + (f"; new columns {', '.join(added)}" if added else "")
    return Materialized(f"{schema}.{name}", f"incremental ({strategy})", _count(con, target), detail, sql)


def _snapshot_names(cm: CompiledModel) -> dict[str, str | None]:
    """Kontor's own two columns, or dbt's four (``snapshot_meta_column_names`` may rename them)."""
    if cm.model.resource_type != "snapshot" or not cm.model.fqn:
        return {"valid_from": "valid_from", "valid_to": "valid_to", "scd_id": None, "updated_at": None}
    names = {"valid_from": "dbt_valid_from", "valid_to": "dbt_valid_to", "scd_id": "dbt_scd_id",
             "updated_at": "dbt_updated_at"}
    for key, value in (cm.config.get("snapshot_meta_column_names") or {}).items():
        names[key.removeprefix("dbt_")] = value
    return names


def _version_columns(names: dict[str, str | None], key, start: exp.Expression) -> list[exp.Expression]:
    """The version columns of a new row (of ``n``) starting at ``start``, aliased by ``names``
    (``_snapshot_names``); dbt's scd id hashes the key and the version start."""
    null_end = exp.Nullif(this=start.copy(), expression=start.copy()) if names["scd_id"] \
        else exp.cast(exp.null(), "timestamp")   # typed as the start
    cols = [exp.alias_(start.copy(), names["valid_from"], quoted=True), exp.alias_(null_end, names["valid_to"], quoted=True)]
    if names["scd_id"]:
        parts = [exp.Coalesce(this=exp.cast(p, "varchar"), expressions=[exp.Literal.string("")])
                 for p in [*(_col(k, "n") for k in key), start.copy()]]
        joined = parts[0]
        for part in parts[1:]:
            joined = exp.DPipe(this=exp.DPipe(this=joined, expression=exp.Literal.string("|")), expression=part)
        cols = [exp.alias_(exp.MD5(this=joined), names["scd_id"], quoted=True),
                exp.alias_(start.copy(), names["updated_at"], quoted=True), *cols]
    return cols


def build_snapshot(con, cm: CompiledModel, sql: str, now: datetime | None = None) -> Materialized:
    """SCD type 2: one row per version with valid_from/valid_to; the current version has valid_to NULL.

    ``strategy='timestamp'`` (with ``updated_at``) opens a version when that column moves forward;
    ``strategy='check'`` (with ``check_cols``: a list or 'all') when a checked column changes.
    ``invalidate_hard_deletes=true`` (dbt 1.9: ``hard_deletes='invalidate'``) closes the current
    version of a key that disappeared. A dbt project's snapshot has dbt's columns: dbt_scd_id
    (md5 of key and version start, as dbt hashes them), dbt_updated_at, dbt_valid_from, dbt_valid_to."""
    schema, name = cm.model.schema, cm.model.alias or cm.model.name
    target = _rel(schema, name)
    key = cm.unique_key
    strategy = cm.config.get("strategy", "timestamp")
    names = _snapshot_names(cm)
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    now_sql = exp.cast(exp.Literal.string(now.isoformat(sep=" ")), "timestamp")
    if strategy == "timestamp":
        updated = cm.config.get("updated_at")
        if not updated:
            raise KontorError(f"{cm.model.rel_path}: snapshot with strategy 'timestamp' needs config updated_at")
        # dbt keeps updated_at's own type in the version columns; Kontor's snapshots use timestamps
        version_start = _col(updated, "n") if names["scd_id"] else exp.cast(_col(updated, "n"), "timestamp")
    elif strategy == "check":
        version_start = now_sql
    else:
        raise KontorError(f"{cm.model.rel_path}: unknown snapshot strategy {strategy!r}; use 'timestamp' or 'check'")

    con.execute(_sql("staged_snapshot", query=verbatim(sql)))
    meta_cols = {v for v in names.values() if v}
    for column in meta_cols:
        if column in {c for c, _ in _columns(con, "__kontor_snapshot")}:
            raise KontorError(f"{cm.model.rel_path}: the query already has a column {column!r}, which snapshots add")
    source_cols = [c for c, _ in _columns(con, "__kontor_snapshot")]

    def new_versions(start: exp.Expression, source: str) -> exp.Select:
        return exp.select(*(_col(c, "n") for c in source_cols), *_version_columns(names, key, start)).from_(exp.to_table(source).as_("n"))

    if relation_type(con, schema, name) is None:
        def first():
            con.execute(_sql("create_schema", schema=schema))
            con.execute(exp.Create(this=target, kind="TABLE", expression=new_versions(version_start, "__kontor_snapshot"))
                        .sql(dialect="duckdb"))
        _transaction(con, first)
        return Materialized(f"{schema}.{name}", "snapshot", _count(con, target), "first snapshot", sql)

    if strategy == "timestamp":
        changed = exp.GT(this=version_start.copy(), expression=_col(names["valid_from"], "c"))
    else:
        check = cm.config.get("check_cols", "all")
        cols = [c for c in source_cols if c not in key] if check == "all" else list(check)
        changed = exp.or_(*(exp.NullSafeNEQ(this=_col(c, "c"), expression=_col(c, "n")) for c in cols)) if cols else exp.false()
    current = exp.select("*").from_(target.copy()).where(exp.column(names["valid_to"], quoted=True).is_(exp.null()))
    hard_deletes = cm.config.get("invalidate_hard_deletes") or cm.config.get("hard_deletes") == "invalidate"

    def update():
        _add_new_columns(con, target, "__kontor_snapshot")
        con.execute(_sql("snapshot_changes", relation=target, valid_to=names["valid_to"], start=version_start,
                         keys=_same_keys(key, "c", "n"), changed=changed))
        con.execute(_sql("snapshot_close", relation=target, valid_to=names["valid_to"], keys=_same_keys(key, "t", "x")))
        con.execute(_insert_by_name(target, new_versions(exp.column("__start", "n"), "__kontor_changes")))
        unchanged = exp.select(exp.Literal.number(1)).from_(current.subquery("c")).where(_same_keys(key, "c", "n"))
        con.execute(_insert_by_name(target, new_versions(version_start, "__kontor_snapshot").where(~exp.Exists(this=unchanged))))
        if hard_deletes:
            con.execute(_sql("snapshot_invalidate", relation=target, valid_to=names["valid_to"], now=now_sql,
                             keys=_same_keys(key, "t", "n")))
    _transaction(con, update)
    changes = _count(con, "__kontor_changes")
    con.execute(template(__file__, "snapshot_drop_staged"))
    return Materialized(f"{schema}.{name}", "snapshot", _count(con, target), f"{changes} changed keys", sql)


class Catalog:
    """The warehouse's schemas and relations, read once for many models built one after another
    on one connection (the model layer's step): the warehouse has one writer, so what this run
    builds is all that changes. Saves a schema statement and a catalog look-up per model."""

    def __init__(self, con: Connection):
        self.refresh(con)

    def refresh(self, con: Connection) -> None:
        self.schemas = engine_catalog.schemas(con)
        self.relations = {(r[0], r[1]): r[2] for r in engine_catalog.relations(con)}


def materialize(con: Connection, compiled: CompiledProject, name: str,
                full_refresh: bool = False, catalog: Catalog | None = None) -> Materialized:
    """Build model ``name``; ``catalog``: the warehouse's relations as known to the caller, who
    keeps them (``stage.build``), instead of a look-up."""
    cm = compiled.models[name]
    schema, model_name = cm.model.schema, cm.model.alias or cm.model.name
    if catalog is None or schema not in catalog.schemas:
        con.execute(_sql("create_schema", schema=schema))
    kind = cm.materialized
    # One catalog look-up per model, passed on: the relation cannot change in between, as the
    # warehouse has this one writer.
    existing = relation_type(con, schema, model_name) if catalog is None else catalog.relations.get((schema, model_name))
    sql = compiled.render_for_run(name, is_incremental=False, con=con) if cm.runtime else cm.sql
    for hook in compiled.hooks(name, "pre_hook"):      # dbt's pre-hooks, rendered with this
        con.execute(hook)
    if (cm.config.get("contract") or {}).get("enforced"):
        sql = enforce_contract(con, cm, sql)
    leftover = catalog is None or (schema, _staged(model_name)) in catalog.relations
    built = _build(con, compiled, cm, kind, sql, existing, full_refresh, leftover)
    if (cm.config.get("contract") or {}).get("enforced") and kind != "view":
        for column in cm.model.properties.columns:
            if any((c or {}).get("type") == "not_null" for c in column.constraints):
                con.execute(_set_not_null(_rel(schema, model_name), column.name))
    for hook in compiled.hooks(name, "post_hook"):
        con.execute(hook)
    if catalog is not None:
        catalog.schemas.add(schema)
        catalog.relations[(schema, model_name)] = "view" if kind == "view" else "table"
    return built


def enforce_contract(con, cm: CompiledModel, sql: str) -> str:
    """dbt's enforced contract: the query's columns are exactly the declared ones, each of the
    declared type (as DuckDB names it); the relation gets them in the declared order."""
    declared = [(c.name, str(c.data_type)) for c in cm.model.properties.columns]
    actual = {name: typ for name, typ in _columns(con, exp.paren(verbatim(sql), copy=False))}
    canonical = {}
    for name, typ in declared:
        canonical[name] = con.execute(exp.select(exp.func("typeof", exp.cast(exp.null(), data_type(typ))))
                                      .sql(dialect="duckdb")).fetchone()[0]
    missing = [n for n, _ in declared if n not in actual]
    extra = [n for n in actual if n not in canonical]
    wrong = [f"{n}: declared {canonical[n]}, the query gives {actual[n]}" for n, _ in declared
             if n in actual and actual[n] != canonical[n]]
    if missing or extra or wrong:
        parts = ([f"missing {missing}"] if missing else []) + ([f"not declared {extra}"] if extra else []) + wrong
        raise KontorError(f"{cm.model.rel_path}: the contract of {cm.model.name} ({cm.model.properties.file}:"
                          f"{cm.model.properties.line}) is broken: {'; '.join(parts)}; fix: the query or the columns' data_type")
    return exp.select(*(exp.alias_(exp.cast(exp.column(n, quoted=True), data_type(t)), n, quoted=True) for n, t in declared)) \
        .from_(exp.Subquery(this=verbatim(sql), alias=exp.TableAlias(this=exp.to_identifier("__contract")))).sql(dialect="duckdb")


def _build(con, compiled: CompiledProject, cm: CompiledModel, kind: str, sql: str, existing: str | None,
           full_refresh: bool, leftover: bool = True) -> Materialized:
    schema, model_name, name = cm.model.schema, cm.model.alias or cm.model.name, cm.model.name
    if kind == "view":
        return build_view(con, schema, model_name, sql, existing)
    if kind == "table":
        return build_table(con, schema, model_name, sql, existing=existing, leftover=leftover)
    if kind == "incremental":
        # config(full_refresh=false) protects a model whose history cannot be rebuilt (dbt's rule).
        full_refresh = full_refresh and cm.config.get("full_refresh", True) is not False
        if existing != "table" or full_refresh:
            return build_table(con, schema, model_name, sql, kind="incremental (full)", existing=existing,
                               leftover=leftover)
        return build_incremental(con, cm, compiled.render_for_run(name, is_incremental=True, con=con))
    if kind == "snapshot":
        # History is the point of a snapshot: a full refresh never drops it (as in dbt).
        return build_snapshot(con, cm, sql)
    raise KontorError(f"{cm.model.rel_path}: unknown materialization {kind!r}")


def build_seed(con: Connection, seed) -> int:
    """A seed CSV as table ``<schema>.<name>``; a dbt project's seed typed as dbt types it."""
    schema, name = seed.schema, seed.alias or seed.name
    con.execute(_sql("create_schema", schema=schema))
    if seed.fqn:     # a dbt project's seed
        sql = dbt_seed_sql(con, seed.path, seed.config.get("column_types") or {}, seed.config.get("delimiter", ","))
    else:
        sql = _sql("seed_read", path=exp.Literal.string(str(seed.path)))
    return build_table(con, schema, name, sql).rows or 0


# dbt's type inference for seeds (agate's TypeTester as dbt configures it, then dbt-duckdb's type
# names): a column whose every value is a number with no fractional part is INTEGER (BIGINT past
# its range, where dbt fails), other numbers DOUBLE; %Y-%m-%d dates DATE; date-times TIMESTAMP;
# true/false (any case) BOOLEAN; everything else VARCHAR. '' and 'null' are NULL; an empty column
# is INTEGER, as in dbt.
_SEED_TESTS = {
    "number": r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$",
    "integral": r"^\s*[+-]?\d+(\.0*)?\s*$",
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "datetime": r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$",
}


def dbt_seed_sql(con: Connection, path, column_types: dict, delimiter: str = ",") -> str:
    # the path and delimiter are literals, not bound values: the result is a model's query, run later
    read = parse_one(_sql("dbt_seed_read", path=exp.Literal.string(str(path)), delimiter=exp.Literal.string(delimiter)),
                     dialect="duckdb")
    columns = [r[0] for r in con.execute(_sql("describe", relation=exp.paren(read, copy=False))).fetchall()]
    source = read.args["from_"].this     # the read_csv call, under each select below
    checks: list[exp.Expression] = []
    for c in columns:
        v = _nulled(c)
        checks += [exp.Count(this=v.copy())] + [exp.CountIf(this=exp.RegexpLike(this=v.copy(), expression=exp.Literal.string(rx)))
                                                for rx in _SEED_TESTS.values()]
        checks += [exp.CountIf(this=exp.In(this=exp.Lower(this=v.copy()), expressions=[exp.Literal.string("true"), exp.Literal.string("false")])),
                   exp.CountIf(this=exp.Not(this=exp.Between(this=exp.TryCast(this=v.copy(), to=exp.DataType.build("bigint")),
                                                            low=exp.Literal.number(-2147483648), high=exp.Literal.number(2147483647))))]
    row = con.execute(exp.select(*checks).from_(source.copy()).sql(dialect="duckdb")).fetchone()
    width = 3 + len(_SEED_TESTS)
    selects = []
    for i, c in enumerate(columns):
        n, number, integral, date, datetime_, boolean, wide = row[i * width:(i + 1) * width]
        if c in column_types:
            typ = str(column_types[c])
        elif n == number:
            typ = ("BIGINT" if wide else "INTEGER") if n == integral else "DOUBLE"
        elif n == date:
            typ = "DATE"
        elif n == datetime_:
            typ = "TIMESTAMP"
        elif n == boolean:
            typ = "BOOLEAN"
        else:
            typ = "VARCHAR"
        value = _nulled(c) if typ != "VARCHAR" or c not in column_types else exp.column(c, quoted=True)
        if typ in ("INTEGER", "BIGINT") and c not in column_types:
            value = exp.cast(value, exp.DataType.build("decimal(38, 6)"))   # '1.0' is an integer to dbt
        selects.append(exp.alias_(exp.cast(value, data_type(typ)), c, quoted=True))
    return exp.select(*selects).from_(source).sql(dialect="duckdb")


def _nulled(column: str) -> exp.Expression:
    """A seed's text value, '' and 'null' as NULL (as dbt reads them)."""
    return exp.Nullif(this=exp.Nullif(this=exp.column(column, quoted=True), expression=exp.Literal.string("")),
                      expression=exp.Literal.string("null"))

