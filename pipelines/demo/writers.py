"""Chunked, deterministic file writers (CSV and Parquet) and German number/date formatting."""

from __future__ import annotations

import csv
import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import refdata as R

# ------------------------------------------------------------------ formatting


def de_amount(cents: int) -> str:
    """1234550 -> '12.345,50' (thousands dot, decimal comma, 2 decimals)."""
    neg = cents < 0
    c = -cents if neg else cents
    s = f"{c // 100:,}".replace(",", ".") + f",{c % 100:02d}"
    return "-" + s if neg else s


_DE_SEPARATORS = str.maketrans(",.", ".,")


def de_amounts(cents: np.ndarray) -> list[str]:
    """``de_amount`` of each value, in one format call per value: the nearest double to a whole
    number of cents / 100 is far closer to it than to any other two-decimal number, so '.2f'
    gives back exactly the cents (checked to 2**53 / 100)."""
    values = cents.tolist()
    if values and max(abs(min(values)), abs(max(values))) >= 2**53 // 100:
        return [de_amount(c) for c in values]
    return [f"{c / 100:,.2f}".translate(_DE_SEPARATORS) for c in values]


# date strings for day offsets relative to PERIOD_START (covers due dates beyond the period)
_DAY_LO = -400
_DAY_HI = R.N_DAYS + 400
_DE_DATES = np.array(
    [(R.PERIOD_START + dt.timedelta(days=d)).strftime("%d.%m.%Y") for d in range(_DAY_LO, _DAY_HI)], dtype=object
)


def de_dates(days: np.ndarray) -> list[str]:
    return _DE_DATES[np.asarray(days) - _DAY_LO].tolist()


@lru_cache(maxsize=None)
def de_date(d: dt.date) -> str:
    return d.strftime("%d.%m.%Y")


# ------------------------------------------------------------------ arrow helpers


def decimal_array(cents: np.ndarray, precision: int, scale: int = 2) -> pa.Array:
    """Exact decimal128 array from integer unscaled values (e.g. cents for scale 2)."""
    v = np.ascontiguousarray(cents, dtype=np.int64)
    buf = np.empty((len(v), 2), dtype="<i8")
    buf[:, 0] = v
    buf[:, 1] = v >> 63
    return pa.Array.from_buffers(pa.decimal128(precision, scale), len(v), [None, pa.py_buffer(buf.tobytes())])


def date_array(days: np.ndarray) -> pa.Array:
    """date32 from day offsets relative to PERIOD_START."""
    base = (R.PERIOD_START - dt.date(1970, 1, 1)).days
    return pa.array(np.asarray(days, dtype=np.int32) + np.int32(base), pa.int32()).cast(pa.date32())


def ts_array(days: np.ndarray, seconds: np.ndarray) -> pa.Array:
    """timestamp[us] from day offsets relative to PERIOD_START plus seconds of day."""
    base = (R.PERIOD_START - dt.date(1970, 1, 1)).days
    us = (np.asarray(days, dtype=np.int64) + base) * 86_400_000_000 + np.asarray(seconds, dtype=np.int64) * 1_000_000
    return pa.array(us, pa.int64()).cast(pa.timestamp("us"))


# ------------------------------------------------------------------ writers


class CsvOut:
    def __init__(self, path: Path, header: Sequence[str], encoding: str, delimiter: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fh = open(path, "w", encoding=encoding, errors="strict", newline="")
        self.w = csv.writer(self.fh, delimiter=delimiter, quotechar='"', quoting=csv.QUOTE_MINIMAL,
                            lineterminator="\n")
        self.w.writerow(header)
        self.rows = 0

    def write(self, rows: Iterable[Sequence]) -> None:
        rows = list(rows)
        self.w.writerows(rows)
        self.rows += len(rows)

    def close(self) -> None:
        self.fh.close()


# DATEV's Buchungsstapel (EXTF 700, data category 21, format version 13): the first columns of its
# column header, exactly as DATEV writes them (the full header has over 100; an export may stop
# after the last column it fills).
DATEV_BUCHUNGSSTAPEL_HEADER = (
    "Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
    "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum", "Belegfeld 1",
    "Belegfeld 2", "Skonto", "Buchungstext",
)


def datev_amount(cents: int) -> str:
    """1234550 -> '12345,50': DATEV's amount field, decimal comma, no thousands separator, no sign."""
    return f"{abs(cents) // 100},{abs(cents) % 100:02d}"


def datev_text(value: str) -> str:
    """A DATEV text field: always in double quotes, a quote inside doubled."""
    return '"' + value.replace('"', '""') + '"'


class DatevBuchungsstapelOut:
    """Bookings as DATEV Rechnungswesen exports them: one EXTF Buchungsstapel per fiscal year
    (``{stem}_{year}.csv``), cp1252, ``;``, CRLF, the EXTF metadata line above the column header.
    A DATEV batch never spans fiscal years, and its Belegdatum (day and month only, ``DDMM``)
    takes its year from the batch's date range in that line; so rows are routed by their date.

    ``fiscal_years``: (first day, last day) of each file's date range, in order."""

    def __init__(self, out_dir: Path, stem: str, fiscal_years: Sequence[tuple[dt.date, dt.date]],
                 account_length: int, description: str, consultant: int, client: int, created: dt.datetime) -> None:
        self.years = list(fiscal_years)
        self.rels = [f"{stem}_{start.year}.csv" for start, _ in self.years]
        self.rows = [0] * len(self.years)
        self.fhs = []
        for rel, (start, stop) in zip(self.rels, self.years):
            path = out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "w", encoding="cp1252", errors="strict", newline="")
            fields = ['"EXTF"', "700", "21", '"Buchungsstapel"', "13", created.strftime("%Y%m%d%H%M%S") + "000", "",
                      '"RE"', '""', '""', str(consultant), str(client), start.replace(month=1, day=1).strftime("%Y%m%d"),
                      str(account_length), start.strftime("%Y%m%d"), stop.strftime("%Y%m%d"), datev_text(description),
                      '""', "1", "0", "0", '"EUR"', "", '""', "", "", '"03"', "", "", '""', '""']
            fh.write(";".join(fields) + "\r\n" + ";".join(DATEV_BUCHUNGSSTAPEL_HEADER) + "\r\n")
            self.fhs.append(fh)
        # the day offset (relative to PERIOD_START) where each file's range begins
        self._bounds = np.array([(start - R.PERIOD_START).days for start, _ in self.years[1:]], dtype=np.int64)

    def write(self, days: np.ndarray, cents: np.ndarray, haben: bool, konto: np.ndarray, gegenkonto: int,
              belegfeld1: np.ndarray, belegfeld2: np.ndarray, text: str) -> None:
        """One booking per element; ``haben`` for all: the amount is credited (H) to ``konto``."""
        which = np.searchsorted(self._bounds, np.asarray(days), side="right")
        ddmm = [(R.PERIOD_START + dt.timedelta(days=d)).strftime("%d%m") for d in np.asarray(days).tolist()]
        sign, fixed = '"H"' if haben else '"S"', datev_text(text)
        for w, d, c, k, b1, b2 in zip(which.tolist(), ddmm, np.asarray(cents).tolist(), np.asarray(konto).tolist(),
                                      np.asarray(belegfeld1).tolist(), np.asarray(belegfeld2).tolist()):
            self.fhs[w].write(f'{datev_amount(c)};{sign};"EUR";;;;{k};{gegenkonto};"";{d};"{b1}";"{b2}";;{fixed}\r\n')
            self.rows[w] += 1

    def close(self) -> dict[str, int]:
        for fh in self.fhs:
            fh.close()
        return dict(zip(self.rels, self.rows))


class ParquetOut:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self.w = pq.ParquetWriter(
            path, schema, compression="zstd", compression_level=3, use_dictionary=True,
            write_statistics=True, version="2.6", data_page_version="1.0",
        )
        self.rows = 0

    def write(self, columns: dict) -> None:
        arrays = []
        for f in self.schema:
            col = columns[f.name]
            arrays.append(col if isinstance(col, pa.Array) else pa.array(col, f.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        if table.num_rows == 0:
            return
        self.w.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self.rows == 0:  # keep the file valid with its schema even when empty
            self.w.write_table(self.schema.empty_table())
        self.w.close()


# ------------------------------------------------------------------ schemas (CONTRACT.md)


def _f(name: str, typ: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


S = pa.string()
DEC12 = pa.decimal128(12, 2)
DEC14 = pa.decimal128(14, 2)
TS = pa.timestamp("us")

SCHEMAS: dict[str, pa.Schema] = {
    "erp/customers.parquet": pa.schema([
        _f("customer_no", pa.int64()), _f("name1", S), _f("name2", S, True), _f("street", S), _f("house_no", S),
        _f("zip", S), _f("city", S), _f("country_code", S), _f("vat_id", S, True), _f("iban", S, True),
        _f("bic", S, True), _f("payment_terms_days", pa.int32()), _f("credit_limit", DEC12), _f("region", S),
        _f("blocked", pa.bool_()), _f("created_at", pa.date32()), _f("updated_at", TS), _f("register_no", S, True),
    ]),
    "erp/suppliers.parquet": pa.schema([
        _f("supplier_no", pa.int64()), _f("name1", S), _f("name2", S, True), _f("street", S), _f("house_no", S),
        _f("zip", S), _f("city", S), _f("country_code", S), _f("vat_id", S, True), _f("iban", S, True),
        _f("bic", S, True), _f("payment_terms_days", pa.int32()), _f("email", S, True), _f("updated_at", TS),
        _f("register_no", S, True),
    ]),
    "erp/items.parquet": pa.schema([
        _f("item_no", S), _f("description", S), _f("product_group", S), _f("product_group_name", S),
        _f("unit", S), _f("list_price", DEC12), _f("standard_cost", DEC12), _f("supplier_no", pa.int64()),
    ]),
    "erp/orders.parquet": pa.schema([
        _f("order_no", pa.int64()), _f("customer_no", pa.int64()), _f("order_date", pa.date32()), _f("region", S),
        _f("status", S), _f("currency", S), _f("updated_at", TS),
    ]),
    "erp/order_lines.parquet": pa.schema([
        _f("order_no", pa.int64()), _f("line_no", pa.int32()), _f("item_no", S), _f("quantity", DEC12),
        _f("unit_price", DEC12), _f("discount_pct", pa.decimal128(5, 2)), _f("net_amount", DEC14),
    ]),
    "erp/purchase_orders.parquet": pa.schema([
        _f("po_no", pa.int64()), _f("supplier_no", pa.int64()), _f("order_date", pa.date32()), _f("item_no", S),
        _f("quantity", DEC12), _f("net_amount", DEC14),
    ]),
}

CSV_HEADERS: dict[str, tuple[str, ...]] = {
    "crm/accounts.csv": ("account_id", "account_name", "street", "postal_code", "city", "country", "vat_id",
                         "email", "phone", "industry", "account_type", "created_at", "modified_at"),
    "crm/contacts.csv": ("contact_id", "account_id", "salutation", "first_name", "last_name", "email", "phone",
                         "position", "modified_at"),
    "accounting/debitoren.csv": ("Konto", "Name", "Strasse", "PLZ", "Ort", "Land", "UStIdNr", "IBAN", "BIC",
                                 "EMail", "Telefon", "Zahlungsziel", "Kreditlimit", "GeaendertAm"),
    "accounting/kreditoren.csv": ("Konto", "Name", "Strasse", "PLZ", "Ort", "Land", "UStIdNr", "IBAN", "BIC",
                                  "EMail", "Telefon", "Zahlungsziel", "Kreditlimit", "GeaendertAm"),
    "accounting/rechnungen.csv": ("Belegnr", "Belegdatum", "Konto", "Faellig", "Netto", "Steuer", "Brutto",
                                  "Waehrung", "Auftragsnr"),
    "accounting/offene_posten.csv": ("Belegnr", "Konto", "Belegdatum", "Faellig", "Offen", "Stichtag"),
    "ground_truth/entities.csv": ("entity_type", "true_id", "system", "source_table", "source_id"),
    "ground_truth/golden.csv": ("entity_type", "true_id", "name", "legal_form", "street", "house_number",
                                "postcode", "city", "country", "vat_id", "iban", "email", "phone"),
    "ground_truth/hard_negatives.csv": ("entity_type", "true_id_a", "true_id_b"),
}


def csv_format(rel: str) -> tuple[str, str]:
    """(encoding, delimiter) for a CSV file of the contract."""
    if rel.startswith("accounting/"):
        return "cp1252", ";"
    return "utf-8", ","


class OutputSet:
    """All output files of one generation run, opened up front and closed at the end."""

    def __init__(self, out_dir: Path, account_length: int = 4) -> None:
        self.out_dir = out_dir
        # payments come from DATEV as Buchungsstapel, one per fiscal year (calendar year here)
        years = range(R.PERIOD_START.year, R.PERIOD_END.year + 1)
        self.payments = DatevBuchungsstapelOut(
            out_dir, "accounting/EXTF_Buchungsstapel_Zahlungen",
            [(max(R.PERIOD_START, dt.date(y, 1, 1)), min(R.PERIOD_END, dt.date(y, 12, 31))) for y in years],
            account_length=account_length, description="Zahlungseingänge", consultant=29098, client=10001,
            created=dt.datetime.combine(R.PERIOD_END + dt.timedelta(days=1), dt.time(6, 30)))
        self.csv: dict[str, CsvOut] = {}
        self.pq: dict[str, ParquetOut] = {}
        for rel, header in CSV_HEADERS.items():
            enc, delim = csv_format(rel)
            self.csv[rel] = CsvOut(out_dir / rel, header, enc, delim)
        for rel, schema in SCHEMAS.items():
            self.pq[rel] = ParquetOut(out_dir / rel, schema)

    def close(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rel, w in self.csv.items():
            w.close()
            counts[rel] = w.rows
        for rel, w in self.pq.items():
            w.close()
            counts[rel] = w.rows
        counts.update(self.payments.close())
        return dict(sorted(counts.items()))
