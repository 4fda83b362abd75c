"""Security (issue 8): secrets come only from the environment and appear in no log, metadata or
report; source globs stay inside the data directory; no personal data reaches the LLM.

The in-process check of the prompts is tests/reports/test_narrative.py
(``test_prompts_of_the_shipped_reports_hold_no_personal_data``, scale 1); here the same holds for
`kontor run` as a subprocess, with more personal columns (every e-mail and IBAN column of staging).
"""
from __future__ import annotations

import os
import shutil
import urllib.parse
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import REPO, make_project
from pipelines.reports.narrative import EMAIL, IBAN
from reports.servers import LlmServer
from test_end_to_end import kontor

OUTSIDE = """
sources:
  - name: shop
    format: {{type: csv, delimiter: ";"}}
    tables:
      - name: items
        location: "{location}"
        columns: [{{name: id, data_type: integer}}, {{name: label}}]
"""


@pytest.mark.parametrize("location", ["../../etc/*.conf", "/etc/*.conf", "~/secrets/*.csv", "ok/../../x.csv"])
def test_check_refuses_a_location_outside_the_data_directory(tmp_path: Path, location: str):
    make_project(tmp_path, OUTSIDE.format(location=location))
    checked = kontor(tmp_path, "check")
    assert checked.returncode == 1
    assert f"models/sources.yml:7: location {location!r} must be a glob relative to the data directory" in checked.stdout
    ran = kontor(tmp_path, "run")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert not (tmp_path / "target" / "warehouse.duckdb").exists()      # refused before anything was read


def test_a_symlink_out_of_the_data_directory_is_not_read(tmp_path: Path):
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("id;label\n1;top secret\n")
    settings = make_project(tmp_path / "p", OUTSIDE.format(location="*.csv"))
    (settings.data_dir / "good.csv").write_text("id;label\n1;a\n")
    (settings.data_dir / "sneaky.csv").symlink_to(secret)
    (settings.data_dir / "linked").symlink_to(secret.parent, target_is_directory=True)
    ran = kontor(tmp_path / "p", "run")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "models/sources.yml:6: " in ran.stderr and "resolves outside the data directory" in ran.stderr
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from kontor.load_ledger").fetchone()[0] == 0   # nothing read
        assert con.execute("select count(*) from information_schema.tables where table_schema = 'raw' "
                           "and table_name = 'shop__items'").fetchone()[0] in (0, 1)
        if con.execute("select count(*) from information_schema.tables where table_name = 'shop__items'").fetchone()[0]:
            assert con.execute("select count(*) from raw.shop__items").fetchone()[0] == 0
    finally:
        con.close()
    # a link to a directory outside is refused the same way
    (settings.data_dir / "sneaky.csv").unlink()
    settings.sources_file.write_text(OUTSIDE.format(location="linked/*.csv"))
    ran = kontor(tmp_path / "p", "run")
    assert ran.returncode == 1 and "resolves outside the data directory" in ran.stderr


# A Postgres source on the shipped connection (KONTOR_ERP_PG_URL): a query, no table needed.
PG_SOURCE = """
  - name: vault
    tables:
      - name: notes
        query: select 1::bigint as id, 'x'::varchar as label
        connection: erp_postgres
        columns:
          - {name: id, data_type: bigint}
          - {name: label, data_type: varchar}
"""


def _with_password(url: str, password: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}").geturl()


def test_secrets_and_personal_data_stay_where_they_belong(tmp_path: Path, pg_database: str):
    project = tmp_path / "project"
    make_project(project, with_models=True, with_expectations=True)
    shutil.copytree(REPO / "reports", project / "reports")
    with open(project / "models" / "sources.yml", "a") as fh:
        fh.write(PG_SOURCE)
    assert kontor(project, "demo-data", "--scale", "0.3", "--seed", "5").returncode == 0
    secrets = {  # the local PostgreSQL trusts loopback, so the passwords are carried but not needed
        "OPENAI_API_KEY": "sk-kontor-FAKE-7f3a9c1e5d",
        "KONTOR_STATE_URL": _with_password(pg_database, "StatePw-4b1d9e77"),
        "KONTOR_ERP_PG_URL": _with_password(pg_database, "SourcePw-9e8d7c66"),
        "KONTOR_SMTP_PASSWORD": "SmtpPw-c0ffee4242",
    }
    needles = {"sk-kontor-FAKE-7f3a9c1e5d", "StatePw-4b1d9e77", "SourcePw-9e8d7c66", "SmtpPw-c0ffee4242"}
    with LlmServer() as llm:
        ran = kontor(project, "run", env={**llm.env(), **secrets})
        prompts = list(llm.requests)
    assert ran.returncode == 0, ran.stderr
    assert prompts and {r["authorization"] for r in prompts} == {f"Bearer {secrets['OPENAI_API_KEY']}"}

    def leaks(text: str) -> set[str]:
        return {n for n in needles if n in text or urllib.parse.quote(n) in text}

    assert leaks(ran.stdout + ran.stderr) == set()
    # every file the run wrote: warehouse, serving copy, reports (PDF, facts JSON, manifest), data
    # docs, Splink charts, sync files, the Dagster instance's SQLite event log and run storage
    written = [p for p in (project / "target").rglob("*") if p.is_file()]
    assert any(p.suffix == ".pdf" for p in written) and any(p.name == "manifest.json" for p in written)
    assert {p.name: leaks(p.read_bytes().decode("latin-1")) for p in written if leaks(p.read_bytes().decode("latin-1"))} == {}
    # the event log decoded (messages, metadata, run config and tags), in case storage compresses it
    instance = dg.DagsterInstance.from_config(str(project / "target" / "dagster"))
    try:
        runs = instance.get_runs()
        assert runs
        for run in runs:
            assert leaks(repr(run)) == set()
            for entry in instance.all_logs(run.run_id):
                assert leaks(repr(entry)) == set(), entry.message
    finally:
        instance.dispose()
    # and the warehouse's text, read through DuckDB (its storage may compress strings)
    con = duckdb.connect(str(project / "target" / "serving.duckdb"), read_only=True)
    try:
        for schema, table, column in con.execute("select table_schema, table_name, column_name from information_schema.columns "
                                                 "where data_type = 'VARCHAR' and table_schema in ('kontor', 'raw')").fetchall():
            for needle in needles:
                hits = con.execute(f'select count(*) from "{schema}"."{table}" where contains("{column}", ?)', [needle]).fetchone()[0]
                assert hits == 0, (schema, table, column)

        # no personal data in any prompt of the shipped reports
        text = "\n".join(m["content"] for r in prompts for m in r["messages"])
        names = {n for (n,) in con.execute("select customer_name from marts.bridge_customer_source "
                                           "union select supplier_name from marts.bridge_supplier_source").fetchall() if n}
        contacts = {f"{f} {l}" for f, l in con.execute("select first_name, last_name from staging.stg_crm__contacts").fetchall()}
        personal = set()
        for table, column in con.execute("select table_name, column_name from information_schema.columns where table_schema = 'staging' "
                                         "and (column_name ilike '%email%' or column_name ilike '%iban%')").fetchall():
            personal |= {v for (v,) in con.execute(f'select distinct "{column}" from staging."{table}" where "{column}" is not null').fetchall()}
    finally:
        con.close()
    assert len(names) > 300 and len(contacts) > 300 and len(personal) > 300
    assert [n for n in names if n in text] == [] and [c for c in contacts if c in text] == []
    assert [p for p in personal if p in text] == [] and not IBAN.search(text) and not EMAIL.search(text)
