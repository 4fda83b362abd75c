"""The DuckDB warehouse: connecting with the project's settings (through the engine's
``pipelines.engines.connection.connect``), Kontor's own bookkeeping tables, the serving copy.

DuckDB allows one writing process per file, and no other process may open it while the
writer holds it, so analysts read ``serving.duckdb``: a copy published by rename, so a reader
opens either the old or the new file, never a half-written one.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core.templates import template   # not core.sql: `kontor query` need not import sqlglot
# Opening a database is the engine's (pipelines/engines/connection.py); connect stays importable here
from pipelines.engines.connection import Connection, EngineError, connect, insert_arrow

BOOKKEEPING_DDL = """
create schema if not exists raw;
create schema if not exists kontor;
create table if not exists kontor.load_ledger (
    batch_id bigint primary key,
    system varchar not null,
    table_name varchar not null,
    path varchar not null,
    sha256 varchar,
    size_bytes bigint,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    status varchar not null,          -- loaded | failed | waiting
    message varchar,
    run_id varchar,
    started_at timestamp not null,
    finished_at timestamp not null
);
-- how the file's text was decoded, and its own metadata (a DATEV header line) as JSON
alter table kontor.load_ledger add column if not exists encoding varchar;
alter table kontor.load_ledger add column if not exists file_meta varchar;
create table if not exists kontor.quarantine (
    batch_id bigint not null,
    source varchar not null,          -- <system>.<table>
    file varchar not null,
    line bigint,
    column_name varchar,
    reason varchar not null,
    raw_text varchar,
    quarantined_at timestamp not null
);
-- quality gates (pipelines/quality): one row per rule evaluation; failing rows of row-level rules
create table if not exists kontor.gate_results (
    run_id varchar not null,
    checked_at timestamp not null,    -- UTC
    asset varchar not null,           -- <schema>/<name>, e.g. marts/fct_invoices
    rule varchar not null,            -- the check name
    severity varchar not null,        -- error | warn
    success boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    element_count bigint,
    description varchar
);
create table if not exists kontor.gate_quarantine (
    run_id varchar not null,
    checked_at timestamp not null,
    asset varchar not null,
    rule varchar not null,
    severity varchar not null,
    row_key varchar,                  -- the key as text: unique key, or _source_file:_line
    row_json varchar not null
);
"""


def _doc(relation: str, description: str, grain: str, /, keep_table_comment: bool = False, **columns: str):
    from pipelines.analysts.docs import TableDoc

    return TableDoc(relation, description, grain, columns, keep_table_comment)


# Kontor's own tables, described like the project's (COMMENT ON, see pipelines/analysts/docs.py).
BOOKKEEPING_DOCS = [
    _doc("kontor.load_ledger", "Every extract file Kontor read, with its checksum and row counts.", "file and load batch",
         batch_id="Load batch, the _batch_id of the raw rows it loaded; primary key", system="Source system",
         table_name="Source table (raw.<system>__<table>)", path="The file, relative to the data directory",
         sha256="Checksum of the file's bytes: a file with a known checksum is not loaded again",
         size_bytes="File size in bytes", rows_read="Data rows read", rows_loaded="Rows loaded into raw",
         rows_quarantined="Rows set aside in kontor.quarantine", status="loaded | failed | waiting",
         message="Why a load failed, or a note on how the file was read", run_id="The Dagster run that loaded it",
         started_at="Load start (UTC)", finished_at="Load end (UTC)",
         encoding="How the file's text was decoded (e.g. cp1252, utf-16-le from its BOM, cp1252+utf-8 per line)",
         file_meta="The file's own metadata as JSON (a DATEV header line: format, version, category, date range, "
                   "consultant and client number)"),
    _doc("kontor.quarantine", "Rows of extracts that could not be loaded as declared, with the reason and the raw text.",
         "rejected row (and column) of a loaded file",
         batch_id="Load batch (kontor.load_ledger)", source="<system>.<table>", file="The file",
         line="Physical line in the file", column_name="The column at fault, if one", reason="Why the row was rejected",
         raw_text="The row as written in the file", quarantined_at="When (UTC)"),
    _doc("kontor.gate_results", "Quality gate evaluations (expectations/*.yml): one per rule and evaluation.",
         "rule per gate evaluation (run_id, checked_at, asset, rule)",
         run_id="The Dagster run", checked_at="When the rule was evaluated (UTC)",
         asset="The gated asset, <schema>/<name>", rule="The rule's name (the Dagster check name)",
         severity="error (blocks everything downstream) | warn", success="Whether the rule passed",
         observed_value="What the rule observed, as text", unexpected_count="Rows that broke the rule",
         element_count="Rows the rule looked at", description="The rule's description"),
    _doc("kontor.gate_quarantine", "The failing rows of row-level quality rules, as JSON with their key.",
         "failing row per rule and evaluation",
         run_id="The Dagster run", checked_at="When (UTC)", asset="The gated asset", rule="The rule",
         severity="error | warn", row_key="The row's key as text: its unique key, or _source_file:_line",
         row_json="The row as JSON"),
    _doc("kontor.gate_fingerprints", "Passing gate evaluations by data fingerprint: a gate on unchanged data "
         "reuses the pass (pipelines/quality/reuse.py).", "passing evaluation of a gate",
         asset="The gated asset", fingerprint="sha256 of the rules, the data's hashes and shapes, the code and the day",
         run_id="The evaluation whose results are reused", checked_at="When it was evaluated (UTC)",
         docs_page="Its Data Docs page"),
    # written by the report assets (pipelines/reports/store.py), described here with Kontor's own
    _doc("kontor.removed_rows", "Rows that disappeared from a full delivery: in the delivery before, not in the "
         "newest (pipelines/sources/deliveries.py).", "key that vanished per full delivery",
         system="Source system", table_name="Source table (raw.<system>__<table>)",
         batch_id="The full delivery that no longer has the row", previous_batch_id="The delivery before it, which had it",
         key_json="The row's primary key, as JSON", detected_at="When it was noticed (UTC)"),
    # mirrored from the state store (pipelines/core/state.py), whose comment on each table stays
    _doc("kontor.steward_decisions", "", "", keep_table_comment=True,
         decision_id="The decision's id in the state store", created_at="When it was recorded (UTC)",
         entity="The entity (customer, supplier ...)", action="merge, split, distinct, choose_value, reopen or approve",
         target_ids="The records (system:source_id) or golden ids it is about, as JSON",
         attribute="choose_value: the attribute", value="choose_value: the value kept; approve: the decision approved",
         steward="Who decided (authenticated: operating-system user, proxy identity or local account)",
         comment="Why, in the steward's words", status="active, or pending a second steward's approval",
         approves="approve: the id of the decision it approves", run_id="The Dagster run that recorded it, if one"),
    _doc("kontor.audit_log", "", "", keep_table_comment=True,
         event_id="The event's id in the state store", recorded_at="When it was recorded (UTC)",
         run_id="The run that caused it, if one", actor="steward:<name>, run, rule or report",
         kind="What happened: decision, golden-record change, report issued, alert ...",
         entity="The entity concerned, if one", object_id="The golden id, decision or report concerned",
         before="The state before, as JSON", after="The state after, as JSON", detail="In words"),
    _doc("reports.facts", "Every number an issued report printed, with the SQL file it came from.",
         "number per report, period and version",
         report="The report (reports/<report>/report.yml)", period="The reported period: 2026-10, 2026-W43, 2026-Q3, 2026-10-31",
         version="The issued version of the report for the period (1, 2, ...)",
         kpi="KPI name, or table:<name> for a table's cells",
         measure="value, compare_value, delta, delta_pct, zscore, history, member_value, ...",
         comparison="previous_period | same_period_last_year | plan", dimension="Driver dimension (e.g. product_group × region), or 'period' for history",
         member="Driver member, history period, or a table row's first cell", value="The number",
         unit="Its unit (EUR, %, count ...)", sql_file="The SQL file under reports/<report>/ that computed it",
         sql_sha256="sha256 of that SQL file as it was when the figure was computed",
         formula="How a derived figure (delta, percentage, z-score, driver contribution) follows from its inputs",
         inputs="The derived figure's inputs, as JSON {name: value}", computed_at="When it was computed"),
]


def connect_settings(settings, path: Path | None = None, read_only: bool = False) -> Connection:
    """:func:`connect` with the project's settings (the warehouse file unless ``path`` says otherwise)."""
    return connect(path or settings.warehouse_path, read_only=read_only, memory_limit=settings.memory_limit,
                   threads=settings.threads)


def insert_rows(con: Connection, table: str, rows) -> int:
    """``insert into <table> values (?, ...)`` for many rows as one statement, columns by position.
    DuckDB runs ``executemany`` as one statement per row, about 2 ms each on a file database
    (20,000 rows: 42 s); through Arrow the same rows take well under a second."""
    rows = list(rows)
    if rows:
        import pyarrow as pa

        batch = pa.table({f"c{i}": pa.array(list(column)) for i, column in enumerate(zip(*rows))})
        insert_arrow(con, table, batch)
    return len(rows)


def ensure_bookkeeping(con: Connection) -> None:
    con.execute(BOOKKEEPING_DDL)


# The serving copy's on-disk format: DuckDB 1.4's (storage version 67), which the DuckDB CLI an
# analyst installs today opens (duckdb-cli 1.5.6 reads 64-68, not DuckDB 2.0's 69), as do 1.4 LTS
# clients (DBeaver's JDBC driver, R, Node). Measured on the demo warehouse: as fast to write as 2.0's
# own format (2.1 s); 1.0's format (64, for clients older than 1.4) took twice as long.
SERVING_STORAGE_VERSION = "v1.4.0"


@dataclass
class Published:
    """What ``publish`` did: the serving copy's path; ``incremental``: built from the previous copy
    (a file copy of it with the changed tables' rows replaced and the new tables added), else the
    whole warehouse copied, for the reason ``full_because``; ``copied``: the tables whose rows were
    written (``schema.name``; every table for a whole copy); ``kept``: tables kept as they were."""
    path: Path
    incremental: bool
    copied: list[str] = field(default_factory=list)
    kept: int = 0
    full_because: str | None = None


class _Unsure(Exception):
    """The previous serving copy cannot be trusted to build on: copy the whole warehouse."""


def publish_serving(con: Connection, serving: Path,
                    storage_version: str | None = SERVING_STORAGE_VERSION) -> Path:
    """Copy the writer's database to ``serving`` atomically (see :func:`publish`)."""
    return publish(con, serving, storage_version).path


def publish(con: Connection, serving: Path, storage_version: str | None = SERVING_STORAGE_VERSION,
            incremental: bool = True) -> Published:
    """Copy the writer's database to ``serving`` atomically: build beside it, fsync, rename;
    written in ``storage_version`` (None: the running DuckDB's own).

    Where the previous copy can be built on (``incremental``; see :func:`_publish_changes`), the
    new one is a file copy of it in which only the tables whose rows changed since are written
    again, and tables the warehouse gained added; otherwise (the first copy, a table's or view's
    definition or a comment changed, a relation dropped, the previous copy edited or unknown) the
    whole warehouse is copied (``COPY FROM DATABASE``). Either way readers see the old copy or
    the new one, never a mixture. Beside the copy, ``.<name>.manifest.json`` records each table's
    fingerprint (:func:`_fingerprint` of the warehouse's rows at copy time) and the copy's file
    identity, which is what the next publish compares against.

    Runs on the writer's own connection: a second handle on the warehouse file would hit
    DuckDB's lock.
    """
    from pipelines.engines import catalog

    serving.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_tmp(serving)
    # Only the process holding the warehouse's write lock publishes, so any other temp copy (and
    # its .wal) is left over from a run killed while publishing: remove it, or each crash leaves a
    # warehouse-sized file behind.
    for stale in serving.parent.glob(f".{serving.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    source = con.execute(template(__file__, "current_database")).fetchone()[0]
    path, _format, version = catalog.database_info(con)
    tables = {(schema, name): _fingerprint(con, (schema, name))
              for schema, name, kind, *_ in catalog.relations(con) if kind == "table"}
    state = {"format": MANIFEST_FORMAT, "engine": version, "storage_version": storage_version,
             "warehouse": str(Path(path).resolve()) if path else None}
    result, tag = None, None
    if incremental:
        try:
            result, tag = _publish_changes(con, serving, tmp, state, source, tables)
        except _Unsure as why:
            result = Published(serving, False, full_because=str(why))
        except EngineError as error:      # the copy unreadable, a table the copy cannot take ...
            result = Published(serving, False, full_because=f"building on the previous copy failed: {error}")
    if result is None or not result.incremental:
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
        if storage_version:
            con.execute(template(__file__, "publish_attach_versioned"), [str(tmp), storage_version])
        else:
            con.execute(template(__file__, "publish_attach"), [str(tmp)])
        try:
            # sqlglot reads COPY FROM DATABASE as a COPY of a query, so this one statement is not a
            # template: the database's name goes through ident(), as render would quote it
            from pipelines.core.sql import ident

            con.execute(f"copy from database {ident(source)} to kontor_publish")
            tag = catalog.database_info(con, "kontor_publish")[1]
        finally:
            con.execute(template(__file__, "publish_detach"))
        result = Published(serving, False, copied=sorted(f"{s}.{n}" for s, n in tables),
                           full_because=result.full_because if result else "asked for a whole copy")
    _manifest_path(serving).unlink(missing_ok=True)    # the copy it describes is about to go
    replace_serving(tmp, serving)
    _write_manifest(serving, {**state, "storage_tag": tag, "serving": _identity(serving),
                              "tables": [[s, n, *fp] for (s, n), fp in sorted(tables.items()) if fp is not None]})
    return result


# Kept beside the serving copy: what it was built from. A new format (or DuckDB version: its hash
# function may change) makes the next publish copy everything.
MANIFEST_FORMAT = 1


def _fingerprint(con: Connection, relation: tuple[str, str]) -> list[int] | None:
    """Row count, sum and xor of each row's hash (its position included): the same numbers for the
    same rows in the same order; a changed row, one more or fewer, another order give others (but
    for a chance of about 2^-64). Reads every row: about a tenth of copying it."""
    from pipelines.core.sql import render

    sql = render(template(__file__, "publish_fingerprint"), relation=_table(*relation))
    try:
        count, total, xor = con.execute(sql).fetchone()
    except EngineError:     # a column type DuckDB cannot hash: the table is copied every time
        return None
    return [int(count), int(total or 0), int(xor or 0)]


def _table(schema: str, name: str, database: str | None = None):
    """``[database.]schema.name`` as a sqlglot table, each part quoted (a dot in a name stays in it)."""
    from sqlglot import exp

    return exp.table_(name, db=schema, catalog=database, quoted=True)


def _manifest_path(serving: Path) -> Path:
    return serving.with_name(f".{serving.name}.manifest.json")


def _identity(path: Path) -> list[int]:
    """The file as the file system knows it: a copy replaced, edited or touched has another."""
    st = path.stat()
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _write_manifest(serving: Path, manifest: dict) -> None:
    target = _manifest_path(serving)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(partial, target)


def _read_manifest(serving: Path) -> dict | None:
    try:
        manifest = json.loads(_manifest_path(serving).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def serving_identity(serving: Path) -> list[int] | None:
    """The serving copy's file identity now (None: there is none), for :func:`serving_edited`."""
    return _identity(serving) if serving.is_file() else None


def serving_edited(serving: Path, before: list[int] | None, tables: set[tuple[str, str]]) -> None:
    """The serving copy that had identity ``before`` was replaced by one in which only ``tables``
    differ (``publish_facts``): its record carries over, without those tables' fingerprints, so
    the next publish writes them again and keeps the rest. Without a record of the copy as it was
    before, none is left (the next publish copies everything)."""
    manifest = _read_manifest(serving)
    if manifest is None or before is None or manifest.get("serving") != before:
        _manifest_path(serving).unlink(missing_ok=True)
        return
    manifest["tables"] = [t for t in manifest.get("tables", []) if (t[0], t[1]) not in tables]
    manifest["serving"] = _identity(serving)
    _write_manifest(serving, manifest)


def _publish_changes(con: Connection, serving: Path, tmp: Path, state: dict, source: str,
                     tables: dict[tuple[str, str], list[int] | None]) -> tuple[Published, str]:
    """The new serving copy as the previous one with only what changed written again. Raises
    ``_Unsure`` (nothing left behind) unless all of this holds: the previous copy exists, its
    manifest was written for this very file (same inode, size and modification time: not replaced
    or edited since), by the same manifest format, DuckDB version and storage format, from the
    same warehouse file; and the warehouse defines every schema, table, view, column, index,
    sequence, macro and type exactly as the copy does (definitions and comments), but for tables
    (and schemas holding only them) the copy lacks. Then, on a file copy of the previous copy,
    tables whose fingerprint differs from the manifest's get the warehouse's rows (their
    definition and comments are the warehouse's already), new tables are created as the
    warehouse's catalog writes them, filled and commented, the rest stay; and the result must
    define everything exactly as the warehouse does. ``source``: the warehouse's database name."""
    from pipelines.core.sql import render
    from pipelines.engines import catalog

    manifest = _read_manifest(serving)
    if not serving.is_file() or manifest is None:
        raise _Unsure("no previous serving copy (or no record of how it was built)")
    for key in ("format", "engine", "storage_version", "warehouse"):
        if manifest.get(key) != state[key]:
            raise _Unsure(f"the previous copy was built with another {key} ({manifest.get(key)!r}, now {state[key]!r})")
    if manifest.get("serving") != _identity(serving):
        raise _Unsure("the serving copy was replaced or changed after it was published")
    before = {(s, n): fp for s, n, *fp in manifest.get("tables", [])}
    shutil.copyfile(serving, tmp)
    if manifest.get("serving") != _identity(serving):       # changed while it was being copied
        tmp.unlink(missing_ok=True)
        raise _Unsure("the serving copy changed while it was being copied")
    con.execute(template(__file__, "publish_attach"), [str(tmp)])
    done = False
    try:
        tag = catalog.database_info(con, "kontor_publish")[1]
        if tag != manifest.get("storage_tag"):
            raise _Unsure(f"the previous copy's storage format is {tag!r}, not {manifest.get('storage_tag')!r}")
        here, there = catalog.definitions(con), catalog.definitions(con, "kontor_publish")
        tables_there = {(r[1], r[2]) for r in there if r[0] == "table"}
        added = {t for t in tables if t not in tables_there}
        schemas_there = {r[1] for r in there if r[0] == "schema"}
        new_schemas = {s for s, _ in added if s not in schemas_there}
        rest = {r for r in here if not _of_added(r, added, new_schemas)}
        if rest != there:
            differ = sorted(rest ^ there, key=lambda r: tuple(map(str, r)))[0]
            raise _Unsure(f"the warehouse's definitions differ from the copy's: {differ[0]} "
                          + ".".join(str(part) for part in differ[1:4] if part is not None))
        # a table without a fingerprint (one its rows could not be hashed) is always written again
        changed = sorted(t for t in tables if t not in added and (tables[t] is None or before.get(t) != tables[t]))
        schemas = [render(template(__file__, "publish_add_schema"), schema=_table("kontor_publish", s))
                   for s in sorted(new_schemas)]
        statements = []
        for schema, name in changed:
            target = _table(schema, name, "kontor_publish")
            statements += [render(template(__file__, "publish_delete_rows"), target=target),
                           render(template(__file__, "publish_insert_rows"), target=target,
                                  source=_table(schema, name, source))]
        # A new table is created by its own CREATE statement as the warehouse's catalog writes it
        # (constraints, defaults and all; it names schema and table, not the database), run with
        # the copy as the default database; then filled and commented.
        ddl = {(r[1], r[2]): r[4] for r in here if r[0] == "table"}
        created = [ddl[t] for t in sorted(added)]
        for schema, name in sorted(added):
            statements.append(render(template(__file__, "publish_insert_rows"), target=_table(schema, name, "kontor_publish"),
                                     source=_table(schema, name, source)))
        statements += _comments_of(con, added)
        con.execute("begin transaction")
        try:
            for statement in schemas:
                con.execute(statement)
            if created:
                con.execute(render(template(__file__, "publish_use"), database="kontor_publish"))
                for statement in created:
                    con.execute(statement)
                con.execute(render(template(__file__, "publish_use"), database=source))
            for statement in statements:
                con.execute(statement)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:        # the warehouse the default database again, whatever happened
            con.execute(render(template(__file__, "publish_use"), database=source))
        if catalog.definitions(con, "kontor_publish") != here:
            raise _Unsure("the tables added to the previous copy are not defined as in the warehouse")
        done = True
    finally:
        con.execute(template(__file__, "publish_detach"))
        if not done:
            for leftover in (tmp, Path(f"{tmp}.wal")):
                leftover.unlink(missing_ok=True)
    return Published(serving, True, copied=sorted(f"{s}.{n}" for s, n in [*changed, *added]),
                     kept=len(tables) - len(changed) - len(added)), tag


def _of_added(row: tuple, added: set[tuple[str, str]], new_schemas: set[str]) -> bool:
    """Whether a row of ``catalog.definitions`` describes a table the copy lacks (or one of its
    columns, or a schema that holds nothing else)."""
    kind, schema, name = row[:3]
    if kind == "schema":
        return schema in new_schemas
    return kind in ("table", "column") and (schema, name) in added


def _comments_of(con: Connection, added: set[tuple[str, str]]) -> list[str]:
    """``COMMENT ON`` statements giving the added tables and their columns in the copy the
    warehouse's comments."""
    from sqlglot import exp

    from pipelines.engines import catalog

    out = []
    for schema, name, column, comment in catalog.comments(con):
        if (schema, name) not in added:
            continue
        if column is None:
            target = exp.table_(name, db=schema, catalog="kontor_publish", quoted=True)
            out.append(exp.Comment(this=target, kind="TABLE", expression=exp.Literal.string(comment)).sql("duckdb"))
        else:
            target = exp.column(column, table=name, db=schema, catalog="kontor_publish", quoted=True)
            out.append(exp.Comment(this=target, kind="COLUMN", expression=exp.Literal.string(comment)).sql("duckdb"))
    return out


def serving_tmp(serving: Path) -> Path:
    """Where a new serving copy is built beside the old one (``publish_serving`` removes leftovers)."""
    return serving.with_name(f".{serving.name}.{os.getpid()}.tmp")


def replace_serving(tmp: Path, serving: Path) -> None:
    """Make ``tmp`` durable, then put it in place of ``serving`` in one rename: readers see the old
    copy or the new one, never half of either."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, serving)
