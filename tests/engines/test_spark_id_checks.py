"""The IBAN/VAT-ID checks on Spark run on the executors and write what DuckDB's path writes.

``standardise._start_id_checks`` (the check step of ``standardise``) on DuckDB checks the distinct
new values in this process; on Spark (``SparkConnection``) it runs ``id_checks.check_value`` in a
``mapInArrow`` on the executors and Spark writes ``entities._id_checks``.

- parity: on adversarial values (IBANs of several countries, valid and not, with spaces, lower
  case, tabs, full-width letters; German, Austrian and Swiss VAT IDs with MWST/TVA/IVA and bare
  UIDs; garbage, umlauts, strings of thousands of characters, NULLs, duplicates) the rows written
  on Spark equal DuckDB's, and both equal ``check_value``'s verdicts;
- the cache: a value in ``entities._id_checks`` is not checked again (a planted verdict the check
  would never give survives a run), a new one is; another ``id_checks_version`` empties it;
- nothing comes to the driver: a session whose ``spark.driver.maxResultSize`` (1 MB) the
  collect of the values exceeds (shown: the old driver-side fetch fails there) writes them all;
- an executor whose Python lacks schwifty fails the step with a ``KontorError`` that says so; one
  whose Python lacks Kontor checks as well (the check module travels with the job).

The last two start sessions of their own (a driver setting, the workers' interpreter), in a
subprocess each.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from pipelines.core.sql import template
from pipelines.engines.connection import connect
from pipelines.entities import standardise
from pipelines.entities.id_checks import check_value, id_checks_version

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
NEW = template(standardise.__file__, "new_id_checks")

IBANS = [
    "DE89 3704 0044 0532 0130 00", "de89370400440532013000", "DE89370400440532013000", "DE89370400440532013001",
    "IBAN DE89 3704 0044 0532 0130 00", "DE89\t3704 0044 0532 0130 00", "ＤＥ89 3704 0044 0532 0130 00",
    "AT61 1904 3002 3457 3201", "at611904300234573201", "AT61 1904 3002 3457 3202",
    "CH93 0076 2011 6238 5295 7", "CH9300762011623852958", "GB82 WEST 1234 5698 7654 32",
    "FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "LI21 0881 0000 2324 013A A",
    "XX00 1234", "DÜ89 3704 0044 0532 0130 00", "Überweisung folgt", " ", "-", "DE89" + "0" * 5000, "ß" * 10000,
]
VAT_IDS = [
    "DE136695976", "de 136 695 976", "DE 136.695.976", "DE136695977", "ATU13585627", "atu 1358 5627", "ATU13585626",
    "CHE-116.281.710 MWST", "CHE-116.281.710 TVA", "CHE-116.281.710 IVA", "CHE116281710MWST", "che-116.281.710 mwst",
    "CHE-116.281.710", "CHE 116 281 710", "CHE-116.281.711 MWST", "116.281.710", "116281710 MWST",
    "n/a", "Ümlaut GmbH", "DE" + "1" * 3000, "CHE-" + "9" * 4000 + " TVA",
]


def _raw_rows() -> pa.Table:
    """``_std_raw``'s two columns: every value, some twice, NULLs beside them."""
    ibans = IBANS + IBANS[:5] + [None] * 4
    vats = VAT_IDS + VAT_IDS[-6:] + [None] * 4
    width = max(len(ibans), len(vats))
    return pa.table({"iban_raw": ibans + [None] * (width - len(ibans)),
                     "vat_raw": vats + [None] * (width - len(vats))})


def _expected() -> list[tuple]:
    return sorted((kind, v, *check_value(kind, v)) for kind, values in (("iban", IBANS), ("vat_id", VAT_IDS))
                  for v in set(values))


def _rows(con) -> list[tuple]:
    return sorted(con.execute("select kind, raw, compact, valid from entities._id_checks").fetchall())


def _checks_on_duckdb(raw: pa.Table) -> list[tuple]:
    con = connect()
    con.register("raw_rows", raw)
    con.execute("create temp table _std_raw as select * from raw_rows")
    standardise.ensure_id_checks(con)
    standardise._start_id_checks(con, NEW)()
    rows = _rows(con)
    con.close()
    return rows


@pytest.fixture()
def on_spark(spark):
    """A ``SparkConnection`` with an empty ``entities._id_checks`` (the session is shared with
    the other Spark tests: dropped again afterwards)."""
    from pipelines.engines.spark_connection import SparkConnection

    con = SparkConnection(spark)
    for table in ("entities._id_checks", "entities._id_checks_version"):
        con.execute(standardise._sql("drop_table", table=exp.to_table(table)))
    standardise.ensure_id_checks(con)
    yield con
    for table in ("entities._id_checks", "entities._id_checks_version"):
        con.execute(standardise._sql("drop_table", table=exp.to_table(table)))
    for temp in sorted(con.temps):
        spark.catalog.dropTempView(temp)


def test_the_rows_written_on_spark_equal_duckdbs(on_spark):
    raw = _raw_rows()
    duck = _checks_on_duckdb(raw)
    on_spark.temp_table("_std_raw", raw)
    standardise._start_id_checks(on_spark, NEW)()
    spark = _rows(on_spark)
    assert spark == duck == _expected()
    assert len(duck) == len(set(IBANS)) + len(set(VAT_IDS))
    verdicts = {(kind, valid) for kind, _, _, valid in duck}
    assert verdicts == {("iban", True), ("iban", False), ("vat_id", True), ("vat_id", False)}
    by_raw = {(kind, r): (compact, valid) for kind, r, compact, valid in spark}
    assert by_raw[("iban", "de89370400440532013000")] == ("DE89370400440532013000", True)
    assert by_raw[("vat_id", "CHE-116.281.710")][1] is True          # the bare Swiss UID
    assert by_raw[("vat_id", "116.281.710")][1] is False              # nine digits alone are not one


def test_spark_checks_only_new_values_and_forgets_other_versions(on_spark):
    raw = _raw_rows()
    on_spark.temp_table("_std_raw", raw)
    standardise._start_id_checks(on_spark, NEW)()
    first = _rows(on_spark)
    # a verdict check_value would never give: kept while the cache is valid, so never re-checked
    planted = ("iban", "KONTOR-PLANTED-VALUE", "PLANTED", True)
    assert check_value("iban", planted[1]) == (None, False)
    from pipelines.core.warehouse import insert_rows
    insert_rows(on_spark, "entities._id_checks", [planted])
    more = pa.concat_tables([raw, pa.table({"iban_raw": [planted[1], "NO93 8601 1117 947"],
                                                        "vat_raw": pa.array([None, None], pa.string())})])
    on_spark.temp_table("_std_raw", more)
    standardise._start_id_checks(on_spark, NEW)()
    second = _rows(on_spark)
    assert second == sorted(first + [planted, ("iban", "NO93 8601 1117 947", "NO9386011117947", True)])
    # another version of the rules or libraries: emptied, every value checked again
    on_spark.execute(standardise._sql("id_checks_version_set",
                                      query=exp.select(exp.alias_(exp.Literal.string("rules 1, older"), "checks"))))
    standardise.ensure_id_checks(on_spark)
    assert _rows(on_spark) == []
    standardise._start_id_checks(on_spark, NEW)()
    assert _rows(on_spark) == sorted(first + [("iban", planted[1], None, False),
                                              ("iban", "NO93 8601 1117 947", "NO9386011117947", True)])
    assert on_spark.execute("select checks from entities._id_checks_version").fetchall() == [(id_checks_version(),)]


# A session of its own: its driver setting (maxResultSize) or its workers' interpreter
# (PYSPARK_PYTHON) is fixed when the session starts. Prints what happened as JSON.
CHILD = '''
import json, sys
sys.path.insert(0, sys.argv[4])      # Kontor for the driver only: the workers' environment lacks it
from pipelines.core.errors import KontorError
from pipelines.core.sql import template
from pipelines.engines.spark_connection import SparkConnection
from pipelines.engines.spark_session import SparkConfig, start_session
from pipelines.entities import standardise

warehouse, n, max_result = sys.argv[1], int(sys.argv[2]), sys.argv[3]
session = start_session(SparkConfig(master="local[2]", warehouse_dir=warehouse,
                                    conf={"spark.driver.maxResultSize": max_result, "spark.sql.shuffle.partitions": "2"}))
con = SparkConnection(session)
standardise.ensure_id_checks(con)
# the values are made on the executors: the driver never holds them
session.range(n).selectExpr("concat('DE', lpad(cast(id as string), 20, '0')) as iban_raw",
                            "concat('DE', lpad(cast(id as string), 9, '0')) as vat_raw").createOrReplaceTempView("_std_raw")
new = template(standardise.__file__, "new_id_checks")
out = {}
try:
    out["collected"] = len(con.execute(new).fetchall())       # what the driver-side path did first
except Exception as exc:
    reason = [line for line in str(exc).splitlines() if "maxResultSize" in line]
    out["collect_error"] = (reason or [str(exc)[:500]])[0]
try:
    standardise._start_id_checks(con, new)()
except KontorError as exc:
    out["error"] = str(exc)
out["rows"] = con.execute("select count(*), count(distinct kind || raw) from entities._id_checks").fetchall()[0]
print("RESULT " + json.dumps(out))
'''


def _child(tmp_path: Path, n: int, max_result: str, worker_python: str) -> dict:
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYSPARK_PYTHON"] = worker_python
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "warehouse"), str(n), max_result, str(ROOT)],
                          env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_the_values_are_not_collected_to_the_driver_and_kontor_is_not_needed_on_the_executors(tmp_path):
    n = 50_000        # 100,000 values: about 3 MB as Arrow, past a 1 MB maxResultSize
    out = _child(tmp_path, n, "1m", _python_without(tmp_path, ("__editable__", "kontor")))
    assert "collected" not in out and "maxResultSize" in out["collect_error"]
    assert "error" not in out
    assert out["rows"] == [2 * n, 2 * n]


def _python_without(tmp_path: Path, left_out: tuple[str, ...]) -> str:
    """A real interpreter with every package of this one but those whose names start with
    ``left_out`` (symlinked, not copied); run without PYTHONPATH, it cannot import them, nor
    Kontor (installed editable: its finder is left out too)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(left_out + ("__editable__", "kontor")):
            (site / entry.name).symlink_to(entry)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for module in ("pipelines", *(m for m in left_out if m.isidentifier() and not m.startswith("_") and m != "kontor")):
        missing = subprocess.run([python, "-c", f"import pyarrow, pyspark; import {module}"], capture_output=True,
                                 text=True, env=env, cwd=tmp_path)
        assert missing.returncode != 0 and f"No module named '{module}'" in missing.stderr
    return python


def test_an_executor_without_schwifty_fails_with_a_clear_message(tmp_path):
    python = _python_without(tmp_path, ("schwifty",))
    out = _child(tmp_path, 10, "1g", python)
    assert out["error"].startswith("entities._id_checks: a Python function on Spark's executors failed: ")
    assert f"need schwifty, which the Python at {python} on " in out["error"]
    assert "fix: pip install python-stdnum schwifty in that Python" in out["error"]
    assert out["rows"] == [0, 0]         # nothing half-written
