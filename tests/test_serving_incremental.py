"""The serving copy built on the previous one: only tables whose rows changed are written again,
and the result is what a whole copy (``COPY FROM DATABASE``) gives; whenever the previous copy
cannot be trusted, the whole warehouse is copied."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import make_project
from pipelines.core.warehouse import connect, publish
from pipelines.definitions import build_definitions
from pipelines.engines import catalog


def same_database(first: Path, second: Path) -> None:
    """Every schema, table, view, column, comment and constraint alike, and every table's rows and
    every view's result the same, in the same order."""
    con = duckdb.connect()
    con.execute(f"attach '{first}' as a (read_only); attach '{second}' as b (read_only)")
    assert catalog.definitions(con, "a") == catalog.definitions(con, "b")
    relations = con.execute("select schema_name, table_name from duckdb_tables() where database_name = 'a' union all "
                            "select schema_name, view_name from duckdb_views() where database_name = 'a' and not internal").fetchall()
    assert relations
    for schema, name in relations:
        rows = [con.execute(f'select * from {db}."{schema}"."{name}"').fetchall() for db in ("a", "b")]
        assert rows[0] == rows[1], (schema, name)
    con.close()


def whole_copy(con, path: Path) -> Path:
    """What a whole copy of the warehouse gives now (``COPY FROM DATABASE``)."""
    done = publish(con, path, incremental=False)
    assert not done.incremental
    return path


def warehouse(tmp_path: Path):
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute("""
        create schema raw; create schema marts;
        create table raw.orders (id integer primary key, customer varchar not null, amount decimal(12, 2) default 0);
        insert into raw.orders select range, 'c' || (range % 7), range * 1.5 from range(2000);
        create table raw.untouched as select range as n, 'x' || range as s from range(5000);
        create table marts.revenue as select customer, sum(amount) as total from raw.orders group by 1 order by 1;
        create table marts.ordered as select range as n from range(100);
        create view marts.big_customers as select * from marts.revenue where total > 100000;
        comment on table raw.orders is 'Orders, one row per id';
        comment on column raw.orders.amount is 'EUR';
        comment on view marts.big_customers is 'Customers above 100k';
    """)
    return con


def test_only_changed_tables_are_written_again_and_the_copy_equals_a_whole_copy(tmp_path: Path):
    con = warehouse(tmp_path)
    serving = tmp_path / "serving.duckdb"
    first = publish(con, serving)
    assert not first.incremental and "no previous serving copy" in first.full_because
    assert len(first.copied) == 4

    again = publish(con, serving)                       # nothing changed: nothing written
    assert again.incremental and again.copied == [] and again.kept == 4
    same_database(serving, whole_copy(con, tmp_path / "whole0.duckdb"))

    holder = duckdb.connect(str(serving), read_only=True)      # an analyst with the old copy open
    con.execute("""
        insert into raw.orders values (5000, 'c1', 99999.99);
        update raw.orders set customer = 'c2' where id = 7;
        create or replace table marts.revenue as select customer, sum(amount) as total from raw.orders group by 1 order by 1;
        create or replace table marts.ordered as select range as n from range(100) order by n desc;
        create schema entities;
        create table entities.golden (golden_id varchar primary key, name varchar not null, members integer[] default []);
        create table checked (n integer default 7 check (n > 0));
        insert into checked values (1), (default);
        insert into entities.golden values ('g1', 'Müller GmbH', [1, 2]), ('g2', 'O''Brien "Ltd"', []);
        comment on table entities.golden is 'One row per golden id';
        comment on column entities.golden.name is 'The surviving name';
        create table raw."new table.with dots" as select 1 as "a b";
    """)
    done = publish(con, serving)
    assert done.incremental, done.full_because
    assert done.copied == ["entities.golden", "main.checked", "marts.ordered", "marts.revenue", 'raw.new table.with dots',
                           "raw.orders"]
    assert done.kept == 1                                   # raw.untouched: the previous copy's
    same_database(serving, whole_copy(con, tmp_path / "whole1.duckdb"))
    assert holder.execute("select count(*) from raw.orders").fetchone()[0] == 2000      # the old copy, whole
    assert holder.execute("select count(*) from duckdb_tables() where schema_name = 'entities'").fetchone()[0] == 0
    holder.close()
    reader = duckdb.connect(str(serving), read_only=True)
    # still in the format older clients read (the copy of the previous file keeps it)
    assert reader.execute("select tags['storage_version'] from duckdb_databases() "
                          "where database_name = current_database()").fetchone()[0] == "v1.4.0+"
    assert reader.execute("select comment from duckdb_columns() where table_name = 'golden' "
                          "and column_name = 'name'").fetchone()[0] == "The surviving name"
    reader.close()
    assert not list(tmp_path.glob(".serving.duckdb.*.tmp*"))


@pytest.mark.parametrize("change, because", [
    ("drop table raw.untouched", "definitions differ"),
    ("comment on column raw.orders.amount is 'euros'", "definitions differ"),
    ("comment on table raw.untouched is 'now described'", "definitions differ"),
    ("alter table raw.untouched add column extra integer", "definitions differ"),
    ("create view raw.v as select 1 as one", "definitions differ"),
    ("create or replace view marts.big_customers as select * from marts.revenue", "definitions differ"),
    ("create or replace table raw.orders as select * from raw.orders", "definitions differ"),   # key dropped
    ("create sequence raw.ids", "definitions differ"),
    ("create macro raw.twice(x) as x * 2", "definitions differ"),
])
def test_a_changed_definition_copies_everything(tmp_path: Path, change: str, because: str):
    con = warehouse(tmp_path)
    serving = tmp_path / "serving.duckdb"
    publish(con, serving)
    con.execute(change)
    done = publish(con, serving)
    assert not done.incremental and because in done.full_because, done.full_because
    same_database(serving, whole_copy(con, tmp_path / "whole.duckdb"))
    assert publish(con, serving).incremental                # and the next one builds on it again


def test_a_copy_it_cannot_trust_is_not_built_on(tmp_path: Path):
    con = warehouse(tmp_path)
    serving = tmp_path / "serving.duckdb"
    manifest = tmp_path / ".serving.duckdb.manifest.json"
    publish(con, serving)
    assert manifest.is_file()

    # an analyst opened the copy for writing and changed it: the next publish must not keep that
    analyst = duckdb.connect(str(serving))
    analyst.execute("delete from raw.untouched where n < 10")
    analyst.close()
    done = publish(con, serving)
    assert not done.incremental and "replaced or changed" in done.full_because
    same_database(serving, whole_copy(con, tmp_path / "whole.duckdb"))

    os.utime(serving)                                       # touched
    assert "replaced or changed" in publish(con, serving).full_because
    shutil.copy(serving, tmp_path / "elsewhere.duckdb")     # another file put in its place
    os.replace(tmp_path / "elsewhere.duckdb", serving)
    assert "replaced or changed" in publish(con, serving).full_because
    manifest.unlink()
    assert "no record" in publish(con, serving).full_because
    manifest.write_text("{not json")
    assert "no record" in publish(con, serving).full_because
    # another storage format asked for: the copy of the previous file would keep the old one
    done = publish(con, serving, storage_version=None)
    assert not done.incremental and "storage_version" in done.full_because
    same_database(serving, whole_copy(con, tmp_path / "whole2.duckdb"))
    assert publish(con, serving).full_because and publish(con, serving).incremental


def test_the_rows_decide_not_who_wrote_them(tmp_path: Path):
    """A table changed outside any run (the DuckDB CLI on the warehouse between runs) is written
    again; one rewritten with the same rows in the same order is kept."""
    con = warehouse(tmp_path)
    serving = tmp_path / "serving.duckdb"
    publish(con, serving)
    con.execute("update raw.untouched set s = 'y' where n = 4999")
    con.execute("create or replace table marts.ordered as select range as n from range(100)")   # same rows
    done = publish(con, serving)
    assert done.incremental and done.copied == ["raw.untouched"]
    same_database(serving, whole_copy(con, tmp_path / "whole.duckdb"))
    # two values swapped between two rows: every column holds the same values as before
    con.execute("update raw.untouched set s = case n when 1 then 'x2' else 'x1' end where n in (1, 2)")
    assert publish(con, serving).copied == ["raw.untouched"]
    same_database(serving, whole_copy(con, tmp_path / "whole2.duckdb"))


SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: orders
        location: orders.csv
        columns: [{name: id, data_type: integer}, {name: label}]
      - name: products
        location: products.csv
        columns: [{name: id, data_type: integer}, {name: label}]
"""


def test_a_run_that_changed_some_relations_publishes_only_those(tmp_path: Path):
    """Through the Dagster graph: the second run loads a new orders file; the serving copy keeps
    the products table from the previous copy and equals a whole copy of the warehouse."""
    settings = make_project(tmp_path / "p", SOURCES)
    (settings.data_dir / "orders.csv").write_text("id;label\n1;a\n2;b\n")
    (settings.data_dir / "products.csv").write_text("id;label\n1;chair\n")
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()

    def serving_metadata(result) -> dict:
        [event] = [e for e in result.get_asset_materialization_events()
                   if e.asset_key == dg.AssetKey(["kontor", "serving_copy"])]
        return {k: v.value for k, v in event.materialization.metadata.items()}

    first = defs.resolve_job_def("kontor_all").execute_in_process(instance=instance)
    assert first.success and serving_metadata(first)["incremental"] is False
    (settings.data_dir / "orders.csv").write_text("id;label\n1;a\n2;b\n3;c\n")
    second = defs.resolve_job_def("kontor_all").execute_in_process(instance=instance)
    assert second.success
    meta = serving_metadata(second)
    assert meta["incremental"] is True and meta["tables_kept"] >= 1
    assert meta["tables_copied"] < meta["tables"]
    con = connect(settings.warehouse_path)
    try:
        same_database(settings.serving_path, whole_copy(con, tmp_path / "whole.duckdb"))
    finally:
        con.close()
    reader = duckdb.connect(str(settings.serving_path), read_only=True)
    assert reader.execute("select count(*) from raw.shop__orders").fetchone()[0] == 5       # both deliveries
    reader.close()


def test_facts_published_between_runs_are_written_again_by_the_next_run(tmp_path: Path):
    """``kontor report`` puts reports.facts into the serving copy at once (``publish_facts``): the
    next run's copy still builds on it, writing reports.facts again, and equals a whole copy."""
    from pipelines.reports.store import FACTS_DDL, publish_facts

    con = warehouse(tmp_path)
    con.execute(FACTS_DDL)
    serving = tmp_path / "serving.duckdb"
    publish(con, serving)
    con.execute("insert into reports.facts (report, period, version, kpi, measure, value, sql_file, computed_at) "
                "values ('monthly', '2026-10', 1, 'revenue', 'value', 12.5, 'revenue.sql', now())")
    assert publish_facts(con, serving)
    reader = duckdb.connect(str(serving), read_only=True)
    assert reader.execute("select count(*) from reports.facts").fetchone()[0] == 1
    reader.close()
    con.execute("update raw.orders set amount = 1 where id = 1")
    done = publish(con, serving)
    assert done.incremental, done.full_because
    assert done.copied == ["raw.orders", "reports.facts"]
    same_database(serving, whole_copy(con, tmp_path / "whole.duckdb"))
