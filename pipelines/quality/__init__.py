"""Quality gates: Great Expectations suites from ``expectations/*.yml``, run fast on DuckDB.

- ``spec``: load and shape-check the files (no GX import; the Dagster layer needs names only);
- ``checking``: ``kontor check`` for them, against an empty catalog of the project's relations;
- ``gate``: ``DuckDBGate``, GX expectations judged by GX on metrics DuckDB computes
  (``conditions``: the row conditions as SQL with GX pandas semantics);
- ``runner``: ``run_suite``, one suite on its relation, evidence into ``kontor.gate_results`` and
  ``kontor.gate_quarantine``, Data Docs via ``datadocs``;
- ``spark_gate``: the same suites on Spark tables, judged by GX's own Spark engine
  (``run_suite(..., engine=<SparkEngine>)``).

The Dagster checks are in ``assets/checks.py``; research and measurements behind the design in
``docs/research/gx_on_duckdb/FINDINGS.md`` and ``benchmarks/gates_vs_pandas.py``.
"""
