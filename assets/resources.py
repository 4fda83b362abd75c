"""The warehouse as a Dagster resource: where the DuckDB files and extracts live."""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from pipelines import warehouse
from pipelines.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """DuckDB warehouse (single writer) and the directories around it."""

    warehouse_path: str
    serving_path: str
    data_dir: str
    tmp_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "WarehouseResource":
        return cls(
            warehouse_path=str(settings.warehouse_path),
            serving_path=str(settings.serving_path),
            data_dir=str(settings.data_dir),
            tmp_dir=str(settings.target_dir / "tmp"),
        )

    def connect(self) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(Path(self.warehouse_path))
