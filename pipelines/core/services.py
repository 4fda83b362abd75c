"""The external services the engine uses, as plain objects: the LLM, the mailer, the alert webhooks
and where the state store is.

The engine never reads the environment for them: it is handed a ``Services`` bundle. In Dagster
the bundle comes from ``ConfigurableResource``s configured with ``dg.EnvVar`` (``assets/resources.py``);
on the command line (``kontor report``, ``kontor steward``, ``kontor run``'s alerts) from
``services_from_env``, over the same environment variables:

| service | variables |
|---|---|
| LLM (OpenAI-compatible) | ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``KONTOR_LLM_MODEL`` |
| mailer (SMTP) | ``KONTOR_SMTP_HOST`` (unset: no e-mail), ``KONTOR_SMTP_PORT`` (25), ``KONTOR_SMTP_FROM``, ``KONTOR_SMTP_USER``, ``KONTOR_SMTP_PASSWORD``, ``KONTOR_SMTP_STARTTLS`` |
| alert webhooks | the variables ``[tool.kontor.alerts]`` names (``KONTOR_ALERT_WEBHOOK``, ``KONTOR_ALERT_ESCALATION_WEBHOOK``) |
| state store | ``KONTOR_STATE_URL`` (PostgreSQL), else ``KONTOR_STATE_DIR`` (SQLite, default ``state/``) |

>>> services_from_env({"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1", "KONTOR_SMTP_HOST": "mail"}).smtp.port
25
>>> services_from_env({}).llm.configured, services_from_env({}).smtp is None
(False, True)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.core.settings import Settings


LLM_ENV = {"base_url": "OPENAI_BASE_URL", "api_key": "OPENAI_API_KEY", "model": "KONTOR_LLM_MODEL"}
SMTP_ENV = {"host": "KONTOR_SMTP_HOST", "port": "KONTOR_SMTP_PORT", "sender": "KONTOR_SMTP_FROM",
            "user": "KONTOR_SMTP_USER", "password": "KONTOR_SMTP_PASSWORD", "starttls": "KONTOR_SMTP_STARTTLS"}
STATE_ENV = {"url": "KONTOR_STATE_URL", "dir": "KONTOR_STATE_DIR"}
WEBHOOK_ENV = ("KONTOR_ALERT_WEBHOOK", "KONTOR_ALERT_ESCALATION_WEBHOOK")   # [tool.kontor.alerts] defaults


@dataclass(frozen=True)
class SmtpConfig:
    """The mailer: an SMTP server (STARTTLS and login when configured)."""
    host: str
    port: int = 25
    sender: str = "kontor@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0


@dataclass(frozen=True)
class LlmEndpoint:
    """An OpenAI-compatible endpoint; ``model`` (when set) wins over report.yml and [tool.kontor]."""
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)


@dataclass(frozen=True)
class StateLocation:
    """Where the state store is: a PostgreSQL URL, else a SQLite directory (relative to the project)."""
    url: str | None = None
    dir: str | None = None


@dataclass(frozen=True)
class Services:
    llm: LlmEndpoint = field(default_factory=LlmEndpoint)
    smtp: SmtpConfig | None = None
    webhooks: Mapping[str, str] = field(default_factory=dict)    # environment variable name -> URL
    state: StateLocation = field(default_factory=StateLocation)


def smtp_from(host: str | None, port: str | int | None = None, sender: str | None = None, user: str | None = None,
              password: str | None = None, starttls: str | bool | None = None) -> SmtpConfig | None:
    """The mailer from its settings as the environment spells them; no host: no mailer."""
    if not host:
        return None
    return SmtpConfig(host=host, port=int(port or 25), sender=sender or "kontor@localhost",
                      user=user or None, password=password or None,
                      starttls=starttls is True or str(starttls or "") in ("1", "true", "yes"))


def services_from_env(env: Mapping[str, str], webhook_names: Iterable[str] = WEBHOOK_ENV) -> Services:
    """The bundle the command line uses, from an environment (``Settings.env``)."""
    def get(name: str) -> str | None:
        return env.get(name) or None

    return Services(
        llm=LlmEndpoint(**{key: get(name) for key, name in LLM_ENV.items()}),
        smtp=smtp_from(**{key: env.get(name) for key, name in SMTP_ENV.items()}),
        webhooks={name: env[name] for name in webhook_names if env.get(name)},
        state=StateLocation(**{key: get(name) for key, name in STATE_ENV.items()}),
    )


def services_for(settings: Settings) -> Services:
    """``services_from_env`` over the environment the project was loaded with, the webhooks under
    the names ``[tool.kontor.alerts]`` gives them: what ``kontor report``, ``kontor steward`` and
    ``kontor run`` hand the engine, and what an engine function uses when called without a bundle."""
    from pipelines.core.alerts import alert_config
    from pipelines.core.errors import KontorError

    try:
        config = alert_config(settings)
        names: Iterable[str] = (config.webhook_env, config.escalation_webhook_env)
    except KontorError:
        names = WEBHOOK_ENV          # the alerts report their broken configuration themselves
    return services_from_env(settings.env, names)
