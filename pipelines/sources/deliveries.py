"""Full and delta deliveries: what a table's current state is.

``delivery: delta`` (the default): each file adds or updates rows; the current state is the
newest version of each primary key (``_batch_id``, then ``_line``: a later row of the same file
wins). ``delivery: full``: each file is the whole table; the current state is the newest
delivery alone, and a key the previous delivery had and this one lacks was deleted at the
source: it is recorded in ``kontor.removed_rows`` (what a snapshot with hard deletes needs).

Either way raw keeps every batch (the history), and the view ``raw.<system>__<table>__current``
holds the current state, so models never double a re-delivered extract.
"""
from __future__ import annotations

from sqlglot import exp, parse_one

from pipelines.engines.connection import Connection
from pipelines.sources.spec import SourceTable
from pipelines.core.sql import render, table_expr, template

REMOVED_DDL = """
create table if not exists kontor.removed_rows (
    system varchar not null,
    table_name varchar not null,
    batch_id bigint not null,          -- the full delivery that no longer has the row
    previous_batch_id bigint not null, -- the delivery before it, which had it
    key_json varchar not null,         -- the primary key, as JSON
    detected_at timestamp not null
)"""


def current_view(table: SourceTable) -> str:
    return f"{table.raw_table}__current"


def _loaded_batches(table: SourceTable) -> exp.Select:
    # literals, not bound values: the query is part of a view's definition
    return parse_one(render(template(__file__, "loaded_batches"), system=exp.Literal.string(table.system),
                            table_name=exp.Literal.string(table.name)), dialect="duckdb")


def _columns(names) -> list[exp.Column]:
    return [exp.column(c, quoted=True) for c in names]


def ensure_current_view(con: Connection, table: SourceTable) -> None:
    con.execute(REMOVED_DDL)
    raw = table_expr(table.raw_table)
    if table.delivery == "full":
        newest = exp.select(exp.Max(this=exp.column("batch_id"))).from_(_loaded_batches(table).subquery())
        body = exp.select("*").from_(raw).where(exp.column("_batch_id").eq(newest.subquery()))
    elif table.primary_key:
        latest = exp.Window(this=exp.RowNumber(), partition_by=_columns(table.primary_key),
                            order=exp.Order(expressions=[exp.Ordered(this=exp.column("_batch_id"), desc=True),
                                                         exp.Ordered(this=exp.column("_line"), desc=True)]))
        body = exp.select("*").from_(raw).qualify(latest.eq(1))
    else:
        body = exp.select("*").from_(raw)
    con.execute(render(template(__file__, "current_view"), current=table_expr(current_view(table)), query=body))


def record_full_delivery(con: Connection, table: SourceTable, new_batches: list[int | None]) -> None:
    """For each new full delivery, the keys the delivery before it had and it lacks."""
    con.execute(REMOVED_DDL)
    if not table.primary_key:
        return
    raw = table_expr(table.raw_table)
    key_json = exp.cast(exp.Anonymous(this="to_json", expressions=[exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(c, quoted=True), expression=exp.column(c, quoted=True))
        for c in table.primary_key])]), "varchar")

    def keys(batch_of: exp.Placeholder) -> exp.Select:
        return exp.select(*_columns(table.primary_key)).distinct().from_(raw.copy()).where(exp.column("_batch_id").eq(batch_of))

    loaded = _loaded_batches(table)
    before = exp.select(exp.Max(this=exp.column("batch_id"))).from_(loaded.subquery()) \
        .where(exp.column("batch_id") < exp.Placeholder()).sql(dialect="duckdb")
    removed = exp.insert(
        exp.select(exp.Placeholder(), exp.Placeholder(), exp.Placeholder(), exp.Placeholder(), key_json,
                   exp.cast(exp.Anonymous(this="now"), "timestamp"))
        .from_(exp.except_(keys(exp.Placeholder()), keys(exp.Placeholder()), distinct=True).subquery()),
        "kontor.removed_rows").sql(dialect="duckdb")
    counted = {r[0] for r in con.execute(loaded.sql(dialect="duckdb")).fetchall()}
    for batch in sorted(b for b in new_batches if b in counted):
        previous = con.execute(before, [int(batch)]).fetchone()[0]
        if previous is None:
            continue
        con.execute(removed, [table.system, table.name, int(batch), int(previous), int(previous), int(batch)])
