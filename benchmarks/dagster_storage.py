"""What the Dagster instance's storage costs a ``kontor run``: SQLite on disk against an in-memory instance.

Run:  .venv/bin/python benchmarks/dagster_storage.py --project /tmp/kcd/project_a [--repeats 3]
      [--select group:staging --select group:marts]

``--project`` is a built Kontor project (e.g. one of ``benchmarks/compare_demo.py --workdir``'s,
or this repository after ``kontor demo-data && kontor run``); its warehouse is used as it is (the
selected models are rebuilt in place). Each measurement is a fresh interpreter running
``pipelines.run.run_pipeline`` on the selection, the variants alternating:

- ``sqlite``: the instance ``kontor run`` uses (``prepare_dagster_home``'s ``dagster.yaml`` in its
  own ``DAGSTER_HOME`` under ``--workdir``: Dagster's SQLite storage as configured by Kontor).
- ``ephemeral``: ``DagsterInstance.ephemeral()`` (no run history on disk: Dagster's own floor).

``--synthetic N`` runs N assets that do nothing instead (ten to a layer), in the same instances:
what the storage costs per event with no SQL to hide it.

Prints JSON: per variant ``run_s`` (run_pipeline, imports and definitions excluded) and
``process_s`` (the whole child), median and all; ratios to ``ephemeral``; the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("sqlite", "ephemeral")

CHILD = r"""
import json, os, sys, time, uuid
import dagster as dg
import pipelines.run as prun
from pipelines.core.settings import load_settings
variant, select = sys.argv[1], sys.argv[2:]
settings = load_settings()
if variant == "ephemeral":
    prun.instance_for = lambda s: dg.DagsterInstance.ephemeral()
synthetic = int(os.environ.get("KONTOR_BENCH_SYNTHETIC") or 0)
if synthetic:
    # N assets that do nothing, ten to a layer, each reading the layer before: Dagster's own
    # per-step events (about 5 per asset) with no SQL at all.
    assets = []
    for i in range(synthetic):
        deps = [assets[j] for j in range(max(0, (i // 10 - 1) * 10), (i // 10) * 10)][:2]
        @dg.asset(name=f"a{i}", deps=deps)
        def _a() -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(1)})
        assets.append(_a)
    job = dg.Definitions(assets=assets, jobs=[dg.define_asset_job("all", selection=dg.AssetSelection.all())],
                         executor=dg.in_process_executor).resolve_job_def("all")
    instance = prun.instance_for(settings)
    run_id = str(uuid.uuid4())
    t = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_id=run_id)
    run_s = time.perf_counter() - t
    instance.dispose()
    print(json.dumps({"run_s": run_s, "materialized": len(result.get_asset_materialization_events())}))
    raise SystemExit(0)
t = time.perf_counter()
outcome = prun.run_pipeline(settings, select or None)
run_s = time.perf_counter() - t
if not outcome.success:
    raise SystemExit(f"{variant}: {outcome.failures[:3]}")
print(json.dumps({"run_s": run_s, "materialized": len(outcome.materialized)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--select", action="append", default=None)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--synthetic", type=int, default=0,
                        help="instead of the project's models: N assets that do nothing (Dagster's cost alone)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kontor-dagster-storage-"))
    workdir.mkdir(parents=True, exist_ok=True)
    select = args.select if args.select is not None else ["group:staging", "group:marts"]
    homes = {v: workdir / f"dagster_{v}" for v in VARIANTS}
    child_script = workdir / "child.py"        # a file, not -c: libraries imported in steps inspect __main__
    child_script.write_text(CHILD, encoding="utf-8")
    for home in homes.values():
        home.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[float]]] = {v: {"run_s": [], "process_s": []} for v in VARIANTS}
    load_before = os.getloadavg()[0]
    materialized = None
    for repeat in range(args.repeats + 1):          # round 0 warms the page cache and is not counted
        order = VARIANTS if repeat % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("KONTOR_", "DAGSTER_", "OPENAI_"))}
            env.update(KONTOR_PROJECT_DIR=str(args.project), DAGSTER_HOME=str(homes[variant]),
                       PYTHONPATH=str(ROOT), KONTOR_SETTLE_SECONDS="0", KONTOR_BENCH_SYNTHETIC=str(args.synthetic))
            t = time.perf_counter()
            done = subprocess.run([sys.executable, str(child_script), variant, *select], env=env,
                                  capture_output=True, text=True)
            process_s = time.perf_counter() - t
            if done.returncode != 0:
                sys.exit(f"{variant} failed:\n{done.stderr[-3000:]}{done.stdout[-2000:]}")
            child = json.loads(done.stdout.strip().splitlines()[-1])
            materialized = child["materialized"]
            print(f"round {repeat} {variant}: run {child['run_s']:.2f} s, process {process_s:.2f} s",
                  file=sys.stderr, flush=True)
            if repeat:
                results[variant]["run_s"].append(round(child["run_s"], 3))
                results[variant]["process_s"].append(round(process_s, 3))
    medians = {v: {k: statistics.median(xs) for k, xs in r.items()} for v, r in results.items()}
    print(json.dumps({
        "select": None if args.synthetic else select, "synthetic_assets": args.synthetic, "repeats": args.repeats, "assets_materialized": materialized,
        "variants": {v: {"run_s_median": medians[v]["run_s"], "process_s_median": medians[v]["process_s"],
                         "run_s_all": results[v]["run_s"]} for v in VARIANTS},
        "ratio_run_to_ephemeral": {v: round(medians[v]["run_s"] / medians["ephemeral"]["run_s"], 3) for v in VARIANTS},
        "load_average_before_after": [load_before, os.getloadavg()[0]],
    }, indent=2))


if __name__ == "__main__":
    main()
