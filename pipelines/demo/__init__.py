"""Demo data generator for Kontor: a German SME back office (CRM, ERP, accounting) with ground truth.

    from pipelines.demo import generate
    manifest = generate(out_dir, scale=1.0, seed=42)

File layout and columns: see CONTRACT.md in this package.
"""

from .generator import generate

__all__ = ["generate"]
