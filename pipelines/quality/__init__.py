"""Quality gates: Great Expectations suites from ``expectations/*.yml``, run fast on DuckDB.

- ``spec``: load and shape-check the files (no GX import; the Dagster layer needs names only);
- ``stage``: the entry point: the project's gates (``Gate``: a suite with its row key, dbt's
  store_failures, what it reads), dbt's tests as gates, the model layer's gates, ``judge`` one;
- ``checking``: ``kontor check`` for them, against an empty catalog of the project's relations;
- ``gate``: ``DuckDBGate``, GX expectations judged by GX on metrics DuckDB computes
  (``conditions``: the row conditions as SQL with GX pandas semantics);
- ``runner``: ``run_suite``, one suite on its relation, evidence into ``kontor.gate_results`` and
  ``kontor.gate_quarantine``, Data Docs via ``datadocs``;
- ``spark_gate``: the same suites on Spark tables, judged by GX's own Spark engine
  (``run_suite(..., engine=<SparkEngine>)``).

The Dagster checks are in ``assets/checks.py`` (wiring only); research and measurements behind the design in
``docs/research/gx_on_duckdb/FINDINGS.md`` and ``benchmarks/gates_vs_pandas.py``.
"""
