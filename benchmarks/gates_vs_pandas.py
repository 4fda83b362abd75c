"""Benchmark: Kontor's quality gate against GX's pandas engine, same suite, same table.

Run:  .venv/bin/python benchmarks/gates_vs_pandas.py [--rows 10000000] [--repeats 3] [--workdir DIR]

Prints one JSON object on stdout (progress on stderr). A table of ``--rows`` rows with nulls,
duplicates, out-of-range values, regex failures and pair violations (DuckDB ``range()``, fixed
formulas, so always the same data) is written once into ``<workdir>/gates_<rows>.duckdb`` and
reused. A suite of 10 expectations (not null, unique, between with ``mostly``, regex, in set,
value lengths, row count, mean, compound unique, pair) runs on it with each engine, alternating,
every measurement in a fresh subprocess:

- ``pandas``: GX 1.x's PandasExecutionEngine, the way GX runs on a DuckDB table without
  SQLAlchemy: ``con.table(t).df()``, then a ValidationDefinition on that DataFrame.
- ``gate``: ``pipelines.quality.gate.DuckDBGate.validate`` (GX expectations, metrics computed in
  DuckDB, judged by GX's ``metrics_validate``).
- ``gate_with_evidence``: ``pipelines.quality.runner.run_suite``, what a Dagster check runs: the
  gate plus ``kontor.gate_results``, failing rows into ``kontor.gate_quarantine`` (at most 10,000
  per rule) and the Data Docs page. Work the pandas engine does not do; reported, not compared.

What is timed: ``validate_s`` is from an open DuckDB connection to a finished
ExpectationSuiteValidationResult (for pandas that includes reading the table into a DataFrame,
which its engine needs). It excludes ``import great_expectations`` (2-3 s, the same for both
engines: Kontor imports GX too, for the expectation classes). ``process_s`` is the whole child
process, imports included. ``peak_rss_mb`` is the child's VmHWM. The targets (``ratio`` ≤ 0.2,
peak RSS < 3 GB) are judged on medians of ``validate_s`` and on the maximum RSS; both engines
must give identical success flags and unexpected counts (the full comparison covers every field
of the SUMMARY result). The machine is shared: load averages are reported with every run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ratio": 0.2, "peak_rss_mb": 3072}
FIELDS = ("element_count", "unexpected_count", "unexpected_percent", "unexpected_percent_total",
          "unexpected_percent_nonmissing", "missing_count", "observed_value", "partial_unexpected_list",
          "partial_unexpected_index_list", "partial_unexpected_counts")

TABLE_SQL = """
create or replace table invoices as
select
  case when i % 1000 = 999 then i - 1 else i end::bigint                      as id,
  case when i % 97 = 0 then null else 'C' || lpad(((i * 7919) % 100000)::varchar, 6, '0') end as customer_id,
  case when i % 50 = 0 then null
       when i % 333 = 0 then 'user' || i::varchar || '@@example'
       when i % 777 = 0 then 'USER' || i::varchar || '@EXAMPLE.COM'
       else 'user' || i::varchar || '@example.com' end                         as email,
  case when i % 101 = 0 then null
       when i % 211 = 0 then -((i % 500) + 1)::double
       else ((i * 37) % 1000000) / 100.0 end                                  as amount,
  case when i % 61 = 0 then null when i % 89 = 0 then 'unknown'
       else ['open', 'paid', 'cancelled'][1 + (i % 3)::int] end               as status,
  case when i % 401 = 0 then 'DEU' when i % 43 = 0 then null
       else ['DE', 'AT', 'CH', 'FR'][1 + (i % 4)::int] end                    as country,
  case when i % 4999 = 0 then null else 'CC' || ((i // 14) % 7)::varchar end as company_code,
  case when i % 3001 = 0 then null when i % 2000 = 1999 then i - 1 else i end::bigint as doc_no,
  -- DOUBLE, not BIGINT: GX's pandas engine raises on pairs of nullable Int64 columns
  case when i % 131 = 0 then null else (i % 100000)::double end              as qty_ordered,
  case when i % 137 = 0 then null when i % 149 = 0 then (i % 100000)::double + 5
       else (i % 100000)::double - (i % 3) end                                as qty_shipped
from range({rows}) t(i)
"""

SUITE = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "customer_id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "amount", "min_value": 0, "max_value": 10000, "mostly": 0.99}},
    {"type": "expect_column_values_to_match_regex",
     "kwargs": {"column": "email", "regex": r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "status", "value_set": ["open", "paid", "cancelled"], "mostly": 0.95}},
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "country", "min_value": 2, "max_value": 2}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000, "max_value": 20_000_000}},
    {"type": "expect_column_mean_to_be_between", "kwargs": {"column": "amount", "min_value": 4000, "max_value": 6000}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["company_code", "doc_no"]}},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b",
     "kwargs": {"column_A": "qty_ordered", "column_B": "qty_shipped", "or_equal": True, "mostly": 0.99}},
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def connect(path: Path, workdir: Path, read_only: bool):
    import duckdb

    con = duckdb.connect(str(path), read_only=read_only)
    (workdir / "duck_tmp").mkdir(exist_ok=True)
    con.execute(f"set temp_directory = '{workdir / 'duck_tmp'}'; set threads = 2")
    return con


# ----------------------------------------------------------------------------- one measurement (child)
def child(engine: str, db: Path, workdir: Path, out: Path) -> None:
    t0 = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    configs = [ExpectationConfiguration(type=r["type"], kwargs=r["kwargs"]) for r in SUITE]
    con = connect(db, workdir, read_only=engine != "gate_with_evidence")
    t1 = time.perf_counter()
    if engine == "pandas":
        df = con.table("invoices").df()
        ctx = gx.get_context(mode="ephemeral")
        batch = ctx.data_sources.add_pandas("pd").add_dataframe_asset("invoices").add_batch_definition_whole_dataframe("all")
        suite = ctx.suites.add(gx.ExpectationSuite(name="invoices", expectations=[c.to_domain_obj() for c in configs]))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
        result = vd.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
        results = result.results
    elif engine == "gate":
        from pipelines.quality.gate import DuckDBGate

        results = DuckDBGate(con, "invoices").validate(configs, suite_name="invoices").results
    else:
        from pipelines.quality.runner import run_suite
        from pipelines.quality.spec import Rule, Suite

        rules = tuple(Rule(name=f"r{i}", type=r["type"], kwargs=r["kwargs"], severity="error", description=None,
                           file="bench", line=i) for i, r in enumerate(SUITE))
        outcome = run_suite(con, Suite(asset="main/invoices", file="bench", rules=rules), run_id=f"bench-{os.getpid()}",
                            row_key=["id"], docs_target=workdir / "target")
        results = [o.result for o in outcome.rules]
    t2 = time.perf_counter()
    con.close()
    normalised = []
    for r in results:
        d = r.to_json_dict()
        kwargs = {k: v for k, v in d["expectation_config"]["kwargs"].items() if k != "batch_id"}
        normalised.append({"type": d["expectation_config"]["type"], "kwargs": kwargs, "success": d["success"],
                           "result": {k: d["result"].get(k, "<absent>") for k in FIELDS},
                           "exception": (d.get("exception_info") or {}).get("exception_message")})
    normalised.sort(key=lambda x: (x["type"], json.dumps(x["kwargs"], sort_keys=True, default=str)))  # GX reorders
    out.write_text(json.dumps({"engine": engine, "startup_s": t1 - t0, "validate_s": t2 - t1,
                               "peak_rss_mb": vm_hwm_mb(), "results": normalised}, default=str))


# ----------------------------------------------------------------------------- driver (parent)
def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def compare(reference: list[dict], other: list[dict]) -> dict:
    rows, identical = [], True
    for r, o in zip(reference, other):
        assert (r["type"], r["kwargs"]) == (o["type"], o["kwargs"])
        diffs = [f for f in FIELDS if not _same(r["result"][f], o["result"][f])]
        if r["success"] != o["success"]:
            diffs.insert(0, "success")
        if r["exception"] or o["exception"]:
            diffs.append("exception")
        identical &= not diffs
        rows.append({"type": r["type"], "success": r["success"], "unexpected_count": r["result"]["unexpected_count"],
                     "observed_value": r["result"]["observed_value"], "differs": diffs})
    return {"identical": identical and len(reference) == len(other) == len(SUITE), "per_expectation": rows}


def measure(engine: str, db: Path, workdir: Path) -> dict:
    out = workdir / f"result_{engine}.json"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", engine, "--db", str(db), "--workdir", str(workdir),
                           "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(out.read_text())
    res.update(process_s=wall, load_1min_before=round(load, 2), load_1min_after=round(os.getloadavg()[0], 2))
    log(f"  {engine:>18}: validate {res['validate_s']:.2f} s, process {wall:.2f} s, "
        f"peak RSS {res['peak_rss_mb']:.0f} MB, load {load:.2f}")
    return res


def stats(xs: list[float]) -> dict:
    return {"median": round(statistics.median(xs), 3), "min": round(min(xs), 3), "max": round(max(xs), 3),
            "all": [round(x, 3) for x in xs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor_gates_bench")
    ap.add_argument("--child", choices=["pandas", "gate", "gate_with_evidence"])
    ap.add_argument("--db", type=Path)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    if a.child:
        child(a.child, a.db, a.workdir, a.out)
        return

    db = a.workdir / f"gates_{a.rows}.duckdb"
    if not db.exists():
        t = time.perf_counter()
        con = connect(db, a.workdir, read_only=False)
        con.execute(TABLE_SQL.format(rows=a.rows))
        con.close()
        log(f"generated {a.rows:,} rows in {time.perf_counter() - t:.1f} s: {db}")
    load_start = os.getloadavg()
    engines = ["pandas", "gate", "gate_with_evidence"]
    runs: dict[str, list[dict]] = {e: [] for e in engines}
    for rep in range(a.repeats):
        log(f"repeat {rep + 1}/{a.repeats}")
        for engine in engines:
            runs[engine].append(measure(engine, db, a.workdir))

    import duckdb
    import great_expectations as gx
    import pandas as pd

    reference = runs["pandas"][-1]["results"]
    per_engine = {}
    for engine, rs in runs.items():
        per_engine[engine] = {"validate_s": stats([r["validate_s"] for r in rs]),
                              "process_s": stats([r["process_s"] for r in rs]),
                              "startup_s": stats([r["startup_s"] for r in rs]),
                              "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs)),
                              "load_1min": [[r["load_1min_before"], r["load_1min_after"]] for r in rs]}
        if engine != "pandas":
            per_engine[engine]["vs_pandas"] = compare(reference, rs[-1]["results"])
            per_engine[engine]["same_results_every_repeat"] = all(r["results"] == rs[-1]["results"] for r in rs)
    med = {e: per_engine[e]["validate_s"]["median"] for e in engines}
    proc_med = {e: per_engine[e]["process_s"]["median"] for e in engines}
    ratio = round(med["gate"] / med["pandas"], 3)
    identical = per_engine["gate"]["vs_pandas"]["identical"] and per_engine["gate_with_evidence"]["vs_pandas"]["identical"]
    out = {
        "benchmark": "gates_vs_pandas",
        "rows": a.rows, "repeats": a.repeats, "suite": [r["type"] for r in SUITE],
        "timed": "validate_s: open DuckDB connection -> ExpectationSuiteValidationResult (pandas: incl. .df()); "
                 "excludes the GX import, reported in startup_s; process_s: whole child process",
        "engines": per_engine,
        "ratio_gate_to_pandas_validate_median": ratio,
        "ratio_gate_with_evidence_to_pandas_validate_median": round(med["gate_with_evidence"] / med["pandas"], 3),
        "ratio_gate_to_pandas_process_median": round(proc_med["gate"] / proc_med["pandas"], 3),
        "ratio_per_repeat": [round(g["validate_s"] / p["validate_s"], 3) for p, g in zip(runs["pandas"], runs["gate"])],
        "identical_success_and_counts": identical,
        "targets": TARGETS,
        "met": {"ratio": ratio <= TARGETS["ratio"],
                "peak_rss_mb": per_engine["gate"]["peak_rss_mb"] < TARGETS["peak_rss_mb"]
                and per_engine["gate_with_evidence"]["peak_rss_mb"] < TARGETS["peak_rss_mb"],
                "identical": identical},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_start": [round(x, 2) for x in load_start],
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                    "mem_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "versions": {"great_expectations": gx.__version__, "duckdb": duckdb.__version__, "pandas": pd.__version__},
    }
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
