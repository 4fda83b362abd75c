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
assets that do nothing 20.7 s against 25.5 s (median of 3). Most of that is had back without
Dagster's internals: ``HeldEventLog`` below holds the run's SQLite files open from outside while
``kontor run`` writes them (200 assets that do nothing: 120 s held, 174 s not, median of 2 at load
17-23). ``kontor run --no-history`` runs on an in-memory instance instead (48 s for those 200
assets) when the run need not show in the UI.
"""
from __future__ import annotations

import sqlite3
import time
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


class HeldEventLog:
    """Connections held open on the SQLite files of one run's history while ``kontor run`` writes it.

    Dagster's SQLite storage opens and closes a connection for every event it stores (and once
    more for an asset event's index entry). A WAL database whose last connection closes is
    checkpointed and its log deleted: two more fsyncs per event, which on a busy disk are most of
    the run (``benchmarks/README.md``). While a connection of Kontor's stays open on the file,
    Dagster's closes are no longer the last, and each event costs one commit. Nothing of Dagster
    is touched: the files are those of Dagster's documented layout (``history/runs.db``,
    ``history/runs/<run id>.db`` and the cross-run ``history/runs/index.db``), opened only once
    Dagster created them; with other storage (``storage: postgres:``) there is nothing to hold.

    The UI follows a running run by watching its database file, which a WAL database changes only
    when checkpointed: :meth:`poll` (called on each event) checkpoints the files it holds at most
    every ``every`` seconds (passive: never waits for, or blocks, a writer), so ``kontor dev``
    shows a running ``kontor run`` with that delay. :meth:`close` checkpoints once more and lets go.
    """

    def __init__(self, home: Path, run_id: str, every: float = 1.0):
        history = home / "history"
        self.paths = [history / "runs.db", history / "runs" / "index.db", history / "runs" / f"{run_id}.db"]
        self.every = every
        self.held: dict[Path, sqlite3.Connection] = {}
        self.last = time.monotonic()

    def poll(self) -> None:
        for path in self.paths:
            if path not in self.held and path.is_file():
                con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                try:
                    con.execute("select count(*) from sqlite_master").fetchall()   # maps the WAL index
                except sqlite3.Error:
                    con.close()
                    continue
                self.held[path] = con
        if self.held and time.monotonic() - self.last >= self.every:
            self.checkpoint()

    def checkpoint(self) -> None:
        for con in self.held.values():
            try:
                con.execute("pragma wal_checkpoint(passive)").fetchall()
            except sqlite3.Error:
                pass          # busy or not WAL: the next one, or Dagster's last close, does it
        self.last = time.monotonic()

    def close(self) -> None:
        self.checkpoint()
        for con in self.held.values():
            con.close()
        self.held.clear()
