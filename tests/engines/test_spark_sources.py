"""Sources on Spark (pipelines/engines/sources.py): the DuckDB sources stage reads the files, and
what it loaded, its ledger and its quarantine land in the Spark catalog, row for row."""
from __future__ import annotations

import pytest

from pipelines.engines.sources import land_sources
from pipelines.sources.spec import load_sources

pytestmark = pytest.mark.spark


def test_raw_tables_ledger_and_quarantine_land_in_the_spark_catalog(spark_demo, tmp_path):
    settings, duck, engine = spark_demo.settings, spark_demo.duck, spark_demo.engine
    tables = load_sources(settings.sources_file).tables
    landed = land_sources(duck, engine, tables, tmp_path / "to_spark")
    assert {t.raw_table for t in tables} <= set(landed)
    assert {"kontor.load_ledger", "kontor.quarantine"} <= set(landed)
    for relation, rows in landed.items():
        assert engine.to_arrow(f"select count(*) as n from {relation}").column("n")[0].as_py() == rows, relation
        assert duck.to_arrow(f"select count(*) as n from {relation}").column("n")[0].as_py() == rows, relation
    # every file of the ledger is there and reconciles on Spark (the demo at scale 0.1 quarantines
    # no row, so the quarantine is compared as it is: row for row, by source)
    assert landed["kontor.load_ledger"] > 0
    unbalanced = engine.to_arrow("select count(*) as n from kontor.load_ledger "
                                 "where status = 'loaded' and rows_read <> rows_loaded + rows_quarantined")
    assert unbalanced.column("n")[0].as_py() == 0
    quarantined = "select source, count(*) as n from kontor.quarantine group by source order by source"
    assert engine.to_arrow(quarantined).to_pylist() == duck.to_arrow(quarantined).to_pylist()
    # a full delivery's current batch is there as well, for the models to read
    current = [t for t in tables if f"{t.raw_table}__current" in landed]
    assert current, "no __current relation landed"
