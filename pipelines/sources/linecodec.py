"""Transcoding an extract to UTF-8, line by line where a file mixes encodings.

A file declared cp1252 often holds some UTF-8 lines (a record pasted from a web form, an
interface that appends in UTF-8). Each line is decoded with the encoding valid for it: a line
that is valid UTF-8 and holds a multi-byte sequence is UTF-8, any other line the declared
single-byte encoding. A line holding a UTF-8 sequence that is nevertheless not valid UTF-8 (two
encodings in one line) is valid in neither: its UTF-8 sequences become U+FFFD so the record is
quarantined, never loaded as ``MÃ¼ller``. So are the bytes the declared encoding leaves undefined.

Fast path: a chunk without any UTF-8 multi-byte sequence is decoded whole, at C speed; only
the lines around such a sequence are looked at one by one. A plain cp1252 file costs one extra
lenient UTF-8 decode per chunk (~15 % of the transcoding, a few % of the load). In a chunk that
has such lines, the pairs and line ends are found with ``bytes.find`` on a copy of the chunk
translated to byte classes (memchr speed); a regex scanning for them took twice as long as
decoding the chunk.

This module imports nothing from Kontor: the helper process that transcodes the second half of
a large file loads it by path (``readers._HALF_WORKER``).

>>> out = io.BytesIO()
>>> transcode_range(io.BytesIO("Müller;1\\n".encode() + "Köln;2\\n".encode("cp1252")), out, "cp1252", 0, 17)
(1, 0, 0)
>>> out.getvalue().decode()
'Müller;1\\nKöln;2\\n'
"""
from __future__ import annotations

import codecs
import io
import re

CHUNK = 1 << 20
# A well-formed UTF-8 multi-byte sequence. In cp1252 text these byte pairs spell things like
# 'Ã¼' or 'Ã©': mojibake, not German.
_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# Every such sequence starts with a pair: a lead byte C2-F4, a continuation byte 80-BF. A chunk
# translated with _CLASSES has b"LC" exactly where such a pair is and b"N" at every CR or LF;
# bytes.find locates both at memchr speed (a regex scanning for the pair took twice as long as
# decoding the chunk).
_CLASSES = bytes(ord("L") if 0xC2 <= b <= 0xF4 else ord("C") if 0x80 <= b <= 0xBF
                 else ord("N") if b in (0x0A, 0x0D) else ord(".") for b in range(256))


def _mark(err: UnicodeDecodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; mark them so the row is quarantined, never guessed.
    return "\ufffd", err.end


codecs.register_error("kontor-mark", _mark)


def _line_bounds(classes: bytes, pos: int) -> tuple[int, int]:
    """The line holding byte ``pos``: from after the previous CR/LF to after the next (or the end)."""
    start = classes.rfind(b"N", 0, pos) + 1
    end = classes.find(b"N", pos)
    return start, end + 1 if end >= 0 else len(classes)


def transcode_chunk(chunk: bytes, encoding: str, expect_utf8: bool = False) -> tuple[bytes, int, int]:
    """``chunk`` (whole lines) to UTF-8: (bytes, lines read as UTF-8, lines valid in neither).

    ``expect_utf8`` (the chunk before held UTF-8 lines) skips the fast path's test, which such a
    chunk would most likely fail: the result is the same either way."""
    # Fast path: decoding as UTF-8 while dropping invalid bytes leaves pure ASCII exactly when the
    # chunk holds no UTF-8 multi-byte sequence (1-2 ms per MiB of cp1252 text; str.isascii is
    # O(1)). In a chunk with UTF-8 lines it fails after costing twice the byte-class translate
    # below (every cp1252 umlaut is an error to drop), 20 % of the chunk's transcoding.
    if not expect_utf8 and chunk.decode("utf-8", "ignore").isascii():
        return chunk.decode(encoding, "kontor-mark").encode("utf-8"), 0, 0
    classes = chunk.translate(_CLASSES)
    parts: list[bytes] = []
    utf8_lines = mixed_lines = 0
    done = 0
    match = classes.find(b"LC")             # where _UTF8_PAIR matches first
    while match >= 0:
        start, stop = _line_bounds(classes, match)
        if start > done:
            parts.append(chunk[done:start].decode(encoding, "kontor-mark").encode("utf-8"))
        line = chunk[start:stop]
        try:
            line.decode("utf-8")
            parts.append(line)
            utf8_lines += 1
        except UnicodeDecodeError:
            if _UTF8_SEQ.search(line) is None:      # a cp1252 line whose bytes merely look like a pair
                parts.append(line.decode(encoding, "kontor-mark").encode("utf-8"))
                done = stop
                match = classes.find(b"LC", stop)
                continue
            mixed_lines += 1
            pieces, last = [], 0
            for seq in _UTF8_SEQ.finditer(line):
                pieces.append(line[last:seq.start()].decode(encoding, "kontor-mark"))
                pieces.append("\ufffd")
                last = seq.end()
            pieces.append(line[last:].decode(encoding, "kontor-mark"))
            parts.append("".join(pieces).encode("utf-8"))
        done = stop
        match = classes.find(b"LC", stop)
    if done < len(chunk):
        parts.append(chunk[done:].decode(encoding, "kontor-mark").encode("utf-8"))
    if expect_utf8 and mixed_lines and not utf8_lines and chunk.decode("utf-8", "ignore").isascii():
        # what the fast path would have answered: no well-formed UTF-8 sequence in the chunk, so
        # its lookalikes (a surrogate, an overlong form) are single-byte text, not a mixed line
        return chunk.decode(encoding, "kontor-mark").encode("utf-8"), 0, 0
    return b"".join(parts), utf8_lines, mixed_lines


def _line_aligned_chunks(src, start: int, stop: int):
    """Chunks of ``src`` between ``start`` and ``stop``, each ending at a line end (or ``stop``)."""
    src.seek(start)
    pos, carry = start, b""
    while pos < stop:
        data = src.read(min(CHUNK, stop - pos))
        if not data:
            break
        pos += len(data)
        data = carry + data
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1 if pos < stop else len(data)
        if cut == 0:            # one line longer than a chunk: keep reading
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut]
    if carry:
        yield carry


_REPLACEMENT = "\ufffd".encode()


def transcode_range(src, dst, encoding: str, start: int, stop: int) -> tuple[int, int, int]:
    """Transcode bytes ``start``..``stop`` of ``src`` into ``dst``; (UTF-8 lines, mixed lines,
    chunks with UTF-8 lines whose text holds a U+FFFD). A single-byte line never decodes to U+FFFD
    except from a byte its encoding leaves undefined (cp1252's five, which the digest reports), so
    with no mixed line the last count tells whether a UTF-8 line of the file holds one: the
    search costs a few hundred microseconds per such chunk, not another pass over the file."""
    utf8_lines = mixed_lines = replaced = 0
    expect_utf8 = False
    for chunk in _line_aligned_chunks(src, start, stop):
        out, u, m = transcode_chunk(chunk, encoding, expect_utf8)
        expect_utf8 = bool(u or m)
        dst.write(out)
        utf8_lines += u
        mixed_lines += m
        if u and _REPLACEMENT in out:
            replaced += 1
    return utf8_lines, mixed_lines, replaced


def transcode_utf16(src, dst, codec: str, skip_bytes: int) -> None:
    """UTF-16 (``utf-16-le`` / ``utf-16-be``, after a BOM of ``skip_bytes``) to UTF-8."""
    decoder = codecs.getincrementaldecoder(codec)("replace")
    src.seek(skip_bytes)
    for data in iter(lambda: src.read(CHUNK), b""):
        dst.write(decoder.decode(data).encode("utf-8"))
    dst.write(decoder.decode(b"", final=True).encode("utf-8"))


if __name__ == "__main__":   # pragma: no cover
    import doctest

    doctest.testmod(extraglobs={"io": io})
