"""Spark as a Dagster resource (``[tool.kontor] engine = "spark"``): the session, started on first
use and stopped after the run; the engine object on top of it.

With ``remote`` set (Spark Connect) the Dagster host needs no JVM; the URL may carry a token, so
it comes from ``KONTOR_SPARK_REMOTE`` through ``dg.EnvVar`` and never shows in the UI.
"""
from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from pipelines.core.settings import Settings
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

        return SparkEngine(self.session())

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None
