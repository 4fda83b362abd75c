"""The part of DuckDB's connection API the entity stage uses, on Spark.

The entity stage writes DuckDB SQL against a connection: ``execute(sql).fetchall()``, temporary
tables, ``create or replace table``, ``insert_rows`` (``from_arrow(batch).insert_into(table)``).
``SparkConnection`` runs the same calls on a Spark session, so ``standardise`` runs unchanged:

- a query is transpiled (``spark_rules.to_spark``) and its rows come back as tuples (through Arrow:
  ``collect()`` pickles row by row, about three times as slow on 300,000 rows);
- a temporary table is a temporary view over a checkpointed DataFrame: a snapshot, as in DuckDB
  (a view over the query would be recomputed, and see later changes of its inputs);
- ``create or replace table s.t as ...`` goes through ``SparkEngine.create_or_replace`` (built
  under a new name, then swapped), without a final ORDER BY: a Spark Parquet table keeps no row
  order (a read packs its files largest first), so its readers sort (the copies into DuckDB); ``create table if not exists`` with columns becomes a Parquet
  table (constraints are dropped: Spark's file tables enforce none, Kontor writes these tables
  itself);
- inserting rows into a temporary table replaces its snapshot with one that has them; rows from
  Python (``insert_rows``: the legal forms, city aliases) go as one Arrow table, and a temporary
  table of such rows only stays a local relation (it is a snapshot already: checkpointing it
  would cost a Spark job per insert for nothing);
- ``insert_mapped`` (not DuckDB's: ``engines.mapped`` calls it) runs a Python function over a
  query's rows on the executors and has Spark write the result: the IBAN/VAT-ID checks, whose
  values never come to the driver.

What it does not know (parameters, ``update``, ``delete``, other statements) raises ``KontorError``:
loud, never a silent half-translation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from pipelines.core.errors import KontorError
from pipelines.engines.engine import SparkEngine, _create_parquet, _create_schema, _drop, _spark_ident, _spark_rel, _table
from pipelines.engines.spark_rules import to_spark

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


class SparkConnection:
    """DuckDB's ``execute``/``fetchall``/``from_arrow`` on a Spark session (see the module)."""

    def __init__(self, session: "SparkSession"):
        from pipelines.engines.spark_functions import register

        self.spark = session
        self.engine = SparkEngine(session)
        register(session)
        self.temps: set[str] = set()
        self.local: set[str] = set()        # temporary tables that hold only rows sent from Python
        self._rows: list[tuple] = []

    # -- DuckDB's surface -------------------------------------------------------------------
    def execute(self, sql: str, parameters: Any = None) -> "SparkConnection":
        if parameters:
            raise KontorError("SparkConnection: parameters (?) are not supported; write the values into the SQL")
        self._rows = []
        for statement in sqlglot.parse(sql, read="duckdb"):
            if statement is not None:
                self._rows = self._statement(statement)
        return self

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def from_arrow(self, batch: "pa.Table") -> "_Rows":
        return _Rows(self, batch)

    @property
    def spark_catalog(self) -> "_Catalog":
        """What ``pipelines.engines.catalog`` asks of this connection, from Spark's catalog."""
        return _Catalog(self)

    # -- statements -------------------------------------------------------------------------
    def _statement(self, node: exp.Expression) -> list[tuple]:
        if isinstance(node, exp.Create):
            self._create(node)
            return []
        if isinstance(node, exp.Drop):
            self._drop(node)
            return []
        if isinstance(node, exp.Insert) and isinstance(node.this, exp.Table) and not node.args.get("where"):
            self._insert_query(node)
            return []
        if isinstance(node, exp.Query):
            table = self.spark.sql(to_spark(node.sql(dialect="duckdb"))).toArrow()
            return list(zip(*(column.to_pylist() for column in table.columns))) if table.num_columns else []
        raise KontorError(f"SparkConnection: {node.key} statements are not translated to Spark: "
                          f"{node.sql(dialect='duckdb')[:120]}")

    def _create(self, node: exp.Create) -> None:
        kind = (node.args.get("kind") or "").upper()
        target = node.this
        if kind == "SCHEMA":
            self.spark.sql(_create_schema(target.db or target.name).sql("spark"))
            return
        table = target.this if isinstance(target, exp.Schema) else target
        columns = target.expressions if isinstance(target, exp.Schema) else None
        temporary = any(isinstance(p, exp.TemporaryProperty) for p in (node.args.get("properties") or exp.Properties()).expressions)
        query = node.expression
        if kind not in ("TABLE", "VIEW"):
            raise KontorError(f"SparkConnection: create {kind.lower()} is not translated to Spark")
        if temporary or not table.db:
            if table.db:
                raise KontorError(f"SparkConnection: a temporary {kind.lower()} in schema {table.db}")
            if query is not None:
                df = self.spark.sql(to_spark(query.sql(dialect="duckdb")))
                self._temp(table.name, df if kind == "VIEW" else df.localCheckpoint())
            else:
                self._temp(table.name, self.spark.createDataFrame([], _schema(columns)), local=True)
            return
        if query is not None:
            if kind == "VIEW":
                self.engine.create_or_replace(table.db, table.name, query.sql(dialect="duckdb"), kind="view")
            else:
                self.engine.create_or_replace(table.db, table.name, _unordered(query).sql(dialect="duckdb"))
            return
        exists = bool(node.args.get("exists"))
        if not exists:
            self.spark.sql(_drop("table", _table(table.db, table.name), exists=True).sql("spark"))
        self.spark.sql(_create_schema(table.db).sql("spark"))
        self.spark.sql(_create_parquet(exp.Schema(this=_table(table.db, table.name), expressions=_defs(columns)),
                                       None, exists=exists).sql("spark"))

    def _drop(self, node: exp.Drop) -> None:
        kind = (node.args.get("kind") or "").upper()
        for table in node.args.get("tables") or [node.this]:
            self._drop_one(kind, table, bool(node.args.get("exists")), bool(node.args.get("cascade")))

    def _drop_one(self, kind: str, table: exp.Table, exists: bool, cascade: bool) -> None:
        if not table.db and table.name in self.temps:
            self.spark.catalog.dropTempView(table.name)
            self.temps.discard(table.name)
            self.local.discard(table.name)
            return
        if kind == "SCHEMA":
            self.spark.sql(_drop("schema", exp.Table(this=exp.to_identifier(table.db or table.name, quoted=True)),
                                 exists, cascade).sql("spark"))
            return
        if not table.db:
            if exists:
                return
            raise KontorError(f"SparkConnection: no temporary table {table.name}")
        self.spark.sql(_drop(kind, _table(table.db, table.name), exists).sql("spark"))

    def _insert_query(self, node: exp.Insert) -> None:
        table = node.this
        df = self.spark.sql(to_spark(node.expression.sql(dialect="duckdb")))
        self._append(table.db, table.name, df)

    # -- helpers ------------------------------------------------------------------------------
    def _temp(self, name: str, df: "DataFrame", local: bool = False) -> None:
        df.createOrReplaceTempView(name)
        self.temps.add(name)
        (self.local.add if local else self.local.discard)(name)

    def _append(self, db: str, name: str, df: "DataFrame", local: bool = False) -> None:
        if not db and name in self.temps:
            current = self.spark.table(_spark_ident(name))
            both = current.union(df.toDF(*current.columns))
            local = local and name in self.local
            self._temp(name, both if local else both.localCheckpoint(), local=local)
        else:
            df.write.insertInto(_spark_rel(db, name) if db else _spark_ident(name))

    def temp_table(self, name: str, batch: "pa.Table") -> None:
        """A temporary table holding the rows of ``batch`` (e.g. one the DuckDB side computed),
        checkpointed: a snapshot, read by the statements that follow as DuckDB's would be."""
        self._temp(name, self.spark.createDataFrame(batch).localCheckpoint())

    def insert(self, table: str, batch: "pa.Table") -> None:
        """``insert into table`` the rows of ``batch``, columns by position (``insert_rows``)."""
        tree = sqlglot.parse_one(table, into=exp.Table, read="duckdb")
        target = self.spark.table(_spark_ident(tree.name) if not tree.db and tree.name in self.temps
                                  else _spark_rel(tree.db, tree.name))
        from pyspark.sql.pandas.types import to_arrow_schema

        # by position, as DuckDB's insert_into; the Arrow types made the target's (a column of
        # only NULLs comes as Arrow's null type)
        batch = batch.rename_columns(target.columns).cast(to_arrow_schema(target.schema))
        self._append(tree.db, tree.name, self.spark.createDataFrame(batch, target.schema), local=True)


    def insert_mapped(self, table: str, query: str, fn) -> None:
        """``insert into table`` each row of ``query`` followed by ``fn(*row)``'s values, ``fn``
        run on the executors (``mapped.start_mapped_insert``): ``mapInArrow`` over the query's
        rows, its output written by Spark; no row comes to the driver. ``fn`` and its module travel
        by value (cloudpickle), so the executors need what that module imports, not Kontor. An
        error of ``fn`` there (a library missing in the executors' Python) is a ``KontorError``
        with its message."""
        import sys

        from pyspark import cloudpickle
        from pyspark.sql.pandas.types import to_arrow_schema

        tree = sqlglot.parse_one(table, into=exp.Table, read="duckdb")
        target = self.spark.table(_spark_rel(tree.db, tree.name))
        schema = to_arrow_schema(target.schema)
        cloudpickle.register_pickle_by_value(sys.modules[fn.__module__])
        rows = self.spark.sql(to_spark(query))
        # as many tasks as the query's last shuffle has partitions (adaptive execution keeps them
        # for parallelism, down to 1 MB each); a repartition of its own was slower here
        mapped = rows.mapInArrow(_mapper(fn, len(rows.columns), schema), target.schema)
        try:
            mapped.write.insertInto(_spark_rel(tree.db, tree.name))
        except Exception as exc:  # noqa: BLE001 - pyspark's classes differ between classic and Connect
            message = _python_error(exc)
            if message is None:
                raise
            raise KontorError(f"{table}: a Python function on Spark's executors failed: {message}") from None


def _unordered(query: exp.Expression) -> exp.Expression:
    """The query of a ``create table ... as`` without its final ORDER BY, when nothing but the
    rows' order depends on it (no LIMIT or OFFSET). DuckDB keeps a table's rows in the order
    written; a Spark Parquet table does not (a read packs its files largest first), so on Spark the
    sort was a sampling job and a shuffle for an order no reader gets. What needs the order sorts
    when it reads: the copies back into DuckDB do (``stage._copied_back``, ``spark._to_duckdb``)."""
    if not isinstance(query, exp.Query) or query.args.get("order") is None \
            or any(query.args.get(key) is not None for key in ("limit", "offset", "fetch")):
        return query
    query = query.copy()
    query.set("order", None)
    return query


def _mapper(fn, width: int, schema: "pa.Schema"):
    """The function ``mapInArrow`` runs on each executor: the first ``width`` columns of a batch,
    then ``fn`` of each row's values as the remaining columns of ``schema``."""
    def mapped(batches):
        import pyarrow as pa

        for batch in batches:
            rows = zip(*(column.to_pylist() for column in batch.columns[:width]))
            values = [fn(*row) for row in rows]
            extra = [pa.array([v[i] for v in values], type=schema.field(width + i).type)
                     for i in range(len(schema) - width)]
            yield pa.RecordBatch.from_arrays([*batch.columns[:width], *extra], schema=schema)
    return mapped


def _python_error(exc: Exception) -> str | None:
    """The last line of the Python traceback a failed executor task sent back (``PythonException``:
    ``ModuleNotFoundError: ...``), or None when ``exc`` is not one."""
    text = str(exc)
    if "Traceback (most recent call last)" not in text:
        return None
    lines = [line.strip() for line in text.split("Traceback (most recent call last)")[-1].splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith(("File ", "^", "~")) and ":" in line
              and line.split(":")[0].replace(".", "").isidentifier()]
    return errors[-1] if errors else None


class _Rows:
    """``con.from_arrow(batch)`` as ``insert_rows`` uses it: ``.insert_into(table)``."""

    def __init__(self, con: SparkConnection, batch: "pa.Table"):
        self.con, self.batch = con, batch

    def insert_into(self, table: str) -> None:
        self.con.insert(table, self.batch)


class _Catalog:
    """``catalog.table_exists`` and ``catalog.temp_table_exists`` on Spark: a table is one in
    Spark's catalog (not a view); a temporary table is a temporary table or view this connection
    made (both are temporary views here, see the module)."""

    def __init__(self, con: SparkConnection):
        self.con = con

    def table_exists(self, schema: str, table: str) -> bool:
        return self.con.engine.kind_of(schema, table) == "table"

    def temp_table_exists(self, name: str) -> bool:
        return name in self.con.temps


def _defs(columns: list[exp.Expression] | None) -> list[exp.ColumnDef]:
    """The column definitions (name and type), constraints dropped."""
    defs = [exp.ColumnDef(this=exp.to_identifier(c.name, quoted=True), kind=c.args["kind"].copy())
            for c in columns or [] if isinstance(c, exp.ColumnDef)]
    if not defs:
        raise KontorError("SparkConnection: a table without column definitions")
    return defs


def _schema(columns: list[exp.Expression] | None) -> str:
    """Column definitions as a Spark DDL schema (``name type, ...``)."""
    return ", ".join(d.sql(dialect="spark") for d in _defs(columns))
