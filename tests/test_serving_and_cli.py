"""The serving copy, the failure path through the graph, and the CLI's one-line errors."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from conftest import make_project
from pipelines.definitions import build_definitions
from pipelines.core.warehouse import connect, insert_rows, publish_serving
from test_end_to_end import kontor

TWO_SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: good
        location: good.csv
        columns: [{name: id, data_type: integer}, {name: label}]
      - name: broken
        location: broken.csv
        columns: [{name: id, data_type: integer, required: true}, {name: label}]
"""


READER = """
import sys, duckdb
for _ in range(int(sys.argv[2])):
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(*con.execute("select count(*), sum(v) from t").fetchone())
    con.close()
"""


def read_in_process(serving: Path, times: int = 1) -> subprocess.Popen:
    """An analyst: another process opening the serving copy read-only."""
    return subprocess.Popen([sys.executable, "-c", READER, str(serving), str(times)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_insert_rows_keeps_every_value(tmp_path: Path):
    """Rows go in through Arrow, by position: NULLs, an all-NULL column, booleans, a schema."""
    con = connect(tmp_path / "w.duckdb")
    con.execute("create schema e; create table e.t (kind varchar, raw varchar, compact varchar, valid boolean, n bigint)")
    rows = [("iban", "DE89 3704", None, None, 1), ("vat_id", "DE123", None, True, None), ("iban", "x'y", None, False, 3)]
    assert insert_rows(con, "e.t", rows) == 3
    assert insert_rows(con, "e.t", []) == 0
    assert con.execute("select * from e.t order by n nulls last").fetchall() == [rows[0], rows[2], rows[1]]
    con.close()


def test_publish_is_atomic_for_readers(tmp_path: Path):
    writer = connect(tmp_path / "warehouse.duckdb")
    writer.execute("create table t as select 1 as v")
    serving = publish_serving(writer, tmp_path / "serving.duckdb")
    holder = duckdb.connect(str(serving), read_only=True)  # a reader holding the old copy open
    writer.execute("create or replace table t as select range as v from range(100000)")
    publish_serving(writer, serving)
    assert holder.execute("select count(*) from t").fetchone()[0] == 1           # old snapshot, whole
    out, err = read_in_process(serving).communicate(timeout=60)
    assert out.split() == ["100000", str(sum(range(100000)))], err               # new snapshot, whole
    assert not list(tmp_path.glob(".serving*.tmp*"))                             # no temp file left


def test_many_readers_while_publishing(tmp_path: Path):
    writer = connect(tmp_path / "warehouse.duckdb")
    writer.execute("create table t as select range as v from range(1000)")
    serving = publish_serving(writer, tmp_path / "serving.duckdb")
    readers = [read_in_process(serving, times=25) for _ in range(4)]
    for n in (2000, 3000, 4000, 5000):
        writer.execute(f"create or replace table t as select range as v from range({n})")
        publish_serving(writer, serving)
    seen = []
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        seen += [tuple(map(int, line.split())) for line in out.splitlines()]
    complete = {(n, n * (n - 1) // 2) for n in (1000, 2000, 3000, 4000, 5000)}
    assert len(seen) == 100 and set(seen) <= complete  # every read saw one complete snapshot


def test_a_broken_file_fails_only_its_asset(tmp_path: Path):
    settings = make_project(tmp_path, TWO_SOURCES)
    (settings.data_dir / "good.csv").write_text("id;label\n1;a\n2;b\n")
    (settings.data_dir / "broken.csv").write_text("id;label\n1;a\n")
    defs = build_definitions(settings)
    instance = dg.DagsterInstance.ephemeral()
    first = defs.resolve_job_def("kontor_all").execute_in_process(instance=instance)
    assert first.success
    serving_before = settings.serving_path.read_bytes()

    (settings.data_dir / "broken.csv").write_bytes(b"")             # the next delivery is empty
    (settings.data_dir / "good.csv").write_text("id;label\n1;a\n2;b\n3;c\n")
    second = defs.resolve_job_def("kontor_all").execute_in_process(instance=instance, raise_on_error=False)
    assert not second.success
    failed = [e for e in second.all_events if e.is_step_failure]
    assert [e.step_key for e in failed] == ["raw__shop__broken"]
    assert "broken.csv: the file is empty" in failed[0].step_failure_data.user_failure_data.description
    assert second.asset_materializations_for_node("raw__shop__good")       # unrelated asset ran
    assert settings.serving_path.read_bytes() == serving_before             # serving copy untouched
    con = connect(settings.warehouse_path, read_only=True)
    assert con.execute("select count(*) from raw.shop__broken").fetchone()[0] == 1   # earlier load intact
    assert con.execute("select count(*) from raw.shop__good").fetchone()[0] == 5     # two batches


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path):
    project = tmp_path / "p"
    make_project(project, TWO_SOURCES.replace("location: good.csv", "locaton: good.csv"))
    checked = kontor(project, "check")
    assert checked.returncode == 1
    assert checked.stdout.strip().splitlines() == [
        "models/sources.yml:7: unknown key 'locaton' in table; did you mean 'location'?",
        "models/sources.yml:6: table 'good' needs exactly one of 'location' (a file glob) or 'query' (SQL on a connection)",
    ]
    queried = kontor(project, "query", "select 1")
    assert queried.returncode == 1 and "Traceback" not in queried.stderr
    assert "serving.duckdb does not exist yet; fix: run `kontor run` once" in queried.stderr

    good = tmp_path / "q"
    settings = make_project(good, TWO_SOURCES)
    shutil.copy(Path(__file__), settings.data_dir / "good.csv")  # not this table's shape at all
    (settings.data_dir / "broken.csv").write_text("id;label\n1;a\n")
    ran = kontor(good, "run")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "raw/shop__good" in ran.stderr and "fix:" in ran.stderr
    for args in (["--help"], ["run", "--help"], ["demo-data", "--help"], ["query", "--help"], ["check", "--help"], ["dev", "--help"]):
        assert kontor(good, *args).returncode == 0


def test_duckdb_memory_limit_and_threads_come_from_the_project(tmp_path: Path):
    """``[tool.kontor] memory_limit`` and ``threads`` bound the warehouse connection of a run;
    the environment overrides them; a value DuckDB cannot take fails with the setting and a fix."""
    from assets.resources import WarehouseResource
    from pipelines.check import check_settings
    from pipelines.core.errors import KontorError
    from pipelines.core.settings import load_settings

    root = tmp_path / "p"
    make_project(root, TWO_SOURCES)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'memory_limit = "1GB"\nthreads = 1\n')
    settings = load_settings(root, env={})
    assert (settings.memory_limit, settings.threads) == ("1GB", 1)
    with WarehouseResource.from_settings(settings).connection() as con:
        limit, threads = con.execute("select current_setting('memory_limit'), current_setting('threads')").fetchone()
    assert limit in ("953.6 MiB", "1.0 GiB", "1000.0 MB", "1.0 GB") and threads == 1, (limit, threads)

    env = load_settings(root, env={"KONTOR_MEMORY_LIMIT": "512MB", "KONTOR_THREADS": "2"})
    assert (env.memory_limit, env.threads) == ("512MB", 2)

    pyproject.write_text(pyproject.read_text().replace('"1GB"', '"lots"')
                         + "\n[tool.kontor.retries]\nmax_retries = 2\nwait = 5\n")
    try:
        WarehouseResource.from_settings(load_settings(root, env={}))._connect()
    except KontorError as exc:
        assert "memory_limit = 'lots'" in str(exc) and "fix:" in str(exc)
    else:
        raise AssertionError("an unreadable memory_limit was accepted")
    # kontor check finds both before any run, each on its line of pyproject.toml
    problems = [str(p) for p in check_settings(load_settings(root, env={}))]
    assert len(problems) == 2, problems
    assert problems[0].startswith("pyproject.toml:5: memory_limit = 'lots': ") and "fix:" in problems[0]
    assert problems[1].startswith("pyproject.toml:8: [tool.kontor.retries]: unknown key(s) wait; fix:"), problems[1]
    pyproject.write_text(pyproject.read_text().replace("threads = 1", "threads = 0"))
    try:
        load_settings(root, env={})
    except KontorError as exc:
        assert "threads = 0" in str(exc) and "fix:" in str(exc)
    else:
        raise AssertionError("threads = 0 was accepted")
