"""Load a declared source table into ``raw.<system>__<table>``: every row loaded or quarantined.

One file is one batch and one transaction: its good rows go to ``raw`` with lineage columns,
its bad rows to ``kontor.quarantine`` with line, column and reason, and one ledger row records
read = loaded + quarantined. A file whose sha256 was loaded before is skipped, so re-running
is free and a changed file appends a new batch: the history of who delivered what, when.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipelines.core.errors import KontorError, SourceFileError
from pipelines.sources import arrival, deliveries, readers
from pipelines.sources.convert import error_expr, value_expr
from pipelines.sources.spec import LINEAGE_COLUMNS, Connection, SourceTable
from pipelines.core.sql import ident, literal, table as qtable
from pipelines.core.warehouse import ensure_bookkeeping

__all__ = ["LINEAGE_COLUMNS"]   # defined beside the spec, so that compiling models need not load the readers


@dataclass
class FileLoad:
    path: str
    status: str                      # loaded | skipped | failed
    sha256: str | None = None
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""
    notes: list[str] = field(default_factory=list)
    encoding: str | None = None
    meta: dict | None = None


@dataclass
class TableLoad:
    table: SourceTable
    files: list[FileLoad]

    @property
    def failures(self) -> list[FileLoad]:
        return [f for f in self.files if f.status == "failed"]

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)


def resolve_files(table: SourceTable, data_dir: Path) -> list[Path]:
    """The files matching the table's glob, sorted, never outside the data directory."""
    root = data_dir.resolve()
    files = []
    for path in sorted(root.glob(table.location or "")):
        real = path.resolve()
        if not real.is_relative_to(root):
            raise KontorError(f"{table.file}:{table.line}: {path}: resolves outside the data directory {root} (a link?); "
                              "fix: copy the extract into the data directory")
        if real.is_file():
            files.append(path)
    return files


def ensure_raw_table(con: duckdb.DuckDBPyConnection, table: SourceTable) -> None:
    ensure_bookkeeping(con)
    cols = [(c.name, c.data_type) for c in table.columns] + list(LINEAGE_COLUMNS.items())
    existing = {row[0]: row[1].lower() for row in con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = 'raw' and table_name = ?",
        [table.key]).fetchall()}
    if not existing:
        body = ", ".join(f"{ident(n)} {t}" for n, t in cols)
        con.execute(f"create table if not exists {qtable(table.raw_table)} ({body})")
        return
    for name, typ in cols:
        if name not in existing:
            con.execute(f"alter table {qtable(table.raw_table)} add column {ident(name)} {typ}")


def _already_loaded(con: duckdb.DuckDBPyConnection, table: SourceTable, sha256: str) -> int | None:
    row = con.execute(
        "select batch_id from kontor.load_ledger where system = ? and table_name = ? and sha256 = ? and status = 'loaded' limit 1",
        [table.system, table.name, sha256]).fetchone()
    return row[0] if row else None


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select coalesce(max(batch_id), 0) + 1 from kontor.load_ledger").fetchone()[0]


def _check_columns(table: SourceTable, staged: readers.Staged, display: str) -> list[str]:
    """File-level column checks: a missing required column makes the file unreadable."""
    present = set(staged.columns)
    missing_required = [c.name for c in table.columns if c.required and c.name not in present]
    if missing_required:
        lower = {c.lower(): c for c in staged.columns}
        hints = [f"{m!r} is written {lower[m.lower()]!r}" for m in missing_required if m.lower() in lower]
        fix = "; ".join(hints) if hints else "add the column to the export, or declare it required: false in sources.yml"
        raise SourceFileError(display, f"missing required column(s) {', '.join(missing_required)}", fix)
    notes = []
    absent = [c.name for c in table.columns if c.name not in present]
    if absent:
        notes.append(f"columns absent from the file, loaded as NULL: {', '.join(absent)}")
    derived = {readers.TRAILING_COLUMN, readers.DATEV_SIGNED_AMOUNT if staged.meta else ""}
    extra = [c for c in staged.columns if table.column(c) is None and c not in derived]
    if extra:
        notes.append(f"columns in the file but not declared, not loaded: {', '.join(extra)}")
    return notes


def _typed_sql(table: SourceTable, staged: readers.Staged) -> str:
    """One pass over the stage (``_stage``, or a CSV's ``read_csv`` itself): typed values and,
    for a row that fails, its reasons and its text as JSON (``_raw``). Row order is file order,
    so ``_typed.rowid`` is the record's position; ``_line_numbers`` turns it into its line.

    The inner select converts each value once; the outer one derives the reasons from those
    values, so no conversion runs twice. ``_errors`` is NULL for a good row: building a list for
    every row cost more than all the checks, so it is built only where some check failed."""
    values, outputs, errors = [], [], []
    fmt = staged.fmt or table.format
    for i, col in enumerate(table.columns):
        src = col.name if col.name in staged.types else None
        stype = staged.types.get(col.name)
        value = f"_kontor_v{i}"
        values.append(f"{value_expr(col, src, stype, fmt)} as {value}")
        outputs.append(f"{value} as {ident(col.name)}")
        error = error_expr(col, src, stype, fmt, check_control=not staged.text_clean, value=value)
        if error != "null":
            errors.append(error)
    raw_json = "to_json(struct_pack(" + ", ".join(f"{ident(c)} := {ident(c)}" for c in staged.columns) + "))::varchar"
    if errors:
        failed = f"coalesce({', '.join(errors)}) is not null"
        reasons = f"list_filter([{', '.join(errors)}]::varchar[], lambda x: x is not null)"
        error_list, raw = f"case when {failed} then {reasons} end", f"case when {failed} then {raw_json} end"
    else:
        error_list, raw = "null::varchar[]", "null::varchar"
    return f"""
        create or replace temp table _typed as
        select {', '.join(outputs)}, {error_list} as _errors, {raw} as _raw
        from (select {', '.join(values)}, s.* from {staged.scan or '_stage'} s)"""


# A rejected record and a blank line still occupy a line: each accepted row moves down by the
# number of those before it. That shift is a step function of rowid: from rowid k on, n lines.
_LINE_STEPS = """
    select k, max(n) as n from (
        select line - {first} - (row_number() over (order by line) - 1) as k,
               row_number() over (order by line) as n
        from (select line from _rejects union all select line from _blank_lines))
    group by k"""
# Up to this many steps the statements compute the shift themselves, with a CASE that bisects the
# steps. Beyond, planning that CASE costs more than numbering every row in ``_lines`` and joining
# it back (about even at ~1,000 steps; the join costs ~0.15 s per million rows).
_INLINE_STEPS_MAX = 512


def _line_numbers(con: duckdb.DuckDBPyConnection, staged: readers.Staged):
    """The line of each row of ``_typed``: a function of a table alias of ``_typed`` giving the
    SQL expression and the join it needs (empty, or ``_lines`` joined on rowid)."""
    first = staged.first_line
    steps = []
    if staged.has_rejects:
        steps = con.execute(_LINE_STEPS.format(first=first) + f" order by k limit {_INLINE_STEPS_MAX + 1}").fetchall()
    if not staged.has_spans and not steps:
        return lambda a: (f"{first} + {a}.rowid", "")
    if not staged.has_spans and len(steps) <= _INLINE_STEPS_MAX:
        return lambda a: (f"{first} + {a}.rowid + {_bisect_steps(steps, 0, len(steps), a)}", "")
    # Numbered on rowid alone (an ASOF join over the full-width rows costs ~0.4 GB per million rows).
    con.execute(f"""
        create or replace temp table _lines as
        select t.rowid as _rowid, {first} + t.rowid + coalesce(r.n, 0) as _line
        from (select rowid from _typed) t asof left join ({_LINE_STEPS.format(first=first)}) r on t.rowid >= r.k""")
    if staged.has_spans:
        con.execute(_PHYSICAL_LINES.format(table="_lines", col="_line"))
    return lambda a: (f"{a}_l._line", f"join _lines {a}_l on {a}_l._rowid = {a}.rowid")


def _bisect_steps(steps: list[tuple[int, int]], lo: int, hi: int, alias: str = "s") -> str:
    """The shift of ``<alias>.rowid`` known to lie in interval ``lo``..``hi`` of the sorted (k, n)
    steps: interval 0 is before the first step (shift 0), interval i from step i on (its n)."""
    if lo == hi:
        return str(steps[lo - 1][1]) if lo else "0"
    mid = (lo + hi + 1) // 2
    return (f"case when {alias}.rowid < {steps[mid - 1][0]} then {_bisect_steps(steps, lo, mid - 1, alias)} "
            f"else {_bisect_steps(steps, mid, hi, alias)} end")


# From a record spanning several lines on, DuckDB's line count lags the file's by the lines gained.
_PHYSICAL_LINES = """
    create or replace temp table {table} as
    select t.* replace (t.{col} + coalesce(s.shift, 0) as {col})
    from {table} t asof left join _spans s on t.{col} > s.line"""


def _type_rows(con: duckdb.DuckDBPyConnection, table: SourceTable, staged: readers.Staged, display: str) -> None:
    """``_typed`` (and, for a CSV, what its parser rejected). Outside the load's transaction: a
    table created inside one numbers its rows from 2**55 on until commit, not from 0."""
    try:
        con.execute(_typed_sql(table, staged))
    except duckdb.Error as exc:
        if staged.scan is None:
            raise
        raise _scan_error(exc, display, staged.scan_fix) from exc
    if staged.finish:
        staged.finish(con, staged)


def _scan_error(exc: duckdb.Error, display: str, scan_fix: str) -> SourceFileError:
    """What failed in the one pass that reads and types a CSV: its parser (the file's layout, so
    the delimiter, quote and encoding are the fix) or anything after it, which is not the layout.

    >>> _scan_error(duckdb.InvalidInputException("Invalid Input Error: CSV Error on Line: 3"), "a.csv", "check x").problem
    'cannot be parsed as CSV (Invalid Input Error: CSV Error on Line: 3)'
    >>> print(_scan_error(duckdb.OutOfMemoryException("Out of Memory Error: failed"), "a.csv", "check x"))
    a.csv: was read as CSV but typing its columns failed (Out of Memory Error: failed); fix: not a problem of the file's layout: check the column types declared for it, or rerun with KONTOR_DEBUG=1 and report the error
    """
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, duckdb.InvalidInputException) or "CSV" in first:
        return SourceFileError(display, f"cannot be parsed as CSV ({first})", scan_fix)
    return SourceFileError(display, f"was read as CSV but typing its columns failed ({first})",
                           "not a problem of the file's layout: check the column types declared for it, "
                           "or rerun with KONTOR_DEBUG=1 and report the error")


def _load_staged(con: duckdb.DuckDBPyConnection, table: SourceTable, staged: readers.Staged,
                 display: str, batch_id: int, loaded_at: datetime) -> tuple[int, int, int]:
    line_of = _line_numbers(con, staged)
    if staged.has_spans:
        con.execute(_PHYSICAL_LINES.format(table="_rejects", col="line"))
    pk = ", ".join(ident(c) for c in table.primary_key)
    # Most files repeat no key: a grouping tells (NULL keys group as the window partitions them),
    # at a fraction of the window's sort.
    has_dups = bool(table.primary_key) and con.execute(
        f"select count(*) from (select 1 from _typed where _errors is null group by {pk} having count(*) > 1)").fetchone()[0] > 0
    if has_dups:
        con.execute(f"""
            create or replace temp table _dups as
            select _rowid, _first from (
                select rowid as _rowid, row_number() over w as _rank, first_value(rowid) over w as _first
                from _typed where _errors is null
                window w as (partition by {pk} order by rowid))
            where _rank > 1""")
    names = [c.name for c in table.columns]
    col_list = ", ".join(ident(n) for n in names)
    source = literal(f"{table.system}.{table.name}")
    file_lit, ts = literal(display), literal(loaded_at.isoformat(sep=" "))
    line, join = line_of("t")
    loaded = con.execute(f"""
        insert into {qtable(table.raw_table)} ({col_list}, _system, _source_file, _batch_id, _loaded_at, _line)
        select {', '.join(f't.{ident(n)}' for n in names)}, {literal(table.system)}, {file_lit}, {batch_id}, {ts}::timestamp, {line}
        from _typed t {join} where t._errors is null{" and t.rowid not in (select _rowid from _dups)" if has_dups else ""}""").fetchone()[0]
    con.execute(f"""
        insert into kontor.quarantine
        select {batch_id}, {source}, {file_lit}, {line},
               regexp_extract(t._errors[1], '^([^:]+):', 1), array_to_string(t._errors, '; '), t._raw, {ts}::timestamp
        from _typed t {join} where t._errors is not null""")
    # A later duplicate converted fine, so it has no _raw: its values as read (typed, as text) stand for it.
    first_line, first_join = line_of("f")
    dup_json = "to_json(struct_pack(" + ", ".join(f"{ident(n)} := t.{ident(n)}::varchar" for n in names) + "))::varchar"
    if has_dups:
        con.execute(f"""
        insert into kontor.quarantine
        select {batch_id}, {source}, {file_lit}, {line}, {literal(', '.join(table.primary_key))},
               'duplicate primary key (' || {literal(', '.join(table.primary_key))} || ') in this file; first at line ' || {first_line},
               {dup_json}, {ts}::timestamp
        from _dups d join _typed t on t.rowid = d._rowid {join} join _typed f on f.rowid = d._first {first_join}""")
    if staged.has_rejects:
        con.execute(f"""
            insert into kontor.quarantine
            select {batch_id}, {source}, {file_lit}, line, column_name, reason, raw_text, {ts}::timestamp
            from _rejects""")
    quarantined = con.execute(f"select count(*) from kontor.quarantine where batch_id = {batch_id}").fetchone()[0]
    read = con.execute("select count(*) from _typed").fetchone()[0]
    if staged.has_rejects:
        read += con.execute("select count(*) from _rejects").fetchone()[0]
    if read != loaded + quarantined:
        raise KontorError(f"{display}: internal error, rows read {read} != loaded {loaded} + quarantined {quarantined}")
    return read, loaded, quarantined


def _ledger(con, table: SourceTable, batch_id: int, result: FileLoad, size: int | None,
            run_id: str | None, started: datetime) -> None:
    con.execute(
        "insert into kontor.load_ledger (batch_id, system, table_name, path, sha256, size_bytes, rows_read, "
        "rows_loaded, rows_quarantined, status, message, run_id, started_at, finished_at, encoding, file_meta) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, table.system, table.name, result.path, result.sha256, size, result.rows_read,
         result.rows_loaded, result.rows_quarantined, result.status,
         "; ".join(filter(None, [result.message, *result.notes])) or None, run_id, started, _now(),
         result.encoding, json.dumps(result.meta, ensure_ascii=False) if result.meta else None])


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _stage_file(con, table: SourceTable, path: Path, info: readers.FileDigest, tmp_dir: Path) -> readers.Staged:
    fmt = table.format
    kind = fmt.type
    if fmt.reads_text:
        return readers.stage_csv(con, path, fmt, info, [c.name for c in table.columns], tmp_dir)
    if kind == "parquet":
        return readers.stage_parquet(con, path)
    if kind == "json":
        return readers.stage_json(con, path)
    return readers.stage_xlsx(con, path, fmt)


def _commit_batch(con, table: SourceTable, staged: readers.Staged, result: FileLoad, size: int | None,
                  run_id: str | None, started: datetime) -> None:
    result.notes += _check_columns(table, staged, result.path)
    _type_rows(con, table, staged, result.path)
    batch_id = _next_batch_id(con)
    con.execute("begin transaction")
    try:
        read, loaded, quarantined = _load_staged(con, table, staged, result.path, batch_id, started)
        result.rows_read, result.rows_loaded, result.rows_quarantined = read, loaded, quarantined
        result.status, result.batch_id = "loaded", batch_id
        _ledger(con, table, batch_id, result, size, run_id, started)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        result.status, result.batch_id = "failed", None
        raise


def _record_failure(con, table: SourceTable, result: FileLoad, exc: SourceFileError, size: int | None,
                    run_id: str | None, started: datetime) -> None:
    result.status, result.message = "failed", f"{exc.problem}; fix: {exc.fix}"
    _ledger(con, table, _next_batch_id(con), result, size, run_id, started)


def ingest_file(con, table: SourceTable, path: Path, data_dir: Path, tmp_dir: Path,
                run_id: str | None = None) -> FileLoad:
    display = os.path.relpath(path, data_dir)
    started = _now()
    info = readers.digest(path)
    result = FileLoad(path=display, status="skipped", sha256=info.sha256)
    previous = _already_loaded(con, table, info.sha256)
    if previous is not None:
        result.batch_id, result.message = previous, f"already loaded as batch {previous}"
        return result
    staged = None
    try:
        staged = _stage_file(con, table, path, info, tmp_dir)
        result.notes += staged.notes
        result.encoding, result.meta = staged.encoding, staged.meta
        _commit_batch(con, table, staged, result, info.size, run_id, started)
    except SourceFileError as exc:
        exc = SourceFileError(display, exc.problem, exc.fix)
        _record_failure(con, table, result, exc, info.size, run_id, started)
        result.message = str(exc)
    except Exception as exc:
        if is_transient(exc):
            raise
        # Anything else this file raises will be raised again by the same bytes: fail the file at
        # once with its own ledger row, and let the table's other files load.
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        failure = SourceFileError(display, f"could not be loaded ({type(exc).__name__}: {first})",
                                  "this is a Kontor defect for this file's content: report it with the file; "
                                  "the table's other files are loaded")
        _record_failure(con, table, result, failure, info.size, run_id, started)
        result.message = str(failure)
    finally:
        for tmp in staged.cleanup if staged else ():
            tmp.unlink(missing_ok=True)
    return result


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed: the share or the file vanished (unmounted), the
    database is unreachable or out of disk. A malformed file is never transient."""
    if isinstance(exc, (FileNotFoundError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, PermissionError):
        return True
    return isinstance(exc, (duckdb.ConnectionException, duckdb.IOException, duckdb.OutOfMemoryException))


def ingest_query(con, table: SourceTable, connection: Connection, env: dict[str, str],
                 run_id: str | None = None) -> FileLoad:
    """Run the table's query on its Postgres connection (via ADBC into Arrow) and load the result."""
    from pipelines.sources.postgres import fetch_arrow

    display = f"{connection.name}:query"
    started = _now()
    url = env.get(connection.url_env)
    if not url:
        raise KontorError(f"{table.file}:{table.line}: connection {connection.name!r} needs the environment variable "
                          f"{connection.url_env} (a postgresql:// URL); fix: export it before the run")
    try:
        data = fetch_arrow(url, table.query or "", display)
    except SourceFileError as exc:
        result = FileLoad(path=display, status="failed")
        _record_failure(con, table, result, exc, None, run_id, started)
        result.message = str(exc)
        return result
    sha = readers.arrow_digest(data)
    result = FileLoad(path=display, status="skipped", sha256=sha)
    previous = _already_loaded(con, table, sha)
    if previous is not None:
        result.batch_id, result.message = previous, f"same result as batch {previous}"
        return result
    staged = readers.stage_arrow(con, data, first_line=1)
    try:
        _commit_batch(con, table, staged, result, None, run_id, started)
    except SourceFileError as exc:
        _record_failure(con, table, result, exc, None, run_id, started)
        result.message = str(exc)
    return result


def ingest_table(con: duckdb.DuckDBPyConnection, table: SourceTable, data_dir: Path, tmp_dir: Path,
                 connections: dict[str, Connection] | None = None, env: dict[str, str] | None = None,
                 run_id: str | None = None, settle_seconds: float = 0.0) -> TableLoad:
    """Load every new file (or the query result) of one source table. Never raises for a bad
    file: failures are in the result and the ledger, so the caller decides. A file still being
    written (see ``arrival``) is reported as waiting and loaded by a later run."""
    ensure_raw_table(con, table)
    if table.query:
        conn = (connections or {})[table.connection or ""]
        load = TableLoad(table, [ingest_query(con, table, conn, dict(env or {}), run_id)])
    else:
        results = []
        for path in arrival.data_files(table, resolve_files(table, data_dir)):
            waiting = arrival.waiting_reason(table, path, settle_seconds)
            if waiting:
                results.append(FileLoad(path=os.path.relpath(path, data_dir), status="waiting", message=waiting))
            else:
                results.append(ingest_file(con, table, path, data_dir, tmp_dir, run_id))
        load = TableLoad(table, results)
    if table.delivery == "full":
        deliveries.record_full_delivery(con, table, [f.batch_id for f in load.files if f.status == "loaded"])
    deliveries.ensure_current_view(con, table)
    return load
