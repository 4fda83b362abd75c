"""A source table that is a query on PostgreSQL: the real server, the demo ERP tables."""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg
import pyarrow.parquet as pq

from conftest import make_project
from pipelines.definitions import build_definitions
from pipelines.demo.postgres import load_erp_into_postgres
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import load_sources
from pipelines.core.warehouse import connect

SOURCES = """
connections:
  erp_pg:
    kind: postgres
    url_env: TEST_ERP_URL
sources:
  - name: erp_pg
    tables:
      - name: customers
        query: select * from erp.customers order by customer_no
        connection: erp_pg
        primary_key: customer_no
        columns:
          - {name: customer_no, data_type: bigint}
          - {name: name1, data_type: varchar, required: true}
          - {name: zip, data_type: varchar}
          - {name: credit_limit, data_type: "decimal(12,2)"}
          - {name: updated_at, data_type: timestamp}
"""


def test_query_source_loads_demo_erp_from_postgres(tmp_path: Path, demo_data: Path, pg_database: str):
    counts = load_erp_into_postgres(demo_data, pg_database)
    expected = pq.read_table(demo_data / "erp" / "customers.parquet")
    assert counts["customers"] == expected.num_rows > 0

    settings = make_project(tmp_path / "project", SOURCES, env={"TEST_ERP_URL": pg_database})
    table = load_sources(settings.sources_file).table("erp_pg__customers")
    con = connect(settings.warehouse_path)
    first = ingest_table(con, table, settings.data_dir, settings.target_dir / "tmp",
                         connections=load_sources(settings.sources_file).connections, env=settings.env)
    [load] = first.files
    assert (load.status, load.rows_read, load.rows_loaded, load.rows_quarantined) == \
        ("loaded", expected.num_rows, expected.num_rows, 0)
    got = con.execute("select sum(credit_limit), count(distinct customer_no), min(_line), max(_line), "
                      "any_value(_source_file) from raw.erp_pg__customers").fetchone()
    want_limit = sum(v.as_py() for v in expected.column("credit_limit") if v.as_py() is not None)
    assert got == (want_limit, expected.num_rows, 1, expected.num_rows, "erp_pg:query")

    # Same result again: no new batch. A changed table: a new batch beside the old one.
    again = ingest_table(con, table, settings.data_dir, settings.target_dir / "tmp",
                         connections=load_sources(settings.sources_file).connections, env=settings.env)
    assert again.files[0].status == "skipped"
    with psycopg.connect(pg_database, autocommit=True) as pg:
        pg.execute("update erp.customers set name1 = name1 || ' (neu)' where customer_no = "
                   "(select min(customer_no) from erp.customers)")
    third = ingest_table(con, table, settings.data_dir, settings.target_dir / "tmp",
                         connections=load_sources(settings.sources_file).connections, env=settings.env)
    assert third.files[0].status == "loaded" and third.files[0].batch_id == load.batch_id + 1
    assert con.execute("select count(*) from raw.erp_pg__customers").fetchone()[0] == 2 * expected.num_rows
    assert con.execute("select count(*) from raw.erp_pg__customers where name1 like '% (neu)'").fetchone()[0] == 1
    con.close()


def test_query_source_through_the_dagster_graph(tmp_path: Path, demo_data: Path, pg_database: str, monkeypatch):
    load_erp_into_postgres(demo_data, pg_database)
    monkeypatch.setenv("TEST_ERP_URL", pg_database)
    settings = make_project(tmp_path / "project", SOURCES)
    defs = build_definitions(settings)
    result = defs.resolve_job_def("kontor_all").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    mat = result.asset_materializations_for_node("raw__erp_pg__customers")[0]
    assert mat.metadata["rows_loaded"].value == pq.read_metadata(demo_data / "erp" / "customers.parquet").num_rows
    # The URL is a secret: it must not leak into metadata.
    assert all(pg_database not in str(v.value) for v in mat.metadata.values())


def test_unreachable_postgres_fails_only_its_asset_with_a_clear_message(tmp_path: Path):
    settings = make_project(tmp_path / "project", SOURCES, env={"TEST_ERP_URL": "postgresql://postgres@127.0.0.1:1/none"})
    table = load_sources(settings.sources_file).table("erp_pg__customers")
    con = connect(settings.warehouse_path)
    load = ingest_table(con, table, settings.data_dir, settings.target_dir / "tmp",
                        connections=load_sources(settings.sources_file).connections, env=settings.env)
    [failed] = load.failures
    assert failed.message.startswith("erp_pg:query: query failed")
    assert "fix:" in failed.message and "\n" not in failed.message
    status, message = con.execute("select status, message from kontor.load_ledger").fetchone()
    assert status == "failed" and "fix:" in message
