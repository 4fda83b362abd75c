"""Reproduce the GX-on-DuckDB comparison and print JSON.

  python prototype.py bench [--sizes 1000000,10000000] [--engines pandas,duck,chunked] [--strftime]
      generates the tables (DuckDB range()), runs every engine in its own process under
      /usr/bin/time -v (wall time, peak RSS), compares the results field by field and prints JSON.
  python prototype.py run --engine pandas|duck|chunked --db FILE --out FILE [--strftime]
      one engine, one table (used by bench; handy alone).
  python prototype.py compare A.json B.json
  python prototype.py docs [--n 100000]
      gate -> GX results -> GX Data Docs (FileDataContext site) with sockets blocked, then the
      offline rewrite (datadocs.py); prints what GX's HTML would fetch and what is left.

Related scripts: edge_cases.py (semantic edge cases vs the pandas engine, JSON),
check_demo.py (what is rejected before a run), repro_sqlalchemy.py (GX SQL datasource on DuckDB),
worst_regex.py (regex that needs Python `re`, 10M distinct values).

Engines
  pandas   GX 1.24 PandasExecutionEngine on con.table(...).df()   (the reference)
  duck     Kontor gate: GX expectations + metric pushdown to DuckDB (gxduck.py)
  chunked  option (b): GX's own pandas metrics on DuckDB df chunks, merged, then GX's metrics_validate
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import STRFTIME, SUITE_10, TMP, connect, generate  # noqa: E402

COMPARED_FIELDS = ("element_count", "unexpected_count", "unexpected_percent", "missing_count",
                   "missing_percent", "unexpected_percent_total", "unexpected_percent_nonmissing",
                   "partial_unexpected_list", "partial_unexpected_counts",
                   "partial_unexpected_index_list", "observed_value")


def rules(strftime: bool):
    return SUITE_10 + ([STRFTIME] if strftime else [])


def normalise(res) -> list[dict]:
    out = []
    for r in res.results:
        d = r.to_json_dict()
        cfg = d["expectation_config"]
        out.append({"type": cfg["type"], "kwargs": {k: v for k, v in cfg["kwargs"].items() if k != "batch_id"},
                    "success": d["success"], "result": d["result"],
                    "exception": (d.get("exception_info") or {}).get("exception_message")})
    out.sort(key=lambda x: (x["type"], json.dumps(x["kwargs"], sort_keys=True)))
    return out


# ----------------------------------------------------------------------------- engines
def run_pandas(con, table, suite, result_format):
    import great_expectations as gx
    t0 = time.perf_counter()
    df = con.table(table).df()
    t1 = time.perf_counter()
    ctx = gx.get_context(mode="ephemeral")
    ds = ctx.data_sources.add_pandas("pd")
    bd = ds.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(suite)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=bd, suite=suite))
    res = vd.run(batch_parameters={"dataframe": df}, result_format=result_format)
    t2 = time.perf_counter()
    return res, {"load_df_s": t1 - t0, "gx_validate_s": t2 - t1}


def run_duck(con, table, suite, result_format):
    from gxduck import DuckDBGate
    t0 = time.perf_counter()
    gate = DuckDBGate(con, table)
    problems = gate.check(suite)
    t1 = time.perf_counter()
    res = gate.validate(suite, result_format=result_format)
    t2 = time.perf_counter()
    return res, {"check_s": t1 - t0, "validate_s": t2 - t1, "check_problems": problems,
                 "regex_fallbacks": gate.fallbacks}


def run_chunked(con, table, suite, result_format, chunk_vectors=488, partitions=8):
    """Option (b): GX's pandas metrics per chunk (~1M rows), merged; keyed metrics by hash partition."""
    import pandas as pd
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult, ExpectationValidationResult)
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.execution_engine.pandas_batch_data import PandasBatchData
    from great_expectations.validator.metric_configuration import MetricConfiguration
    from great_expectations.validator.metrics_calculator import MetricsCalculator
    from great_expectations.validator.validation_statistics import calc_validation_statistics

    t0 = time.perf_counter()
    eng0 = PandasExecutionEngine()
    runtime = {"result_format": result_format}
    items = []
    for cfg in suite.expectation_configurations:
        exp = cfg.to_domain_obj()
        deps = exp.get_validation_dependencies(execution_engine=eng0, runtime_configuration=dict(runtime))
        items.append((cfg, exp, list(deps.metric_configurations.values())))
    all_mcs = {mc.id: mc for _, _, mcs in items for mc in mcs}
    keyed = {i: mc for i, mc in all_mcs.items()
             if mc.metric_name.startswith(("column_values.unique.", "compound_columns.unique."))}
    streamed = {i: mc for i, mc in all_mcs.items() if i not in keyed}
    # column.mean needs the non-null count of each chunk to be merged
    extra = {}
    for i, mc in streamed.items():
        if mc.metric_name == "column.mean":
            nmc = MetricConfiguration("column_values.nonnull.unexpected_count", dict(mc.metric_domain_kwargs), {})
            extra[i] = nmc
    rowcount_mc = MetricConfiguration("table.row_count", {}, {})
    to_compute = list(streamed.values()) + list(extra.values()) + [rowcount_mc]

    acc: dict = {}

    def merge(resolved, mcs, offset_rows=None):
        n_chunk = resolved[rowcount_mc.id]
        for mc in mcs:
            v = resolved[mc.id]
            name = mc.metric_name
            a = acc.get(mc.id)
            if name.endswith((".unexpected_count", ".filtered_row_count")) or name == "table.row_count":
                acc[mc.id] = (a or 0) + int(v)
            elif name.endswith((".unexpected_values", ".unexpected_index_list")):
                acc[mc.id] = (a or []) + list(v)
            elif name.endswith(".unexpected_index_query"):
                acc[mc.id] = "chunked: not available"
            elif name == "column.mean":
                nn = n_chunk - resolved[extra[mc.id].id]
                s, c = a or (0.0, 0)
                if nn:
                    acc[mc.id] = (s + float(v) * nn, c + nn)
                else:
                    acc[mc.id] = (s, c)
            elif name == "table.columns":
                acc[mc.id] = list(v)
            else:
                raise NotImplementedError(name)

    def compute(df, mcs):
        eng = PandasExecutionEngine()
        eng.load_batch_data("chunk", PandasBatchData(eng, df))
        calc = MetricsCalculator(execution_engine=eng, show_progress_bars=False)
        resolved, aborted = calc.compute_metrics(mcs, runtime_configuration=dict(runtime))
        if aborted:
            raise RuntimeError(f"aborted metrics: {list(aborted)[:3]}")
        return resolved

    # 1) stream all row-local metrics over ordered chunks (index = global row position)
    cur = con.execute(f"SELECT * FROM {table}")
    offset = 0
    while True:
        df = cur.fetch_df_chunk(chunk_vectors)
        if len(df) == 0:
            break
        df.index = pd.RangeIndex(offset, offset + len(df))
        merge(compute(df, to_compute), list(streamed.values()) + [rowcount_mc])
        offset += len(df)
        del df
    # 2) uniqueness: hash-partition by key so every duplicate group lands in one partition
    by_domain: dict = {}
    for i, mc in keyed.items():
        d = dict(mc.metric_domain_kwargs)
        cols = d.get("column_list") or [d["column"]]
        by_domain.setdefault(tuple(cols), []).append(mc)
    for cols, mcs in by_domain.items():
        key = ", ".join(f'"{c}"' for c in cols)
        parts = []
        for p in range(partitions):
            df = con.execute(f"SELECT rowid AS __r, {key} FROM {table} "
                             f"WHERE hash({key}) % {partitions} = {p} ORDER BY rowid").df()
            df.index = pd.Index(df.pop("__r").to_numpy())
            r = compute(df, mcs + [rowcount_mc])
            parts.append(r)
        for mc in mcs:
            name = mc.metric_name
            if name.endswith((".unexpected_count", ".filtered_row_count")):
                acc[mc.id] = sum(int(r[mc.id]) for r in parts)
            elif name.endswith(".unexpected_index_query"):
                acc[mc.id] = "chunked: not available"
        # values and indices: re-sort across partitions by global row position
        vmc = [m for m in mcs if m.metric_name.endswith(".unexpected_values")]
        imc = [m for m in mcs if m.metric_name.endswith(".unexpected_index_list")]
        if vmc and imc:
            pairs = sorted((i, v) for r in parts for i, v in zip(r[imc[0].id], r[vmc[0].id]))
            k = 20 if result_format != "COMPLETE" else 200
            acc[imc[0].id] = [i for i, _ in pairs][:k] if result_format != "COMPLETE" else [i for i, _ in pairs]
            acc[vmc[0].id] = [v for _, v in pairs][:k]
    # finalise merged metrics and let GX judge
    k = 20 if result_format != "COMPLETE" else 200
    metrics = {}
    for i, mc in all_mcs.items():
        v = acc[i]
        if mc.metric_name == "column.mean":
            v = v[0] / v[1] if v[1] else float("nan")
        elif mc.metric_name.endswith(".unexpected_values") and i in streamed:
            v = v[:k]
        elif mc.metric_name.endswith(".unexpected_index_list") and i in streamed and result_format != "COMPLETE":
            v = v[:k]
        metrics[i] = v
    results = []
    for cfg, exp, mcs in items:
        results.append(exp.metrics_validate(metrics=metrics, runtime_configuration=dict(runtime),
                                            execution_engine=eng0))
    stats = calc_validation_statistics(results)
    res = ExpectationSuiteValidationResult(results=results, success=stats.success, suite_name=suite.name,
                                           statistics={}, meta={})
    return res, {"validate_s": time.perf_counter() - t0}


def cmd_run(a):
    from gxduck import suite_from_rules
    con = connect(a.db if a.db != ":memory:" else None, read_only=a.db != ":memory:")
    if a.db == ":memory:":
        generate(con, a.n)
    suite = suite_from_rules("invoices", rules(a.strftime))
    t0 = time.perf_counter()
    res, phases = {"pandas": run_pandas, "duck": run_duck, "chunked": run_chunked}[a.engine](
        con, "invoices", suite, a.result_format)
    wall = time.perf_counter() - t0
    out = {"engine": a.engine, "in_process_s": wall, "phases": phases, "success": res.success,
           "results": normalise(res)}
    with open(a.out, "w") as f:
        json.dump(out, f, default=str, indent=1)
    print(json.dumps({k: v for k, v in out.items() if k != "results"}, default=str))


# ----------------------------------------------------------------------------- comparison
def _eq(a, b, rel=1e-12):
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_eq(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k], rel) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return _eq(float(a), float(b), rel)
    return a == b


def compare(ref: list[dict], other: list[dict]) -> dict:
    rows, all_ok, exact_ok = [], True, True
    for r, o in zip(ref, other):
        assert (r["type"], r["kwargs"]) == (o["type"], o["kwargs"])
        diffs, ulp = [], []
        if r["success"] != o["success"]:
            diffs.append("success")
        if (r["exception"] is None) != (o["exception"] is None):
            diffs.append("exception")
        for f in COMPARED_FIELDS:
            a, b = r["result"].get(f, "<absent>"), o["result"].get(f, "<absent>")
            if a == b:
                continue
            if _eq(a, b, 1e-12):
                ulp.append(f)
            else:
                diffs.append(f)
        keys_r, keys_o = set(r["result"]), set(o["result"])
        if keys_r != keys_o:
            diffs.append(f"keys:{sorted(keys_r ^ keys_o)}")
        all_ok &= not diffs
        exact_ok &= not diffs and not ulp
        rows.append({"type": r["type"], "success": [r["success"], o["success"]],
                     "unexpected_count": [r["result"].get("unexpected_count"), o["result"].get("unexpected_count")],
                     "observed_value": [r["result"].get("observed_value"), o["result"].get("observed_value")],
                     "differs": diffs, "float_rounding_only": ulp})
    return {"identical_within_1e-12": all_ok, "bitwise_identical": exact_ok, "per_expectation": rows}


def cmd_compare(a):
    ref = json.load(open(a.a))["results"]
    oth = json.load(open(a.b))["results"]
    print(json.dumps(compare(ref, oth), indent=1, default=str))


# ----------------------------------------------------------------------------- bench
def _timed(cmd):
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    el = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", p.stderr).group(1)
    parts = [float(x) for x in el.split(":")]
    wall = sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
    return {"process_wall_s": round(wall, 2), "peak_rss_mb": round(rss / 1024), **json.loads(p.stdout.strip().splitlines()[-1])}


def _stats(xs):
    xs = sorted(xs)
    return {"min": round(xs[0], 3), "median": round(xs[len(xs) // 2], 3), "max": round(xs[-1], 3), "n": len(xs)}


def cmd_bench(a):
    """Engines run interleaved, each in a fresh process under /usr/bin/time -v, `--repeats` times
    (the machine is shared: report min/median, and the ratio per interleaved pair)."""
    import duckdb
    import great_expectations as gx
    out = {"great_expectations": gx.__version__, "duckdb": duckdb.__version__, "suite": [r["type"] for r in rules(a.strftime)],
           "result_format": a.result_format, "threads": 2, "sizes": {}}
    engines = a.engines.split(",")
    for n in [int(x) for x in a.sizes.split(",")]:
        db = f"{TMP}/bench_{n}.duckdb"
        if not os.path.exists(db):
            con = connect(db)
            t = time.perf_counter()
            generate(con, n)
            con.close()
            print(f"generated {n} rows in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        runs = {e: [] for e in engines}
        files = {}
        for rep in range(a.repeats):
            for eng in engines:
                if eng == "chunked" and rep > 0:
                    continue  # slow and not the candidate: once is enough
                files[eng] = f"{TMP}/res_{eng}_{n}{'_strf' if a.strftime else ''}.json"
                cmd = [sys.executable, __file__, "run", "--engine", eng, "--db", db, "--out", files[eng],
                       "--result-format", a.result_format] + (["--strftime"] if a.strftime else [])
                r = _timed(cmd)
                runs[eng].append(r)
                print(f"{n} rep{rep} {eng}: wall {r['process_wall_s']}s in-process {r['in_process_s']:.2f}s "
                      f"rss {r['peak_rss_mb']}MB", file=sys.stderr)
        entry = {}
        for eng, rs in runs.items():
            entry[eng] = {"process_wall_s": _stats([r["process_wall_s"] for r in rs]),
                          "in_process_s": _stats([r["in_process_s"] for r in rs]),
                          "peak_rss_mb": _stats([r["peak_rss_mb"] for r in rs]),
                          "phases_last_run": rs[-1]["phases"], "suite_success": rs[-1]["success"]}
        if "pandas" in runs:
            ref = json.load(open(files["pandas"]))["results"]
            for eng in runs:
                if eng == "pandas":
                    continue
                entry[eng]["vs_pandas"] = compare(ref, json.load(open(files[eng]))["results"])
                pairs = list(zip(runs["pandas"], runs[eng]))
                entry[eng]["ratio_in_process_per_pair"] = [round(o["in_process_s"] / p["in_process_s"], 3) for p, o in pairs]
                entry[eng]["ratio_process_wall_per_pair"] = [round(o["process_wall_s"] / p["process_wall_s"], 3) for p, o in pairs]
        out["sizes"][n] = entry
    print(json.dumps(out, indent=1, default=str))


def cmd_docs(a):
    """Gate -> GX ExpectationSuiteValidationResult -> GX Data Docs (FileDataContext site), built with
    every socket connect/DNS lookup blocked; then made viewable offline. Prints JSON."""
    import datetime as dt
    import socket
    attempts = []

    def _blocked(*args, **kw):
        attempts.append(repr(args[1:3] if len(args) > 1 else args)[:120])
        raise OSError("network blocked by prototype")
    socket.socket.connect = _blocked
    socket.getaddrinfo = _blocked

    import shutil
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    import datadocs
    from gxduck import DuckDBGate, suite_from_rules
    con = connect()
    generate(con, a.n)
    suite = suite_from_rules("invoices", rules(True))
    res = DuckDBGate(con, "invoices").validate(suite)
    run_id = RunIdentifier(run_name="kontor-demo", run_time=dt.datetime.now(dt.timezone.utc))
    res.meta["run_id"] = run_id
    res.meta["validation_time"] = run_id.run_time
    root = f"{TMP}/docs_project"
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    site, vr_id = datadocs.build_site(root, suite, res, "kontor-demo", "duckdb.invoices")
    t1 = time.perf_counter()
    before = set()
    for dirpath, _, fs in os.walk(site):
        for f in fs:
            if f.endswith(".html"):
                before |= {u for _, u in datadocs.FETCHING_TAG.findall(open(os.path.join(dirpath, f)).read())}
    report = datadocs.make_offline(site)
    index = datadocs.write_index(root)
    t2 = time.perf_counter()
    # direct render, no context: one self-contained page
    html_page = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(res))
    direct = f"{TMP}/direct_validation.html"
    open(direct, "w").write(html_page)
    pages = sorted(os.path.relpath(os.path.join(d, f), site) for d, _, fs in os.walk(site) for f in fs if f.endswith(".html"))
    print(json.dumps({"site": site, "pages": pages, "kontor_index": index, "direct_page": direct,
                      "build_data_docs_s": round(t1 - t0, 3), "offline_rewrite_s": round(t2 - t1, 3),
                      "network_attempts_during_build": attempts,
                      "remote_fetch_refs_emitted_by_gx": sorted(before), "offline_report": report}, indent=1))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--engine", required=True)
    r.add_argument("--db", default=":memory:")
    r.add_argument("--n", type=int, default=100_000)
    r.add_argument("--out", required=True)
    r.add_argument("--strftime", action="store_true")
    r.add_argument("--result-format", default="SUMMARY")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    b = sub.add_parser("bench")
    b.add_argument("--sizes", default="1000000,10000000")
    b.add_argument("--engines", default="pandas,duck,chunked")
    b.add_argument("--strftime", action="store_true")
    b.add_argument("--result-format", default="SUMMARY")
    b.add_argument("--repeats", type=int, default=3)
    d = sub.add_parser("docs")
    d.add_argument("--n", type=int, default=100_000)
    a = ap.parse_args()
    {"run": cmd_run, "compare": cmd_compare, "bench": cmd_bench, "docs": cmd_docs}[a.cmd](a)


if __name__ == "__main__":
    main()
