"""Engines: SQL written in DuckDB's dialect, executed on DuckDB (the default) or on Spark.

- ``engine``: ``Engine``, ``DuckDBEngine``, ``SparkEngine``, ``copy_tables`` (DuckDB tables into
  another engine through Parquet)
- ``spark_rules``: DuckDB → Spark through sqlglot plus Kontor's rewrite rules (``to_spark``)
- ``spark_session``: ``[tool.kontor] engine`` and ``[tool.kontor.spark]``; ``start_session``

Modules are imported by their full name; pyspark is imported only when a Spark session starts.
"""
