"""The engine object: SQL written in DuckDB's dialect, executed on DuckDB or on Spark.

The stages write their SQL once, in DuckDB's dialect; an engine runs it. ``DuckDBEngine`` runs it
as it is; ``SparkEngine`` writes it as Spark SQL first (sqlglot plus ``spark_rules``). Both offer
what the models stage needs: execute, create-or-replace a table or view (a failed build leaves
the previous relation), read a relation or query to Arrow, list tables, load Parquet files.
Nothing outside this package needs to know which engine it is.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines.core.sql import ident, literal
from pipelines.engines.spark_rules import to_spark

if TYPE_CHECKING:
    import duckdb
    from pyspark.sql import SparkSession

NEW_PREFIX = "__kontor_new_"


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str       # table | view


def _rel(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


class Engine:
    """What every engine offers; SQL arguments are in DuckDB's dialect."""

    name = "engine"
    dialect = "duckdb"

    def transpile(self, sql: str) -> str:
        """``sql`` as this engine runs it."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def create_or_replace(self, schema: str, name: str, sql: str, kind: str = "table") -> int | None:
        """Build ``schema.name`` from a query as a table (returns its row count) or a view (None)."""
        raise NotImplementedError

    def to_arrow(self, sql: str) -> pa.Table:
        raise NotImplementedError

    def tables(self, schema: str | None = None) -> list[Relation]:
        raise NotImplementedError

    def load_parquet(self, schema: str, name: str, path: Path) -> int:
        """A table from Parquet files (a file or a directory of them); returns its row count."""
        return self.create_or_replace(schema, name, f"select * from read_parquet({literal(str(path))})") or 0

    def close(self) -> None:
        pass


class DuckDBEngine(Engine):
    """DuckDB: the SQL as written; tables swapped in inside one transaction."""

    name = "duckdb"

    def __init__(self, con: "duckdb.DuckDBPyConnection"):
        self.con = con

    def transpile(self, sql: str) -> str:
        return sql

    def execute(self, sql: str) -> None:
        self.con.execute(sql).fetchall()      # DuckDB 2 wants a result finished before the next statement

    def create_or_replace(self, schema: str, name: str, sql: str, kind: str = "table") -> int | None:
        from pipelines.models.materialize import build_table, build_view

        self.con.execute(f"create schema if not exists {ident(schema)}")
        built = build_view(self.con, schema, name, sql) if kind == "view" else build_table(self.con, schema, name, sql)
        return built.rows

    def to_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def tables(self, schema: str | None = None) -> list[Relation]:
        rows = self.con.execute("select table_schema, table_name, table_type from information_schema.tables "
                                "where table_catalog = current_database() and (? is null or table_schema = ?) "
                                "order by 1, 2", [schema, schema]).fetchall()
        return [Relation(s, n, "view" if t == "VIEW" else "table") for s, n, t in rows]


class SparkEngine(Engine):
    """Spark (classic or Spark Connect): the SQL transpiled, tables written as Parquet.

    A table is built under a temporary name first, so a failed query leaves the previous table;
    then the old one is dropped and the new one renamed: two catalog operations, not one
    transaction (Spark's file tables have none; Delta or Iceberg would, and need jars from Maven).
    """

    name = "spark"
    dialect = "spark"

    def __init__(self, session: "SparkSession"):
        self.spark = session

    def transpile(self, sql: str) -> str:
        return to_spark(sql)

    def execute(self, sql: str) -> None:
        self.spark.sql(self.transpile(sql))

    def _sql(self, spark_sql: str):
        return self.spark.sql(spark_sql)

    def _kind(self, schema: str, name: str) -> str | None:
        # one look-up: listing the schema's tables reads every table's metadata
        qualified = f"{_spark_ident(schema)}.{_spark_ident(name)}"
        if not self.spark.catalog.tableExists(qualified):
            return None
        return "view" if self.spark.catalog.getTable(qualified).tableType == "VIEW" else "table"

    def create_or_replace(self, schema: str, name: str, sql: str, kind: str = "table") -> int | None:
        query = self.transpile(sql)
        self._sql(f"create schema if not exists {_spark_ident(schema)}")
        target = _spark_rel(schema, name)
        existing = self._kind(schema, name)
        if kind == "view":
            if existing == "table":
                self._sql(f"drop table {target}")
            self._sql(f"create or replace view {target} as\n{query}")
            return None
        staged = _spark_rel(schema, NEW_PREFIX + name)
        self._sql(f"drop table if exists {staged}")
        self._sql(f"create table {staged} using parquet as\n{query}")
        if existing:
            self._sql(f"drop {'view' if existing == 'view' else 'table'} {target}")
        self._sql(f"alter table {staged} rename to {target}")
        return self.spark.table(target).count()

    def to_arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(self.transpile(sql)).toArrow()

    def tables(self, schema: str | None = None) -> list[Relation]:
        schemas = [schema] if schema else [d.name for d in self.spark.catalog.listDatabases()]
        out = []
        for db in schemas:
            if not self.spark.catalog.databaseExists(db):
                continue
            for table in self.spark.catalog.listTables(db):
                if not table.isTemporary:
                    out.append(Relation(db, table.name, "view" if table.tableType == "VIEW" else "table"))
        return sorted(out, key=lambda r: (r.schema, r.name))

    def load_parquet(self, schema: str, name: str, path: Path) -> int:
        self._sql(f"create schema if not exists {_spark_ident(schema)}")
        staged, target = _spark_rel(schema, NEW_PREFIX + name), _spark_rel(schema, name)
        self._sql(f"drop table if exists {staged}")
        self._sql(f"create table {staged} using parquet as select * from parquet.`{path}`")
        existing = self._kind(schema, name)
        if existing:
            self._sql(f"drop {'view' if existing == 'view' else 'table'} {target}")
        self._sql(f"alter table {staged} rename to {target}")
        return self.spark.table(target).count()

    def close(self) -> None:
        self.spark.stop()


def _spark_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_rel(schema: str, name: str) -> str:
    return f"{_spark_ident(schema)}.{_spark_ident(name)}"


def copy_tables(source: DuckDBEngine, target: Engine, relations: list[tuple[str, str]], tmp_dir: Path) -> dict[str, int]:
    """Copy DuckDB tables into another engine through Parquet files in ``tmp_dir`` (removed
    afterwards): the first step to Spark while the sources stage writes only to DuckDB.
    Returns the rows per ``schema.name``; a count that differs raises."""
    from pipelines.core.errors import KontorError

    tmp_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    try:
        for schema, name in relations:
            path = tmp_dir / f"{schema}__{name}.parquet"
            source.con.execute(f"copy (select * from {_rel(schema, name)}) to {literal(str(path))} (format parquet)").fetchall()
            expected = source.con.execute(f"select count(*) from {_rel(schema, name)}").fetchall()[0][0]
            rows = target.load_parquet(schema, name, path.resolve())
            if rows != expected:
                raise KontorError(f"{schema}.{name}: {expected} rows in DuckDB, {rows} arrived on {target.name}")
            copied[f"{schema}.{name}"] = rows
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return copied
