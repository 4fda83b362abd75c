"""The state store: steward decisions and the audit trail, outside the rebuildable warehouse.

Decisions are human work and the audit log is evidence (GoBD), so neither may live in
``target/`` (deleting it loses nothing) and neither may ever be rewritten. The store is
PostgreSQL (schema ``kontor_state``) when ``KONTOR_STATE_URL`` is set, else the SQLite file
``state/kontor_state.sqlite`` in the project (``KONTOR_STATE_DIR`` moves the directory). Both
tables are append-only in the database itself: triggers refuse UPDATE and DELETE (and, on
PostgreSQL, TRUNCATE), so not even a bug in Kontor can change history. Ids come from the
database (an identity column; SQLite's AUTOINCREMENT), so concurrent writers never collide.

>>> store = StateStore.from_settings(settings)                  # doctest: +SKIP
>>> with store.transaction():                                    # doctest: +SKIP
...     decision_id = store.append_decision({"entity": "customer", "action": "merge",
...         "target_ids": ["crm:1", "erp:7"], "steward": "anna", "status": "active"})
...     store.append_audit([{"run_id": None, "actor": "steward:anna", "kind": "decision",
...         "entity": "customer", "object_id": str(decision_id), "after": {"action": "merge"}}])
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import sqlite3
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipelines.core.errors import KontorError
from pipelines.core.services import STATE_ENV, StateLocation, services_from_env
from pipelines.core.settings import Settings
from pipelines.core.sql import render, statements, template
from pipelines.engines import catalog
from pipelines.engines.connection import Connection

URL_ENV, DIR_ENV = STATE_ENV["url"], STATE_ENV["dir"]
SQLITE_FILE = "kontor_state.sqlite"
PG_SCHEMA = "kontor_state"
BUSY_TIMEOUT_SECONDS = 30        # SQLite: how long a writer waits for another process's write
CONNECT_TIMEOUT_SECONDS = 10     # PostgreSQL: unless the URL says otherwise

ACTIONS = ("merge", "split", "distinct", "choose_value", "reopen", "approve")
STATUSES = ("active", "pending")
DECISION_KEYS = ("entity", "action", "target_ids", "attribute", "value", "steward", "comment",
                 "status", "approves", "run_id")
AUDIT_KEYS = ("run_id", "actor", "kind", "entity", "object_id", "before", "after", "detail")
JSON_COLUMNS = frozenset({"target_ids", "before", "after"})
# steward_accounts: a password change or a disabled account is a new row (the latest counts);
# spot_checks: the weekly sample and, as rows answering a sample row, the stewards' verdicts.
TABLES = ("steward_decisions", "audit_log", "steward_accounts", "spot_checks")
APPEND_ONLY = "is append-only: decisions and the audit trail are evidence; record a new decision instead"

# The warehouse copies (``mirror``): JSON as text, timestamps as UTC like every kontor.* table.
# Arrow schemas, built where a mirror is made: pyarrow is not imported by a run that makes none
# (0.2 s of every `kontor run`'s start-up).
def _arrow_schemas():
    import pyarrow as pa

    decisions = pa.schema([
        ("decision_id", pa.int64()), ("created_at", pa.timestamp("us")), ("entity", pa.string()),
        ("action", pa.string()), ("target_ids", pa.string()), ("attribute", pa.string()),
        ("value", pa.string()), ("steward", pa.string()), ("comment", pa.string()),
        ("status", pa.string()), ("approves", pa.int64()), ("run_id", pa.string()),
    ])
    audit = pa.schema([
        ("event_id", pa.int64()), ("recorded_at", pa.timestamp("us")), ("run_id", pa.string()),
        ("actor", pa.string()), ("kind", pa.string()), ("entity", pa.string()), ("object_id", pa.string()),
        ("before", pa.string()), ("after", pa.string()), ("detail", pa.string()),
    ])
    return decisions, audit

# the mirrors' grain, in their table comment (which also tells a mirror which store it copies)
MIRROR_GRAINS = {"steward_decisions": "steward decision (decision_id)", "audit_log": "audit event (event_id)"}

# The schema, as SQL files in ``pipelines/core/sql/``: tables, indexes and the append-only
# triggers (their check lists are ACTIONS and STATUSES, their message APPEND_ONLY).
PG_TRIGGERS = tuple(f"{table}_{kind}" for kind in ("append_only", "no_truncate") for table in TABLES)
SQLITE_TRIGGERS = tuple(f"{table}_no_{op}" for table in TABLES for op in ("update", "delete"))


class StateStore:
    """Append-only decisions and audit trail on PostgreSQL or SQLite. One connection, guarded by
    a lock, so the store may be shared by the threads of one process; each process opens its own."""

    def __init__(self, backend: _Postgres | _Sqlite):
        self._db = backend
        self._lock = threading.RLock()
        self._depth = 0

    @classmethod
    def at(cls, settings: Settings, location: StateLocation) -> StateStore:
        """The store at ``location`` (the Dagster resource's, or ``services_from_env``'s)."""
        if location.url:
            return cls(_Postgres(location.url))
        return cls(_Sqlite(state_dir(settings, location) / SQLITE_FILE))

    @classmethod
    def from_settings(cls, settings: Settings) -> StateStore:
        """The command line's store: its location from the environment the project was loaded with."""
        return cls.at(settings, services_from_env(settings.env, ()).state)

    def describe(self) -> str:
        """Where the store is, safe to print: ``postgresql://host:port/db`` or the SQLite path."""
        return self._db.described

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Appends inside are atomic: all are stored, or (on an exception) none. Nested calls join
        the outermost transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self._errors("transaction failed"), self._db.transaction():
                    yield
            finally:
                self._depth = 0

    def append_decision(self, d: Mapping[str, Any]) -> int:
        """Store one decision; returns its ``decision_id`` (assigned by the database, increasing)."""
        row = _decision_row(d)
        what = "could not store the decision" + (
            f" (approves={row['approves']} must be an existing decision_id)" if row["approves"] is not None else "")
        with self.transaction(), self._errors(what):
            return self._db.insert("steward_decisions", row, "decision_id")

    def decisions(self, entity: str | None = None) -> list[dict]:
        """All decisions (of one entity), in ``decision_id`` order."""
        return [self._decision(r) for r in self._select("steward_decisions", "decision_id", entity=entity)]

    def append_audit(self, events: list[Mapping[str, Any]]) -> None:
        """Store audit events, all or none, in the order given."""
        rows = [_audit_row(e, i) for i, e in enumerate(events)]
        with self.transaction(), self._errors("could not store the audit events"):
            for row in rows:
                self._db.insert("audit_log", row, "event_id")

    def audit(self, entity: str | None = None, kind: str | None = None, limit: int | None = None,
              after: int | None = None) -> list[dict]:
        """Audit events (of one entity, of one kind, after ``event_id`` ``after``) in ``event_id``
        order; with ``limit``, the latest ``limit`` of them (still oldest first)."""
        rows = self._select("audit_log", "event_id", entity=entity, kind=kind, limit=limit,
                            **({"event_id >": after} if after is not None else {}))
        return [self._event(r) for r in rows]

    def append_account(self, name: str, salt: str | None, hash_: str | None, params: str | None, created_by: str) -> int:
        """A steward account's new state: a password (salt, scrypt hash, its parameters) or, all None, disabled."""
        _text("account", {"name": name, "created_by": created_by}, "name", "created_by", required=True)
        row = {"name": name, "salt": salt, "hash": hash_, "params": params, "created_by": created_by}
        with self.transaction(), self._errors("could not store the account"):
            return self._db.insert("steward_accounts", row, "account_id")

    def account(self, name: str) -> dict | None:
        """The latest row of a steward account, or None."""
        rows = self._select("steward_accounts", "account_id", name=name, limit=1)
        return rows[0] if rows else None

    def append_spot_checks(self, rows: list[Mapping[str, Any]]) -> list[int]:
        """Sampled items or verdicts (``answers`` = the sampled row's ``check_id``); all or none."""
        keys = ("entity", "sample", "kind", "object_id", "match_probability", "detail", "verdict", "answers",
                "steward", "decision_id")
        ids = []
        with self.transaction(), self._errors("could not store the spot checks"):
            for i, r in enumerate(rows):
                _known_keys(f"spot check {i}", r, keys, ("check_id", "created_at"))
                row = {k: r.get(k) for k in keys}
                row["detail"] = _dumps(row["detail"])
                ids.append(self._db.insert("spot_checks", row, "check_id"))
        return ids

    def spot_checks(self, entity: str | None = None) -> list[dict]:
        rows = self._select("spot_checks", "check_id", entity=entity)
        return [{**r, "created_at": _iso(r["created_at"]), "detail": None if r["detail"] is None else json.loads(r["detail"])}
                for r in rows]

    def mirror(self, con: Connection) -> None:
        """Bring ``kontor.steward_decisions`` and ``kontor.audit_log`` in the warehouse up to date
        with the store's rows (for queries; the store stays the record). Decisions change status,
        so they are copied whole; the audit log only grows, so only the events after the newest
        copied one are appended, unless the copy is of another store or disagrees with this one
        at that event (a store restored from a backup): then it is copied whole."""
        decisions = [{**d, "created_at": _naive_utc(d["created_at"]), "target_ids": _dumps(d["target_ids"])}
                     for d in self.decisions()]
        con.execute(template(__file__, "mirror_schema"))
        comments = {name: f"Copy of the state store {self.describe()}, one row per {grain}; do not edit, every "
                          f"mirror brings it up to date" for name, grain in MIRROR_GRAINS.items()}
        last = self._mirrored_until(con, comments["audit_log"])
        events = [{**e, "recorded_at": _naive_utc(e["recorded_at"]), "before": _dumps(e["before"]),
                   "after": _dumps(e["after"])} for e in self.audit(after=last)]
        import pyarrow as pa

        decisions_arrow, audit_arrow = _arrow_schemas()
        for name, rows, schema, append in (("steward_decisions", decisions, decisions_arrow, False),
                                           ("audit_log", events, audit_arrow, last is not None)):
            view = "_kontor_state_" + name
            con.register(view, pa.Table.from_pylist(rows, schema=schema))
            try:
                target = exp.table_(name, db="kontor")
                if append:
                    con.execute(render(template(__file__, "mirror_append"), copy=target, rows=view))
                else:
                    con.execute(render(template(__file__, "mirror_replace"), copy=target, rows=view))
                    con.execute(exp.Comment(this=target, kind="TABLE",
                                            expression=exp.Literal.string(comments[name])).sql("duckdb"))
            finally:
                con.unregister(view)

    def _mirrored_until(self, con: Connection, comment: str) -> int | None:
        """The newest event id in the warehouse's copy of the audit log if it is a copy of this
        store up to there (0 when empty), else None."""
        if catalog.table_comment(con, "kontor", "audit_log") != comment:
            return None
        last = con.execute(template(__file__, "mirror_last_event")).fetchall()[0][0]
        if last == 0:
            return 0
        copied = con.execute(template(__file__, "mirror_event"), [last]).fetchall()[0]
        # events are never changed or deleted (the store refuses it), so the same newest event means
        # the same events up to it
        here = self._select("audit_log", "event_id", event_id=last)
        return last if here and (here[0]["run_id"], here[0]["kind"], here[0]["entity"]) == copied else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _select(self, table: str, order: str, *, limit: int | None = None, **where: str | None) -> list[dict]:
        with self._lock, self._errors(f"could not read {table}"):
            return self._db.select(table, order, {k: v for k, v in where.items() if v is not None}, limit)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._db.errors as exc:
            raise KontorError(f"state store {self.describe()}: {what}: {self._db.scrub(_one_line(exc))}") from None

    def _decision(self, row: dict) -> dict:
        return {**row, "created_at": _iso(row["created_at"]), "target_ids": self._db.load_json(row["target_ids"])}

    def _event(self, row: dict) -> dict:
        return {**row, "recorded_at": _iso(row["recorded_at"]),
                "before": self._db.load_json(row["before"]), "after": self._db.load_json(row["after"])}


def state_dir(settings: Settings, location: StateLocation | None = None) -> Path:
    """The SQLite store's directory: ``KONTOR_STATE_DIR`` (relative to the project) or ``state/``.
    Never inside the target directory, whose contents are rebuildable and may be deleted."""
    if location is None:
        location = services_from_env(settings.env, ()).state
    value = location.dir or "state"
    path = Path(value)
    path = (path if path.is_absolute() else settings.project_dir / path).resolve()
    if path.is_relative_to(settings.target_dir):
        raise KontorError(f"{DIR_ENV}={value}: lies inside the target directory {settings.target_dir}, which may be "
                          f"deleted and rebuilt; fix: choose a directory outside it (default: state/ in the project)")
    return path


class _Postgres:
    """PostgreSQL through psycopg 3; tables in schema ``kontor_state`` of the URL's database."""

    def __init__(self, url: str):
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.rows import dict_row

        self.errors = psycopg.Error
        self._url, self.described = url, f"the URL in {URL_ENV}"
        try:
            self._password = urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
        except ValueError:
            self._password = ""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.partition("+")[0] not in ("postgresql", "postgres"):
            raise KontorError(f"{URL_ENV}: not a postgresql:// URL; fix: set it to "
                              "postgresql://user:password@host:5432/database, or unset it to use the local SQLite file")
        url = f"postgresql://{rest}"       # a SQLAlchemy URL (postgresql+psycopg2://, as Dagster's) works too
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise KontorError(f"{URL_ENV}: not a valid PostgreSQL URL ({self.scrub(_one_line(exc))}); fix: correct it") from None
        self._password = str(params.get("password") or self._password)
        self.described = f"postgresql://{params.get('host') or 'localhost'}:{params.get('port') or 5432}/" \
                         f"{params.get('dbname') or params.get('user') or 'postgres'}"
        extra = {} if "connect_timeout" in params else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        try:
            self._conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, **extra)
        except psycopg.Error as exc:
            raise KontorError(f"state store {self.described} (from {URL_ENV}) is not reachable: "
                              f"{self.scrub(_one_line(exc))}; fix: start PostgreSQL, create the database, "
                              f"or correct {URL_ENV}") from None
        try:
            self._install()
        except psycopg.Error as exc:
            self._conn.close()
            raise KontorError(f"state store {self.described}: could not create schema {PG_SCHEMA}: "
                              f"{self.scrub(_one_line(exc))}; fix: grant the user of {URL_ENV} "
                              f"CREATE on the database, or create the schema once as its owner") from None

    def _install(self) -> None:
        present = self._conn.execute(template(__file__, "state_postgres_triggers"),
                                     (PG_SCHEMA, list(PG_TRIGGERS))).fetchone()["n"]
        if present == len(PG_TRIGGERS):
            return          # installed: skip DDL, whose locks would wait for other writers
        with self._conn.transaction():
            # Two processes creating the schema at once would collide in the catalog.
            self._conn.execute("select pg_advisory_xact_lock(hashtext('kontor_state schema'))")
            self._conn.execute(template(__file__, "state_postgres"))    # one script: no parameters

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def insert(self, table: str, row: dict, key: str) -> int:
        sql = _insert_sql("postgres", PG_SCHEMA, table, row, key)
        return self._conn.execute(sql, list(row.values())).fetchone()[key]

    def select(self, table: str, order: str, where: dict, limit: int | None) -> list[dict]:
        sql, params = _select_sql("postgres", PG_SCHEMA, table, order, where, limit)
        return self._conn.execute(sql, params).fetchall()

    def load_json(self, value: Any) -> Any:
        return value        # psycopg parses json columns

    def scrub(self, text: str) -> str:
        """Error text without the password (libpq may echo parts of the URL)."""
        for url in {self._url, f"postgresql://{self._url.partition('://')[2]}"}:
            text = text.replace(url, self.described)
        for secret in {self._password, urllib.parse.quote(self._password, safe="")} - {""}:
            text = text.replace(secret, "***")
        return text

    def close(self) -> None:
        self._conn.close()


class _Sqlite:
    """A local SQLite file in WAL mode: readers never block the writer, concurrent writers wait
    (busy timeout) instead of failing; ``synchronous=FULL`` because each commit is evidence."""

    errors = sqlite3.Error

    def __init__(self, path: Path):
        self.described = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            for statement in statements(template(__file__, "state_sqlite_pragmas")):
                self._pragma(statement)
            self._install()
        except (OSError, sqlite3.Error) as exc:
            raise KontorError(f"state store {path}: cannot open ({exc}); fix: make {path.parent} writable, "
                              f"or set {DIR_ENV} (or {URL_ENV} for PostgreSQL)") from None

    def _pragma(self, statement: str) -> None:
        """Run one connection pragma. Switching a new file to WAL needs the database to itself, and
        SQLite answers "database is locked" at once, without the busy timeout, when another process
        opens the same new file at that moment (measured: 33 of 200 two-process starts); so a pragma
        that finds the database locked is retried until the busy timeout has passed (only the WAL
        switch was seen to need it)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                self._conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _install(self) -> None:
        present = {name for (name,) in self._conn.execute(template(__file__, "state_sqlite_triggers")).fetchall()}
        if present >= set(SQLITE_TRIGGERS):
            return
        with self.transaction():
            for statement in statements(template(__file__, "state_sqlite")):
                self._conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._conn.execute("begin immediate")      # take the write lock now: no upgrade deadlock later
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:      # some errors (disk full, I/O) end it already
                self._conn.execute("rollback")
            raise
        self._conn.execute("commit")

    def insert(self, table: str, row: dict, key: str) -> int:
        return self._conn.execute(_insert_sql("sqlite", None, table, row, key), list(row.values())).fetchone()[0]

    def select(self, table: str, order: str, where: dict, limit: int | None) -> list[dict]:
        sql, params = _select_sql("sqlite", None, table, order, where, limit)
        return [dict(r) for r in self._conn.execute(sql, params).fetchall()]

    def load_json(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)

    def scrub(self, text: str) -> str:
        return text

    def close(self) -> None:
        self._conn.close()


def _insert_sql(dialect: str, schema: str | None, table: str, row: dict, key: str) -> str:
    """``insert into [schema.]table (columns) values (parameters) returning key``; on PostgreSQL a
    JSON column's parameter is cast to json."""
    values = [exp.cast(exp.Placeholder(), "json") if dialect == "postgres" and column in JSON_COLUMNS
              else exp.Placeholder() for column in row]
    statement = exp.insert(exp.values([tuple(values)]), exp.table_(table, db=schema), columns=list(row),
                           returning=key)
    return statement.sql(dialect)


def _select_sql(dialect: str, schema: str | None, table: str, order: str, where: dict,
                limit: int | None) -> tuple[str, list]:
    """``select * from [schema.]table`` where each key of ``where`` equals its value (a key written
    ``"event_id >"`` compares with ``>``), ordered by ``order``; with a limit, the last ``limit``
    rows, still in ascending order."""
    query = exp.select("*").from_(exp.table_(table, db=schema))
    for key in where:
        column = exp.column(key.removesuffix(" >"))
        query = query.where(exp.GT(this=column, expression=exp.Placeholder()) if key.endswith(" >")
                            else exp.EQ(this=column, expression=exp.Placeholder()))
    params = list(where.values())
    if limit is None:
        return query.order_by(order).sql(dialect), params
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise KontorError(f"audit(limit={limit!r}): limit must be a non-negative integer or None")
    latest = query.order_by(exp.Ordered(this=exp.column(order), desc=True)).limit(exp.Placeholder())
    return exp.select("*").from_(latest.subquery("latest")).order_by(order).sql(dialect), [*params, limit]


def _decision_row(d: Mapping[str, Any]) -> dict:
    _known_keys("decision", d, DECISION_KEYS, ("decision_id", "created_at"))
    row = {key: d.get(key) for key in DECISION_KEYS}
    row["status"] = row["status"] or "active"
    _text("decision", row, "entity", "steward", required=True)
    _text("decision", row, "attribute", "value", "comment", "run_id")
    if row["action"] not in ACTIONS:
        raise KontorError(f"decision: action {row['action']!r} is not one of {', '.join(ACTIONS)}")
    if row["status"] not in STATUSES:
        raise KontorError(f"decision: status {row['status']!r} is not one of {', '.join(STATUSES)}")
    ids = row["target_ids"]
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) and i for i in ids):
        raise KontorError(f"decision: target_ids must be a list of non-empty strings, got {ids!r}")
    if row["approves"] is not None and (isinstance(row["approves"], bool) or not isinstance(row["approves"], int)):
        raise KontorError(f"decision: approves must be a decision_id (int) or None, got {row['approves']!r}")
    row["target_ids"] = _dumps(list(ids))
    return row


def _audit_row(e: Mapping[str, Any], index: int) -> dict:
    what = f"audit event {index}"
    _known_keys(what, e, AUDIT_KEYS, ("event_id", "recorded_at"))
    row = {key: e.get(key) for key in AUDIT_KEYS}
    _text(what, row, "actor", "kind", required=True)
    _text(what, row, "run_id", "entity", "object_id", "detail")
    actor = row["actor"]
    if not (actor == "kontor" or actor.partition(":")[0] in ("steward", "rule") and actor.partition(":")[2]):
        raise KontorError(f"{what}: actor {actor!r} must be 'steward:<name>', 'rule:<entity>' or 'kontor'")
    for key in ("before", "after"):
        if row[key] is not None and not isinstance(row[key], Mapping):
            raise KontorError(f"{what}: {key} must be a dict or None, got {type(row[key]).__name__}")
        try:
            row[key] = _dumps(row[key])
        except TypeError as exc:
            raise KontorError(f"{what}: {key} is not JSON-able ({exc}); fix: pass plain values") from None
    return row


def _known_keys(what: str, given: Mapping[str, Any], keys: tuple[str, ...], assigned: tuple[str, ...]) -> None:
    if not isinstance(given, Mapping):
        raise KontorError(f"{what}: expected a dict, got {type(given).__name__}")
    for key in given:
        if key in assigned:
            raise KontorError(f"{what}: {key!r} is assigned by the state store; fix: leave it out")
        if key not in keys:
            raise KontorError(f"{what}: unknown key {key!r}; expected {', '.join(keys)}")


def _text(what: str, row: dict, *keys: str, required: bool = False) -> None:
    for key in keys:
        value = row[key]
        if (value is None and not required) or (isinstance(value, str) and (value or not required)):
            continue
        raise KontorError(f"{what}: {key} must be a {'non-empty ' if required else ''}string"
                          f"{'' if required else ' or None'}, got {value!r}")


def _json_default(value: Any) -> str:
    """Values a golden record carries that JSON lacks: dates as ISO text, decimals and UUIDs as text."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-able")


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=_json_default)


def _iso(value: str | dt.datetime) -> str:
    """A UTC ISO timestamp, one format for both backends: ``2026-01-31T12:00:00.123000+00:00``."""
    stamp = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return stamp.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _naive_utc(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).replace(tzinfo=None)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())      # PostgreSQL's DETAIL/HINT lines joined: errors are one line

