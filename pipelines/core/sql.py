"""SQL as data: a stage's SQL in ``sql/*.sql`` beside it, names through sqlglot, values bound.

A template is plain SQL in DuckDB's dialect (the state store's: in its backend's). Values are
bound parameters (``?``, ``$name``); a name that varies (a table, a column) is a ``:name``
placeholder that ``render`` replaces with a quoted identifier through sqlglot, so nothing is
quoted by hand and another engine can transpile the result.

>>> ident('Konto Nr')
'"Konto Nr"'
>>> render("select count(*) from :queue where status = ?", queue=table_expr("entities.customer_review_queue"))
'SELECT COUNT(*) FROM "entities"."customer_review_queue" WHERE status = ?'
>>> render("select id, :col from t", col="Konto Nr")
'SELECT id, "Konto Nr" FROM t'
>>> render("select id, :cols, n from t", cols=["a", exp.column("b", table="t")])
'SELECT id, "a", t.b, n FROM t'
"""
from __future__ import annotations

import functools

from sqlglot import exp, parse_one

from pipelines.core.templates import template  # re-exported: stages import it with the helpers

__all__ = ["ident", "table", "table_expr", "template", "verbatim", "data_type", "add_column", "render", "statements"]


def ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def table(qualified: str) -> str:
    """``schema.table`` with each part quoted."""
    return ".".join(ident(part) for part in qualified.split("."))


def table_expr(qualified: str) -> exp.Table:
    """``[catalog.][schema.]table`` as a sqlglot table, each part a quoted identifier."""
    parts = qualified.split(".")
    return exp.table_(parts[-1], db=parts[-2] if len(parts) > 1 else None,
                      catalog=parts[-3] if len(parts) > 2 else None, quoted=True)




def verbatim(sql: str) -> exp.Expression:
    """A query that is already SQL of the engine (a model's compiled SQL), for a ``:name``
    placeholder: sqlglot writes it back exactly as given, never re-parsed or rewritten.

    >>> render("create or replace view :relation as :query", relation=table_expr("marts.x"), query=verbatim("select 1 as a"))
    'CREATE OR REPLACE VIEW "marts"."x" AS select 1 as a'
    """
    return exp.Var(this=sql)


def data_type(text: str) -> exp.DataType:
    """A type as DuckDB writes it (``describe``) or a project declares it; one sqlglot does not
    know stays as written.

    >>> data_type("decimal(18,3)").sql("duckdb"), data_type('STRUCT("a b" INTEGER)').sql("duckdb")
    ('DECIMAL(18, 3)', 'STRUCT("a b" INT)')
    """
    return exp.DataType.build(text, dialect="duckdb", udt=True)


def add_column(target: exp.Table, column: str, typ: str) -> str:
    """``alter table ... add column``: built, as a template cannot hold a type's place."""
    return exp.Alter(this=target.copy(), kind="TABLE", actions=[
        exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=data_type(typ))]).sql(dialect="duckdb")


@functools.lru_cache(maxsize=512)
def _parsed(sql: str, dialect: str) -> exp.Expression:
    # a template is parsed once (the models stage renders a few per model); render copies it
    return parse_one(sql, dialect=dialect)


def render(sql: str, dialect: str = "duckdb", /, **names: str | exp.Expression | list) -> str:
    """``sql`` with each ``:name`` placeholder replaced: a string by a quoted identifier, an
    expression (``table_expr``, a sqlglot node) as it is, a list by its items (strings or
    expressions) where the placeholder is one of a list's (a ``group by``, a ``partition by``, a
    column list, a select list after its first item, a function's arguments); a name used twice
    is filled in each place. The result is written by sqlglot in ``dialect``. Without names the
    text is returned as written. (A placeholder cannot open a select list: DuckDB reads ``select :x`` as
    its ``alias: expression`` syntax.) ``sql`` and ``dialect`` are positional only, so every keyword
    is a placeholder's name (``:sql``, ``:dialect`` too); another dialect is the second argument.

    >>> render("select count(*) from t group by :key", key=["Konto Nr", "BU"])
    'SELECT COUNT(*) FROM t GROUP BY "Konto Nr", "BU"'
    """
    if not names:
        return sql

    def node(value: str | exp.Expression) -> exp.Expression:
        return exp.to_identifier(value, quoted=True) if isinstance(value, str) else value

    lists = {key: [node(v) for v in value] for key, value in names.items() if isinstance(value, (list, tuple))}
    values = {key: node(value) for key, value in names.items() if key not in lists}

    def swap(node: exp.Expression) -> exp.Expression:
        # a whole table in a table's place (sqlglot's replace_placeholders puts only an identifier there)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Placeholder) and not node.args.get("db") \
                and isinstance(values.get(node.this.name), exp.Table):
            table = values[node.this.name].copy()
            if node.args.get("alias"):
                table.set("alias", node.args["alias"].copy())
            return table
        return node

    tree = _parsed(sql, dialect).transform(swap)    # transform copies: the cached tree stays as parsed
    for placeholder in list(tree.find_all(exp.Placeholder)):
        # a copy per place: a name used twice must not share one node
        if placeholder.name in lists:
            placeholder.replace([item.copy() for item in lists[placeholder.name]])
        elif placeholder.name in values:
            placeholder.replace(values[placeholder.name].copy())
    # the tree is this call's own (the cached template and every value copied in): written without
    # the generator's copy of it, the largest part of a render (a survivorship statement's tree)
    return tree.sql(dialect=dialect, copy=False)


def statements(sql: str) -> list[str]:
    """A script's statements, split where sqlite3 says a statement is complete (a trigger's
    ``begin ... end;`` stays one statement)."""
    import sqlite3

    out, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip().rstrip(";").strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return [s for s in out if s]
