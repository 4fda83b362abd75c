"""Engines: SQL written in DuckDB's dialect, executed on DuckDB (the default) or on Spark.

Only this package imports ``duckdb`` or Splink's backends (``tests/test_engine_boundary.py``).

- ``connection``: the warehouse connection as the stages see it: ``Connection`` (a protocol of the
  calls they make), ``EngineError``, ``CatalogError`` and the other error names (DuckDB's classes),
  ``connect`` (a database file, or an in-memory one); ``insert_arrow``, ``fetch_arrow``,
  ``fetch_polars``: rows in and out as Arrow (DuckDB's relation API stays here)
- ``catalog``: what the warehouse holds (schemas, relations, columns, comments, temporary
  tables), asked of the engine; DuckDB's catalog functions are queried only here
- ``splink_backend``: Splink's ``DuckDBAPI`` / ``SparkAPI`` for the entity stage (``DuckDBSplink``,
  ``SparkSplink``; built by ``Engine.splink()``)
- ``engine``: ``Engine``, ``DuckDBEngine``, ``SparkEngine``, ``copy_tables`` (DuckDB tables into
  another engine through Parquet)
- ``spark_rules``: DuckDB → Spark through sqlglot plus Kontor's rewrite rules (``to_spark``)
- ``spark_session``: ``[tool.kontor] engine`` and ``[tool.kontor.spark]``; ``start_session``
- ``sources``: ``land_sources``, what the DuckDB sources stage loaded (raw tables, ledger,
  quarantine) copied into Spark's catalog
- ``explain``: ``explain_problems``, ``kontor check`` having Spark plan every model against an
  empty catalog

Modules are imported by their full name; pyspark is imported only when a Spark session starts,
splink only when a backend is asked for, and ``connection`` imports neither sqlglot nor pyarrow.
"""
