"""The local Dagster instance's ``dagster.yaml``: Dagster's own SQLite storage, no telemetry, one run at a time.

Kontor writes ``dagster.yaml`` into the instance directory (``target/dagster`` or ``DAGSTER_HOME``)
when it is missing, and rewrites a file it wrote itself, earlier versions included, when it is out
of date; a file edited by hand (e.g. ``storage: postgres:`` for production) is left alone.

Storage is Dagster's default, configured by nothing but this file: run history, event log and
schedules in SQLite files under the instance directory, which ``kontor dev``, the daemon and
``kontor run`` share. Telemetry is off, as a closed network must not see failing phone-home calls.
Kontor once subclassed Dagster's SQLite event log here (one connection kept open per run
database, no fsync per commit) through Dagster's private modules, which no public setting
replaces; it is gone. What it bought, measured with ``benchmarks/dagster_storage.py`` on a
loaded 2-core machine: the demo's 27 models 29.9 s with it, 33.0 s without (median of 5), 200
assets that do nothing 20.7 s against 25.5 s (median of 3). ``kontor run --no-history`` runs on an
in-memory instance instead (24.6 s for the demo's models) when the run need not show in the UI.
"""
from __future__ import annotations

from pathlib import Path

from pipelines.core.settings import Settings

MARKER = "# Written by kontor"
# What earlier Kontor versions wrote without the marker line: still Kontor's, so it is upgraded.
LEGACY_CONFIGS = ("telemetry:\n  enabled: false\n",)


def dagster_yaml(home: Path) -> str:
    """The instance configuration Kontor writes: Dagster's default storage under ``home``, no telemetry."""
    return (
        f"{MARKER} (pipelines/core/dagster_instance.py). Edit freely: once this first line is gone,\n"
        "# kontor leaves the file alone (e.g. storage: postgres: ... for production).\n"
        "telemetry:\n"
        "  enabled: false\n"
        "# The DuckDB warehouse has one writer: queued runs (a backfill of report periods from the\n"
        "# UI, schedules) are launched one at a time.\n"
        "concurrency:\n"
        "  runs:\n"
        "    max_concurrent_runs: 1\n"
    )


def write_dagster_yaml(home: Path) -> bool:
    """Create or upgrade ``home/dagster.yaml`` if Kontor owns it; True if it was written."""
    config = home / "dagster.yaml"
    wanted = dagster_yaml(home)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current == wanted or not (current is None or current in LEGACY_CONFIGS or current.startswith(MARKER)):
        return False
    tmp = config.with_name(f".{config.name}.tmp")
    tmp.write_text(wanted, encoding="utf-8")
    tmp.replace(config)        # a concurrent reader sees the old file or the new one, never half
    return True


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance directory, with Kontor's dagster.yaml (created, or upgraded if Kontor wrote it).
    Imports nothing of Dagster: ``kontor dev`` calls it before handing the directory to ``dagster dev``."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    write_dagster_yaml(home)
    return home
