"""The DuckDB warehouse: connecting with the project's settings (through the engine's
``pipelines.engines.connection.connect``), Kontor's own bookkeeping tables, the serving copy.

DuckDB allows one writing process per file, and no other process may open it while the
writer holds it, so analysts read ``serving.duckdb``: a copy published by rename, so a reader
opens either the old or the new file, never a half-written one.
"""
from __future__ import annotations

import os
from pathlib import Path

from pipelines.core.templates import template   # not core.sql: `kontor query` need not import sqlglot
# Opening a database is the engine's (pipelines/engines/connection.py); connect stays importable here
from pipelines.engines.connection import Connection, connect, insert_arrow

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


def publish_serving(con: Connection, serving: Path,
                    storage_version: str | None = SERVING_STORAGE_VERSION) -> Path:
    """Copy the writer's database to ``serving`` atomically: build beside it, fsync, rename;
    written in ``storage_version`` (None: the running DuckDB's own).

    Runs on the writer's own connection: a second handle on the warehouse file would hit
    DuckDB's lock.
    """

    serving.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_tmp(serving)
    # Only the process holding the warehouse's write lock publishes, so any other temp copy (and
    # its .wal) is left over from a run killed while publishing: remove it, or each crash leaves a
    # warehouse-sized file behind.
    for stale in serving.parent.glob(f".{serving.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    source = con.execute(template(__file__, "current_database")).fetchone()[0]
    if storage_version:
        con.execute(template(__file__, "publish_attach_versioned"), [str(tmp), storage_version])
    else:
        con.execute(template(__file__, "publish_attach"), [str(tmp)])
    try:
        # sqlglot reads COPY FROM DATABASE as a COPY of a query, so this one statement is not a
        # template: the database's name goes through ident(), as render would quote it
        from pipelines.core.sql import ident

        con.execute(f"copy from database {ident(source)} to kontor_publish")
    finally:
        con.execute(template(__file__, "publish_detach"))
    replace_serving(tmp, serving)
    return serving


def serving_tmp(serving: Path) -> Path:
    """Where a new serving copy is built beside the old one (``publish_serving`` removes leftovers)."""
    return serving.with_name(f".{serving.name}.{os.getpid()}.tmp")


def replace_serving(tmp: Path, serving: Path) -> None:
    """Make ``tmp`` durable, then put it in place of ``serving`` in one rename: readers see the old
    copy or the new one, never half of either."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, serving)
