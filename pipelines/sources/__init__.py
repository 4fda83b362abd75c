"""Sources: what ``models/sources.yml`` declares, and loading extracts into ``raw.*`` (``stage`` is the entry point)."""
from pipelines.sources.spec import Column, FileFormat, SourceTable, load_sources

__all__ = ["Column", "FileFormat", "SourceTable", "load_sources"]
