"""Benchmark: the monthly controlling pack, facts → PDF, with a language model on loopback.

Run:  .venv/bin/python benchmarks/report_render.py [--scale 1] [--repeats 5] [--workdir DIR]

Prints one JSON object on stdout (progress goes to stderr). The demo warehouse (``--scale``,
seed 42, the quick start's data) is built once per scale under the work directory by Kontor's own
run of the raw, staging and marts groups, and reused. An OpenAI-compatible server on 127.0.0.1
(the test suite's, ``tests/reports/servers.py``) answers every narrative request with a correct
answer, so the timings include real HTTP, the openai client and the number check.

Each repeat materialises the Dagster asset ``reports/monthly_pack`` in this process
(``dg.materialize`` with the project's own asset definition and warehouse resource, an
ephemeral instance), after removing the previous repeat's archive so that every repeat renders
and writes a new PDF. Measured per repeat: ``asset_s`` (the materialisation, wall clock), and from
inside it ``facts_s`` (all KPI and table SQL, data status), ``narrative_s`` (prompt, HTTP, check),
``pdf_s`` (Jinja → HTML → WeasyPrint → PDF bytes: "the PDF step") and ``issue_s`` (all of
``issue_report``: also archive, facts table, delivery). One warm-up repeat is not counted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
TARGETS = {"pdf_s": 5.0, "asset_s": 10.0}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(workdir: Path, scale: float) -> Path:
    """A project with the shipped models and reports and a built demo warehouse (reused)."""
    from pipelines.demo import generate
    from pipelines.run import run_pipeline
    from pipelines.core.settings import load_settings

    root = workdir / f"project-scale{scale:g}"
    ready = root / ".built"
    if ready.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.kontor]\nname = "bench"\ndata_dir = "data"\ntarget_dir = "target"\n')
    shutil.copytree(REPO / "models", root / "models", ignore=shutil.ignore_patterns("entities"))
    shutil.copytree(REPO / "reports", root / "reports")
    log(f"generating demo data at scale {scale:g} …")
    generate(root / "data", scale=scale, seed=42)
    log("building raw, staging and marts …")
    outcome = run_pipeline(load_settings(root, env={}), ["group:raw", "group:staging", "group:marts"])
    if not outcome.success:
        raise SystemExit(f"demo build failed: {outcome.failures}")
    ready.write_text("ok")
    return root


def summary(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3), "all_s": [round(v, 3) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor-bench-reports")
    args = parser.parse_args()

    import dagster as dg
    import duckdb
    import weasyprint

    from assets.reports import build_report_asset
    from assets.resources import WarehouseResource, service_resources
    from pipelines.reports.spec import find_report
    from pipelines.core.settings import load_settings
    from reports.servers import LlmServer

    root = prepare(args.workdir, args.scale)
    load_before = os.getloadavg()
    runs: list[dict] = []
    with LlmServer() as llm:
        settings = load_settings(root, env=llm.env())
        spec = find_report(root, "monthly_pack")
        asset = build_report_asset(spec, settings, set())
        resource = WarehouseResource.from_settings(settings)
        archive = settings.target_dir / "reports" / "monthly_pack"
        for repeat in range(args.repeats + 1):
            shutil.rmtree(archive, ignore_errors=True)
            started = time.perf_counter()
            result = dg.materialize([asset], resources={"warehouse": resource, **service_resources(settings)},
                                    raise_on_error=True,
                                    run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            asset_s = time.perf_counter() - started
            [event] = result.get_asset_materialization_events()
            meta = event.materialization.metadata
            timings = {key.removeprefix("timing/"): value.value for key, value in meta.items() if key.startswith("timing/")}
            run = {"asset_s": asset_s, **timings, "issue_s": timings["total_s"], "pages": meta["pages"].value,
                   "narrative": meta["narrative"].value}
            log(f"repeat {repeat}{' (warm-up)' if repeat == 0 else ''}: " +
                ", ".join(f"{k} {v:.2f}" for k, v in run.items() if isinstance(v, float)))
            if repeat:
                runs.append(run)
        requests = len(llm.requests)
    load_after = os.getloadavg()

    measured = {key: summary([r[key] for r in runs]) for key in ("asset_s", "facts_s", "narrative_s", "pdf_s", "issue_s")}
    output = {
        "benchmark": "report_render",
        "report": "monthly_pack",
        "period": json.loads((archive / "manifest.json").read_text())["issues"][-1]["period"],
        "scale": args.scale,
        "repeats": args.repeats,
        "pages": runs[-1]["pages"],
        "narrative": runs[-1]["narrative"],
        "llm_requests": requests,
        **measured,
        "targets": TARGETS,
        "met": {"pdf_s": measured["pdf_s"]["median_s"] <= TARGETS["pdf_s"],
                "asset_s": measured["asset_s"]["median_s"] <= TARGETS["asset_s"]},
        "machine": {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
                    "load_avg_after": [round(x, 2) for x in load_after], "python": platform.python_version(),
                    "weasyprint": weasyprint.__version__, "duckdb": duckdb.__version__, "dagster": dg.__version__},
    }
    print(json.dumps(output, indent=1))


if __name__ == "__main__":
    main()
