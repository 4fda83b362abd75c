"""``kontor run`` against a real Spark Connect server (``remote = "sc://..."``), as a company with
its own cluster would run it, on the demo project, against the same project run on DuckDB.

The server is Spark's own (``SparkConnectServer`` from the jar pyspark ships, started with
``spark-submit``, local[2]) in a process of its own, with its own warehouse directory. The
``kontor run`` client gets no Spark installation and no Java (``SPARK_HOME`` and ``JAVA_HOME`` point
nowhere), so a client that tried to start a JVM fails; and it shares no directory with the server
on purpose: the tables travel as Arrow over the connection, in and back.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import make_project
from engines.test_spark_run import ENTITY_TABLES, entity_differences, model_differences, retrain_supplier_with_train_true

pytestmark = pytest.mark.spark


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    """A Spark Connect server on a free loopback port; stopped after the module."""
    import pyspark

    home = Path(pyspark.__file__).parent
    root = tmp_path_factory.mktemp("spark_connect_server")
    port = _free_port()
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", "spark.driver.memory=1g", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.sql.shuffle.partitions=2",
         "--conf", f"spark.sql.warehouse.dir={root / 'warehouse'}", "spark-internal"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert server.poll() is None, (root / "server.log").read_text()[-3000:]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(1)
    else:
        pytest.fail("the Spark Connect server did not listen within 300 s: " + (root / "server.log").read_text()[-3000:])
    yield f"sc://127.0.0.1:{port}"
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, connect_url):
    """(DuckDB project, Spark Connect project), each after a successful ``kontor run``."""
    from pipelines.demo import generate

    root = tmp_path_factory.mktemp("spark_connect_run")
    duck, remote = root / "duck", root / "remote"
    for project in (duck, remote):
        make_project(project, with_models=True, with_expectations=True)
        generate(project / "data", scale=0.05, seed=7)
    pyproject = remote / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.kontor]\n", '[tool.kontor]\nengine = "spark"\n')
                         + "\n[tool.kontor.spark]\n")
    base = {**os.environ, "PYTHONHASHSEED": "0"}
    for key in ("DAGSTER_HOME", "KONTOR_ENGINE", "KONTOR_SPARK_REMOTE"):
        base.pop(key, None)
    envs = {duck: {**base, "KONTOR_PROJECT_DIR": str(duck)},
            # no Spark and no Java for the client: Spark Connect needs neither on the Dagster host
            remote: {**base, "KONTOR_PROJECT_DIR": str(remote), "KONTOR_SPARK_REMOTE": connect_url,
                     "SPARK_HOME": str(root / "no-spark-here"), "JAVA_HOME": str(root / "no-java-here")}}
    running = {p: subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run"], env=envs[p], text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in (duck, remote)}
    for project, process in running.items():
        _, stderr = process.communicate(timeout=3600)
        assert process.returncode == 0, f"{project.name}: {stderr[-3000:]}"
    return duck, remote


def test_every_model_built_through_spark_connect_equals_the_duckdb_run(runs):
    duck, remote = runs
    assert not (remote / "target" / "spark").exists() or not any((remote / "target" / "spark").rglob("*.parquet")), \
        "the client wrote Spark tables itself: the session was not the remote one"
    compared, differences = model_differences(duck, remote)
    assert compared == 26
    assert not differences, "\n".join(differences)


def test_the_entity_stage_through_spark_connect_equals_the_duckdb_run(runs):
    """Standardisation (the IBAN and VAT-ID checks too: ``mapInArrow`` on the server's executors)
    and scoring ran on the Connect server; every entity table equals the DuckDB run's."""
    duck, remote = runs
    with duckdb.connect(str(remote / "target" / "warehouse.duckdb"), read_only=True) as con:
        checked = con.execute("select count(*) filter (where iban_valid is not null), "
                              "count(*) filter (where vat_id_valid is not null), "
                              "count(*) filter (where iban_valid = false or vat_id_valid = false) "
                              "from entities.customer_standardised").fetchone()
    assert checked[0] > 0 and checked[1] > 0 and checked[2] > 0, checked      # valid and invalid ids were judged
    compared, differences = entity_differences(duck, remote)
    assert not differences, "\n".join(differences)
    assert compared >= ENTITY_TABLES - 5, f"only {compared} entity tables hold rows: the comparison would prove little"


def test_the_gates_judge_alike_through_spark_connect(runs):
    query = ("select asset, rule, success from kontor.gate_results "
             "where asset like 'staging/%' or asset like 'marts/%' or asset like 'raw/%' order by all")
    results = [duckdb.connect(str(p / "target" / "serving.duckdb"), read_only=True).execute(query).fetchall()
               for p in runs]
    assert results[0] and results[0] == results[1]


def test_with_train_true_the_model_is_trained_through_spark_connect(runs, connect_url):
    """``train = true`` with ``remote``: ``kontor run --retrain`` of one entity's model trains it on
    the Connect server (Splink's SparkAPI over the connection; the client has no JVM) and keeps it
    in DuckDB's dialect as the entity's next version. Last in this module: it adds a model version."""
    _, remote = runs
    env = {**os.environ, "PYTHONHASHSEED": "0", "KONTOR_PROJECT_DIR": str(remote), "KONTOR_SPARK_REMOTE": connect_url,
           "SPARK_HOME": str(remote / "no-spark-here"), "JAVA_HOME": str(remote / "no-java-here")}
    env.pop("DAGSTER_HOME", None)
    env.pop("KONTOR_ENGINE", None)
    before, version, model, log = retrain_supplier_with_train_true(remote, env)
    assert version == before + 1
    assert log["engine"] == "spark" and log["u_sampling"], log
    assert model["sql_dialect"] == "duckdb"
    assert not (remote / "target" / "spark").exists() or not any((remote / "target" / "spark").rglob("*.parquet")), \
        "the client wrote Spark tables itself: the session was not the remote one"


_FUNCTIONS_CLIENT = """
import json, sys
import pyarrow as pa
sys.path.insert(0, sys.argv[2])
from engines.test_spark_functions import _duckdb, _pairs
from pipelines.engines.spark_functions import register
from pipelines.engines.spark_rules import to_spark
from pipelines.engines.spark_session import SparkConfig, start_session

session = start_session(SparkConfig(remote=sys.argv[1]))
kind = register(session)
pairs = _pairs()
expected = {(a, b): (j, jw, dl) for a, b, j, jw, dl in _duckdb(pairs)}
session.createDataFrame(pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})) \\
    .createOrReplaceTempView("_kontor_pairs")
query = session.sql(to_spark("select a, b, jaro_similarity(a, b) as j, jaro_winkler_similarity(a, b) as jw, "
                             "damerau_levenshtein(a, b) as dl from _kontor_pairs"))
got = {(r["a"], r["b"]): (r["j"], r["jw"], r["dl"]) for r in query.toArrow().to_pylist()}
session.range(100).selectExpr("cast(id as string) as a", "cast(id * 7 as string) as b").createOrReplaceTempView("_kontor_computed")
plan = session.sql(to_spark("select jaro_winkler_similarity(a, b) as jw, damerau_levenshtein(a, b) as dl "
                            "from _kontor_computed"))._explain_string(extended=True)
print(json.dumps({"kind": kind, "pairs": len(expected), "wrong": sum(got.get(k) != v for k, v in expected.items()),
                  "python_in_plan": "EvalPython" in plan, "udf_in_plan": "kontor_jaro_winkler_similarity" in plan}))
session.stop()
"""


def test_kontors_functions_reach_the_connect_server_as_java_udfs(connect_url, tmp_path):
    """A Spark Connect client (no JVM of its own) that can build Kontor's jar uploads it with the
    session (``start_session``: ``addArtifacts``); the server runs the Java UDFs, no Python worker
    in its plan, with DuckDB's values on every pair of the word list."""
    import json

    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "KONTOR_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(
        [str(tests.parent), str(tests)]), "SPARK_HOME": str(tmp_path / "no-spark-here")}
    env.pop("SPARK_REMOTE", None)
    done = subprocess.run([sys.executable, "-c", _FUNCTIONS_CLIENT, connect_url, str(tests)], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kind"] == "java", done.stderr[-3000:]
    assert result["pairs"] > 9000 and result["wrong"] == 0
    assert result["udf_in_plan"] and not result["python_in_plan"]
