"""Retry policy for external sources: ``[tool.kontor.retries]`` in pyproject.toml.

A Postgres server that restarts or a file share that is briefly unmounted should not fail the
nightly run, so source assets retry with exponential backoff before failing. Only transient
failures are retried (unreachable server, missing share directory); a malformed extract fails
at once, since reading it again gives the same answer.

    [tool.kontor.retries]
    max_retries = 3      # attempts after the first; 0 turns retries off
    delay = 5.0          # seconds before the first retry
    backoff = "exponential"   # or "linear": delay, 2*delay, 4*delay ... / delay, 2*delay, 3*delay

The Dagster wiring (``assets/sources.py``) turns this into a ``dg.RetryPolicy``; the in-process
executor honours it (it sleeps until the retry is due, ``execute_plan.sleep_til_ready``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings, tool_table
from pipelines.sources.spec import SourceTable

_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class RetryConfig:
    max_retries: int = 3
    delay: float = 5.0
    backoff: str = "exponential"

    def wait(self, retry_number: int) -> float:
        """Seconds before retry ``retry_number`` (1-based)."""
        factor = 2 ** (retry_number - 1) if self.backoff == "exponential" else retry_number
        return self.delay * factor


def retry_config(settings: Settings) -> RetryConfig:
    raw = tool_table(settings, "retries")
    where = f"{settings.relative(settings.project_dir / 'pyproject.toml')} [tool.kontor.retries]"
    unknown = set(raw) - {"max_retries", "delay", "backoff"}
    if unknown:
        raise KontorError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; fix: use max_retries, delay, backoff")
    try:
        config = RetryConfig(max_retries=int(raw.get("max_retries", 3)), delay=float(raw.get("delay", 5.0)),
                             backoff=str(raw.get("backoff", "exponential")))
    except (TypeError, ValueError) as exc:
        raise KontorError(f"{where}: {exc}; fix: max_retries is a whole number, delay a number of seconds") from None
    if config.max_retries < 0 or config.delay < 0 or config.backoff not in ("exponential", "linear"):
        raise KontorError(f"{where}: max_retries and delay must be >= 0 and backoff 'exponential' or 'linear'")
    return config


def unreachable_location(table: SourceTable, data_dir: Path) -> str | None:
    """Why the table's files cannot be reached, or None: the fixed directory part of the glob
    (``share/crm`` of ``share/crm/accounts*.csv``) is missing, as when a share is not mounted.
    An existing directory without matching files is not an error (no new extract today)."""
    if not table.location:
        return None
    parts = PurePosixPath(table.location).parts[:-1]
    fixed = []
    for part in parts:
        if _GLOB.search(part):
            break
        fixed.append(part)
    base = data_dir.joinpath(*fixed)
    if not data_dir.is_dir():
        return f"data directory {data_dir} does not exist (share not mounted?)"
    if not base.is_dir():
        return f"directory {base} for {table.location!r} does not exist (share not mounted?)"
    return None
