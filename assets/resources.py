"""The warehouse as a Dagster resource: where the DuckDB files and extracts live."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from pipelines.core import warehouse
from pipelines.core.errors import KontorError
from pipelines.core.runlock import RunLock, warehouse_problem
from pipelines.core.settings import Settings


class WarehouseResource(dg.ConfigurableResource):
    """DuckDB warehouse (single writer) and the directories around it.

    One connection serves the whole run: the in-process executor sets the resource up once per
    run, and opening and closing DuckDB per asset cost more than the SQL of a small model.

    Setting it up takes the one-writer lock (``pipelines/core/runlock.py``) for the run, whoever
    started it (``kontor run``, the UI, a schedule or sensor): a run while another writes fails at
    once naming the other, and a warehouse that cannot be opened fails the run with the reason in
    one line (``kontor/warehouse``; the run-failure sensor alerts)."""

    warehouse_path: str
    serving_path: str
    data_dir: str
    tmp_dir: str
    memory_limit: str = ""          # [tool.kontor] memory_limit; empty: DuckDB's default
    threads: int = 0                # [tool.kontor] threads; 0: DuckDB's default
    target_dir: str = ""            # where the run lock lives; empty: the parent of tmp_dir
    _con: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _lock: RunLock | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "WarehouseResource":
        return cls(
            warehouse_path=str(settings.warehouse_path),
            serving_path=str(settings.serving_path),
            data_dir=str(settings.data_dir),
            tmp_dir=str(settings.target_dir / "tmp"),
            memory_limit=settings.memory_limit or "",
            threads=settings.threads or 0,
            target_dir=str(settings.target_dir),
        )

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return warehouse.connect(Path(self.warehouse_path), memory_limit=self.memory_limit or None,
                                 threads=self.threads or None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        building = f"Dagster run {context.run_id[:8]} of job {run.job_name}" if run else "a Dagster run"
        lock = RunLock(Path(self.target_dir) if self.target_dir else Path(self.tmp_dir).parent, building)
        try:
            lock.__enter__()
        except KontorError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        try:
            self._con = self._connect()
        except (duckdb.Error, OSError) as exc:
            lock.__exit__(None, None, None)
            path = Path(self.warehouse_path)
            raise dg.Failure(description=warehouse_problem(path, str(path), exc), allow_retries=False) from None
        self._lock = lock

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

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
