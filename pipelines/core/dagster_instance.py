"""The local Dagster instance's ``dagster.yaml``: Dagster's own SQLite storage, no telemetry, one run at a time.

Kontor writes ``dagster.yaml`` into the instance directory (``target/dagster`` or ``DAGSTER_HOME``)
when it is missing, and rewrites a file it wrote itself, earlier versions included, when it is out
of date; a file edited by hand (e.g. ``storage: postgres:`` for production) is left alone.

Storage is Dagster's default, configured by nothing but this file: run history, event log and
schedules in SQLite files under the instance directory, which ``kontor dev``, the daemon and
``kontor run`` share. Telemetry is off, as a closed network must not see failing phone-home calls.

What the history costs a ``kontor run`` is Dagster's: its SQLite storage opens and closes a
connection per event (three per model: planned, output, materialisation), and a WAL file whose last
connection closes is checkpointed, two fsyncs per event; its Postgres storage commits each event
too. Kontor once made that cheaper from outside Dagster (a subclass of its SQLite event log through
private modules; later ``HeldEventLog``, which held the run's files open by their paths in
Dagster's on-disk layout); both are gone, as neither is a Dagster setting. The public choice is
``[tool.kontor] history`` (``KONTOR_HISTORY``, ``kontor run --no-history``): ``"instance"``
(default) records the run in this instance (in whatever storage its ``dagster.yaml`` names), where
``kontor dev`` shows it; ``"none"`` runs on ``DagsterInstance.ephemeral()``, in memory, and nothing
of the run is in the UI (its asset pages show the last run the instance recorded).
``benchmarks/models_vs_dbt.py --history-variants`` measures the choices side by side (200 models,
the whole ``kontor run``, load 11-19 on 2 cores, median of 3, in the same repeats as ``dbt run``'s
42.2 s): files held open 53.5 s (1.27x dbt), Dagster's SQLite storage 68.9 s (1.63x), in memory
29.4 s (0.70x), Dagster's Postgres storage (dagster-postgres, a local server shared with other
jobs) 74.4 s (1.76x). Dagster's public ``ConsolidatedSqliteEventLogStorage`` (``event_log_storage``
in this file: one SQLite file for all runs) is no way out: its docstring calls it intended for test
cases only, it does not read the per-run files of an existing instance (their history would vanish
from the UI), and it writes the same way, a connection per event: 5,621 fdatasync calls for the
200 models' run against 5,622 (strace, 2026-12-04); ``--history-variants consolidated`` measured
14.5 s against 17.6 s (dbt 15.8 s, none 8.9 s; median of 3, load 2-5), and 56.7 s against 99.2 s
at load 10-23, where dbt's own repeats ranged from 18 to 101 s. No public
Dagster API stores a run's events in one transaction (``report_runless_asset_event`` records no run).
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
