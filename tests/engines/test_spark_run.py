"""``kontor run`` with ``[tool.kontor] engine = "spark"`` (local[2]) on the demo project, through
the real CLI, against the same project run on DuckDB.

Two copies of one project (shipped models and expectations, the demo extracts at scale 0.05) are
run with ``kontor run``: one as shipped, one with ``engine = "spark"``. The Spark run lands the
sources in Spark's catalog, builds and gates every model there and copies the models back into
its DuckDB warehouse; the entity stage standardises and scores on Spark (Splink's SparkAPI), trains
and clusters on DuckDB over the copies, computes survivorship (golden, clusters, xref, conflicts)
on Spark again (``resolve = true``) and the rest of the resolve step on DuckDB. Every model's table in the Spark run's
serving copy must equal the DuckDB run's: the same row count and the same order-insensitive
checksum over the rows (decimals normalised, so ``1.50`` and ``1.5`` are one value), column types
by family; every entity table too, its floats (match probabilities and weights) within 1e-9; and
the gates' failing rows in ``kontor.gate_quarantine`` (two warn rules added to both projects fail on
known rows). The Spark session lives in the ``kontor run`` process (one per
module); the session of the other spark tests is not shared, so their catalog is not touched.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from conftest import make_project
from engines.test_spark_parity import _family, _value   # one comparison for both parity suites

pytestmark = pytest.mark.spark

SPARK_SETTINGS = '''
[tool.kontor.spark]
master = "local[2]"
driver_memory = "1g"
resolve = true
conf = {"spark.sql.shuffle.partitions" = "2"}
'''


# warn rules (the run goes on) that fail on known rows of two marts, in both projects: the failing
# rows land in kontor.gate_quarantine by the model's unique_key (composite for the revenue table)
FAILING_RULES = {
    "marts.revenue_by_product_group_region.yml": """
  - name: small_months
    type: expect_column_values_to_be_between
    kwargs: {column: net_revenue, max_value: 5000}
    severity: warn
""",
    "marts.fct_orders.yml": """
  - name: only_open_orders
    type: expect_column_values_to_be_in_set
    kwargs: {column: status, value_set: [open]}
    severity: warn
""",
}


def _env(project: Path) -> dict[str, str]:
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(project), "PYTHONHASHSEED": "0"}
    env.pop("DAGSTER_HOME", None)
    env.pop("KONTOR_ENGINE", None)
    return env


def kontor(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=_env(project), capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(DuckDB project, Spark project), each after a successful ``kontor run``."""
    from pipelines.demo import generate

    root = tmp_path_factory.mktemp("spark_run")
    duck, spark = root / "duck", root / "spark"
    for project in (duck, spark):
        make_project(project, with_models=True, with_expectations=True)
        for name, rule in FAILING_RULES.items():
            path = project / "expectations" / name
            path.write_text(path.read_text(encoding="utf-8") + rule, encoding="utf-8")
    generate(duck / "data", scale=0.05, seed=7)
    generate(spark / "data", scale=0.05, seed=7)
    pyproject = spark / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.kontor]\n", '[tool.kontor]\nengine = "spark"\n')
                         + SPARK_SETTINGS)
    # both runs at once: the DuckDB run fits into the Spark run's session start
    running = {p: subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run"], env=_env(p), text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in (duck, spark)}
    for project, process in running.items():
        _, stderr = process.communicate(timeout=3600)
        assert process.returncode == 0, f"{project.name}: {stderr[-3000:]}"
    return duck, spark


def fingerprint(table: pa.Table) -> tuple[int, int]:
    """(rows, checksum): the sum of each row's SHA-256 (first 8 bytes) modulo 2**64, so the order
    of the rows does not count and a row twice counts twice."""
    total = 0
    for row in table.to_pylist():
        digest = hashlib.sha256(repr(tuple(_value(v) for v in row.values())).encode()).digest()
        total = (total + int.from_bytes(digest[:8], "big")) % 2**64
    return table.num_rows, total


def _models(project: Path) -> list[tuple[str, str]]:
    from pipelines.core.settings import load_settings
    from pipelines.definitions import compile_models

    compiled = compile_models(load_settings(project, env={}))
    return [(cm.model.schema, cm.model.alias or cm.model.name) for n, cm in compiled.models.items()
            if cm.materialized != "ephemeral"]


def test_every_model_is_built_on_spark_and_copied_back(runs):
    _, spark = runs
    models = _models(spark)
    assert len(models) == 26
    warehouse = spark / "target" / "spark" / "warehouse"
    # Spark wrote the tables: one directory of Parquet files per table model, per source landed
    tables = [(s, n) for s, n in models if s == "marts"]
    for schema, name in tables:
        assert list((warehouse / f"{schema}.db" / name).glob("*.parquet")), f"{schema}.{name} not written by Spark"
    assert list((warehouse / "raw.db" / "erp__orders").glob("*.parquet"))
    con = duckdb.connect(str(spark / "target" / "serving.duckdb"), read_only=True)
    kinds = dict(((s, n), t) for s, n, t in con.execute(
        "select table_schema, table_name, table_type from information_schema.tables").fetchall())
    # staging models are views on DuckDB; on Spark they are views too, copied back as tables
    assert {kinds.get(m) for m in models} == {"BASE TABLE"}
    # the gates ran on Spark, their evidence in DuckDB as on the DuckDB engine
    gated = con.execute("select count(distinct asset), count(*) from kontor.gate_results "
                        "where asset like 'staging/%' or asset like 'marts/%'").fetchone()
    assert gated[0] >= 20 and gated[1] >= 100


def model_differences(duck: Path, other: Path) -> tuple[int, list[str]]:
    """(models compared, differences) between two projects' serving copies: every model's columns,
    column type families, and (rows, checksum); an empty model fails, it would prove nothing."""
    left = duckdb.connect(str(duck / "target" / "serving.duckdb"), read_only=True)
    right = duckdb.connect(str(other / "target" / "serving.duckdb"), read_only=True)
    differences, compared = [], 0
    for schema, name in _models(duck):
        query = f'select * from "{schema}"."{name}"'
        a, b = left.sql(query).to_arrow_table(), right.sql(query).to_arrow_table()
        assert a.num_rows > 0, f"{schema}.{name} is empty: the comparison would prove nothing"
        if a.column_names != b.column_names:
            differences.append(f"{schema}.{name}: columns {a.column_names} vs {b.column_names}")
            continue
        types = [(c, _family(a.schema.field(c).type), _family(b.schema.field(c).type)) for c in a.column_names]
        wrong = [f"{c} {x} vs {y}" for c, x, y in types if x != y]
        if wrong:
            differences.append(f"{schema}.{name}: types {wrong}")
        if fingerprint(a) != fingerprint(b):
            differences.append(f"{schema}.{name}: (rows, checksum) {fingerprint(a)} on DuckDB, {fingerprint(b)} on Spark")
        compared += 1
    return compared, differences


def test_every_model_equals_the_duckdb_run(runs):
    compared, differences = model_differences(*runs)
    assert compared == 26
    assert not differences, "\n".join(differences)


def test_the_same_gates_pass_and_fail_on_both_engines(runs):
    duck, spark = runs
    query = ("select asset, rule, success from kontor.gate_results "
             "where asset like 'staging/%' or asset like 'marts/%' or asset like 'raw/%' order by all")
    results = [duckdb.connect(str(p / "target" / "serving.duckdb"), read_only=True).execute(query).fetchall()
               for p in (duck, spark)]
    assert results[0] and results[0] == results[1]


def test_the_same_failing_rows_are_quarantined_on_both_engines(runs):
    """``kontor.gate_quarantine`` of the two runs, the per-run columns (run id, time) left out."""
    query = "select asset, rule, severity, row_key, row_json from kontor.gate_quarantine order by all"
    rows = [duckdb.connect(str(p / "target" / "serving.duckdb"), read_only=True).execute(query).fetchall() for p in runs]
    assert rows[0] == rows[1]
    by_rule = {}
    for asset, rule, _, key, _ in rows[0]:
        by_rule.setdefault((asset, rule), []).append(key)
    # the known failing rows are there, keyed by each model's unique_key
    assert by_rule[("marts/revenue_by_product_group_region", "small_months")]
    assert all(key.count("|") == 2 for key in by_rule[("marts/revenue_by_product_group_region", "small_months")])
    assert by_rule[("marts/fct_orders", "only_open_orders")]


def test_query_and_reports_read_the_serving_copy_unchanged(runs):
    _, spark = runs
    answer = kontor(spark, "query", "select count(*) as n from marts.fct_invoices", "--format", "csv")
    assert answer.returncode == 0, answer.stderr
    assert int(answer.stdout.split()[-1]) > 0


ENTITY_TABLES = 27                  # customer, supplier, contact: 9 tables each
# what differs between two runs by design: when and by which run a row was written, the model file's path
# and the training log (its seconds; the model itself is compared)
PER_RUN = {"run_id", "listed_at", "recorded_at", "trained_at", "path", "training_log"}
TOLERANCE = 1e-9


def _floats_out(v):
    """``v`` with every float replaced by None (what rows are matched on), recursively."""
    if isinstance(v, float):
        return None
    if isinstance(v, dict):
        return tuple((k, _floats_out(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return tuple(_floats_out(x) for x in v)
    return _value(v)


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= TOLERANCE
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return _value(a) == _value(b)


def _model(text: str) -> dict:
    """A trained model's JSON without Splink's linker_uid (random per linker)."""
    model = json.loads(text)
    model.pop("linker_uid", None)
    return model


def _entity_rows(con, table: str) -> tuple[list[str], list[tuple]]:
    """The table's columns (those not written per run) and its rows, sorted by everything but their floats."""
    arrow = con.sql(f"select * from entities.{table}").to_arrow_table()
    columns = [c for c in arrow.column_names if c not in PER_RUN]
    rows = [tuple(_model(r[c]) if (table, c) == ("_models", "model") else r[c] for c in columns) for r in arrow.to_pylist()]
    return columns, sorted(rows, key=lambda r: repr(_floats_out(r)))


def entity_differences(duck: Path, other: Path) -> tuple[int, list[str]]:
    """(entity tables compared that hold rows, differences) between two projects' warehouses: every
    table of the ``entities`` schema and the models table, row by row, floats within TOLERANCE."""
    left = duckdb.connect(str(duck / "target" / "warehouse.duckdb"), read_only=True)
    right = duckdb.connect(str(other / "target" / "warehouse.duckdb"), read_only=True)
    listed = "select table_name from information_schema.tables where table_schema = 'entities' order by 1"
    tables = [t for (t,) in left.execute(listed).fetchall() if not t.startswith("_")]
    assert len(tables) == ENTITY_TABLES, tables
    assert tables == [t for (t,) in right.execute(listed).fetchall() if not t.startswith("_")]
    differences, compared = [], 0
    for table in [*tables, "_models"]:
        (columns, a), (columns_b, b) = _entity_rows(left, table), _entity_rows(right, table)
        compared += bool(a) and table != "_models"
        if columns != columns_b:
            differences.append(f"{table}: columns {columns} vs {columns_b}")
        elif len(a) != len(b):
            differences.append(f"{table}: {len(a)} rows on DuckDB, {len(b)} on Spark")
        else:
            wrong = [(x, y) for x, y in zip(a, b) if not _close(x, y)]
            if wrong:
                x, y = wrong[0]
                differences.append(f"{table}: {len(wrong)} of {len(a)} rows differ, e.g. in "
                                   f"{[(c, u, v) for c, u, v in zip(columns, x, y) if not _close(u, v)]}"[:2000])
    return compared, differences


def test_the_entity_stage_ran_on_spark_and_every_entity_table_equals_the_duckdb_run(runs):
    duck, spark = runs
    warehouse = spark / "target" / "spark" / "warehouse" / "entities.db"
    for entity in ("customer", "supplier", "contact"):
        for part in ("standardised", "pairs"):
            assert list((warehouse / f"{entity}_{part}").glob("*.parquet")), f"{entity}_{part} not written by Spark"
    compared, differences = entity_differences(duck, spark)
    assert not differences, "\n".join(differences)
    # at this scale 5 tables are empty on both runs (the contacts' pairs, conflicts, queue and sync
    # proposals; the customers' queue)
    assert compared >= ENTITY_TABLES - 5, f"only {compared} entity tables hold rows: the comparison would prove little"


def retrain_supplier_with_train_true(project: Path, env: dict[str, str]) -> tuple[int, int, dict, dict]:
    """Set ``train = true`` in ``project``'s ``[tool.kontor.spark]`` and run ``kontor run --retrain``
    of the supplier model alone with ``env``: (the latest version before, the latest after, its model,
    its training log)."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("[tool.kontor.spark]\n", "[tool.kontor.spark]\ntrain = true\n"))
    warehouse = project / "target" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = con.execute("select max(version) from entities._models where entity = 'supplier'").fetchone()[0]
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--retrain", "--force", "--select",
                           "entities/supplier_model"], env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        version, model, log = con.execute("select version, model, training_log from entities._models "
                                          "where entity = 'supplier' order by version desc limit 1").fetchone()
    return before, version, json.loads(model), json.loads(log)


def test_with_train_true_kontor_run_trains_the_model_on_spark(runs):
    """``[tool.kontor.spark] train = true``: ``kontor run --retrain`` of one entity's model asset
    trains it on Splink's SparkAPI (the standardised records copied into Spark first, since this
    run did not write them) and keeps it, in DuckDB's dialect, as the entity's next version.
    Last in this module: it adds a model version to the Spark project's warehouse."""
    _, spark = runs
    before, version, model, log = retrain_supplier_with_train_true(spark, _env(spark))
    assert version == before + 1
    assert log["engine"] == "spark", log
    assert model["sql_dialect"] == "duckdb" and log["u_sampling"]
    assert any(lvl.get("u_probability") is not None for c in model["comparisons"] for lvl in c["comparison_levels"])
