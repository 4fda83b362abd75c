"""Project-wide ingest settings from ``[tool.kontor]`` of pyproject.toml.

    [tool.kontor]
    settle_seconds = 30          # a file loads once unchanged this long (0: at once)
    quarantine_alert_pct = 5     # the raw asset's check warns above this share of quarantined rows

``KONTOR_SETTLE_SECONDS`` overrides the settle time per machine (a local disk that nobody writes
to while Kontor runs, a test machine), like the other ``KONTOR_*`` variables.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass

from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings


@dataclass(frozen=True)
class IngestOptions:
    settle_seconds: float = 30.0
    quarantine_alert_pct: float = 5.0


def ingest_options(settings: Settings) -> IngestOptions:
    pyproject = settings.project_dir / "pyproject.toml"
    try:
        # a dbt project directory has no pyproject.toml: the defaults apply
        text = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
        tool = tomllib.loads(text).get("tool", {}).get("kontor", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KontorError(f"{pyproject}: {exc}; fix: correct the TOML syntax") from exc
    values = {}
    for key, default in (("settle_seconds", 30.0), ("quarantine_alert_pct", 5.0)):
        raw = tool.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw < 0 \
                or (key == "quarantine_alert_pct" and raw > 100):
            raise KontorError(f"{pyproject} [tool.kontor]: {key} = {raw!r}; fix: a number of "
                              + ("seconds >= 0" if key == "settle_seconds" else "percent between 0 and 100"))
        values[key] = float(raw)
    override = settings.env.get("KONTOR_SETTLE_SECONDS", os.environ.get("KONTOR_SETTLE_SECONDS"))
    if override not in (None, ""):
        try:
            values["settle_seconds"] = float(override)
        except ValueError:
            raise KontorError(f"KONTOR_SETTLE_SECONDS={override!r}; fix: a number of seconds") from None
        if values["settle_seconds"] < 0:
            raise KontorError(f"KONTOR_SETTLE_SECONDS={override!r}; fix: a number of seconds >= 0")
    return IngestOptions(**values)
