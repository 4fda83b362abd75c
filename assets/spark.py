"""Spark as a Dagster resource (``[tool.kontor] engine = "spark"``): the session, started on first
use and stopped after the run; the engine object on top of it; and what this run wrote to Spark.

What a run wrote (``written``: the sources it landed, the models it built) is Spark's to read and
gate; anything else a step reads (a model of an earlier run, the entity stage's tables, which are
built on DuckDB) is copied from the DuckDB warehouse first (``stage_inputs``). A local master's
catalog lasts one session, so the DuckDB warehouse stays the state between runs: every model built
on Spark is copied back into it (``copy_back``), which is what the entity stage, the serving copy,
``kontor query`` and the reports read.

With ``remote`` set (Spark Connect) the Dagster host needs no JVM; the URL may carry a token, so
it comes from ``KONTOR_SPARK_REMOTE`` through ``dg.EnvVar`` and never shows in the UI.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from pipelines.core.settings import Settings
from pipelines.engines.engine import copy_tables
from pipelines.engines.spark_session import SparkConfig, spark_config, start_session


class SparkResource(dg.ConfigurableResource):
    """A Spark session as ``[tool.kontor.spark]`` describes it."""

    master: str = "local[2]"
    remote: str = ""                 # Spark Connect URL (sc://host:15002); empty: classic ``master``
    app_name: str = "kontor"
    driver_memory: str = "1g"
    warehouse_dir: str = ""
    conf: dict[str, str] = Field(default_factory=dict)
    _session: Any = PrivateAttr(default=None)
    _engine: Any = PrivateAttr(default=None)
    _written: set = PrivateAttr(default_factory=set)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SparkResource":
        config = spark_config(settings)
        remote: Any = dg.EnvVar("KONTOR_SPARK_REMOTE") if settings.env.get("KONTOR_SPARK_REMOTE") else (config.remote or "")
        return cls(master=config.master, remote=remote, app_name=config.app_name, driver_memory=config.driver_memory,
                   warehouse_dir=config.warehouse_dir or "", conf=config.conf)

    def config(self) -> SparkConfig:
        return SparkConfig(master=self.master, remote=self.remote or None, app_name=self.app_name,
                           driver_memory=self.driver_memory, warehouse_dir=self.warehouse_dir or None, conf=dict(self.conf))

    def session(self):
        """The run's session, started on first use (a JVM start costs tens of seconds)."""
        if self._session is None:
            self._session = start_session(self.config())
        return self._session

    def engine(self):
        from pipelines.engines.engine import SparkEngine

        if self._engine is None:
            self._engine = SparkEngine(self.session())
        return self._engine

    def wrote(self, *relations: str) -> None:
        """``schema.name`` relations this run wrote to Spark."""
        self._written.update(relations)

    def written(self, relation: str) -> bool:
        return relation in self._written

    def land_source(self, con, table, tmp_dir: Path) -> dict[str, int]:
        """A source table the DuckDB sources stage loaded (and its ``__current`` relation), landed
        in Spark's catalog; the ledger and quarantine stay in DuckDB. Rows per relation."""
        from pipelines.engines.engine import DuckDBEngine
        from pipelines.engines.sources import BOOKKEEPING, source_relations

        duck = DuckDBEngine(con)
        relations = [r for r in source_relations(duck, [table]) if r not in BOOKKEEPING]
        landed = copy_tables(duck, self.engine(), relations, tmp_dir)
        self.wrote(*landed)
        return landed

    def stage_inputs(self, con, relations: list[tuple[str, str]], tmp_dir: Path) -> dict[str, int]:
        """Of ``relations`` (what a step reads), those this run did not write to Spark, copied
        from the DuckDB warehouse; one that is in neither raises ``KontorError`` naming it."""
        from pipelines.core.errors import KontorError
        from pipelines.engines.engine import DuckDBEngine

        duck = DuckDBEngine(con)
        wanted = [(s, n) for s, n in relations if not self.written(f"{s}.{n}")]
        present = {(r.schema, r.name) for r in duck.tables()}
        missing = [f"{s}.{n}" for s, n in wanted if (s, n) not in present]
        if missing:
            raise KontorError(f"{', '.join(missing)}: not built by this run and not in the DuckDB warehouse; "
                              "fix: run what builds it first (kontor run without --select)")
        return copy_tables(duck, self.engine(), wanted, tmp_dir)

    def copy_back(self, con, relations: list[tuple[str, str]], tmp_dir: Path) -> dict[str, int]:
        """Spark relations copied into the DuckDB warehouse as tables."""
        from pipelines.engines.engine import DuckDBEngine, copy_to_duckdb

        return copy_to_duckdb(self.engine(), DuckDBEngine(con), relations, tmp_dir)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = None
        self._written = set()
        if self._session is not None:
            self._session.stop()
            self._session = None
