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

from sqlglot import exp, parse_one

from pipelines.core.errors import KontorError, SourceFileError
from pipelines.engines.connection import TRANSIENT_ERRORS, EngineError, InvalidInputError
from pipelines.engines.connection import Connection as EngineConnection
from pipelines.sources import arrival, deliveries, readers
from pipelines.sources.convert import error_expr, value_expr
from pipelines.sources.spec import LINEAGE_COLUMNS, Connection, SourceTable
from pipelines.core.sql import add_column, data_type, render, table_expr, template, verbatim
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


def ensure_raw_table(con: EngineConnection, table: SourceTable) -> None:
    ensure_bookkeeping(con)
    cols = [(c.name, c.data_type) for c in table.columns] + list(LINEAGE_COLUMNS.items())
    existing = {row[0]: row[1].lower() for row in con.execute(template(__file__, "raw_columns"), [table.key]).fetchall()}
    raw = table_expr(table.raw_table)
    if not existing:
        columns = [exp.ColumnDef(this=exp.to_identifier(n, quoted=True), kind=data_type(t)) for n, t in cols]
        con.execute(exp.Create(this=exp.Schema(this=raw, expressions=columns), kind="TABLE", exists=True).sql(dialect="duckdb"))
        return
    for name, typ in cols:
        if name not in existing:
            con.execute(add_column(raw, name, typ))


def _already_loaded(con: EngineConnection, table: SourceTable, sha256: str) -> int | None:
    row = con.execute(
        "select batch_id from kontor.load_ledger where system = ? and table_name = ? and sha256 = ? and status = 'loaded' limit 1",
        [table.system, table.name, sha256]).fetchone()
    return row[0] if row else None


def _next_batch_id(con: EngineConnection) -> int:
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
        values.append(exp.alias_(value_expr(col, src, stype, fmt), value, copy=False))
        outputs.append(exp.alias_(exp.column(value), col.name, quoted=True))
        error = error_expr(col, src, stype, fmt, check_control=not staged.text_clean, value=value)
        if error is not None:
            errors.append(error)
    raw_json = _json_of((c, exp.column(c, quoted=True)) for c in staged.columns)
    if errors:
        failed = exp.Not(this=exp.Coalesce(this=errors[0], expressions=errors[1:]).is_(exp.null()))
        reasons = exp.Anonymous(this="list_filter", expressions=[
            exp.cast(exp.Array(expressions=errors), exp.DataType.build("varchar[]", dialect="duckdb")),
            exp.Lambda(this=exp.column("x").is_(exp.null()).not_(), expressions=[exp.to_identifier("x")])])
        error_list = exp.Case(ifs=[exp.If(this=failed, true=reasons)])
        raw = exp.Case(ifs=[exp.If(this=failed, true=raw_json)])   # the same node twice: written, never changed
    else:
        error_list = exp.cast(exp.null(), exp.DataType.build("varchar[]", dialect="duckdb"))
        raw = exp.cast(exp.null(), "varchar")
    scan = exp.Table(this=verbatim(staged.scan) if staged.scan else exp.to_identifier("_stage"),
                     alias=exp.TableAlias(this=exp.to_identifier("s")))
    # the tree is built here for this statement alone: nothing is copied (convert's expressions are large)
    typed = exp.select(*outputs, exp.alias_(error_list, "_errors", copy=False), exp.alias_(raw, "_raw", copy=False), copy=False) \
        .from_(exp.select(*values, exp.Column(this=exp.Star(), table=exp.to_identifier("s")), copy=False)
               .from_(scan, copy=False).subquery(copy=False), copy=False)
    return exp.Create(this=exp.to_table("_typed"), kind="TABLE", replace=True,
                      properties=exp.Properties(expressions=[exp.TemporaryProperty()]), expression=typed).sql(dialect="duckdb", copy=False)


def _json_of(values) -> exp.Expression:
    """(name, value) pairs as a JSON object's text (a quarantined row as read)."""
    return exp.cast(exp.Anonymous(this="to_json", expressions=[exp.Struct(expressions=[
        exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value) for name, value in values])]), "varchar")


# Up to this many line steps (sql/line_steps.sql) the statements compute the shift themselves, with a
# CASE that bisects the steps. Beyond, planning that CASE costs more than numbering every row in
# ``_lines`` and joining it back (about even at ~1,000 steps; the join costs ~0.15 s per million rows).
_INLINE_STEPS_MAX = 512


def _line_numbers(con: EngineConnection, staged: readers.Staged):
    """The line of each row of ``_typed``: a function of a table alias of ``_typed`` giving the
    SQL expression and the joins it needs (none, or ``_lines`` joined on rowid)."""
    first = exp.Literal.number(staged.first_line)

    def rowid(a: str) -> exp.Expression:
        return exp.column("rowid", table=a)
    steps = []
    if staged.has_rejects:
        steps = con.execute(render(template(__file__, "line_steps"), first=first), [_INLINE_STEPS_MAX + 1]).fetchall()
    if not staged.has_spans and not steps:
        return lambda a: (exp.Add(this=first.copy(), expression=rowid(a)), [])
    if not staged.has_spans and len(steps) <= _INLINE_STEPS_MAX:
        # Written as SQL text and placed verbatim: as a sqlglot tree its ~2 nodes per step were
        # deep-copied into each statement, 0.2-0.3 s of Python for a few hundred steps.
        return lambda a: (verbatim(f"({staged.first_line} + {a}.rowid + {_bisect_steps(steps, 0, len(steps), a)})"), [])
    con.execute(render(template(__file__, "lines"), first=first))
    if staged.has_spans:
        con.execute(render(template(__file__, "physical_lines"), relation="_lines", line="_line"))
    return lambda a: (exp.column("_line", table=f"{a}_l"),
                      [exp.Join(this=exp.to_table("_lines").as_(f"{a}_l"),
                                on=exp.column("_rowid", table=f"{a}_l").eq(rowid(a)))])


def _bisect_steps(steps: list[tuple[int, int]], lo: int, hi: int, alias: str = "s") -> str:
    """The shift of ``<alias>.rowid`` known to lie in interval ``lo``..``hi`` of the sorted (k, n)
    steps, as SQL text: interval 0 is before the first step (shift 0), interval i from step i on (its n).

    >>> _bisect_steps([(3, 1), (7, 2)], 0, 2, "t")
    'CASE WHEN t.rowid < 3 THEN 0 ELSE CASE WHEN t.rowid < 7 THEN 1 ELSE 2 END END'
    """
    if lo == hi:
        return str(int(steps[lo - 1][1]) if lo else 0)
    mid = (lo + hi + 1) // 2
    return (f"CASE WHEN {alias}.rowid < {int(steps[mid - 1][0])} THEN {_bisect_steps(steps, lo, mid - 1, alias)} "
            f"ELSE {_bisect_steps(steps, mid, hi, alias)} END")


def _joined(sql: str, joins: list[exp.Join], condition: exp.Expression | None = None) -> str:
    """A template's insert ... select with the joins its line numbers need (and one more condition)."""
    if not joins and condition is None:
        return sql
    tree = parse_one(sql, dialect="duckdb")
    select = tree.expression if isinstance(tree, exp.Insert) else tree
    select.set("joins", [*(select.args.get("joins") or []), *(j.copy() for j in joins)])
    if condition is not None:
        select = select.where(condition, copy=False)
    return tree.sql(dialect="duckdb")


def _type_rows(con: EngineConnection, table: SourceTable, staged: readers.Staged, display: str) -> None:
    """``_typed`` (and, for a CSV, what its parser rejected). Outside the load's transaction: a
    table created inside one numbers its rows from 2**55 on until commit, not from 0."""
    try:
        con.execute(_typed_sql(table, staged))
    except EngineError as exc:
        if staged.scan is None:
            raise
        raise _scan_error(exc, display, staged.scan_fix) from exc
    if staged.finish:
        staged.finish(con, staged)


def _scan_error(exc: EngineError, display: str, scan_fix: str) -> SourceFileError:
    """What failed in the one pass that reads and types a CSV: its parser (the file's layout, so
    the delimiter, quote and encoding are the fix) or anything after it, which is not the layout.

    >>> _scan_error(InvalidInputError("Invalid Input Error: CSV Error on Line: 3"), "a.csv", "check x").problem
    'cannot be parsed as CSV (Invalid Input Error: CSV Error on Line: 3)'
    >>> print(_scan_error(EngineError("Out of Memory Error: failed"), "a.csv", "check x"))
    a.csv: was read as CSV but typing its columns failed (Out of Memory Error: failed); fix: not a problem of the file's layout: check the column types declared for it, or rerun with KONTOR_DEBUG=1 and report the error
    """
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, InvalidInputError) or "CSV" in first:
        return SourceFileError(display, f"cannot be parsed as CSV ({first})", scan_fix)
    return SourceFileError(display, f"was read as CSV but typing its columns failed ({first})",
                           "not a problem of the file's layout: check the column types declared for it, "
                           "or rerun with KONTOR_DEBUG=1 and report the error")


def _load_staged(con: EngineConnection, table: SourceTable, staged: readers.Staged,
                 display: str, batch_id: int, loaded_at: datetime) -> tuple[int, int, int]:
    line_of = _line_numbers(con, staged)
    if staged.has_spans:
        con.execute(render(template(__file__, "physical_lines"), relation="_rejects", line="line"))
    # Most files repeat no key: a grouping tells, at a fraction of the window's sort.
    has_dups = bool(table.primary_key) and con.execute(
        render(template(__file__, "typed_duplicate_keys"), key=list(table.primary_key))).fetchone()[0] > 0
    if has_dups:
        con.execute(render(template(__file__, "typed_duplicates"), key=list(table.primary_key)))
    names = [c.name for c in table.columns]
    values = {"batch_id": batch_id, "source": f"{table.system}.{table.name}", "file": display,
              "loaded_at": loaded_at.isoformat(sep=" ")}
    line, join = line_of("t")
    good = render(template(__file__, "insert_raw"), raw=table_expr(table.raw_table), columns=names,
                  typed=[exp.column(n, table="t", quoted=True) for n in names], line=line)
    unique = exp.column("rowid", table="t").isin(query=exp.select("_rowid").from_("_dups")).not_() if has_dups else None
    # Raw is written by both threads at once, each in file order, their blocks interleaved: keeping
    # one order across them made this insert take 1.6-1.8 times as long (DuckDB merges and rewrites
    # batches that the filter left short of a row group), a tenth of a 1M-row load. ``_line`` is
    # the file's order; a file of one row group (~120,000 rows) keeps it anyway.
    ordered = con.execute(template(__file__, "insertion_order")).fetchone()[0]
    con.execute(template(__file__, "set_insertion_order"), [False])
    try:
        loaded = con.execute(_joined(good, join, unique), {"system": table.system, "file": display, "batch_id": batch_id,
                                                           "loaded_at": values["loaded_at"]}).fetchone()[0]
    finally:
        con.execute(template(__file__, "set_insertion_order"), [ordered])
    con.execute(_joined(render(template(__file__, "quarantine_typed"), line=line), join), values)
    first_line, first_join = line_of("f")
    if has_dups:
        row_json = _json_of((n, exp.cast(exp.column(n, table="t", quoted=True), "varchar")) for n in names)
        con.execute(_joined(render(template(__file__, "quarantine_duplicates"), line=line, first_line=first_line,
                                   row_json=row_json), join + first_join),
                    values | {"key": ", ".join(table.primary_key)})
    if staged.has_rejects:
        con.execute(template(__file__, "quarantine_rejects"), values)
    quarantined = con.execute(template(__file__, "quarantined_count"), [batch_id]).fetchone()[0]
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
    return isinstance(exc, TRANSIENT_ERRORS)


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


def ingest_table(con: EngineConnection, table: SourceTable, data_dir: Path, tmp_dir: Path,
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
