"""What comes before the column header: byte order marks, Excel's ``sep=`` line, DATEV's EXTF line.

Real exports put one line of their own above the header: Excel writes ``sep=;`` so it opens the
file with the right delimiter, DATEV writes its metadata line (``"EXTF";700;21;"Buchungsstapel";
...``). Both are read here from the first bytes of the file; the CSV reader then skips them.

>>> p = sniff(b'"EXTF";700;21;"Buchungsstapel";13;20260102;;"RE";"";"";29098;55003;20260101;4;20260101;20260131;"";"";1;0;0;"EUR"\\r\\nUmsatz;Konto\\r\\n', "cp1252")
>>> p.skip, p.delimiter, p.datev["data_category_name"], p.datev["date_from"], p.datev["client_number"]
(1, ';', 'Buchungsstapel', '2026-01-01', '55003')
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

# (BOM bytes, Python codec, name in the ledger). UTF-32 would start with FF FE 00 00: not an export
# format anyone here writes, so FF FE means UTF-16 LE.
BOMS = [
    (codecs.BOM_UTF8, "utf-8", "utf-8 (BOM)"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le (BOM)"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be (BOM)"),
]
_SEP_LINE = re.compile(r'^"?sep=(.)"?[;,\t|]*$', re.IGNORECASE)
_DATEV_FIRST = re.compile(r'^"?(EXTF|DTVF)"?;')

# DATEV data categories (field 3 of the EXTF line), as DATEV's format description numbers them.
DATEV_CATEGORIES = {
    16: "Debitoren/Kreditoren", 20: "Kontenbeschriftungen", 21: "Buchungsstapel",
    46: "Zahlungsbedingungen", 48: "Diverse Adressen", 65: "Wiederkehrende Buchungen",
}
# Field positions (1-based) of the EXTF metadata line that the ledger keeps.
_DATEV_FIELDS = {
    1: "marker", 2: "version", 3: "data_category", 4: "format_name", 5: "format_version",
    6: "created_at", 8: "origin", 9: "exported_by", 11: "consultant_number", 12: "client_number",
    13: "fiscal_year_start", 14: "account_length", 15: "date_from", 16: "date_to",
    17: "description", 18: "dictation_code", 19: "booking_type", 22: "currency", 27: "chart_of_accounts",
}


@dataclass
class Preamble:
    bom: bytes = b""
    bom_encoding: str | None = None       # codec the BOM names, or None
    bom_name: str | None = None
    skip: int = 0                          # lines above the column header
    delimiter: str | None = None           # from a sep= line or a DATEV file
    datev: dict | None = None              # the parsed EXTF metadata line
    notes: list[str] = field(default_factory=list)
    problem: str | None = None             # a DATEV line that cannot be used: why

    @property
    def period(self) -> tuple[date, date] | None:
        """The date range a DATEV ``Belegdatum`` (day and month only) belongs to."""
        if not self.datev:
            return None
        start, stop = _iso(self.datev.get("date_from")), _iso(self.datev.get("date_to"))
        if start and stop and start <= stop:
            return start, stop
        fy = _iso(self.datev.get("fiscal_year_start"))
        if fy:   # no range given (master data exports): the fiscal year
            try:
                return fy, fy.replace(year=fy.year + 1) - timedelta(days=1)
            except ValueError:
                return None
        return None


def detect_bom(head: bytes) -> tuple[bytes, str | None, str | None]:
    for bom, codec, name in BOMS:
        if head.startswith(bom):
            return bom, codec, name
    return b"", None, None


def _ymd(text: str | None) -> date | None:
    if not text or not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _iso(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _first_line(head: bytes, codec: str | None, fallback: str) -> str:
    """The first line of the file as text: the BOM's codec, else UTF-8 if valid, else ``fallback``."""
    if codec and codec.startswith("utf-16"):
        text = head.decode(codec, errors="replace")
    else:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # a cut multi-byte sequence at the end of the sample is still UTF-8
            text = head[:exc.start].decode("utf-8") if exc.start > len(head) - 4 else \
                head.decode(fallback if fallback in ("cp1252", "latin-1", "iso-8859-15") else "cp1252", errors="replace")
    text = text.lstrip("\ufeff")
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]


def parse_datev_line(line: str) -> dict:
    """The EXTF/DTVF metadata line as a dict of the fields the ledger keeps (ISO dates)."""
    fields = next(csv.reader(io.StringIO(line), delimiter=";", quotechar='"'), [])
    meta: dict = {}
    for pos, name in _DATEV_FIELDS.items():
        if pos <= len(fields) and fields[pos - 1].strip() != "":
            meta[name] = fields[pos - 1].strip()
    category = meta.get("data_category", "")
    meta["data_category_name"] = DATEV_CATEGORIES.get(int(category), meta.get("format_name", "")) \
        if category.isdigit() else meta.get("format_name", "")
    for key in ("fiscal_year_start", "date_from", "date_to"):
        parsed = _ymd(meta.get(key))
        if parsed:
            meta[key] = parsed.isoformat()
    return meta


def sniff(head: bytes, declared_encoding: str, datev_declared: bool = False) -> Preamble:
    """Read the preamble out of the first bytes of a file (64 KiB are plenty)."""
    bom, codec, name = detect_bom(head)
    pre = Preamble(bom=bom, bom_encoding=codec, bom_name=name)
    line = _first_line(head, codec, declared_encoding)
    sep = _SEP_LINE.match(line.strip())
    if sep:
        pre.skip, pre.delimiter = 1, sep.group(1)
        pre.notes.append(f"first line {line.strip()!r} (Excel's delimiter hint) skipped; delimiter {sep.group(1)!r} taken from it")
        return pre
    if _DATEV_FIRST.match(line):
        pre.skip, pre.delimiter = 1, ";"
        pre.datev = parse_datev_line(line)
        meta = pre.datev
        pre.notes.append(
            f"DATEV {meta.get('marker')} {meta.get('version', '?')}, {meta.get('data_category_name') or 'unknown category'}"
            f" (category {meta.get('data_category', '?')}, format version {meta.get('format_version', '?')})"
            + (f", {meta['date_from']} to {meta['date_to']}" if meta.get("date_from") and meta.get("date_to") else ""))
        if not meta.get("version", "").isdigit():
            pre.problem = f"the DATEV line's version field is {meta.get('version')!r}, not a number"
    elif datev_declared:
        pre.problem = "declared as DATEV but the first line is not a DATEV header (it should start with \"EXTF\"; or \"DTVF\";)"
    return pre
