"""The warehouse as a Dagster resource: where the DuckDB files and extracts live."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from pipelines.core import warehouse
from pipelines.core.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """DuckDB warehouse (single writer) and the directories around it.

    One connection serves the whole run: the in-process executor sets the resource up once per
    run, and opening and closing DuckDB per asset cost more than the SQL of a small model."""

    warehouse_path: str
    serving_path: str
    data_dir: str
    tmp_dir: str
    memory_limit: str = ""          # [tool.kontor] memory_limit; empty: DuckDB's default
    threads: int = 0                # [tool.kontor] threads; 0: DuckDB's default
    _con: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "WarehouseResource":
        return cls(
            warehouse_path=str(settings.warehouse_path),
            serving_path=str(settings.serving_path),
            data_dir=str(settings.data_dir),
            tmp_dir=str(settings.target_dir / "tmp"),
            memory_limit=settings.memory_limit or "",
            threads=settings.threads or 0,
        )

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(Path(self.warehouse_path), memory_limit=self.memory_limit or None,
                                 threads=self.threads or None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._con = self._connect()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The run's connection (or a fresh one outside a run, closed afterwards)."""
        if self._con is not None:
            yield self._con
            return
        con = self._connect()
        try:
            yield con
        finally:
            con.close()
