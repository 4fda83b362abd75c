"""The byte-level helpers of the CSV reader against plain reference implementations.

``linecodec.transcode_chunk`` finds UTF-8 lines with ``bytes.find`` on byte classes and
``readers.digest`` hashes in a thread; both must give exactly what the obvious slow code gives.
"""
from __future__ import annotations

import hashlib
import random
import re

import pytest

from pipelines.sources import linecodec, readers

_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_PAIR = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
# Pieces real exports are made of, and bytes that sit on the edges of the rules.
_PIECES = [b"a", b"Konto;", b";", b"\r", b"\n", b"\r\n", "Müller".encode(), "Müller".encode("cp1252"),
           "€".encode(), "€".encode("cp1252"), "–".encode("cp1252"), b"\xc3", b"\xe2\x82", b"\x81", b"\x9d",
           b"\xbf", b"\xf4\x8f\xbf\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xc2\xa0", b"\xf5\x80", b"\xc0\xaf"]


def _reference(chunk: bytes, encoding: str) -> tuple[bytes, int, int]:
    """Line by line, each line ending after its CR or LF: UTF-8 where the line is UTF-8 with a
    multi-byte sequence, U+FFFD for the sequences of a line mixing both, else ``encoding``."""
    if chunk.decode("utf-8", "ignore").isascii():
        return chunk.decode(encoding, "kontor-mark").encode(), 0, 0
    out, utf8_lines, mixed = [], 0, 0
    for line in re.findall(rb"[^\r\n]*(?:[\r\n]|$)", chunk):
        if not _PAIR.search(line):
            out.append(line.decode(encoding, "kontor-mark").encode())
            continue
        try:
            line.decode("utf-8")
            out.append(line)
            utf8_lines += 1
        except UnicodeDecodeError:
            if not _SEQ.search(line):
                out.append(line.decode(encoding, "kontor-mark").encode())
            else:
                mixed += 1
                out.append("\ufffd".join(part.decode(encoding, "kontor-mark") for part in _SEQ.split(line)).encode())
    return b"".join(out), utf8_lines, mixed


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "iso-8859-15"])
def test_transcode_chunk_matches_the_line_by_line_reference(encoding):
    rng = random.Random(20260105)
    chunks = [b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60))) for _ in range(4000)]
    chunks += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))) for _ in range(1000)]
    for chunk in chunks:
        assert linecodec.transcode_chunk(chunk, encoding) == _reference(chunk, encoding), chunk


def test_transcode_chunk_expecting_utf8_lines_gives_the_same_result():
    # the hint only skips the fast path's test; chunks with and without UTF-8 lines alike
    rng = random.Random(20261204)
    chunks = [b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    chunks += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))) for _ in range(500)]
    # a surrogate's bytes and no well-formed sequence: single-byte text, as the fast path has it
    chunks += [b"\x81\xed\xa0\x80\r\x96\x9d\xf5\x80", b"1;\xe0\x80\x80\r\n",
               b"Konto;Name\r\n1;" + "Müller €".encode("cp1252") + b"\r\n", b"", b"ascii only\n"]
    for encoding in ("cp1252", "latin-1"):
        for chunk in chunks:
            assert linecodec.transcode_chunk(chunk, encoding, expect_utf8=True) == _reference(chunk, encoding), chunk


def test_transcode_chunk_finds_utf8_lines_and_counts_them():
    chunk = ("Kundennr;Name\r\n1;Müller\r\n".encode("cp1252") + "2;Müller\r\n".encode() + "3;Köln €\r\n".encode("cp1252")
             + "4;Ä".encode() + "ö\r\n".encode("cp1252"))
    out, utf8_lines, mixed = linecodec.transcode_chunk(chunk, "cp1252")
    assert out.decode() == "Kundennr;Name\r\n1;Müller\r\n2;Müller\r\n3;Köln €\r\n4;\ufffdö\r\n"
    assert (utf8_lines, mixed) == (1, 1)


def test_digest_matches_the_facts_of_the_bytes(tmp_path):
    rng = random.Random(7)
    size = 3 * readers.CHUNK + 12345          # several chunks, so hashing runs ahead in its thread
    line = "1;Müller GmbH;12.345,67;€\r\n".encode("cp1252")
    text = line * (size // len(line) + 1)
    data = text[:1000] + b"\x01" + text[1001:2 * readers.CHUNK] + b"\x9d" + text[2 * readers.CHUNK + 1:size]
    cases = {"cp1252.csv": data, "utf8.csv": text.decode("cp1252").encode(), "empty.csv": b"",
             "ascii.csv": b"a;b\n1;2", "random.bin": bytes(rng.randrange(256) for _ in range(70000))}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        info = readers.digest(path)
        try:
            content.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        assert info.sha256 == hashlib.sha256(content).hexdigest(), name
        assert info.size == len(content)
        assert info.newlines == content.count(b"\n")
        assert info.ends_with_newline == content.endswith(b"\n")
        assert info.ascii_only == content.isascii()
        assert info.utf8_valid == utf8
        assert info.control_bytes == any(b in readers._CONTROL_BYTES for b in content)
        assert info.cp1252_undefined == any(b in readers._CP1252_UNDEFINED for b in content)
    assert readers.digest(tmp_path / "cp1252.csv").control_bytes
    assert readers.digest(tmp_path / "cp1252.csv").cp1252_undefined


def test_transcode_range_counts_chunks_whose_utf8_lines_hold_a_replacement_character():
    """The third count replaces a second pass over the file (``U+FFFD`` in a UTF-8 line makes the
    file unclean): it must be positive exactly when a UTF-8 line holds one."""
    import io

    cp = "1;Köln €\r\n".encode("cp1252")
    for lines, want in [([cp, "2;Müller\r\n".encode()], 0),
                        ([cp, "2;M\ufffdller\r\n".encode()], 1),
                        ([cp, "2;Müller\r\n".encode(), b"3;\xef\xbf\xbd\r\n"], 1),
                        ([cp * 50], 0)]:
        data = b"".join(lines)
        out = io.BytesIO()
        counts = linecodec.transcode_range(io.BytesIO(data), out, "cp1252", 0, len(data))
        assert counts[2] == want, lines
        assert (counts[2] > 0) == any("\ufffd".encode() in line and _SEQ.search(line) for line in lines
                                      if _is_utf8(line))


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@pytest.mark.parametrize("split", [False, True])
def test_a_utf8_line_holding_a_replacement_character_is_quarantined(tmp_path, monkeypatch, split):
    """A cp1252 file with UTF-8 lines, one of which holds U+FFFD: that row is quarantined with
    the encoding reason, the others load. ``split``: the file is transcoded in two halves, the
    line with U+FFFD in the helper process's half."""
    from pipelines.core import yamlfile
    from pipelines.core.warehouse import connect
    from pipelines.sources.ingest import ingest_table
    from pipelines.sources.spec import parse_sources

    table = parse_sources(yamlfile.loads("""
sources:
  - name: s
    format: {type: csv, delimiter: ";", encoding: cp1252}
    tables:
      - name: t
        location: t.csv
        columns:
          - {name: id, data_type: integer, required: true}
          - {name: name, data_type: varchar}
""", "sources.yml"), "sources.yml").tables[0]
    body = [f"{i};Köln €\r\n".encode("cp1252") if i % 7 else f"{i};Müller\r\n".encode() for i in range(1, 2001)]
    body[1500] = "1501;M\ufffdller\r\n".encode()
    data = tmp_path / "data"
    data.mkdir()
    (data / "t.csv").write_bytes(b"id;name\r\n" + b"".join(body))
    if split:
        monkeypatch.setattr(readers, "_SPLIT_MIN_BYTES", 1)
    con = connect(tmp_path / "w.duckdb")
    try:
        [f] = ingest_table(con, table, data, tmp_path / "tmp").files
        assert (f.status, f.rows_loaded, f.rows_quarantined) == ("loaded", 1999, 1), f.message
        [(line, column, reason)] = con.execute("select line, column_name, reason from kontor.quarantine").fetchall()
        assert (line, column) == (1502, "name") and "control characters or bytes invalid" in reason
        assert con.execute("select name from raw.s__t where id = 7").fetchone() == ("Müller",)
    finally:
        con.close()
