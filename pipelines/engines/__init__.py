"""Engines: SQL written in DuckDB's dialect, executed on DuckDB (the default) or on Spark.

- ``engine``: ``Engine``, ``DuckDBEngine``, ``SparkEngine``, ``copy_tables`` (DuckDB tables into
  another engine through Parquet)
- ``spark_rules``: DuckDB → Spark through sqlglot plus Kontor's rewrite rules (``to_spark``)
- ``spark_session``: ``[tool.kontor] engine`` and ``[tool.kontor.spark]``; ``start_session``
- ``sources``: ``land_sources``, what the DuckDB sources stage loaded (raw tables, ledger,
  quarantine) copied into Spark's catalog
- ``explain``: ``explain_problems``, ``kontor check`` having Spark plan every model against an
  empty catalog

Modules are imported by their full name; pyspark is imported only when a Spark session starts.
"""
