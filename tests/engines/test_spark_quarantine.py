"""Failing rows on Spark (pipelines/quality/spark_gate.py ``failing_rows``): a gate judged on Spark
writes the same rows to ``kontor.gate_quarantine`` of the DuckDB warehouse as the gate on DuckDB.

One table with known bad rows (a composite row key ``Konto``, ``Jahr``, one key value NULL; columns
with umlauts in their names and values; a decimal, a date, a timestamp) is gated on DuckDB and,
copied through Parquet as the run copies its inputs, on Spark local[2] (``stage.judge`` with the
gate's row key, as the model layer calls it). The quarantine rows (asset, rule, severity, row key,
row JSON) must be identical; the per-run columns (run id, time) are left out. A regex with a
lookahead is judged by GX on pandas over the distinct values, fetched from Spark. A second gate without
a row key names rows by position (``row N``), which Spark must count as DuckDB does."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.engines.engine import DuckDBEngine, SparkEngine, copy_tables
from pipelines.quality.spec import load_suites_or_raise
from pipelines.quality.stage import Gate, judge

pytestmark = pytest.mark.spark

ROWS = """
    ('K-1', 2024, 1.5,  'Hauptstraße 1',  12.50,  date '2024-01-31', timestamp '2024-01-31 08:00:00', 'offen'),
    ('K-1', 2025, -2.0, 'Überseering 7',  250.00, date '2025-02-28', timestamp '2025-02-28 09:30:00', 'offen'),
    ('K-2', 2024, 3.0,  null,             99.99,  date '2024-03-01', null,                            'bezahlt'),
    ('K-2', 2024, -0.5, 'äußere Gasse 2', 101.00, date '2024-04-15', timestamp '2024-04-15 10:00:00', 'storniert'),
    ('K-3', null, 4.0,  'Ölweg 3',        0.00,   null,              timestamp '2024-05-01 11:00:00', 'offen'),
    ('K-3', null, 7.25, 'Marktplatz 9',   -1.00,  date '2024-06-30', timestamp '2024-06-30 12:00:00', 'gemahnt'),
    ('K-4', 2023, 0.0,  'Ährenweg 4',     1000.10, date '2023-12-31', timestamp '2023-12-31 23:59:59', 'offen')
"""
COLUMNS = '"Konto", "Jahr", "Größe", "Straße", "Betrag", "Gebucht", "Geändert", "Status"'
TYPES = ('"Konto" varchar, "Jahr" integer, "Größe" double, "Straße" varchar, "Betrag" decimal(10, 2), '
         '"Gebucht" date, "Geändert" timestamp, "Status" varchar')

SUITE = """expectations:
  - type: expect_compound_columns_to_be_unique
    kwargs: {column_list: [Konto, Jahr]}
  - type: expect_column_values_to_be_between
    kwargs: {column: Größe, min_value: 0}
  - type: expect_column_values_to_not_be_null
    kwargs: {column: Straße}
  - type: expect_column_values_to_match_regex
    kwargs: {column: Straße, regex: '^[A-ZÄÖÜ]'}
    severity: warn
  - name: keine_aeussere
    type: expect_column_values_to_match_regex
    kwargs: {column: Straße, regex: '^(?!äu)'}
    severity: warn
  - type: expect_column_values_to_be_in_set
    kwargs: {column: Status, value_set: [offen, bezahlt, storniert], mostly: 0.5}
    severity: warn
  - name: hohe_betraege
    type: unexpected_rows_expectation
    kwargs:
      unexpected_rows_query: select * from {batch} where "Betrag" > 100 or "Gebucht" is null
  - type: expect_table_row_count_to_be_between
    kwargs: {max_value: 3}
"""
# the rows each rule flags (row keys), known by construction: what both engines must quarantine
EXPECTED = {
    "compound_columns_to_be_unique__Konto__Jahr": ["K-2|2024", "K-2|2024", "K-3", "K-3"],
    "column_values_to_be_between__Gr__e": ["K-1|2025", "K-2|2024"],
    "column_values_to_not_be_null__Stra_e": ["K-2|2024"],
    "column_values_to_match_regex__Stra_e": ["K-2|2024"],
    "keine_aeussere": ["K-2|2024"],                 # a lookahead: GX judges it on pandas (via_gx)
    "column_values_to_be_in_set__Status": ["K-3"],
    "hohe_betraege": ["K-1|2025", "K-2|2024", "K-3", "K-4|2023"],
}


def _warehouse(path: Path, with_table: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    if with_table:
        con.execute(f"create schema gates; create table gates.buchungen ({TYPES}); "
                    f"insert into gates.buchungen ({COLUMNS}) values {ROWS}; "
                    "create table gates.ohne_schluessel as select * from gates.buchungen")
    return con


def _gates(tmp_path: Path) -> list[Gate]:
    folder = tmp_path / "expectations"
    folder.mkdir()
    (folder / "gates.buchungen.yml").write_text(SUITE, encoding="utf-8")
    (folder / "gates.ohne_schluessel.yml").write_text(SUITE, encoding="utf-8")
    suites = {s.relation: s for s in load_suites_or_raise(folder)}
    return [Gate(suites["gates.buchungen"], row_key=("Konto", "Jahr")), Gate(suites["gates.ohne_schluessel"])]


QUARANTINE = "select asset, rule, severity, row_key, row_json from kontor.gate_quarantine order by all"


def test_a_failing_gate_on_spark_quarantines_the_rows_duckdb_quarantines(spark, tmp_path):
    gates = _gates(tmp_path)
    on_duckdb = _warehouse(tmp_path / "duck.duckdb", with_table=True)
    copy_tables(DuckDBEngine(on_duckdb), SparkEngine(spark), [("gates", "buchungen"), ("gates", "ohne_schluessel")],
                tmp_path / "to_spark")
    on_spark = _warehouse(tmp_path / "spark.duckdb", with_table=False)
    outcomes = {}
    for engine_name, con, engine in (("duckdb", on_duckdb, None), ("spark", on_spark, SparkEngine(spark))):
        for gate in gates:
            outcomes[engine_name, gate.suite.asset] = judge(con, gate, run_id=f"run-{engine_name}", docs_target=None,
                                                            engine=engine)
    duck_rows, spark_rows = on_duckdb.execute(QUARANTINE).fetchall(), on_spark.execute(QUARANTINE).fetchall()
    assert spark_rows == duck_rows

    # the known rows, by key (a NULL key part is left out of the key, as concat_ws leaves it out)
    keyed = {}
    for asset, rule, _, key, _ in duck_rows:
        if asset == "gates/buchungen":
            keyed.setdefault(rule, []).append(key)
    assert {rule: sorted(keys) for rule, keys in keyed.items()} == EXPECTED
    # without a row key: the row's position, counted alike on both engines
    positions = sorted(key for asset, rule, _, key, _ in spark_rows
                       if asset == "gates/ohne_schluessel" and rule == "column_values_to_be_between__Gr__e")
    assert positions == ["row 1", "row 3"]
    umlauts = next(js for asset, rule, _, key, js in spark_rows
                   if asset == "gates/buchungen" and rule == "column_values_to_not_be_null__Stra_e")
    assert '"Größe":3.0' in umlauts and '"Straße":null' in umlauts and '"Geändert":null' in umlauts
    assert '"Betrag":99.99' in umlauts and '"Gebucht":"2024-03-01"' in umlauts

    # the outcomes carry the same counts and samples; a table-level rule quarantines nothing
    for asset in ("gates/buchungen", "gates/ohne_schluessel"):
        duck, spark_outcome = outcomes["duckdb", asset], outcomes["spark", asset]
        assert [(o.rule.name, o.success, o.unexpected_count, o.quarantined, o.sample) for o in duck.rules] == \
            [(o.rule.name, o.success, o.unexpected_count, o.quarantined, o.sample) for o in spark_outcome.rules]
    in_set = next(o for o in outcomes["spark", "gates/buchungen"].rules if o.rule.name == "column_values_to_be_in_set__Status")
    assert in_set.success and in_set.quarantined == 1        # mostly: passes, its failing row still kept
    row_count = next(o for o in outcomes["spark", "gates/buchungen"].rules if o.rule.name.startswith("table_row_count"))
    assert not row_count.success and row_count.quarantined == 0


def test_the_quarantine_limit_keeps_the_first_rows_in_row_order_on_spark(spark, tmp_path):
    gates = _gates(tmp_path)
    on_duckdb = _warehouse(tmp_path / "duck.duckdb", with_table=True)
    copy_tables(DuckDBEngine(on_duckdb), SparkEngine(spark), [("gates", "ohne_schluessel")], tmp_path / "to_spark")
    on_spark = _warehouse(tmp_path / "spark.duckdb", with_table=False)
    from pipelines.quality.runner import run_suite

    checked_at = dt.datetime(2026, 1, 2, 3, 4, 5)
    for con, engine in ((on_duckdb, None), (on_spark, SparkEngine(spark))):
        run_suite(con, gates[1].suite, run_id="r", checked_at=checked_at, quarantine_limit=1, engine=engine)
    rows = [con.execute(QUARANTINE).fetchall() for con in (on_duckdb, on_spark)]
    assert rows[0] == rows[1]
    unique = [key for _, rule, _, key, _ in rows[1] if rule.startswith("compound")]
    assert unique == ["row 2"]       # the first of the repeated keys' rows (K-2|2024 at positions 2 and 3)
