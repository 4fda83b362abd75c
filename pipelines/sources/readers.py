"""Read one extract, in file order, as faithfully as possible; nothing is typed here.

Parquet, JSON, XLSX and query results land in the temp table ``_stage`` (row order = file
order). A CSV file is not staged: ``Staged.scan`` is its ``read_csv``, which ``ingest`` reads in
the same pass that types the values (a text copy of every row cost more than parsing it), and
``Staged.finish`` then leaves ``_rejects``: records DuckDB's parser could not split into the
header's fields (line, column, reason, raw text). ``convert`` types the values.
A file that cannot be read at all raises ``SourceFileError`` naming the problem and the fix.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp, parse_one

from pipelines.core.errors import SourceFileError
from pipelines.engines.connection import Connection, EngineError
from pipelines.sources import linecodec, preamble
from pipelines.sources.spec import FileFormat
from pipelines.core.sql import render, template
from pipelines.core.warehouse import insert_rows

if TYPE_CHECKING:   # imported where Arrow data is read: not at start-up of every `kontor run` (0.2 s)
    import pyarrow as pa

# 1 MiB: big enough that per-chunk overhead vanishes, small enough that the several passes over a
# chunk (and the text decoded from it) stay in the CPU cache: with 4 MiB, transcoding took ~1.6x as long.
CHUNK = 1 << 20
_DELIMITERS = [";", ",", "\t", "|"]


@dataclass
class Staged:
    columns: list[str]                 # stage columns in file order
    types: dict[str, str]              # stage column -> DuckDB type
    first_line: int                    # line number of the first record
    has_rejects: bool = False
    notes: list[str] = field(default_factory=list)
    text_clean: bool = False           # no control characters or undefined bytes anywhere: skip that check
    has_spans: bool = False            # records spanning lines: temp table _spans maps to physical lines
    encoding: str | None = None        # how the text was decoded, for the ledger
    meta: dict | None = None           # the file's own metadata (a DATEV header line), for the ledger
    fmt: FileFormat | None = None      # the format as read (delimiter from the file, DATEV period)
    scan: str | None = None            # SQL relation to read instead of _stage (a CSV's read_csv)
    scan_fix: str = ""                 # the fix when that scan fails (the file cannot be parsed)
    finish: Callable[[Connection, "Staged"], None] | None = None   # after the scan ran
    cleanup: list[Path] = field(default_factory=list)   # temporary files to remove after the load


@dataclass
class FileDigest:
    sha256: str
    size: int
    utf8_valid: bool
    ascii_only: bool
    control_bytes: bool = True         # C0 controls other than tab/LF/CR, or DEL
    cp1252_undefined: bool = True      # one of the five bytes cp1252 leaves undefined
    replacement_char: bool = True      # U+FFFD already in the (UTF-8) text
    newlines: int = -1
    ends_with_newline: bool = False


_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
_CP1252_UNDEFINED = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])
# Deleting every other byte leaves the suspicious bytes and the line feeds: one pass finds both.
_NOT_SUSPICIOUS_OR_LF = bytes(b for b in range(256) if b not in _CONTROL_BYTES + _CP1252_UNDEFINED + b"\n")
_HASH_AHEAD = 4                        # chunks read but not yet hashed, at most


def digest(path: Path) -> FileDigest:
    """One streaming pass: sha256, size, ASCII/UTF-8 validity, suspicious bytes and newlines.

    The facts let the loader skip whole-file work for the common clean file: the per-value
    control-character check, and the search for blank lines (lines = records means none).
    sha256 runs in a thread beside the other checks (hashlib lets go of the GIL): the digest of a
    large file takes the longer of the two, not their sum."""
    sha = hashlib.sha256()
    size, ascii_only, utf8_valid, replacement = 0, True, True, False
    suspicious: set[int] = set()
    newlines, last = 0, b""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    with open(path, "rb") as fh, ThreadPoolExecutor(1, thread_name_prefix="kontor-sha256") as hasher:
        hashing: deque[Future] = deque()
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            hashing.append(hasher.submit(sha.update, chunk))   # one worker: chunks hashed in order
            if len(hashing) > _HASH_AHEAD:
                hashing.popleft().result()
            size += len(chunk)
            kept = chunk.translate(None, _NOT_SUSPICIOUS_OR_LF)
            others = kept.replace(b"\n", b"")
            newlines += len(kept) - len(others)
            if others:
                suspicious.update(others)
            last = chunk[-1:]
            if ascii_only and not chunk.isascii():
                ascii_only = False
            if utf8_valid and not ascii_only:
                try:
                    replacement = "\ufffd" in decoder.decode(chunk) or replacement
                except UnicodeDecodeError:
                    utf8_valid = False
        for pending in hashing:
            pending.result()
    if utf8_valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8_valid = False
    return FileDigest(
        sha.hexdigest(), size, utf8_valid, ascii_only,
        control_bytes=bool(suspicious & set(_CONTROL_BYTES)),
        cp1252_undefined=bool(suspicious & set(_CP1252_UNDEFINED)),
        replacement_char=replacement, newlines=newlines, ends_with_newline=last == b"\n",
    )


# A single-byte encoding maps every byte to one character, so a file can be cut at any line end: a
# large one is cut in half and both halves are transcoded at once. Decoding holds the GIL, so the
# second half goes to a helper interpreter (started bare, ~15 ms, loading only linecodec.py). It
# holds its text until this process, done with the first half, sends the offset to write it at,
# and answers with its line counts.
_SPLIT_MIN_BYTES = 32 << 20
_HALF_WORKER = """
import importlib.util, io, sys
spec = importlib.util.spec_from_file_location("kontor_linecodec", sys.argv[1])
codec = importlib.util.module_from_spec(spec)
spec.loader.exec_module(codec)
src, out, encoding, start, stop = sys.argv[2], sys.argv[3], sys.argv[4], *map(int, sys.argv[5:7])
buf = io.BytesIO()
with open(src, "rb") as fh:
    counts = codec.transcode_range(fh, buf, encoding, start, stop)
offset = int(sys.stdin.readline())
with open(out, "r+b") as fh:
    fh.seek(offset)
    fh.write(buf.getbuffer())
print(*counts)
"""


def _transcode(path: Path, encoding: str, out: Path, size: int) -> tuple[int, int, int]:
    """Single-byte ``encoding`` to UTF-8, line by line where lines are UTF-8 (see linecodec);
    returns (lines read as UTF-8, lines valid in neither, chunks of UTF-8 lines holding U+FFFD)."""
    split = _split_point(path, size) if size >= _SPLIT_MIN_BYTES and sys.executable else size
    helper = _start_half_worker(path, out, encoding, split, size) if split < size else None
    try:
        with open(out, "wb") as dst, open(path, "rb") as src:
            counts = linecodec.transcode_range(src, dst, encoding, 0, split)
            dst.flush()
            if split < size:
                more = _half_worker_done(helper, dst.tell())
                if more is None:        # no helper: do its half here
                    more = linecodec.transcode_range(src, dst, encoding, split, size)
                counts = (counts[0] + more[0], counts[1] + more[1], counts[2] + more[2])
        return counts
    finally:
        if helper is not None and helper.poll() is None:   # this half failed: stop the helper
            helper.kill()
            helper.wait()


def _split_point(path: Path, size: int) -> int:
    """The first line end after the middle of the file (lines must not be cut: each picks its encoding)."""
    with open(path, "rb") as fh:
        fh.seek(size // 2)
        data = fh.read(CHUNK)
    cut = min((i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0), default=-1)
    return size if cut < 0 else size // 2 + cut + 1


def _start_half_worker(path: Path, out: Path, encoding: str, start: int, stop: int) -> subprocess.Popen | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _HALF_WORKER, linecodec.__file__, str(path), str(out), encoding,
             str(start), str(stop)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def _half_worker_done(helper: subprocess.Popen | None, offset: int) -> tuple[int, int, int] | None:
    """Send the helper its offset and wait: its line counts once it wrote its half there."""
    if helper is None:
        return None
    out, _ = helper.communicate(f"{offset}\n".encode())
    if helper.returncode != 0:
        return None
    utf8_lines, mixed, replaced = map(int, out.split())
    return utf8_lines, mixed, replaced


def _header_line(path: Path, skip: int) -> str | None:
    """Line ``skip + 1`` of a UTF-8 file (any line end), without BOM and line end."""
    with open(path, "r", encoding="utf-8", errors="replace", newline="") as fh:
        for _ in range(skip):
            fh.readline(1 << 20)
        line = fh.readline(1 << 20)
    if not line:
        return None
    return line.lstrip("\ufeff").rstrip("\r\n")


def _parse_header(line: str, fmt: FileFormat) -> list[str]:
    return next(csv.reader(io.StringIO(line), delimiter=fmt.delimiter, quotechar=fmt.quote), [])


def _delimiter_hint(line: str, fmt: FileFormat) -> str:
    counts = {d: line.count(d) for d in _DELIMITERS if d != fmt.delimiter}
    best = max(counts, key=counts.get)
    if counts[best] > 0:
        return f"the header seems to use {best!r} as delimiter; set format delimiter: {best!r}"
    return f"check format delimiter (declared {fmt.delimiter!r})"


# The stage column standing for the empty last header field of a file whose every line ends with
# the delimiter (Excel and many ERPs write that); ingest neither loads nor reports it.
TRAILING_COLUMN = "_kontor_trailing_delimiter"
# The signed amount a DATEV Buchungsstapel carries in two fields; declare a column of this name.
DATEV_SIGNED_AMOUNT = "Umsatz"
_DATEV_AMOUNT, _DATEV_SIGN = "Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen"
_SINGLE_BYTE = ("cp1252", "latin-1", "iso-8859-15")


@dataclass
class _Plan:
    """How a CSV file is read: the file DuckDB reads, its encoding, the lines above the header."""
    read_path: Path
    fmt: FileFormat
    pre: preamble.Preamble
    info: FileDigest                   # facts about read_path (the original's if not transcoded)
    encoding: str                      # for the ledger
    clean: bool
    notes: list[str]


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(1 << 16)


def _plan(path: Path, fmt: FileFormat, info: FileDigest, tmp_dir: Path) -> _Plan:
    pre = preamble.sniff(_head(path), fmt.encoding, datev_declared=fmt.type == "datev")
    if pre.problem:
        raise SourceFileError(path, pre.problem, "deliver the file as the DATEV export wrote it, or declare format type: csv")
    if pre.delimiter and pre.delimiter != fmt.delimiter:
        fmt = replace(fmt, delimiter=pre.delimiter)
    if pre.period:
        fmt = replace(fmt, datev_period=pre.period)
    notes = list(pre.notes)
    declared = fmt.encoding
    tmp = tmp_dir / f"{path.name}.{info.sha256[:12]}.utf8"
    if pre.bom_encoding and pre.bom_encoding.startswith("utf-16") or declared == "utf-16":
        codec = pre.bom_encoding if pre.bom_encoding and pre.bom_encoding.startswith("utf-16") else "utf-16-le"
        if declared != "utf-16":
            notes.append(f"the file is {codec.upper()} (byte order mark) though declared {declared}; read as {codec.upper()}")
        tmp_dir.mkdir(parents=True, exist_ok=True)
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            linecodec.transcode_utf16(src, dst, codec, len(pre.bom))
        read_info = digest(tmp)
        clean = not read_info.control_bytes and not read_info.replacement_char
        return _Plan(tmp, fmt, pre, read_info, pre.bom_name or codec, clean, notes)
    encoding = "utf-8"
    if declared == "utf-8" and not info.utf8_valid:
        notes.append("file is not valid UTF-8 as declared; rows with invalid bytes are quarantined "
                     "(if it is a Windows export, set format encoding: cp1252)")
    elif declared in _SINGLE_BYTE and not info.ascii_only:
        if info.utf8_valid:
            notes.append(f"declared {declared} but the file is UTF-8; read as UTF-8 (fix: set format encoding: utf-8)")
        else:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            utf8_lines, mixed, replaced = _transcode(path, declared, tmp, info.size)
            encoding = declared if not utf8_lines and not mixed else f"{declared}+utf-8 per line"
            if utf8_lines or mixed:
                notes.append(f"declared {declared} but some lines are UTF-8: decoded line by line, {utf8_lines} line(s) "
                             f"as UTF-8, the others as {declared}"
                             + (f"; {mixed} line(s) mixing both encodings quarantined" if mixed else ""))
            # Control bytes are the same bytes in both encodings (the digest saw them all); a U+FFFD
            # comes from a byte cp1252 leaves undefined, a line mixing both, or a UTF-8 line that
            # holds one (the transcoding saw those: no second pass over the file): then every value
            # is checked, else the file is clean as it stands.
            clean = not info.control_bytes and not (declared == "cp1252" and info.cp1252_undefined) \
                and not mixed and not replaced
            return _Plan(tmp, fmt, pre, info, encoding, clean, notes)
    if pre.bom_name == "utf-8 (BOM)":
        encoding = pre.bom_name
    clean = encoding.startswith("utf-8") and info.utf8_valid and not info.control_bytes and not info.replacement_char
    return _Plan(path, fmt, pre, info, encoding if declared not in _SINGLE_BYTE or not info.ascii_only else declared,
                 clean, notes)


def stage_csv(con: Connection, path: Path, fmt: FileFormat, info: FileDigest,
              expected: list[str], tmp_dir: Path) -> Staged:
    if info.size == 0:
        raise SourceFileError(path, "the file is empty (not even a header line)", "re-export the extract; an export with no rows still has a header")
    plan = _plan(path, fmt, info, tmp_dir)
    temporary = [plan.read_path] if plan.read_path != path else []
    try:
        staged = _read_csv(con, path, plan, expected)
    except BaseException:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)
        raise
    staged.text_clean = plan.clean
    staged.encoding = plan.encoding
    staged.meta = plan.pre.datev
    staged.fmt = plan.fmt
    staged.cleanup = temporary      # read by the scan: removed by ingest after the load
    return staged


def _header(path: Path, plan: _Plan, expected: list[str]) -> tuple[list[str], list[str]]:
    """The header's column names (stage names) and notes about them."""
    fmt, skip = plan.fmt, plan.pre.skip
    first = _header_line(plan.read_path, skip)
    where = f"line {skip + 1}"
    if first is None or not first.strip():
        raise SourceFileError(path, f"{where} is empty; a header line is expected", "re-export the extract with a header line")
    if any(ch in first for ch in "\x00\ufffd") or sum(not ch.isprintable() and ch != "\t" for ch in first) > 2:
        raise SourceFileError(path, "the header line holds binary data; this is not a CSV text file",
                              "check that the right file was delivered and its encoding is declared")
    if not fmt.header:
        return list(expected), []
    header = _parse_header(first, fmt)
    notes = []
    if len(header) > 1 and header[-1].strip() == "" and all(h.strip() for h in header[:-1]):
        header[-1] = TRAILING_COLUMN
        notes.append("every line ends with the delimiter (an empty last header field): that field is ignored")
    if len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        what = "empty header fields" if dupes == [""] else f"duplicate header columns {dupes}"
        raise SourceFileError(path, f"{what} in {where}", "give every column of the export a distinct name")
    if len(header) == 1 and len(expected) > 1:
        raise SourceFileError(path, f"the header has one column where {len(expected)} are declared", _delimiter_hint(first, fmt))
    return header, notes


def _derived_columns(plan: _Plan, header: list[str]) -> list[exp.Expression]:
    """Extra stage columns computed while reading: a DATEV Buchungsstapel's signed amount."""
    meta = plan.pre.datev or {}
    if meta.get("data_category") != "21" or _DATEV_AMOUNT not in header or _DATEV_SIGN not in header \
            or DATEV_SIGNED_AMOUNT in header:
        return []
    signed = render(template(__file__, "datev_signed_amount"), amount=_DATEV_AMOUNT, sign=_DATEV_SIGN,
                    sign_label=exp.Literal.string(_DATEV_SIGN + " "), signed=DATEV_SIGNED_AMOUNT)
    return parse_one(signed, dialect="duckdb").expressions


def _read_csv(con, path: Path, plan: _Plan, expected: list[str]) -> Staged:
    """The file's ``read_csv`` as a relation (``Staged.scan``), not yet run: ingest types the
    values in the same pass; ``_finish_csv`` then collects what the parser rejected."""
    fmt, skip = plan.fmt, plan.pre.skip
    header, notes = _header(path, plan, expected)
    notes = plan.notes + notes
    columns = exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(h), expression=exp.Literal.string("VARCHAR"))
                                      for h in header])
    con.execute(template(__file__, "drop_csv_rejects"))
    # literals, not bound values: the scan runs later, inside ingest's statement
    read = parse_one(render(template(__file__, "csv_scan"), path=exp.Literal.string(str(plan.read_path)), columns=columns,
                            header=exp.Boolean(this=bool(fmt.header)), delimiter=exp.Literal.string(fmt.delimiter),
                            quote=exp.Literal.string(fmt.quote), escape=exp.Literal.string(fmt.escape or fmt.quote),
                            skip=exp.Literal.number(skip)), dialect="duckdb")
    derived = _derived_columns(plan, header)
    scan = read.select(*derived, copy=False).subquery().sql(dialect="duckdb")
    types = {h: "varchar" for h in header}
    if derived:
        types[DATEV_SIGNED_AMOUNT] = "varchar"

    def finish(con: Connection, staged: Staged) -> None:
        staged.has_spans = _finish_csv(con, plan, fmt, skip)

    return Staged(columns=list(types), types=types, first_line=skip + (2 if fmt.header else 1),
                  has_rejects=True, notes=notes, scan=scan, scan_fix="check the declared delimiter, quote and encoding",
                  finish=finish)


def _finish_csv(con, plan: _Plan, fmt: FileFormat, skip: int) -> bool:
    """After the scan: ``_rejects``, ``_blank_lines`` and ``_spans``; whether records span lines."""
    con.execute("""
        create or replace temp table _rejects as
        select line,
               -- the column of the first bad field, matching the reason below (was min(column_name):
               -- alphabetical, so a row bad in 'name' and 'city' said 'city' with the reason for 'name').
               -- A line over the size limit has no column: order it first, never drop its reason.
               arg_min(column_name, coalesce(column_idx, -1)) as column_name,
               arg_min(lower(replace(error_type::varchar, '_', ' ')) || ': ' || coalesce(error_message, 'unreadable line'),
                       coalesce(column_idx, -1)) as reason,
               any_value(csv_line) as raw_text
        from _kontor_rejects group by line
    """)
    con.execute(template(__file__, "drop_csv_rejects"))
    # DuckDB skips blank lines silently but still counts them in a reject's line number; record
    # them so ingest can shift accepted rows past them too (else _line points at the wrong line).
    # A record whose quoted field spans lines counts as one line there; the quarantine names the
    # physical line, which the clerk finds in an editor, so record those spans too.
    blanks, spans = ([], []) if _one_record_per_line(con, plan.info, fmt, skip) else _line_layout(plan.read_path, fmt, skip)
    con.execute("create or replace temp table _blank_lines (line bigint)")
    if blanks:
        insert_rows(con, "_blank_lines", [[n] for n in blanks])
    con.execute("create or replace temp table _spans (line bigint, shift bigint)")
    if spans:
        insert_rows(con, "_spans", [list(s) for s in spans])
    return bool(spans)


def _one_record_per_line(con, info: FileDigest, fmt: FileFormat, skip: int) -> bool:
    """As many lines as records (header and preamble included): no blank line, no field spanning lines."""
    records = con.execute("select (select count(*) from _typed) + (select count(*) from _rejects)").fetchone()[0]
    lines = info.newlines + (0 if info.ends_with_newline or info.size == 0 else 1)
    return lines == records + skip + (1 if fmt.header else 0)


def _line_layout(path: Path, fmt: FileFormat, skip: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Where DuckDB's line count (first line = 1, a record = 1 line even when a quoted field spans
    several) and the file's physical lines part: the blank lines outside quoted fields, and each
    record spanning several lines as (its line as DuckDB counts it, physical lines gained so far)."""
    escape = fmt.escape if fmt.escape and fmt.escape != fmt.quote else None
    blanks: list[int] = []
    spans: list[tuple[int, int]] = []
    gained = 0
    try:
        with open(path, "r", encoding="utf-8", errors="replace", newline="") as fh:
            for _ in range(skip):
                fh.readline()
            reader = csv.reader(fh, delimiter=fmt.delimiter, quotechar=fmt.quote,
                                doublequote=escape is None, escapechar=escape)
            before = 0
            for number, record in enumerate(reader, start=skip + 1):
                if not record:
                    blanks.append(number)
                extra = reader.line_num - before - 1
                before = reader.line_num
                if extra > 0:
                    gained += extra
                    spans.append((number, gained))
    except (csv.Error, TypeError):
        pass  # e.g. a field over csv's size limit or an open quote: keep what was found so far
    return blanks, spans


def _describe(con: Connection) -> dict[str, str]:
    return {name: str(typ).lower() for name, typ, *_ in con.execute("describe _stage").fetchall()}


def stage_query(con: Connection, stage: str, path: Path, what: str, fix: str,
                first_line: int) -> Staged:
    """``_stage`` from the file, by template ``sql/<stage>.sql`` (the path its one bound value)."""
    try:
        con.execute(template(__file__, stage), [str(path)])
    except EngineError as exc:
        raise SourceFileError(path, f"cannot be read as {what} ({str(exc).splitlines()[0]})", fix) from exc
    types = _describe(con)
    return Staged(columns=list(types), types=types, first_line=first_line)


def stage_parquet(con, path: Path) -> Staged:
    return stage_query(con, "stage_parquet", path, "Parquet",
                       "check that the file is a complete Parquet file (not truncated)", first_line=1)


def stage_json(con, path: Path) -> Staged:
    return stage_query(con, "stage_json", path, "JSON",
                       "deliver a JSON array of objects or newline-delimited JSON", first_line=1)


def stage_arrow(con: Connection, data: pa.Table, first_line: int) -> Staged:
    con.register("_kontor_arrow", data)
    try:
        con.execute("create or replace temp table _stage as select * from _kontor_arrow")
    finally:
        con.unregister("_kontor_arrow")
    types = _describe(con)
    return Staged(columns=list(types), types=types, first_line=first_line)


def stage_xlsx(con, path: Path, fmt: FileFormat) -> Staged:
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
        sheet = reader.load_sheet(fmt.sheet if fmt.sheet is not None else 0, header_row=0 if fmt.header else None,
                                  dtypes="string")
        data = sheet.to_arrow()
    except Exception as exc:  # fastexcel raises its own exception family for every bad workbook
        raise SourceFileError(path, f"cannot be read as XLSX ({str(exc).splitlines()[0]})",
                              "save the workbook as .xlsx and check the sheet name") from exc
    return stage_arrow(con, data, first_line=2 if fmt.header else 1)


def arrow_digest(data: pa.Table) -> str:
    """sha256 of a query result's content. Arrow IPC bytes are not canonical (bytes under null
    slots vary between two fetches of the same rows), so hash a Parquet rendering instead."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(data, sink, compression="none", write_statistics=False, store_schema=True)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
