"""The engine object: SQL written in DuckDB's dialect, executed on DuckDB or on Spark.

The stages write their SQL once, in DuckDB's dialect; an engine runs it. ``DuckDBEngine`` runs it
as it is; ``SparkEngine`` writes it as Spark SQL first (sqlglot plus ``spark_rules``). Both offer
what the models stage needs: execute, create-or-replace a table or view (a failed build leaves
the previous relation), read a relation or query to Arrow, list tables, load Parquet files; and
Splink's backend on the engine for the entity stage (``splink``). Nothing outside this package
needs to know which engine it is.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from pipelines.core.sql import verbatim
from pipelines.engines.spark_rules import to_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pipelines.engines.connection import Connection
    from pipelines.engines.splink_backend import DuckDBSplink, SparkSplink

NEW_PREFIX = "__kontor_new_"


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str       # table | view


def _table(schema: str, name: str) -> exp.Table:
    return exp.table_(name, db=schema, quoted=True)


def _create_schema(schema: str) -> exp.Create:
    return exp.Create(this=exp.Table(this=exp.to_identifier(schema, quoted=True)), kind="SCHEMA", exists=True)


def _read_parquet(path) -> str:
    """``select * from read_parquet(...)`` of a path (a file or a glob) or a list of files."""
    files = exp.Array(expressions=[exp.Literal.string(str(p)) for p in path]) if isinstance(path, list) \
        else exp.Literal.string(str(path))
    return exp.select("*").from_(exp.func("read_parquet", files, dialect="duckdb")).sql("duckdb")


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
        return self.create_or_replace(schema, name, _read_parquet(path)) or 0

    def splink(self):
        """Splink's backend on this engine (``splink_backend``), for the entity stage."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class DuckDBEngine(Engine):
    """DuckDB: the SQL as written; tables swapped in inside one transaction."""

    name = "duckdb"

    def __init__(self, con: "Connection"):
        self.con = con

    def transpile(self, sql: str) -> str:
        return sql

    def execute(self, sql: str) -> None:
        self.con.execute(sql).fetchall()      # DuckDB 2 wants a result finished before the next statement

    def create_or_replace(self, schema: str, name: str, sql: str, kind: str = "table") -> int | None:
        from pipelines.models.materialize import build_table, build_view

        self.con.execute(_create_schema(schema).sql("duckdb"))
        built = build_view(self.con, schema, name, sql) if kind == "view" else build_table(self.con, schema, name, sql)
        return built.rows

    def to_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def load_parquet(self, schema: str, name: str, path: Path) -> int:
        # a directory is what Spark writes: part files beside _SUCCESS
        files = path / "*.parquet" if path.is_dir() else path
        return self.create_or_replace(schema, name, _read_parquet(files)) or 0

    def load_parquet_files(self, schema: str, name: str, files: list[Path]) -> int:
        """A table from a list of Parquet files (a Spark table's own: ``SparkEngine.parquet_files``),
        read in the list's order; returns its row count."""
        return self.create_or_replace(schema, name, _read_parquet([str(f) for f in files])) or 0

    def load_arrow(self, schema: str, name: str, table: pa.Table) -> int:
        """A table from an Arrow table (what a Spark Connect session sends back); returns its rows."""
        view = "__kontor_arrow_" + name
        self.con.register(view, table)
        try:
            return self.create_or_replace(schema, name, exp.select("*").from_(exp.to_identifier(view, quoted=True)).sql("duckdb")) or 0
        finally:
            self.con.unregister(view)

    def splink(self) -> "DuckDBSplink":
        from pipelines.engines.splink_backend import DuckDBSplink

        return DuckDBSplink(self.con)

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
        return to_spark(sql, columns=self._catalog_columns)

    def _catalog_columns(self, schema: str | None, name: str) -> list[str] | None:
        """A table's column names as Spark's catalog spells them (``spark_rules.catalog_case``)."""
        if not name:
            return None
        qualified = _spark_rel(schema, name) if schema else _spark_ident(name)
        try:
            if not self.spark.catalog.tableExists(qualified):
                return None
            return list(self.spark.table(qualified).columns)
        except Exception:  # noqa: BLE001 - not a catalog table (a file, a function): spelled as written
            return None

    def execute(self, sql: str) -> None:
        self.spark.sql(self.transpile(sql))

    def _sql(self, statement: str | exp.Expression):
        return self.spark.sql(statement if isinstance(statement, str) else statement.sql("spark"))

    def _kind(self, schema: str, name: str) -> str | None:
        # one look-up: listing the schema's tables reads every table's metadata
        qualified = f"{_spark_ident(schema)}.{_spark_ident(name)}"
        if not self.spark.catalog.tableExists(qualified):
            return None
        return "view" if self.spark.catalog.getTable(qualified).tableType == "VIEW" else "table"

    def create_or_replace(self, schema: str, name: str, sql: str, kind: str = "table") -> int | None:
        query = self.transpile(sql)
        self._sql(_create_schema(schema))
        existing = self._kind(schema, name)
        if kind == "view":
            if existing == "table":
                self._sql(_drop("table", _table(schema, name)))
            self._sql(exp.Create(this=_table(schema, name), kind="VIEW", replace=True, expression=verbatim(query)))
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
        rows = self._sql(exp.Describe(this=_table(schema, name), kind="table", style="EXTENDED")).collect()
        return next((str(r[1]).lower() for r in rows if str(r[0]).strip().lower() == "provider"), "")

    @property
    def remote(self) -> bool:
        """A Spark Connect session: the server shares no file system with this process, so tables
        travel as Arrow over the connection instead of as Parquet files in a directory."""
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return isinstance(self.spark, ConnectSession)

    def load_arrow(self, schema: str, name: str, batches: "pa.RecordBatchReader", rows_per_chunk: int = 500_000) -> int:
        """A table from Arrow record batches, sent over the connection a chunk at a time into a
        table beside the old one, then swapped in as ``create_or_replace`` does; returns its rows."""
        target, staged = _table(schema, name), _table(schema, NEW_PREFIX + name)
        self._sql(_create_schema(schema))
        self._sql(_drop("table", staged, exists=True))
        chunk: list[pa.RecordBatch] = []
        size, sent = 0, False

        def send():
            frame = self.spark.createDataFrame(pa.Table.from_batches(chunk, schema=batches.schema))
            frame.write.format("parquet").mode("append" if sent else "overwrite").saveAsTable(staged.sql("spark"))

        for batch in batches:
            chunk.append(batch)
            size += batch.num_rows
            if size >= rows_per_chunk:
                send()
                chunk, size, sent = [], 0, True
        if chunk or not sent:
            send()
        existing = self._kind(schema, name)
        if existing:
            self._sql(_drop(existing, target))
        self._sql(exp.Alter(this=staged, kind="TABLE", actions=[exp.AlterRename(this=target)]))
        return self.spark.table(target.sql("spark")).count()

    def parquet_files(self, schema: str, name: str) -> list[Path] | None:
        """The local files of ``schema.name`` when it is a Spark Parquet table without partition
        or bucket columns (its files then hold all of its columns, as written): a copy can read
        them as they are, in part-file order. None otherwise (a view, another format, a
        partitioned table, files not on this machine's file system, no files)."""
        from urllib.parse import unquote, urlparse

        if self._kind(schema, name) != "table" or self.provider(schema, name) != "parquet":
            return None
        qualified = _spark_rel(schema, name)
        if any(c.isPartition or c.isBucket for c in self.spark.catalog.listColumns(qualified)):
            return None
        files = []
        for uri in self.spark.table(qualified).inputFiles():
            parsed = urlparse(uri)
            if parsed.scheme not in ("", "file"):
                return None
            files.append(Path(unquote(parsed.path)))
        return sorted(files) or None

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
        target, work = _table(schema, name), _table(schema, "__kontor_increment_" + name)
        self._sql(_drop("table", work, exists=True))
        self._sql(_create_parquet(work, self.transpile(increment_sql)))
        try:
            new_rows = self.spark.table(work.sql("spark")).count()
            old_cols, new_cols = self.columns(schema, name), self.spark.table(work.sql("spark")).columns
            if set(old_cols) != set(new_cols):
                from pipelines.core.errors import KontorError

                raise KontorError(f"{schema}.{name}: the columns changed (now {new_cols}, the table has {old_cols}); "
                                  "on Spark an incremental model's columns cannot change in place; fix: run with --full-refresh")
            cols = [exp.column(c, quoted=True) for c in old_cols]
            new = exp.select(*cols).from_(work.copy())
            if not key:
                self._sql(exp.insert(new, exp.Schema(this=target, expressions=[exp.to_identifier(c, quoted=True) for c in old_cols])))
                return new_rows, "append"
            on = exp.and_(*(exp.NullSafeEQ(this=exp.column(k, table="t", quoted=True), expression=exp.column(k, table="n", quoted=True))
                            for k in key))
            if self.provider(schema, name) in ("delta", "iceberg"):
                self._sql(exp.Merge(this=target.as_("t"), using=work.as_("n"), on=on, whens=exp.Whens(expressions=[
                    exp.When(matched=True, then=exp.Update(expressions=[exp.Star()])),
                    exp.When(matched=False, then=exp.Insert(this=exp.Star()))])))
                return new_rows, "merge (MERGE INTO)"
            kept = exp.select(*cols).from_(target.as_("t")).join(work.as_("n"), on=on, join_type="left anti")
            self.create_or_replace_spark(schema, name, exp.union(kept, new, distinct=False).sql("spark"))
            return new_rows, "merge (table rewritten: Parquet has no MERGE INTO)"
        finally:
            self._sql(_drop("table", work, exists=True))

    def create_or_replace_spark(self, schema: str, name: str, spark_sql: str) -> int:
        """``create_or_replace`` of a table from a query already in Spark's dialect."""
        target, staged = _table(schema, name), _table(schema, NEW_PREFIX + name)
        self._sql(_drop("table", staged, exists=True))
        self._sql(_create_parquet(staged, spark_sql))
        existing = self._kind(schema, name)
        if existing:
            self._sql(_drop(existing, target))
        self._sql(exp.Alter(this=staged, kind="TABLE", actions=[exp.AlterRename(this=target)]))
        return self.spark.table(target.sql("spark")).count()

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

    def splink(self, break_lineage_method: str = "persist") -> "SparkSplink":
        from pipelines.engines.splink_backend import SparkSplink

        return SparkSplink(self.spark, break_lineage_method)

    def load_parquet(self, schema: str, name: str, path: Path) -> int:
        self._sql(_create_schema(schema))
        return self.create_or_replace_spark(schema, name, exp.select("*").from_(exp.Table(
            this=exp.to_identifier(str(path), quoted=True), db=exp.to_identifier("parquet"))).sql("spark"))

    def close(self) -> None:
        self.spark.stop()


def _spark_ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("spark")


def _spark_rel(schema: str, name: str) -> str:
    return _table(schema, name).sql("spark")


def _drop(kind: str, table: exp.Table, exists: bool = False, cascade: bool = False) -> exp.Drop:
    return exp.Drop(tables=[table], kind=kind.upper(), exists=exists, cascade=cascade)


def _create_parquet(table: exp.Table | exp.Schema, spark_sql: str | None, exists: bool = False) -> exp.Create:
    """``create table ... using parquet as`` a query already in Spark's dialect (or, with a
    ``Schema`` of column definitions and no query, an empty table)."""
    return exp.Create(this=table, kind="TABLE", exists=exists, expression=verbatim(spark_sql) if spark_sql else None,
                      properties=exp.Properties(expressions=[exp.FileFormatProperty(this=exp.Var(this="parquet"))]))


def _remote(engine: Engine) -> bool:
    return bool(getattr(engine, "remote", False))


def copy_tables(source: DuckDBEngine, target: Engine, relations: list[tuple[str, str]], tmp_dir: Path) -> dict[str, int]:
    """Copy DuckDB tables into another engine through Parquet files in ``tmp_dir`` (removed
    afterwards): the first step to Spark while the sources stage writes only to DuckDB. A Spark
    Connect server shares no directory with this process: there the rows go as Arrow record
    batches over the connection. Returns the rows per ``schema.name``; a count that differs raises."""
    from pipelines.core.errors import KontorError

    tmp_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    try:
        for schema, name in relations:
            query = exp.select("*").from_(_table(schema, name))
            expected = source.con.execute(exp.select("count(*)").from_(_table(schema, name)).sql("duckdb")).fetchall()[0][0]
            if _remote(target):
                rows = target.load_arrow(schema, name, source.con.execute(query.sql("duckdb")).to_arrow_reader())
            else:
                path = tmp_dir / f"{schema}__{name}.parquet"
                source.con.execute(exp.Copy(this=query.subquery(), kind=False, files=[exp.Literal.string(str(path))],
                                            params=[exp.CopyParameter(this=exp.var("format"),
                                                                      expression=exp.var("parquet"))]).sql("duckdb")).fetchall()
                rows = target.load_parquet(schema, name, path.resolve())
            if rows != expected:
                raise KontorError(f"{schema}.{name}: {expected} rows in DuckDB, {rows} arrived on {target.name}")
            copied[f"{schema}.{name}"] = rows
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return copied


def copy_to_duckdb(source: SparkEngine, target: DuckDBEngine, relations: list[tuple[str, str]], tmp_dir: Path) -> dict[str, int]:
    """Copy Spark relations (tables or views) into the DuckDB warehouse as tables: a Spark Parquet
    table from its own files (``SparkEngine.parquet_files``), anything else through Parquet files
    Spark writes into ``tmp_dir`` (removed afterwards), or from a Spark Connect server as one Arrow
    table over the connection; each swapped in within one DuckDB transaction.
    Returns the rows per ``schema.name``; a count that differs raises."""
    from pipelines.core.errors import KontorError

    tmp_dir.mkdir(parents=True, exist_ok=True)
    copied = {}
    try:
        for schema, name in relations:
            if _remote(source):
                arrow = source.spark.table(_spark_rel(schema, name)).toArrow()
                expected, rows = arrow.num_rows, target.load_arrow(schema, name, arrow)
            elif files := source.parquet_files(schema, name):
                # a Parquet table: its own files, not a copy of them (Spark read and wrote every row)
                expected, rows = source.count(schema, name), target.load_parquet_files(schema, name, files)
            else:
                path = (tmp_dir / f"{schema}__{name}").resolve()
                expected = source.write_parquet(schema, name, path)
                rows = target.load_parquet(schema, name, path)
            if rows != expected:
                raise KontorError(f"{schema}.{name}: {expected} rows on Spark, {rows} arrived in DuckDB")
            copied[f"{schema}.{name}"] = rows
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return copied
