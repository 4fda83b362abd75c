"""Dagster resources: the warehouse, and the external services the engine is handed.

The services (LLM, mailer, alert webhooks, state store) are ``ConfigurableResource``s whose
values come from ``dg.EnvVar`` under the variable names of ``pipelines/core/services.py``
(``OPENAI_BASE_URL``, ``KONTOR_SMTP_HOST``, ``KONTOR_STATE_URL`` ...): Dagster reads them when a run
sets the resource up, and its UI shows the variable's name, never the secret. A variable that is
not set leaves the field empty (no LLM: the template narrative; no SMTP host: no e-mail), as
``dg.EnvVar`` alone would fail the run. Each resource turns into the plain object the engine
takes (``Services``); ``kontor report`` and ``kontor steward`` build the same objects from the
same variables (``services_for``).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from pipelines.core import warehouse
from pipelines.core.alerts import alert_config
from pipelines.core.errors import KontorError
from pipelines.core.services import (
    LLM_ENV,
    SMTP_ENV,
    STATE_ENV,
    WEBHOOK_ENV,
    LlmEndpoint,
    Services,
    SmtpConfig,
    StateLocation,
    smtp_from,
)
from pipelines.core.runlock import RunLock, warehouse_problem
from pipelines.core.settings import Settings
from pipelines.core.state import StateStore
from pipelines.engines.connection import Connection, EngineError


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
    _con: Connection | None = PrivateAttr(default=None)
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

    def _connect(self) -> Connection:
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
        except (EngineError, OSError) as exc:
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
    def connection(self) -> Iterator[Connection]:
        """The run's connection (or a fresh one outside a run, closed afterwards)."""
        if self._con is not None:
            yield self._con
            return
        con = self._connect()
        try:
            yield con
        finally:
            con.close()


def from_env(settings: Settings, name: str) -> str | dg.EnvVar:
    """``dg.EnvVar(name)`` when the process has the variable; the value the project was loaded with
    when only that has it (``load_settings(env=...)``, as tests do); else empty."""
    value = settings.env.get(name)
    if not value:
        return ""
    return dg.EnvVar(name) if os.environ.get(name) == value else value


class LlmResource(dg.ConfigurableResource):
    """The language model of the report narratives: any OpenAI-compatible endpoint."""

    base_url: str = ""      # OPENAI_BASE_URL
    api_key: str = ""       # OPENAI_API_KEY
    model: str = ""         # KONTOR_LLM_MODEL (wins over report.yml and [tool.kontor])

    @classmethod
    def from_settings(cls, settings: Settings) -> "LlmResource":
        return cls(**{field: from_env(settings, name) for field, name in LLM_ENV.items()})

    def endpoint(self) -> LlmEndpoint:
        return LlmEndpoint(self.base_url or None, self.api_key or None, self.model or None)


class MailerResource(dg.ConfigurableResource):
    """The SMTP server for report delivery and alert e-mails; no host: no e-mail."""

    host: str = ""          # KONTOR_SMTP_HOST
    port: str = ""          # KONTOR_SMTP_PORT (25)
    sender: str = ""        # KONTOR_SMTP_FROM (kontor@localhost)
    user: str = ""          # KONTOR_SMTP_USER
    password: str = ""      # KONTOR_SMTP_PASSWORD
    starttls: str = ""      # KONTOR_SMTP_STARTTLS=1

    @classmethod
    def from_settings(cls, settings: Settings) -> "MailerResource":
        return cls(**{field: from_env(settings, name) for field, name in SMTP_ENV.items()})

    def config(self) -> SmtpConfig | None:
        return smtp_from(self.host, self.port, self.sender, self.user, self.password, self.starttls)


class AlertWebhooksResource(dg.ConfigurableResource):
    """The alert webhooks (Slack, Teams), under the variable names ``[tool.kontor.alerts]`` gives."""

    webhook_env: str = WEBHOOK_ENV[0]
    webhook: str = ""
    escalation_webhook_env: str = WEBHOOK_ENV[1]
    escalation_webhook: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "AlertWebhooksResource":
        try:
            config = alert_config(settings)
            names = (config.webhook_env, config.escalation_webhook_env)
        except KontorError:
            names = WEBHOOK_ENV      # the alert sensors report the broken configuration when they run
        return cls(webhook_env=names[0], webhook=from_env(settings, names[0]),
                   escalation_webhook_env=names[1], escalation_webhook=from_env(settings, names[1]))

    def urls(self) -> dict[str, str]:
        pairs = ((self.webhook_env, self.webhook), (self.escalation_webhook_env, self.escalation_webhook))
        return {name: url for name, url in pairs if url}


class StateStoreResource(dg.ConfigurableResource):
    """Where the state store is: PostgreSQL (``KONTOR_STATE_URL``), else SQLite in ``KONTOR_STATE_DIR``
    (default ``state/`` in the project)."""

    url: str = ""
    dir: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "StateStoreResource":
        return cls(**{field: from_env(settings, name) for field, name in STATE_ENV.items()})

    def location(self) -> StateLocation:
        return StateLocation(self.url or None, self.dir or None)

    def open(self, settings: Settings) -> StateStore:
        return StateStore.at(settings, self.location())


def service_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The service resources of ``Definitions``, by the names assets and sensors ask for."""
    return {"llm": LlmResource.from_settings(settings), "mailer": MailerResource.from_settings(settings),
            "alert_webhooks": AlertWebhooksResource.from_settings(settings),
            "state_store": StateStoreResource.from_settings(settings)}


def services(llm: LlmResource | None = None, mailer: MailerResource | None = None,
             alert_webhooks: AlertWebhooksResource | None = None,
             state_store: StateStoreResource | None = None) -> Services:
    """The engine's bundle from the resources an asset or sensor was given."""
    return Services(llm=llm.endpoint() if llm else LlmEndpoint(), smtp=mailer.config() if mailer else None,
                    webhooks=alert_webhooks.urls() if alert_webhooks else {},
                    state=state_store.location() if state_store else StateLocation())
