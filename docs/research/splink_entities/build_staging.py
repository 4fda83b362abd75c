"""Generate demo data and build Kontor's staged tables in a throw-away project (scratch only)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.settings import load_settings  # noqa: E402


def make_project(root: Path, data_dir: Path):
    """Same as tests/conftest.py::make_project(root, with_models=True), data dir pointed elsewhere."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.kontor]\nname = "splinkproto"\ndata_dir = "data"\ntarget_dir = "target"\n')
    shutil.copytree(REPO / "models", root / "models", dirs_exist_ok=True)
    return load_settings(root, env={"KONTOR_DATA_DIR": str(data_dir)})


def build(scale: float, seed: int = 42, base: Path | None = None) -> Path:
    """Returns the warehouse path; skips work that is already done."""
    base = base or Path(__file__).resolve().parent
    tag = f"s{scale:g}"
    data = base / ("data" if scale == 1.0 else f"data_{tag}")
    proj = base / f"proj_{tag}"
    wh = proj / "target" / "warehouse.duckdb"
    if not (data / "ground_truth" / "manifest.json").exists():
        from pipelines.demo import generate
        t = time.time()
        generate(data, scale=scale, seed=seed)
        print(f"generated {data} in {time.time() - t:.1f}s", file=sys.stderr)
    if not wh.exists():
        from pipelines.run import run_pipeline
        settings = make_project(proj, data)
        t = time.time()
        out = run_pipeline(settings)
        print(f"pipeline success={out.success} in {time.time() - t:.1f}s failures={out.failures}", file=sys.stderr)
    return wh


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    print(json.dumps({"warehouse": str(build(a.scale))}))
