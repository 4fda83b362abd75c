"""SQL models, dbt-style: files under ``models/`` rendered with Jinja, parsed with sqlglot,
materialised on DuckDB; ``stage`` is the entry point. The engine knows nothing of Dagster; ``assets.models`` wires it up.
"""
from pipelines.models.project import Model, ModelProject, load_models

__all__ = ["Model", "ModelProject", "load_models"]
