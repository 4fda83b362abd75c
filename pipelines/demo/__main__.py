"""CLI: python -m pipelines.demo --out DIR [--scale 1.0] [--seed 42]"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .generator import generate


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipelines.demo", description="Generate Kontor demo data")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--scale", type=float, default=1.0, help="linear scale of entity/transaction counts")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    manifest = generate(args.out, scale=args.scale, seed=args.seed)
    print(json.dumps(manifest["files"], indent=2))
    print(f"generated in {time.perf_counter() - t0:.1f}s -> {args.out}")


if __name__ == "__main__":
    main()
