"""CSVs Kontor writes for people neutralise text a spreadsheet would run as a formula (OWASP CSV
injection): a CRM account named ``@SUM(1+1)*cmd|' /C calc'!A0`` reaches target/sync/ quoted."""
from __future__ import annotations

import csv
import subprocess
import sys

import duckdb

from pipelines.core.csvsafe import neutralise
from pipelines.entities import golden, matching
from pipelines.entities.standardise import standardise
from pipelines.entities.testdata.companies import COLUMNS
from pipelines.entities.testdata.harness import load, project
from pipelines.engines.engine import DuckDBEngine
from tests.conftest import make_project

PAYLOAD = "@SUM(1+1)*cmd|' /C calc'!A0"


def test_neutralise_text_not_numbers():
    for bad in (PAYLOAD, "=1+1", "+49 941 1", "-2+3+cmd|' /C calc'!A0", "\t=1", "\r=1", "@x"):
        assert neutralise(bad) == "'" + bad
    for fine in ("Huber Bau GmbH", "-12,50", "-7", "+3.5", "", None, -3, 4.5, "a=b"):
        assert neutralise(fine) == fine


def _write(data, crm_names, erp_names):
    data.mkdir(parents=True)
    common = {"plz": "93047", "ort": "Regensburg", "land": "DE", "ust_id": "", "geaendert": "2026-01-01 00:00:00"}
    rows = {"crm": [{"crm_id": f"A-{i}", "firma": n, "strasse_hnr": "Industriestr. 4", "email": "", "telefon": "",
                     **common} for i, n in enumerate(crm_names)],
            "erp": [{"kunden_nr": str(i), "name1": n, "name2": "", "strasse": "Industriestr.", "hnr": "4", "iban": "",
                     **common} for i, n in enumerate(erp_names)],
            "accounting": []}
    for system, cols in COLUMNS.items():
        with open(data / f"{system}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            writer.writerows(rows[system])


def test_sync_proposals_csv_is_safe_to_open(tmp_path):
    _write(tmp_path / "data", [PAYLOAD], ["Huber Bau GmbH", "Huber Bau GmbH"])
    spec = project(tmp_path / "work")
    con = duckdb.connect(str(tmp_path / "work" / "w.duckdb"))
    try:
        standardise(con, spec, load(con, tmp_path / "data"))
        con.execute(f"""create table {spec.table('pairs')} as select 'erp:0' as unique_id_l, 'erp:1' as unique_id_r,
                        0.99 as match_probability""")
        # a steward merged the oddly named CRM account into the company: its name is now a proposal
        clusters = matching.connected_components(con, spec, DuckDBEngine(con).splink(), must_link=[("crm:A-0", "erp:0")])
        golden.resolve(con, spec, clusters, "run-1")
        files = golden.sync_proposals(con, spec, tmp_path / "target" / "sync" / "customer")
        in_table = con.execute(f"select current_value from {spec.table('sync_proposals')} "
                               "where system = 'crm' and attribute = 'name'").fetchall()
    finally:
        con.close()
    assert in_table == [(PAYLOAD,)]           # the warehouse keeps the value as it is
    rows = list(csv.DictReader(open(files["crm"], encoding="utf-8", newline="")))
    name = [r for r in rows if r["attribute"] == "name"]
    assert name and name[0]["current_value"] == "'" + PAYLOAD and name[0]["proposed_value"] == "Huber Bau GmbH"
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r" or value.lstrip("+-").replace(",", "").replace(".", "").isdigit()


def test_query_csv_is_safe_to_open(tmp_path):
    settings = make_project(tmp_path / "p")
    settings.target_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.serving_path))
    con.execute("create table t as select ? as name, -5 as amount, '-5' as code", [PAYLOAD])
    con.close()
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "query", "select * from t", "--format", "csv"],
                         cwd=settings.project_dir, capture_output=True, text=True, check=True).stdout
    rows = list(csv.reader(out.splitlines()))
    assert rows[1] == ["'" + PAYLOAD, "-5", "-5"]


def test_sync_proposes_no_other_spelling_of_one_vat_id(tmp_path):
    """A Swiss VAT ID written "… MWST" in one system and "… TVA" in another is one number: no
    system is asked to rewrite it (the key is compared, as for phone numbers); a system holding an
    invalid one is still asked to take the golden value."""
    data = tmp_path / "data"
    _write(data, ["Huber Bau AG"], ["Huber Bau AG", "Huber Bau AG"])
    with open(data / "crm.csv", encoding="utf-8") as fh:
        crm = fh.read().replace(",,", ",CHE-116.281.710 MWST,", 1)
    (data / "crm.csv").write_text(crm, encoding="utf-8")
    rows = list(csv.DictReader(open(data / "erp.csv", encoding="utf-8", newline="")))
    rows[0]["ust_id"], rows[1]["ust_id"] = "CHE-116.281.710 TVA", "CHE-116.281.711 TVA"     # the second: bad check digit
    with open(data / "erp.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS["erp"])
        writer.writeheader()
        writer.writerows(rows)
    spec = project(tmp_path / "work")
    con = duckdb.connect(str(tmp_path / "work" / "w.duckdb"))
    try:
        standardise(con, spec, load(con, data))
        assert con.execute(f"select source_system, vat_id, vat_id_valid from {spec.table('standardised')} "
                           "order by unique_id").fetchall() == [
            ("crm", "CHE116281710MWST", True), ("erp", "CHE116281710TVA", True), ("erp", "CHE116281711TVA", False)]
        con.execute(f"""create table {spec.table('pairs')} as select 'crm:A-0' as unique_id_l, 'erp:0' as unique_id_r,
                        0.99 as match_probability union all select 'erp:0', 'erp:1', 0.99""")
        golden.resolve(con, spec, matching.connected_components(con, spec, DuckDBEngine(con).splink()), "run-1")
        golden.sync_proposals(con, spec, tmp_path / "target" / "sync" / "customer")
        proposed = con.execute(f"select system, source_id, current_value from {spec.table('sync_proposals')} "
                               "where attribute = 'vat_id' order by all").fetchall()
    finally:
        con.close()
    assert proposed == [("erp", "1", "CHE116281711TVA")]
