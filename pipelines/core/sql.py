"""SQL as data: a stage's SQL in ``sql/*.sql`` beside it, names through sqlglot, values bound.

A template is plain SQL in DuckDB's dialect (the state store's: in its backend's). Values are
bound parameters (``?``, ``$name``); a name that varies (a table, a column) is a ``:name``
placeholder that ``render`` replaces with a quoted identifier through sqlglot, so nothing is
quoted by hand and another engine can transpile the result.

>>> ident('Konto Nr'), literal("O'Brien")
('"Konto Nr"', "'O''Brien'")
>>> render("select count(*) from :queue where status = ?", queue=table_expr("entities.customer_review_queue"))
'SELECT COUNT(*) FROM "entities"."customer_review_queue" WHERE status = ?'
>>> render("select id, :col from t", col="Konto Nr")
'SELECT id, "Konto Nr" FROM t'
>>> render("select id, :cols, n from t", cols=["a", exp.column("b", table="t")])
'SELECT id, "a", t.b, n FROM t'
"""
from __future__ import annotations

import functools
from pathlib import Path

from sqlglot import exp, parse_one


def ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def table(qualified: str) -> str:
    """``schema.table`` with each part quoted."""
    return ".".join(ident(part) for part in qualified.split("."))


def literal(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="duckdb")


def table_expr(qualified: str) -> exp.Table:
    """``[catalog.][schema.]table`` as a sqlglot table, each part a quoted identifier."""
    parts = qualified.split(".")
    return exp.table_(parts[-1], db=parts[-2] if len(parts) > 1 else None,
                      catalog=parts[-3] if len(parts) > 2 else None, quoted=True)


@functools.cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip().rstrip(";").strip()


def template(anchor: str, name: str) -> str:
    """The text of ``sql/<name>.sql`` beside the module whose ``__file__`` is ``anchor``."""
    return _read(Path(anchor).parent / "sql" / f"{name}.sql")


def render(sql: str, dialect: str = "duckdb",
           **names: str | exp.Expression | list[str | exp.Expression]) -> str:
    """``sql`` with each ``:name`` placeholder replaced: a string by a quoted identifier, an
    expression (``table_expr``, a sqlglot node) as it is, a list (of either) spliced into the
    list the placeholder stands in (a select list, a ``group by``, a function's arguments); the
    result is written by sqlglot in ``dialect``. Without names the text is returned as written.
    (A placeholder cannot open a select list: DuckDB reads ``select :x`` as its ``alias:
    expression`` syntax.)"""
    if not names:
        return sql

    def node(value: str | exp.Expression) -> exp.Expression:
        return exp.to_identifier(value, quoted=True) if isinstance(value, str) else value

    lists = {key: [node(v) for v in value] for key, value in names.items() if isinstance(value, (list, tuple))}
    values = {key: node(value) for key, value in names.items() if not isinstance(value, (list, tuple))}

    def swap(node: exp.Expression) -> exp.Expression:
        # a whole table in a table's place (sqlglot's replace_placeholders puts only an identifier there)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Placeholder) and not node.args.get("db") \
                and isinstance(values.get(node.this.name), exp.Table):
            table = values[node.this.name].copy()
            if node.args.get("alias"):
                table.set("alias", node.args["alias"].copy())
            return table
        return node

    tree = parse_one(sql, dialect=dialect).transform(swap)
    for placeholder in list(tree.find_all(exp.Placeholder)):
        # a copy per place: a name used twice must not share one node
        if placeholder.name in lists:
            placeholder.replace([item.copy() for item in lists[placeholder.name]])
        elif placeholder.name in values:
            placeholder.replace(values[placeholder.name].copy())
    return tree.sql(dialect=dialect)


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
