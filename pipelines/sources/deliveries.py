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

import duckdb

from pipelines.sources.spec import SourceTable
from pipelines.core.sql import ident, literal, table as qtable

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


def _loaded_batches(table: SourceTable) -> str:
    # a delivery whose every row was quarantined is not the current state: it is an error to fix
    return (f"select batch_id from kontor.load_ledger where system = {literal(table.system)} "
            f"and table_name = {literal(table.name)} and status = 'loaded' and (rows_loaded > 0 or rows_read = 0)")


def ensure_current_view(con: duckdb.DuckDBPyConnection, table: SourceTable) -> None:
    con.execute(REMOVED_DDL)
    raw = qtable(table.raw_table)
    if table.delivery == "full":
        body = f"select * from {raw} where _batch_id = (select max(batch_id) from ({_loaded_batches(table)}))"
    elif table.primary_key:
        pk = ", ".join(ident(c) for c in table.primary_key)
        body = f"select * from {raw} qualify row_number() over (partition by {pk} order by _batch_id desc, _line desc) = 1"
    else:
        body = f"select * from {raw}"
    con.execute(f"create or replace view {qtable(current_view(table))} as {body}")


def record_full_delivery(con: duckdb.DuckDBPyConnection, table: SourceTable, new_batches: list[int | None]) -> None:
    """For each new full delivery, the keys the delivery before it had and it lacks."""
    con.execute(REMOVED_DDL)
    if not table.primary_key:
        return
    raw = qtable(table.raw_table)
    pk = ", ".join(ident(c) for c in table.primary_key)
    key_json = "to_json(struct_pack(" + ", ".join(f"{ident(c)} := {ident(c)}" for c in table.primary_key) + "))::varchar"
    counted = {r[0] for r in con.execute(_loaded_batches(table)).fetchall()}
    for batch in sorted(b for b in new_batches if b in counted):
        previous = con.execute(f"select max(batch_id) from ({_loaded_batches(table)}) where batch_id < {int(batch)}").fetchone()[0]
        if previous is None:
            continue
        con.execute(f"""
            insert into kontor.removed_rows
            select {literal(table.system)}, {literal(table.name)}, {int(batch)}, {int(previous)}, {key_json}, now()::timestamp
            from (select distinct {pk} from {raw} where _batch_id = {int(previous)}
                  except select distinct {pk} from {raw} where _batch_id = {int(batch)})""")
