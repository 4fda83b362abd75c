"""The sources stage on Spark: the loaded extracts, their ledger and quarantine, as Spark tables.

Design decision: the files are read by the DuckDB sources stage as they are today, and what it
loaded is then copied into the Spark catalog as Parquet tables. The reader is where Kontor's
guarantees live (every source row loaded or quarantined with file, line and reason; the ledger's
counts reconciling; German number and date formats; encodings; delta deliveries); writing a
second reader on Spark would mean proving each of them twice, and Spark's own CSV reader drops or
nulls malformed rows instead of quarantining them with their line. The cost is that the extracts
pass through one machine once, which they do anyway (they arrive as files on it); the models,
entity resolution and gates, where data grows by joins, then run on Spark.

What lands (``land_sources``), each under the same ``schema.name`` as in DuckDB, row counts checked:

- ``raw.<system>__<table>`` (every batch, with the lineage columns) and, for full deliveries, the
  ``__current`` view as a table of the latest batch (a snapshot: on Spark it is rebuilt by the
  next landing, not a view over raw);
- ``kontor.load_ledger``, ``kontor.quarantine`` and ``kontor.removed_rows``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.engines.engine import DuckDBEngine, Engine, copy_tables

if TYPE_CHECKING:
    from pipelines.sources.spec import SourceTable

BOOKKEEPING = (("kontor", "load_ledger"), ("kontor", "quarantine"), ("kontor", "removed_rows"))


def source_relations(duck: DuckDBEngine, tables: list["SourceTable"]) -> list[tuple[str, str]]:
    """The relations the sources stage wrote for ``tables`` that exist in the DuckDB warehouse:
    raw tables, their ``__current`` views, then the ledger, quarantine and removed rows."""
    present = {(r.schema, r.name) for r in duck.tables()}
    wanted = []
    for table in tables:
        schema, name = table.raw_table.split(".", 1)
        wanted += [(schema, name), (schema, f"{name}__current")]
    return [rel for rel in (*wanted, *BOOKKEEPING) if rel in present]


def land_sources(duck: DuckDBEngine, target: Engine, tables: list["SourceTable"], tmp_dir: Path) -> dict[str, int]:
    """Copy what the sources stage loaded into ``target`` (the Spark engine); rows per relation."""
    return copy_tables(duck, target, source_relations(duck, tables), tmp_dir)
