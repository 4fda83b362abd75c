"""Benchmark: the shipped models on DuckDB and on Spark local[N], same compiled SQL, same data.

Run:  .venv/bin/python benchmarks/models_spark_vs_duckdb.py [--scale 0.1] [--repeats 3] [--master local[2]] [--workdir DIR]

Needs the spark extra (``pip install -e '.[spark]'``) and Java 17. Prints one JSON object on stdout
(progress on stderr). Steps:

1. The demo extracts at ``--scale`` are run once through Kontor on DuckDB (sources, staging,
   entities, marts): the warehouse every measurement reads.
2. One Spark session is started (timed: ``spark_session_start_s``) and the tables the models read
   (raw tables, ``__current`` views, entity tables) are copied in through Parquet (timed).
3. ``--repeats`` times, alternating which engine goes first: every staging and marts model built
   through the engine object (``pipelines.models.on_engine.build_models``) on a fresh DuckDB copy
   of the warehouse and on Spark. Wall clock; medians and the Spark/DuckDB ratio.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    import os

    os.environ.setdefault("KONTOR_SETTLE_SECONDS", "0")
    import dagster as dg

    from conftest import make_project
    from pipelines.core.warehouse import connect
    from pipelines.definitions import ALL_JOB, build_definitions, compile_models
    from pipelines.demo import generate
    from pipelines.engines.engine import DuckDBEngine, SparkEngine, copy_tables
    from pipelines.engines.spark_session import SparkConfig, start_session
    from pipelines.models.on_engine import build_models, model_inputs

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kontor_spark_bench_"))
    root = workdir / "project"
    shutil.rmtree(root, ignore_errors=True)
    settings = make_project(root, with_models=True)
    log(f"demo data at scale {args.scale} ...")
    generate(root / "data", scale=args.scale, seed=args.seed)
    defs = build_definitions(settings)
    selection = dg.AssetSelection.groups("raw", "staging", "entities", "marts").resolve(defs.resolve_asset_graph())
    started = time.perf_counter()
    assert defs.resolve_job_def(ALL_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                                            asset_selection=list(selection)).success
    log(f"DuckDB pipeline (sources, staging, entities, marts) in {time.perf_counter() - started:.1f} s")
    compiled = compile_models(settings)

    started = time.perf_counter()
    session = start_session(SparkConfig(master=args.master, warehouse_dir=str(workdir / "spark_warehouse")))
    session_start = time.perf_counter() - started
    log(f"Spark session in {session_start:.1f} s")
    spark = SparkEngine(session)
    with connect(settings.warehouse_path, read_only=True) as con:
        started = time.perf_counter()
        copied = copy_tables(DuckDBEngine(con), spark, model_inputs(compiled), workdir / "to_spark")
        copy_s = time.perf_counter() - started
    log(f"{len(copied)} input tables copied to Spark in {copy_s:.1f} s")

    times: dict[str, list[float]] = {"duckdb": [], "spark": []}
    rows = sum(copied.values())
    for i in range(args.repeats):
        order = ("duckdb", "spark") if i % 2 == 0 else ("spark", "duckdb")
        for engine_name in order:
            if engine_name == "duckdb":
                copy = workdir / "duck_copy.duckdb"
                shutil.copy(settings.warehouse_path, copy)
                with connect(copy) as con:
                    started = time.perf_counter()
                    built = build_models(DuckDBEngine(con), compiled)
                    times["duckdb"].append(time.perf_counter() - started)
                copy.unlink()
            else:
                started = time.perf_counter()
                built = build_models(spark, compiled)
                times["spark"].append(time.perf_counter() - started)
            log(f"repeat {i + 1}: {engine_name} {len(built)} models in {times[engine_name][-1]:.2f} s")
    session.stop()
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "scale": args.scale, "seed": args.seed, "master": args.master, "models": len(built),
        "input_tables": len(copied), "input_rows": rows,
        "spark_session_start_s": round(session_start, 1), "copy_inputs_to_spark_s": round(copy_s, 1),
        "models_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "median_models_s": {k: round(v, 2) for k, v in medians.items()},
        "ratio_spark_to_duckdb": round(medians["spark"] / medians["duckdb"], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
