"""Descriptions where analysts look: the YAML's table and column descriptions as DuckDB comments.

Every description written in the project (``models/sources.yml``, the models' YAML, entity and
report descriptions, Kontor's own bookkeeping tables) goes onto the warehouse's tables, views and
columns with ``COMMENT ON``; the serving copy inherits them (``COPY FROM DATABASE`` copies
comments), so the DuckDB CLI (``select comment from duckdb_columns()``), DBeaver and
``kontor describe`` show them. Each table's comment names its grain ("one row per ..."): when
the description does not, the grain is added from the model's ``unique_key`` or the table kind.

>>> with_grain("Invoices from accounting.", "invoice_no")
'Invoices from accounting. Grain: one row per invoice_no.'
>>> with_grain("Calendar, one row per day.", "date_day")
'Calendar, one row per day.'
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipelines.engines import catalog
from pipelines.engines.connection import Connection

# "one row per invoice", "One golden record per cluster", "(one row per ERP item)": the grain said
_HAS_GRAIN = re.compile(r"\b(one|each)\s+(?:[\w-]+\s+){0,3}?(row|record|line|entry)s?\s+(per|for each)\b|\bone row\b",
                        re.IGNORECASE)


@dataclass
class TableDoc:
    relation: str                                   # schema.table
    description: str = ""
    grain: str = ""                                 # "invoice_no", "file and batch" ...
    columns: dict[str, str] = field(default_factory=dict)
    keep_table_comment: bool = False                # the table's writer sets its comment (the state store's mirrors)

    @property
    def comment(self) -> str:
        return with_grain(self.description, self.grain)

    def describe(self, column: str) -> str:
        """The column's description ('' when none)."""
        return self.columns.get(column, "")


def with_grain(description: str, grain: str) -> str:
    """The description, with "Grain: one row per <grain>." unless it already says its grain."""
    text = " ".join(description.split())
    if not grain or _HAS_GRAIN.search(text):
        return text
    return (text + " " if text else "") + f"Grain: one row per {grain}."


def _comment(kind: str, target, text: str) -> str:
    from sqlglot import exp   # only where comments are written: kontor query must not load sqlglot

    return exp.Comment(this=target, kind=kind, expression=exp.Literal.string(text)).sql("duckdb")


def _exp():
    from sqlglot import exp

    return exp


def existing_relations(con: Connection) -> dict[str, tuple[str, set[str]]]:
    """schema.table -> (TABLE or VIEW, its column names) in the current database."""
    found: dict[str, tuple[str, set[str]]] = {}
    rows = con.execute(
        "select t.table_schema, t.table_name, t.table_type, c.column_name from information_schema.tables t "
        "join information_schema.columns c using (table_catalog, table_schema, table_name) "
        "where t.table_catalog = current_database() and t.table_schema not in ('information_schema', 'pg_catalog')"
    ).fetchall()
    for schema, name, kind, column in rows:
        entry = found.setdefault(f"{schema}.{name}", ("VIEW" if kind == "VIEW" else "TABLE", set()))
        entry[1].add(column)
    return found


def current_comments(con: Connection) -> dict[tuple[str, str | None], str]:
    """(schema.table, column or None for the table itself) -> its comment, where it has one. A
    comment already in place is not written again: each ``COMMENT ON`` is a catalog change of its
    own, and a run that rebuilt a few tables would otherwise rewrite every comment of every table."""
    return {(f"{schema}.{name}", column): comment for schema, name, column, comment in catalog.comments(con)}


def apply_comments(con: Connection, docs: Iterable[TableDoc]) -> tuple[int, int]:
    """``COMMENT ON`` every documented table and column that exists; returns (tables, columns) commented.
    A documented relation or column the warehouse does not have (yet) is left out, not an error:
    the YAML's own checks (``kontor check``) say when a described column does not exist."""
    existing = existing_relations(con)
    said = current_comments(con)
    tables = columns = 0
    statements = []
    for doc in docs:
        if doc.relation not in existing:
            continue
        kind, names = existing[doc.relation]
        schema, name = doc.relation.split(".", 1)
        if doc.comment and not doc.keep_table_comment:
            if said.get((doc.relation, None)) != doc.comment:
                statements.append(_comment(kind, _exp().table_(name, db=schema, quoted=True), doc.comment))
            tables += 1
        for column in sorted(names):
            text = " ".join((doc.describe(column) or "").split())
            if text:
                if said.get((doc.relation, column)) != text:
                    statements.append(_comment("COLUMN", _exp().column(column, table=name, db=schema, quoted=True), text))
                columns += 1
    if statements:
        # One transaction: each COMMENT ON on its own commits, and a commit waits for its WAL
        # write to reach the disk (a 200-model run rewrites 200 comments: 0.3-0.5 s of fsyncs).
        con.execute("begin transaction")
        try:
            con.execute(";\n".join(statements))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return tables, columns


def read_comments(con: Connection, relation: str | None = None) -> list[dict]:
    """What the database says about its tables (all, or one ``schema.table``): comment, kind,
    rows (tables only: DuckDB's estimate), and the columns with type and comment."""
    wanted = relation.split(".", 1) if relation else (None, None)
    tables = []
    for schema, name, kind, comment, size in catalog.relations(con, *wanted):
        cols = [c[2:] for c in catalog.columns(con, schema, name)]
        tables.append({"relation": f"{schema}.{name}", "kind": kind, "comment": comment or "", "rows": size,
                       "columns": [{"name": c, "type": t, "comment": d or ""} for c, t, d in cols]})
    return tables
