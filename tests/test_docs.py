"""Descriptions as DuckDB comments: written on tables, views and columns, copied into the serving copy."""
from __future__ import annotations

from pathlib import Path

import duckdb

from conftest import REPO
from pipelines.analysts.docs import TableDoc, apply_comments, current_comments, read_comments, with_grain
from pipelines.models.compile import compile_project
from pipelines.models.project import load_models
from pipelines.core.settings import load_settings
from pipelines.sources.spec import load_sources
from pipelines.core.warehouse import BOOKKEEPING_DOCS, connect, ensure_bookkeeping, publish_serving


def test_comments_reach_tables_views_columns_and_the_serving_copy(tmp_path: Path):
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute("create schema marts; create table marts.\"Umsatz je Kunde\" (\"Kunde Nr\" int, betrag decimal(12, 2))")
    con.execute("create view marts.v as select \"Kunde Nr\" from marts.\"Umsatz je Kunde\"")
    docs = [
        TableDoc("marts.Umsatz je Kunde", "Revenue per customer; O'Brien's \"special\" -- case", "Kunde Nr",
                 {"Kunde Nr": "Customer number;\n  see dim_customer", "betrag": "", "gone": "a column that is not there"}),
        TableDoc("marts.v", "A view.", "", {"Kunde Nr": "From the table"}),
        TableDoc("marts.not_built_yet", "Missing table", "x", {"a": "b"}),
    ]
    assert apply_comments(con, docs) == (2, 2)
    serving = publish_serving(con, tmp_path / "serving.duckdb")
    con.close()
    reader = duckdb.connect(str(serving), read_only=True)
    found = {t["relation"]: t for t in read_comments(reader)}
    table = found["marts.Umsatz je Kunde"]
    assert table["comment"] == "Revenue per customer; O'Brien's \"special\" -- case Grain: one row per Kunde Nr."
    assert table["columns"] == [{"name": "Kunde Nr", "type": "INTEGER", "comment": "Customer number; see dim_customer"},
                                {"name": "betrag", "type": "DECIMAL(12,2)", "comment": ""}]
    assert found["marts.v"]["kind"] == "view" and found["marts.v"]["columns"][0]["comment"] == "From the table"
    assert [t["relation"] for t in read_comments(reader, "marts.v")] == ["marts.v"]


def test_comments_are_written_again_only_where_they_differ(tmp_path: Path):
    """A second run finds the comments in place and leaves them; a rebuilt table (comments gone)
    and a comment changed by hand are described again."""
    con = connect(tmp_path / "w.duckdb")
    con.execute("create schema marts; create table marts.a (x int, y int); create table marts.b (z int)")
    docs = [TableDoc("marts.a", "Table a.", "x", {"x": "The x", "y": "The y"}), TableDoc("marts.b", "Table b.", "z", {"z": "The z"})]
    assert apply_comments(con, docs) == (2, 3)
    before = current_comments(con)
    assert before[("marts.a", None)] == "Table a. Grain: one row per x." and before[("marts.a", "y")] == "The y"
    con.execute("create or replace table marts.a (x int, y int)")
    con.execute("comment on column marts.b.z is 'edited by hand'")
    assert current_comments(con).get(("marts.a", "x")) is None
    assert apply_comments(con, docs) == (2, 3)
    assert current_comments(con) == before


def test_grain_is_added_only_when_the_description_lacks_it():
    assert with_grain("Orders, one row per ERP order.", "order_no") == "Orders, one row per ERP order."
    assert with_grain("One golden record per cluster.", "golden_id") == "One golden record per cluster."
    assert with_grain("", "order_no") == "Grain: one row per order_no."
    assert with_grain("Monthly revenue.", "") == "Monthly revenue."


def test_kontor_s_own_tables_are_described_column_by_column(tmp_path: Path):
    con = connect(tmp_path / "w.duckdb")
    ensure_bookkeeping(con)
    from pipelines.quality.reuse import DDL
    from pipelines.reports.store import FACTS_DDL

    con.execute(DDL)
    con.execute(FACTS_DDL)
    apply_comments(con, BOOKKEEPING_DOCS)
    tables = read_comments(con)
    assert {t["relation"] for t in tables} >= {"kontor.load_ledger", "kontor.quarantine", "kontor.gate_results",
                                               "kontor.gate_quarantine", "kontor.gate_fingerprints", "reports.facts"}
    for table in tables:
        if table["relation"].startswith(("kontor.", "reports.")):
            assert "one row per" in table["comment"].lower() or "grain" in table["comment"].lower(), table
            assert all(c["comment"] for c in table["columns"]), table["relation"]


def test_shipped_yaml_describes_every_mart_column_and_its_grain():
    settings = load_settings(REPO, env={})
    sources = load_sources(settings.sources_file, "models/sources.yml")
    compiled = compile_project(load_models(settings, sources))
    marts = [name for name, cm in compiled.models.items() if cm.model.schema == "marts"]
    assert len(marts) >= 10
    for name in marts:
        cm = compiled.models[name]
        described = {c.name: c.description for c in cm.model.properties.columns}
        produced = compiled.output_columns(name)
        assert produced, name
        missing = [c for c in produced if not described.get(c)]
        assert not missing, f"{name}: no description for {missing}"
        assert cm.unique_key, f"{name}: no unique_key (the grain)"
        assert "one row per" in with_grain(cm.model.properties.description, ", ".join(cm.unique_key)).lower(), name
