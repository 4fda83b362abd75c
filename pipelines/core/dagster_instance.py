"""The local Dagster instance: its ``dagster.yaml`` and an event log that keeps its SQLite files open.

Dagster's SQLite event log creates an engine, opens a connection, commits and closes it for every
event; closing the last connection to a WAL database checkpoints it. A run of 200 models writes
about 1,000 events, so that alone took longer than the models' SQL.
``KeptOpenSqliteEventLogStorage`` is the same storage (same files, schema, WAL journal, one
transaction per event) with one connection per database file kept open for the life of the
instance. Other processes (``kontor dev``, the daemon, a second ``kontor run``) read and write
the same files concurrently as before: SQLite's WAL takes care of that, and the connection holds
no lock between transactions.

Durability: on WAL databases its connections use ``synchronous=NORMAL`` instead of SQLite's
default ``FULL``, so a commit no longer waits for an fsync of the WAL (0.2 ms each on a quiet
disk, up to 10 ms on a busy one, ~1,400 per 200-model run). The history stays consistent; what a
power failure (not a crash of the process) can lose is the last events written before it.
``dispose()`` at the end of every ``kontor run`` checkpoints with fsync, so a finished run's
history is on disk as before.

Kontor writes ``dagster.yaml`` into the instance directory (``target/dagster`` or
``DAGSTER_HOME``) when it is missing, and rewrites a file it wrote itself, earlier versions
included, when it is out of date; a file edited by hand (e.g. for dagster-postgres) is left alone.
"""
from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster._check as check
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from pipelines.core.dagster_home import LEGACY_CONFIGS, MARKER, dagster_yaml, write_dagster_yaml  # noqa: F401  (here before)

OPEN_SHARDS = 16     # run databases stay open while used; the least recently used one is closed


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with one open connection per database file.

    Every use of a connection already happens under the storage's lock (as in Dagster's class),
    so one connection per file, shared between this process's threads, is never used twice at
    once. Each event is still committed on its own (see the module for ``synchronous``).
    """

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "KeptOpenSqliteEventLogStorage":
        return cls(inst_data=inst_data, **config_value)    # Dagster's hard-codes its own class

    def _engine(self, shard: str) -> tuple[Engine, bool]:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine, False
        engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                               connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
        self._engines[shard] = engine
        while len(self._engines) > OPEN_SHARDS:
            _close(self._engines.popitem(last=False)[1])
        return engine, True

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            check.str_param(shard, "shard")
            engine, new = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            if new:
                _relax_sync(engine)     # after _initdb, which switches a new database to WAL
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                _close(self._engines.popitem()[1])

    def wipe(self) -> None:
        self._close_all()          # the run databases are deleted: no handle may stay open on them
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_all()          # checkpointed, with fsync: the run's history is on disk

    def store_event(self, event) -> None:
        super().store_event(event)
        # Dagster's UI follows a running run by watching its .db file, which a kept-open WAL
        # connection changes only at checkpoints (the -wal file changes before the commit is
        # visible). Touching the .db after the commit tells every watcher, in any process.
        with contextlib.suppress(OSError):
            os.utime(self.path_for_shard(event.run_id))


def _relax_sync(engine: Engine) -> None:
    """``synchronous=NORMAL`` on the engine's one connection, in WAL mode only: there it keeps the
    database consistent through a power failure; in rollback-journal mode it might not."""
    with engine.connect() as conn:
        if str(conn.exec_driver_sql("pragma journal_mode").scalar()).lower() == "wal":
            conn.exec_driver_sql("pragma synchronous=NORMAL")


def _close(engine: Engine) -> None:
    """Checkpoint (which fsyncs in NORMAL mode too), then close. The checkpoint is PASSIVE: it
    never waits for readers such as ``kontor dev``, whose open connections would keep the close
    from checkpointing by itself."""
    with contextlib.suppress(Exception):       # a busy or vanished file: the close still happens
        with engine.connect() as conn:
            conn.exec_driver_sql("pragma wal_checkpoint(PASSIVE)")
    engine.dispose()
