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

    def load_parquet(self, schema: str, name: str, path: Path) -> int:
        # a directory is what Spark writes: part files beside _SUCCESS
        files = path / "*.parquet" if path.is_dir() else path
        return self.create_or_replace(schema, name, f"select * from read_parquet({literal(str(files))})") or 0

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
        return self.create_or_replace_spark(schema, name, query)

    def to_arrow(self, sql: str) -> pa.Table:
        return self.spark.sql(self.transpile(sql)).toArrow()

    def exists(self, schema: str, name: str) -> bool:
        return self._kind(schema, name) is not None

    def kind_of(self, schema: str, name: str) -> str | None:
        """"table", "view" or None."""
        return self._kind(schema, name)

    def count(self, schema: str, name: str) -> int:
        return self.spark.table(_spark_rel(schema, name)).count()

    def columns(self, schema: str, name: str) -> list[str]:
        return list(self.spark.table(_spark_rel(schema, name)).columns)

    def provider(self, schema: str, name: str) -> str:
        """The table's format as Spark's catalog names it (parquet, delta, iceberg ...)."""
        rows = self._sql(f"describe table extended {_spark_rel(schema, name)}").collect()
        return next((str(r[1]).lower() for r in rows if str(r[0]).strip().lower() == "provider"), "")

    def write_parquet(self, schema: str, name: str, path: Path) -> int:
        """The relation written as Parquet files into directory ``path``; returns its row count."""
        frame = self.spark.table(_spark_rel(schema, name))
        frame.write.mode("overwrite").parquet(str(path))
        return self.count(schema, name)

    def merge(self, schema: str, name: str, increment_sql: str, key: list[str]) -> tuple[int, str]:
        """Rows of ``increment_sql`` (DuckDB's dialect) merged into the table by ``key``: a row
        whose key arrives is replaced, the others are kept; without a key the rows are appended.
        Returns (the increment's rows, how it was merged).

        A table format with row-level changes (Delta, Iceberg) takes ``MERGE INTO``. Spark's own
        Parquet tables have none (``MERGE INTO`` is refused on them), so the fallback builds the
        merged table beside the old one (the old rows whose key did not arrive, then the new rows)
        and swaps it in as ``create_or_replace`` does: the same result, the whole table rewritten.
        The increment is evaluated once, into a work table, before the old table is touched."""
        target, work = _spark_rel(schema, name), _spark_rel(schema, "__kontor_increment_" + name)
        self._sql(f"drop table if exists {work}")
        self._sql(f"create table {work} using parquet as\n{self.transpile(increment_sql)}")
        try:
            new_rows = self.spark.table(work).count()
            old_cols, new_cols = self.columns(schema, name), self.spark.table(work).columns
            if set(old_cols) != set(new_cols):
                from pipelines.core.errors import KontorError

                raise KontorError(f"{schema}.{name}: the columns changed (now {new_cols}, the table has {old_cols}); "
                                  "on Spark an incremental model's columns cannot change in place; fix: run with --full-refresh")
            cols = ", ".join(_spark_ident(c) for c in old_cols)
            if not key:
                self._sql(f"insert into {target} ({cols}) select {cols} from {work}")
                return new_rows, "append"
            on = " and ".join(f"t.{_spark_ident(k)} <=> n.{_spark_ident(k)}" for k in key)
            if self.provider(schema, name) in ("delta", "iceberg"):
                self._sql(f"merge into {target} t using {work} n on {on} "
                          "when matched then update set * when not matched then insert *")
                return new_rows, "merge (MERGE INTO)"
            self.create_or_replace_spark(schema, name, f"select {cols} from {target} t left anti join {work} n on {on} "
                                                       f"union all select {cols} from {work}")
            return new_rows, "merge (table rewritten: Parquet has no MERGE INTO)"
        finally:
            self._sql(f"drop table if exists {work}")

    def create_or_replace_spark(self, schema: str, name: str, spark_sql: str) -> int:
        """``create_or_replace`` of a table from a query already in Spark's dialect."""
        target, staged = _spark_rel(schema, name), _spark_rel(schema, NEW_PREFIX + name)
        self._sql(f"drop table if exists {staged}")
        self._sql(f"create table {staged} using parquet as\n{spark_sql}")
        existing = self._kind(schema, name)
        if existing:
            self._sql(f"drop {'view' if existing == 'view' else 'table'} {target}")
        self._sql(f"alter table {staged} rename to {target}")
        return self.spark.table(target).count()

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
        return self.create_or_replace_spark(schema, name, f"select * from parquet.`{path}`")

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


def copy_to_duckdb(source: SparkEngine, target: DuckDBEngine, relations: list[tuple[str, str]], tmp_dir: Path) -> dict[str, int]:
    """Copy Spark relations (tables or views) into the DuckDB warehouse as tables, through Parquet
    files in ``tmp_dir`` (removed afterwards); each swapped in within one DuckDB transaction.
    Returns the rows per ``schema.name``; a count that differs raises."""
    from pipelines.core.errors import KontorError

    tmp_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    try:
        for schema, name in relations:
            path = (tmp_dir / f"{schema}__{name}").resolve()
            expected = source.write_parquet(schema, name, path)
            rows = target.load_parquet(schema, name, path)
            if rows != expected:
                raise KontorError(f"{schema}.{name}: {expected} rows on Spark, {rows} arrived in DuckDB")
            copied[f"{schema}.{name}"] = rows
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return copied
