"""Read one extract into the temp table ``_stage``, in file order, as faithfully as possible.

Each reader leaves ``_stage`` (row order = file order, so ``rowid`` gives the record's
position) and, for CSV, ``_rejects``: records DuckDB's parser could not split into the
header's fields (line, column, reason, raw text). Nothing is typed here; ``convert`` does that.
A file that cannot be read at all raises ``SourceFileError`` naming the problem and the fix.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.errors import SourceFileError
from pipelines.sources.spec import FileFormat
from pipelines.sql import ident, literal
from pipelines.warehouse import insert_rows

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
_NOT_SUSPICIOUS = bytes(b for b in range(256) if b not in _CONTROL_BYTES + _CP1252_UNDEFINED)


def digest(path: Path) -> FileDigest:
    """One streaming pass: sha256, size, ASCII/UTF-8 validity, suspicious bytes and newlines.

    The facts let the loader skip whole-file work for the common clean file: the per-value
    control-character check, and the search for blank lines (lines = records means none)."""
    sha = hashlib.sha256()
    size, ascii_only, utf8_valid, replacement = 0, True, True, False
    suspicious: set[int] = set()
    newlines, last = 0, b""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            sha.update(chunk)
            size += len(chunk)
            suspicious.update(chunk.translate(None, _NOT_SUSPICIOUS))
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
            if ascii_only and not chunk.isascii():
                ascii_only = False
            if utf8_valid and not ascii_only:
                try:
                    replacement = "\ufffd" in decoder.decode(chunk) or replacement
                except UnicodeDecodeError:
                    utf8_valid = False
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


def _undefined_byte(err: UnicodeDecodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; mark them so the row is quarantined, never guessed.
    return "\ufffd", err.end


codecs.register_error("kontor-mark", _undefined_byte)


# A single-byte encoding maps every byte to one character, so a file can be cut anywhere: a large
# one is cut in half and both halves are transcoded at once. bytes.decode holds the GIL, so the
# second half goes to a helper interpreter (started bare, ~15 ms). It holds its text until this
# process, done with the first half, sends the offset to write it at.
_SPLIT_MIN_BYTES = 32 << 20
_HALF_WORKER = """
import codecs, sys
codecs.register_error("kontor-mark", lambda err: ("\\ufffd", err.end))  # as readers._undefined_byte
src, out, encoding, start, stop, chunk = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
with open(src, "rb") as fh:
    fh.seek(start)
    parts = [fh.read(min(chunk, stop - pos)).decode(encoding, "kontor-mark").encode("utf-8")
             for pos in range(start, stop, chunk)]
offset = int(sys.stdin.readline())
with open(out, "r+b") as fh:
    fh.seek(offset)
    fh.writelines(parts)
"""


def _transcode(path: Path, encoding: str, out: Path) -> None:
    """Single-byte ``encoding`` to UTF-8; bytes it leaves undefined become U+FFFD."""
    size = path.stat().st_size
    split = size // 2 if size >= _SPLIT_MIN_BYTES and sys.executable else size
    helper = _start_half_worker(path, out, encoding, split, size) if split < size else None
    try:
        with open(out, "wb") as dst:
            _transcode_range(path, encoding, dst, 0, split)
            dst.flush()
            if split < size and not _half_worker_done(helper, dst.tell()):
                _transcode_range(path, encoding, dst, split, size)   # no helper: do its half here
    finally:
        if helper is not None and helper.poll() is None:   # this half failed: stop the helper
            helper.kill()
            helper.wait()


def _transcode_range(path: Path, encoding: str, dst, start: int, stop: int) -> None:
    with open(path, "rb") as src:
        src.seek(start)
        for pos in range(start, stop, CHUNK):
            dst.write(src.read(min(CHUNK, stop - pos)).decode(encoding, "kontor-mark").encode("utf-8"))


def _start_half_worker(path: Path, out: Path, encoding: str, start: int, stop: int) -> subprocess.Popen | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _HALF_WORKER, str(path), str(out), encoding, str(start), str(stop), str(CHUNK)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def _half_worker_done(helper: subprocess.Popen | None, offset: int) -> bool:
    """Send the helper its offset and wait: True once it wrote its half there."""
    if helper is None:
        return False
    helper.communicate(f"{offset}\n".encode())
    return helper.returncode == 0


def _first_line(path: Path, encoding: str) -> str | None:
    with open(path, "r", encoding=encoding, errors="replace", newline="") as fh:
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


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, fmt: FileFormat, info: FileDigest,
              expected: list[str], tmp_dir: Path) -> Staged:
    notes: list[str] = []
    if info.size == 0:
        raise SourceFileError(path, "the file is empty (not even a header line)", "re-export the extract; an export with no rows still has a header")
    read_path, encoding = path, fmt.encoding
    if encoding == "utf-8" and not info.utf8_valid:
        notes.append("file is not valid UTF-8 as declared; rows with invalid bytes are quarantined "
                     "(if it is a Windows export, set format encoding: cp1252)")
    elif encoding in ("cp1252", "latin-1", "iso-8859-15"):
        if info.utf8_valid and not info.ascii_only:
            notes.append(f"declared {encoding} but the file is UTF-8; read as UTF-8 (fix: set format encoding: utf-8)")
            encoding = "utf-8"
        elif info.ascii_only:
            encoding = "utf-8"
        else:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            read_path = tmp_dir / f"{path.name}.{info.sha256[:12]}.utf8"
            _transcode(path, encoding, read_path)
            encoding = "utf-8"
    if read_path != path:      # transcoded: undefined bytes became U+FFFD
        clean = not info.control_bytes and not (fmt.encoding == "cp1252" and info.cp1252_undefined)
    else:                      # read as is: DuckDB itself rejects invalid UTF-8 rows
        clean = encoding == "utf-8" and not info.control_bytes and not info.replacement_char
    try:
        staged = _read_csv(con, path, read_path, encoding, fmt, expected, notes, info)
        staged.text_clean = clean
        return staged
    finally:
        if read_path != path:
            read_path.unlink(missing_ok=True)


def _read_csv(con, path: Path, read_path: Path, encoding: str, fmt: FileFormat,
              expected: list[str], notes: list[str], info: FileDigest) -> Staged:
    first = _first_line(read_path, "utf-16" if encoding == "utf-16" else "utf-8")
    if first is None or not first.strip():
        raise SourceFileError(path, "the first line is empty; a header line is expected", "re-export the extract with a header line")
    if any(ch in first for ch in "\x00\ufffd") or sum(not ch.isprintable() for ch in first) > 2:
        raise SourceFileError(path, "the header line holds binary data; this is not a CSV text file",
                              "check that the right file was delivered and its encoding is declared")
    if fmt.header:
        header = _parse_header(first, fmt)
        if len(set(header)) != len(header):
            dupes = sorted({h for h in header if header.count(h) > 1})
            raise SourceFileError(path, f"duplicate header columns {dupes}", "rename the columns in the export")
        if len(header) == 1 and len(expected) > 1:
            raise SourceFileError(path, f"the header has one column where {len(expected)} are declared", _delimiter_hint(first, fmt))
    else:
        header = list(expected)
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    options = [
        f"columns = {columns}", f"header = {str(fmt.header).lower()}", "auto_detect = false",
        f"delim = {literal(fmt.delimiter)}", f"quote = {literal(fmt.quote)}",
        f"escape = {literal(fmt.escape or fmt.quote)}", f"encoding = {literal(encoding)}",
        "strict_mode = true", "null_padding = false", "store_rejects = true",
        "rejects_table = '_kontor_rejects'", "rejects_scan = '_kontor_rejects_scan'",
    ]
    con.execute("drop table if exists _kontor_rejects; drop table if exists _kontor_rejects_scan")
    try:
        con.execute(f"create or replace temp table _stage as select * from read_csv({literal(str(read_path))}, {', '.join(options)})")
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        raise SourceFileError(path, f"cannot be parsed as CSV ({message})",
                              "check the declared delimiter, quote and encoding, or remove binary content") from exc
    con.execute("""
        create or replace temp table _rejects as
        select line,
               -- the column of the first bad field, matching the reason below (was min(column_name):
               -- alphabetical, so a row bad in 'name' and 'city' said 'city' with the reason for 'name')
               arg_min(column_name, column_idx) as column_name,
               arg_min(lower(error_type::varchar) || ': ' || error_message, column_idx) as reason,
               any_value(csv_line) as raw_text
        from _kontor_rejects group by line
    """)
    con.execute("drop table if exists _kontor_rejects; drop table if exists _kontor_rejects_scan")
    # DuckDB skips blank lines silently but still counts them in a reject's line number; record
    # them so ingest can shift accepted rows past them too (else _line points at the wrong line).
    blanks = [] if _one_record_per_line(con, info, fmt, encoding) else _blank_lines(read_path, encoding, fmt)
    con.execute("create or replace temp table _blank_lines (line bigint)")
    if blanks:
        insert_rows(con, "_blank_lines", [[n] for n in blanks])
    return Staged(columns=header, types={h: "varchar" for h in header},
                  first_line=2 if fmt.header else 1, has_rejects=True, notes=notes)


def _one_record_per_line(con, info: FileDigest, fmt: FileFormat, encoding: str) -> bool:
    """As many lines as records (header included): no blank line, no field spanning lines."""
    if encoding == "utf-16":
        return False
    records = con.execute("select (select count(*) from _stage) + (select count(*) from _rejects)").fetchone()[0]
    lines = info.newlines + (0 if info.ends_with_newline or info.size == 0 else 1)
    return lines == records + (1 if fmt.header else 0)


def _has_blank_line(path: Path) -> bool:
    """Cheap byte scan: can the file hold a blank line at all? (UTF-16 is not byte-scannable.)"""
    tail = b""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            window = tail + chunk
            if b"\n\n" in window or b"\n\r\n" in window or b"\r\r" in window:
                return True
            tail = chunk[-2:]
    return False


def _blank_lines(path: Path, encoding: str, fmt: FileFormat) -> list[int]:
    """Line numbers, counted as DuckDB counts them (header = 1, a record = 1 line even when a quoted
    field spans several), of the blank lines outside quoted fields."""
    if encoding != "utf-16" and not _has_blank_line(path):
        return []
    escape = fmt.escape if fmt.escape and fmt.escape != fmt.quote else None
    blanks: list[int] = []
    try:
        with open(path, "r", encoding="utf-16" if encoding == "utf-16" else "utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=fmt.delimiter, quotechar=fmt.quote,
                                doublequote=escape is None, escapechar=escape)
            for number, record in enumerate(reader, start=1):
                if not record:
                    blanks.append(number)
    except (csv.Error, TypeError):
        return blanks  # e.g. a field over csv's size limit: keep the blank lines found so far
    return blanks


def _describe(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {name: str(typ).lower() for name, typ, *_ in con.execute("describe _stage").fetchall()}


def stage_query(con: duckdb.DuckDBPyConnection, sql_from: str, path: Path, what: str, fix: str,
                first_line: int) -> Staged:
    try:
        con.execute(f"create or replace temp table _stage as select * from {sql_from}")
    except duckdb.Error as exc:
        raise SourceFileError(path, f"cannot be read as {what} ({str(exc).splitlines()[0]})", fix) from exc
    types = _describe(con)
    return Staged(columns=list(types), types=types, first_line=first_line)


def stage_parquet(con, path: Path) -> Staged:
    return stage_query(con, f"read_parquet({literal(str(path))})", path, "Parquet",
                       "check that the file is a complete Parquet file (not truncated)", first_line=1)


def stage_json(con, path: Path) -> Staged:
    return stage_query(con, f"read_json({literal(str(path))}, format = 'auto')", path, "JSON",
                       "deliver a JSON array of objects or newline-delimited JSON", first_line=1)


def stage_arrow(con: duckdb.DuckDBPyConnection, data: pa.Table, first_line: int) -> Staged:
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
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(data, sink, compression="none", write_statistics=False, store_schema=True)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
