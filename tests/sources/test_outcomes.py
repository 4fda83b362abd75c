"""What a run does with each file and says about it: malformed files fail once without retries,
files still being written wait, full deliveries replace, and the outcome is visible per source."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.core import yamlfile
from pipelines.core.errors import ProjectError
from pipelines.run import run_pipeline
from pipelines.core.settings import load_settings
from pipelines.sources import ingest
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import load_sources, parse_sources
from pipelines.core.warehouse import connect
from tests.conftest import make_project

SOURCES = """
sources:
  - name: shop
    format: {{type: csv, delimiter: ","}}
    tables:
      - name: orders
        location: shop/orders*.csv
        primary_key: id
        {extra}
        columns:
          - {{name: id, data_type: integer, required: true}}
          - {{name: amount, data_type: "decimal(10,2)"}}
"""
RETRIES = "\n[tool.kontor.retries]\nmax_retries = 2\ndelay = 0.2\n"


def _table(extra: str = ""):
    return parse_sources(yamlfile.loads(SOURCES.format(extra=extra), "sources.yml"), "sources.yml").tables[0]


def _project(root: Path, extra: str = "", pyproject_extra: str = RETRIES):
    settings = make_project(root, SOURCES.format(extra=extra))
    with (root / "pyproject.toml").open("a") as fh:
        fh.write(pyproject_extra)
    (settings.data_dir / "shop").mkdir()
    return load_settings(root, env={"KONTOR_STATE_DIR": str(root / "state")})


def _ledger(settings) -> list[tuple]:
    with duckdb.connect(str(settings.target_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute("select path, status, rows_loaded from kontor.load_ledger order by batch_id").fetchall()


# -- 4: only transient failures retry -----------------------------------------------------------

def test_a_malformed_file_fails_once_and_the_other_files_of_the_table_load(tmp_path: Path):
    settings = _project(tmp_path / "p")
    shop = settings.data_dir / "shop"
    (shop / "orders_1.csv").write_text("id,amount\n1,10.00\n")
    (shop / "orders_2.csv").write_text("amount,note\n5.00,x\n")           # the required key column is missing
    (shop / "orders_3.csv").write_text("id,amount\n3,30.00\n" + "4," + "9" * 3_000_000 + "\n5,50.00\n")

    outcome = run_pipeline(settings, select=["raw/shop__orders"])
    assert not outcome.success
    [failure] = outcome.failures
    assert "shop/orders_2.csv: missing required column(s) id; fix:" in failure
    assert "attempt" not in failure, "a malformed file is not retried"
    # one ledger row per file: a retry would have written the failure again
    assert _ledger(settings) == [("shop/orders_1.csv", "loaded", 1), ("shop/orders_2.csv", "failed", 0),
                                 ("shop/orders_3.csv", "loaded", 2)]


def test_an_unexpected_error_fails_only_its_file_and_a_vanished_file_is_transient(tmp_path: Path, monkeypatch):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    for n in (1, 2, 3):
        (data / "shop" / f"orders_{n}.csv").write_text(f"id,amount\n{n},1.00\n")
    original = ingest._load_staged

    def breaks_on_2(con, table, staged, display, batch_id, loaded_at):
        if display.endswith("orders_2.csv"):
            raise duckdb.ConstraintException("NOT NULL constraint failed: quarantine.reason")
        return original(con, table, staged, display, batch_id, loaded_at)

    monkeypatch.setattr(ingest, "_load_staged", breaks_on_2)
    con = connect(tmp_path / "w.duckdb")
    files = ingest_table(con, _table(), data, tmp_path / "tmp").files
    assert [f.status for f in files] == ["loaded", "failed", "loaded"]
    assert "ConstraintException" in files[1].message and "fix:" in files[1].message
    assert con.execute("select count(*) from kontor.load_ledger where status = 'failed'").fetchone() == (1,)

    def vanishes(*args, **kwargs):
        raise FileNotFoundError("share gone")

    (data / "shop" / "orders_4.csv").write_text("id,amount\n4,1.00\n")
    monkeypatch.setattr(ingest.readers, "digest", vanishes)
    with pytest.raises(FileNotFoundError):
        ingest_table(con, _table(), data, tmp_path / "tmp")


# -- 6: project YAML not in UTF-8 ----------------------------------------------------------------

def test_sources_yml_saved_as_cp1252_names_file_line_and_fix(tmp_path: Path):
    path = tmp_path / "sources.yml"
    path.write_bytes(SOURCES.format(extra="description: Bestellungen für Köln").encode("cp1252"))
    with pytest.raises(ProjectError) as err:
        load_sources(path, "models/sources.yml")
    assert str(err.value) == "models/sources.yml:9: not UTF-8 (looks like cp1252); save it as UTF-8"


# -- 7: full and delta deliveries ----------------------------------------------------------------

def test_full_delivery_current_view_and_removed_rows(tmp_path: Path):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    con = connect(tmp_path / "w.duckdb")
    table = _table("delivery: full")
    (data / "shop" / "orders_day1.csv").write_text("id,amount\n1,10.00\n2,20.00\n3,30.00\n")
    ingest_table(con, table, data, tmp_path / "tmp")
    (data / "shop" / "orders_day2.csv").write_text("id,amount\n1,10.00\n3,33.00\n")
    ingest_table(con, table, data, tmp_path / "tmp")

    assert con.execute("select count(*) from raw.shop__orders").fetchone() == (5,), "raw keeps both deliveries"
    current = con.execute("select id, amount::varchar from raw.shop__orders__current order by id").fetchall()
    assert current == [(1, "10.00"), (3, "33.00")]
    removed = con.execute("select key_json, batch_id > previous_batch_id from kontor.removed_rows").fetchall()
    assert removed == [('{"id":2}', True)]

    # the same delivery again is skipped; nothing doubles, nothing more is removed
    ingest_table(con, table, data, tmp_path / "tmp")
    assert con.execute("select count(*) from raw.shop__orders__current").fetchone() == (2,)
    assert con.execute("select count(*) from kontor.removed_rows").fetchone() == (1,)


def test_full_delivery_whose_every_row_is_quarantined_does_not_become_current(tmp_path: Path):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    con = connect(tmp_path / "w.duckdb")
    table = _table("delivery: full")
    (data / "shop" / "orders_day1.csv").write_text("id,amount\n1,10.00\n")
    (data / "shop" / "orders_day2.csv").write_text("id,amount\nx,10.00\n")
    ingest_table(con, table, data, tmp_path / "tmp")
    assert con.execute("select id from raw.shop__orders__current").fetchall() == [(1,)]
    assert con.execute("select count(*) from kontor.removed_rows").fetchone() == (0,)


def test_delta_delivery_current_view_is_the_newest_version_per_key(tmp_path: Path):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    con = connect(tmp_path / "w.duckdb")
    table = _table()
    (data / "shop" / "orders_1.csv").write_text("id,amount\n1,10.00\n2,20.00\n")
    (data / "shop" / "orders_2.csv").write_text("id,amount\n2,22.00\n3,30.00\n")
    ingest_table(con, table, data, tmp_path / "tmp")
    current = con.execute("select id, amount::varchar from raw.shop__orders__current order by id").fetchall()
    assert current == [(1, "10.00"), (2, "22.00"), (3, "30.00")]


def test_delivery_is_validated():
    with pytest.raises(ProjectError, match="delivery must be 'delta'"):
        _table("delivery: weekly")


# -- 8: files still being written ----------------------------------------------------------------

def test_a_file_being_written_waits_and_loads_once_complete(tmp_path: Path):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    path = data / "shop" / "orders_big.csv"
    path.write_text("id,amount\n")

    def exporter() -> None:
        with path.open("a") as fh:
            for n in range(1, 13):
                fh.write(f"{n},1.00\n")
                fh.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=exporter)
    writer.start()
    con = connect(tmp_path / "w.duckdb")
    [f] = ingest_table(con, _table(), data, tmp_path / "tmp", settle_seconds=1.0).files
    assert f.status == "waiting" and "still being written" in f.message
    assert con.execute("select count(*) from kontor.load_ledger").fetchone() == (0,)
    writer.join()

    [f] = ingest_table(con, _table(), data, tmp_path / "tmp", settle_seconds=1.0).files
    assert (f.status, f.rows_loaded) == ("loaded", 12), "the whole file, in one batch"
    [f] = ingest_table(con, _table(), data, tmp_path / "tmp", settle_seconds=1.0).files
    assert f.status == "skipped"


def test_done_marker(tmp_path: Path):
    data = tmp_path / "data"
    (data / "shop").mkdir(parents=True)
    table = parse_sources(yamlfile.loads(SOURCES.format(extra='done_marker: "{name}.ok"').replace(
        "shop/orders*.csv", "shop/orders*"), "sources.yml"), "sources.yml").tables[0]
    (data / "shop" / "orders_1.csv").write_text("id,amount\n1,1.00\n")
    con = connect(tmp_path / "w.duckdb")
    [f] = ingest_table(con, table, data, tmp_path / "tmp", settle_seconds=60).files
    assert (f.status, f.message) == ("waiting", "waiting for its completion marker orders_1.csv.ok")
    (data / "shop" / "orders_1.csv.ok").write_text("")
    [f] = ingest_table(con, table, data, tmp_path / "tmp", settle_seconds=60).files   # the marker is not data
    assert (f.path, f.status, f.rows_loaded) == ("shop/orders_1.csv", "loaded", 1)


# -- 9: visible outcomes -------------------------------------------------------------------------

def test_run_shows_outcomes_and_the_quarantine_check_warns_or_errs(tmp_path: Path):
    settings = _project(tmp_path / "p", pyproject_extra="quarantine_alert_pct = 5\n")
    shop = settings.data_dir / "shop"
    (shop / "orders_1.csv").write_text("id,amount\n" + "".join(f"{n},1.00\n" for n in range(1, 10)) + "x,1.00\n")
    events = []
    outcome = run_pipeline(settings, select=["raw/shop__orders"], on_event=lambda k, a, d: events.append((k, a, d)))
    assert outcome.success
    [detail] = [d for k, a, d in events if k == "materialized" and a == "raw/shop__orders"]
    assert "loaded 1 file(s), 9 rows; quarantined 1 rows; skipped 0 (already loaded); waiting 0" in detail
    [warning] = outcome.gate_warnings
    assert "check 'quarantine_share' failed" in warning and "1 of 10 rows quarantined (10.0 %, alert above 5 %)" in warning

    (shop / "orders_2.csv").write_text("id,amount\nx,1.00\ny,2.00\n")
    outcome = run_pipeline(settings, select=["raw/shop__orders"])
    [failure] = outcome.gate_failures
    assert "every row was quarantined" in failure
    assert not outcome.gate_warnings

    outcome = run_pipeline(settings, select=["raw/shop__orders"])
    assert outcome.success and not outcome.gate_failures and not outcome.gate_warnings   # nothing new: skipped


def test_ingest_options_from_pyproject_and_environment(tmp_path: Path, monkeypatch):
    from pipelines.check import check_settings
    from pipelines.sources.options import ingest_options

    monkeypatch.delenv("KONTOR_SETTLE_SECONDS", raising=False)
    settings = _project(tmp_path / "p", pyproject_extra="")
    assert (ingest_options(settings).settle_seconds, ingest_options(settings).quarantine_alert_pct) == (30.0, 5.0)
    settings = load_settings(settings.project_dir, env={"KONTOR_SETTLE_SECONDS": "2.5"})
    assert ingest_options(settings).settle_seconds == 2.5

    bad = _project(tmp_path / "q", pyproject_extra="settle_seconds = -1\n")
    [problem] = [str(p) for p in check_settings(bad)]
    assert problem.startswith("pyproject.toml:5: [tool.kontor]: settle_seconds = -1; fix: a number of seconds")


@pytest.mark.parametrize("marker", ["x.ok", "{name}/../x", "{name.__class__}", "{0}.ok"])
def test_done_marker_is_validated(marker: str):
    with pytest.raises(ProjectError, match="done_marker must name a file beside the extract"):
        _table(f'done_marker: "{marker}"')
