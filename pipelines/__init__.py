"""Kontor: a declarative back-office data pipeline on Dagster and DuckDB.

The engine lives in the subpackages of ``pipelines`` and never imports Dagster wiring;
``assets`` turns the project's files into Dagster assets; ``pipelines.definitions``
is the one entry point.
"""
