"""``[tool.kontor]`` as a pydantic model, read by the one loader of project files
(``pipelines.core.settings.read_tool_kontor``); apart from ``settings.py`` so that settings
without a problem load without pydantic (``settings.PLAIN_KEYS``).
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import field_validator

from pipelines.core.settings import PLAIN_KEYS, _threads
from pipelines.core.spec import Spec


class KontorTable(Spec):
    """``[tool.kontor]``. The sub-tables and the keys typed ``Any`` are checked by the modules
    that read them (``alerts``, ``retries``, ``stewards``, ``models``, ``sources.options``, ...).
    A key a ``Settings`` is made of is also in ``settings.PLAIN_KEYS``, with its type and default."""

    what: ClassVar[str] = "[tool.kontor]"

    name: str = PLAIN_KEYS["name"][1]
    data_dir: str = PLAIN_KEYS["data_dir"][1]
    target_dir: str = PLAIN_KEYS["target_dir"][1]
    sources: str = PLAIN_KEYS["sources"][1]
    memory_limit: str | None = PLAIN_KEYS["memory_limit"][1]
    threads: int | None = PLAIN_KEYS["threads"][1]
    models_in_one_step: bool | None = PLAIN_KEYS["models_in_one_step"][1]
    history: Literal["instance", "none"] | None = PLAIN_KEYS["history"][1]
    settle_seconds: Any = None
    quarantine_alert_pct: Any = None
    llm_model: Any = None
    models: Any = None
    vars: Any = None
    alerts: Any = None
    retries: Any = None
    stewards: Any = None
    engine: Any = None      # checked with its own messages by pipelines.check.engine_problems
    spark: Any = None

    @field_validator("threads", mode="before")
    @classmethod
    def _positive(cls, threads: Any) -> int | None:
        return None if threads is None else _threads(threads)
