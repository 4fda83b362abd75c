"""``kontor check`` with ``engine = "spark"``: every transpiled model planned by Spark against an
empty catalog, so what sqlglot writes but Spark cannot bind (an unknown function, a type Spark
will not coerce, a column a rule renamed) is found before a run, at the model's ``file:line``.

The empty catalog is the one the quality check binds against (``pipelines.quality.checking.
empty_catalog``: raw tables with their declared types, models as views), so the inputs get
DuckDB's column types; they are created empty on Spark (through zero-row Parquet files), and each
model in dependency order becomes a Spark view over them: creating a view makes Spark analyse
the query (names, functions, types) without running a job, as ``EXPLAIN`` would.

Nothing touches a real catalog: the session is a local one of the installed pyspark (the plans
are those of this Spark version; a cluster of another version may differ), its warehouse a
temporary directory, and every schema gets the prefix ``kontor_check__`` (the model SQL is
re-pointed there through sqlglot), dropped at the end.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from pipelines.core.errors import Problem
from pipelines.models.compile import CompiledProject

PREFIX = "kontor_check__"


def _repoint(sql: str, schemas: set[str]) -> str:
    """``sql`` (DuckDB's dialect) reading ``PREFIX<schema>.name`` for each of ``schemas``."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in tree.find_all(exp.Table):
        if table.db in schemas:
            table.set("db", exp.to_identifier(PREFIX + table.db))
    return tree.sql(dialect="duckdb")


def _line(raw_sql: str, message: str) -> int | None:
    """The model file's line of the first name Spark's message quotes (`name`), if it is there."""
    for name in re.findall(r"`([^`]+)`", message):
        word = name.split(".")[-1]
        for number, text in enumerate(raw_sql.splitlines(), 1):
            if re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE):
                return number
    return None


def _reads(sql: str) -> set[str]:
    import sqlglot
    from sqlglot import exp

    return {f"{t.db}.{t.name}" for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table) if t.db}


def _intervals_only_on_spark(con, session, cm) -> list[str]:
    """Columns of the model Spark types as an interval where DuckDB's empty catalog does not."""
    from sqlglot import exp

    from pipelines.engines.engine import _table

    try:
        duck = {str(row[0]).lower(): str(row[1]).upper() for row in
                con.execute(exp.Describe(this=_table(cm.model.schema, cm.model.alias or cm.model.name)).sql("duckdb")).fetchall()}
    except Exception:  # noqa: BLE001 - the model did not bind on DuckDB: its own check says why
        return []
    spark = session.table(_table(PREFIX + cm.model.schema, cm.model.alias or cm.model.name).sql("spark")).schema
    return [field.name for field in spark.fields if "Interval" in type(field.dataType).__name__
            and field.name.lower() in duck and "INTERVAL" not in duck[field.name.lower()]]


def explain_problems(compiled: CompiledProject, session=None) -> list[Problem]:
    """Problems of the models Spark cannot plan; ``session`` defaults to a local one started here
    (and stopped after; none without Java: then nothing is explained). Models that do not
    transpile are left to ``transpile_problems``, and models reading a failed one are skipped."""
    from sqlglot import exp

    from pipelines.engines.engine import DuckDBEngine, SparkEngine, _create_schema, _table, copy_tables
    from pipelines.engines.spark_rules import Untranslatable
    from pipelines.models.on_engine import _unsupported, model_inputs
    from pipelines.quality.checking import empty_catalog

    con = empty_catalog(compiled)
    tmp = Path(tempfile.mkdtemp(prefix="kontor_check_spark_"))
    own = session is None
    if own and shutil.which("java") is None:
        return []
    if own:
        from pyspark.sql import SparkSession

        from pipelines.engines.spark_session import SparkConfig, start_session

        own = SparkSession.getActiveSession() is None
        session = start_session(SparkConfig(master="local[1]", app_name="kontor check", warehouse_dir=str(tmp / "warehouse"),
                                            conf={"spark.sql.shuffle.partitions": "1"}))
    engine = SparkEngine(session)
    inputs = model_inputs(compiled)
    schemas = {s for s, _ in inputs} | {cm.model.schema for cm in compiled.models.values()}
    problems = []
    try:
        duck = DuckDBEngine(con)
        for schema in sorted({s for s, _ in inputs}):
            con.execute(_create_schema(PREFIX + schema).sql("duckdb"))
        for schema, name in inputs:
            con.execute(exp.Create(this=_table(PREFIX + schema, name), kind="VIEW",
                                   expression=exp.select("*").from_(_table(schema, name))).sql("duckdb"))
        copy_tables(duck, engine, [(PREFIX + s, n) for s, n in inputs], tmp / "parquet")
        failed: set[str] = set()     # models not planned: those reading them are not judged again
        for name in compiled.order:
            cm = compiled.models[name]
            if cm.materialized == "ephemeral" or _unsupported(cm) or _reads(cm.sql) & failed:
                failed.add(cm.model.relation)
                continue
            try:
                engine.create_or_replace(PREFIX + cm.model.schema, cm.model.alias or cm.model.name,
                                         _repoint(cm.sql, schemas), kind="view")
            except Untranslatable:
                failed.add(cm.model.relation)
            except Exception as exc:  # noqa: BLE001 - Spark's analysis error, with the model's file in front
                failed.add(cm.model.relation)
                message = str(exc).splitlines()[0][:500].replace(PREFIX, "")
                problems.append(Problem(cm.model.rel_path, _line(cm.model.raw_sql, message),
                                        f"Spark cannot plan the model: {message}; fix: write it so that both engines "
                                        "accept it, or add a rule to pipelines/engines/spark_rules.py"))
            else:
                for column in _intervals_only_on_spark(con, session, cm):
                    problems.append(Problem(cm.model.rel_path, _line(cm.model.raw_sql, f"`{column}`"),
                                            f"column {column} is an interval on Spark and a number on DuckDB "
                                            "(date - date: DuckDB counts days, Spark makes an INTERVAL DAY); "
                                            "fix: write date_diff('day', start, end), which both engines read as days"))
    finally:
        con.close()
        for schema in sorted(schemas):
            session.sql(exp.Drop(tables=[exp.Table(this=exp.to_identifier(PREFIX + schema, quoted=True))], kind="SCHEMA",
                                 exists=True, cascade=True).sql("spark"))
        if own:
            session.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return problems
