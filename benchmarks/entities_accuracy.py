"""Accuracy of the entity stage on three data sets, as JSON on stdout (progress on stderr).

- ``demo``: the demo extracts (``kontor demo-data``, ``--demo-scale``, seed 42) through the whole
  pipeline (``run_pipeline`` on ``+group:entities``), customers and suppliers;
- ``independent``: ``pipelines.entities.testdata`` (own noise model, 30 % hard negatives), the
  shipped customer configuration on it (``--companies``, ``--seed``).

Per set: pairwise precision, recall, F1; hard-negative entity pairs and how many were merged;
review-queue items per 1,000 records and their precision (share of items where a human was
needed: see ``pipelines.entities.evaluate.queue_figures``).

    .venv/bin/python benchmarks/entities_accuracy.py --demo-scale 1 --companies 1500
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

KEEP = ("precision", "recall", "f1", "pairs_true", "hard_negatives", "hard_negatives_merged", "golden_values_equal",
        "review_items", "review_items_per_1000_records", "review_precision", "records")


def demo(work: Path, scale: float) -> dict:
    import duckdb

    from pipelines.demo import generate
    from pipelines.entities.evaluate import evaluate, queue_figures
    from pipelines.entities.stage import count
    from pipelines.run import run_pipeline
    from pipelines.core.settings import load_settings
    from pipelines.stewards.stewardship import entity_specs

    repo = Path(__file__).resolve().parent.parent
    root = work / "demo"
    shutil.copytree(repo / "models", root / "models")
    (root / "pyproject.toml").write_text('[tool.kontor]\nname = "acc"\ndata_dir = "data"\ntarget_dir = "target"\n')
    settings = load_settings(root, env={})
    generate(settings.data_dir, scale=scale, seed=42)
    outcome = run_pipeline(settings, ["+group:entities"])
    if not outcome.success:
        raise SystemExit(f"demo run failed: {outcome.failures}")
    out = {}
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for name, spec in entity_specs(settings).items():
            result = evaluate(con, spec, settings.data_dir) or {}
            result.update(queue_figures(con, spec, settings.data_dir))
            result["records"] = count(con, spec.table("standardised"))
            out[name] = {k: result[k] for k in KEEP if k in result}
    finally:
        con.close()
    return out


def independent(work: Path, companies: int, seed: int) -> dict:
    from pipelines.entities.testdata.companies import generate
    from pipelines.entities.testdata.harness import run

    counts = generate(work / "gen" / "data", companies=companies, seed=seed)
    result = run(work / "gen" / "data", work / "gen" / "work")
    return {"data": counts, **{k: result[k] for k in KEEP if k in result}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-scale", type=float, default=1.0)
    parser.add_argument("--companies", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kontor-entities-acc-"))
    try:
        out = {}
        if not args.skip_demo:
            print("demo set ...", file=sys.stderr)
            out["demo"] = demo(work, args.demo_scale)
        print("independent set ...", file=sys.stderr)
        out["independent"] = independent(work, args.companies, args.seed)
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
