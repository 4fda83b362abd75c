"""What the warehouse holds, asked of its engine: schemas, relations, columns, comments, temporary tables.

The stages ask these questions of a ``Connection``; the answer is the engine's to find. On DuckDB
it is one query on its catalog functions (``duckdb_tables()``, ``duckdb_views()``,
``duckdb_columns()``, ``duckdb_schemas()``: unlike ``information_schema`` they tell the
warehouse's own relations from temporary and attached ones, and carry comments and row
estimates); those queries live here, in ``sql/catalog_*.sql``, and nowhere else
(``tests/test_engine_boundary.py``). A ``SparkConnection`` answers the questions the entity
stage asks of it (which tables exist) from Spark's catalog.

Like ``connection``, this module imports neither sqlglot nor pyarrow.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipelines.core.templates import template

if TYPE_CHECKING:
    from pipelines.engines.connection import Connection


def _spark(con: "Connection") -> Any:
    """The Spark catalog a ``SparkConnection`` offers (``spark_catalog``); None for DuckDB's
    connection, which answers the SQL of ``sql/catalog_*.sql``."""
    return getattr(con, "spark_catalog", None)


def schemas(con: "Connection") -> set[str]:
    """The warehouse's schemas (not temporary or attached ones)."""
    return {r[0] for r in con.execute(template(__file__, "catalog_schemas")).fetchall()}


def relations(con: "Connection", schema: str | None = None, name: str | None = None) -> list[tuple]:
    """The warehouse's own tables and views (all, of one schema, or the one ``schema.name``),
    sorted: (schema, name, ``table`` or ``view``, comment, estimated rows (tables only))."""
    return con.execute(template(__file__, "catalog_relations"), [schema, name]).fetchall()


def relation_kind(con: "Connection", schema: str, name: str) -> str | None:
    """``table``, ``view``, or None when the warehouse itself has no such relation."""
    found = relations(con, schema, name)
    return found[0][2] if found else None


def columns(con: "Connection", schema: str | None = None, table: str | None = None,
            database: str | None = None) -> list[tuple]:
    """The columns of the warehouse's relations (all, of one schema, or of ``schema.table``) or of
    an attached ``database``'s, in the order ``describe`` gives them: (schema, table, column, type,
    comment)."""
    return con.execute(template(__file__, "catalog_columns"), [database, schema, table]).fetchall()


def comments(con: "Connection") -> list[tuple]:
    """(schema, relation, column or None for the relation itself, comment) for each comment the
    warehouse's tables, views and columns have."""
    return con.execute(template(__file__, "catalog_comments")).fetchall()


def definitions(con: "Connection", database: str | None = None) -> set[tuple]:
    """What defines the warehouse's (or an attached ``database``'s) objects, comments included:
    (kind, schema, name, column, definition, comment) per schema, table (its ``CREATE``
    statement), view, column (of a table or view; its type), index, sequence, macro and type. Two databases with equal
    sets define the same relations; their rows may still differ."""
    return set(con.execute(template(__file__, "catalog_definitions"), [database]).fetchall())


def database_info(con: "Connection", database: str | None = None) -> tuple[str | None, str | None, str]:
    """(file, storage format, engine version) of the warehouse or an attached ``database``: the
    format as DuckDB tags it (``v1.4.0+``: readable by DuckDB 1.4 and later), the version of the
    DuckDB running now."""
    found = con.execute(template(__file__, "catalog_database"), [database]).fetchall()
    return tuple(found[0]) if found else (None, None, "")


def table_comment(con: "Connection", schema: str, table: str) -> str | None:
    """The comment of table ``schema.table`` (in any database of the connection), None without one."""
    found = con.execute(template(__file__, "catalog_table_comment"), [schema, table]).fetchall()
    return found[0][0] if found else None


def table_exists(con: "Connection", schema: str, table: str) -> bool:
    """Whether a table (not a view) ``schema.table`` exists in any database of the connection."""
    spark = _spark(con)
    if spark is not None:
        return spark.table_exists(schema, table)
    return bool(con.execute(template(__file__, "catalog_table_exists"), [schema, table]).fetchall()[0][0])


def temp_table_exists(con: "Connection", name: str) -> bool:
    """Whether a temporary table ``name`` exists."""
    spark = _spark(con)
    if spark is not None:
        return spark.temp_table_exists(name)
    return bool(con.execute(template(__file__, "catalog_temp_table_exists"), [name]).fetchall()[0][0])


def temp_views(con: "Connection", like: str) -> list[str]:
    """The temporary views whose name matches the SQL ``like`` pattern."""
    return [r[0] for r in con.execute(template(__file__, "catalog_temp_views"), [like]).fetchall()]
