"""Benchmark: Kontor's ingest of a DATEV-style accounting CSV against a bare DuckDB read_csv.

Run:  .venv/bin/python benchmarks/ingest_datev.py [--input plain|extf|mixed] [--rows 1000000] [--repeats 5]
                                                  [--workdir DIR] [--profile]

Inputs: ``plain`` the invoice export below; ``extf`` a DATEV EXTF 700 Buchungsstapel (metadata
line, S/H sign, Belegdatum as DDMM); ``mixed`` the plain file with 1 % of its lines in UTF-8
(decoded line by line).

Prints one JSON object on stdout (progress goes to stderr). Each measurement runs in a fresh
subprocess with a fresh DuckDB file, Kontor and the baselines taking turns, so the peak RSS is that
one measurement's and machine noise is spread over both. The generated file (cp1252, ``;``,
German numbers and dates, umlauts and cp1252-only characters, ~0.1 % bad rows) is written once
per row count and seed under the work directory (default: a directory under /tmp) and reused.

With ``--profile`` (or automatically when a target is missed) one more Kontor run is made with
every phase timed: the real code path (``pipelines.sources.stage.load``), with ``readers.digest`` and
``readers._transcode`` wrapped and every SQL statement timed through a connection proxy.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATOR_VERSION = 3
SEED = 20240531
BAD_FRACTION = 0.001
TARGETS = {"rows_per_s": 500_000, "peak_rss_mb": 2048, "ratio_to_baseline": 1.2}

SOURCES_YAML = """
version: 2
sources:
  - name: accounting
    description: Benchmark copy of the DATEV-style invoice export.
    format:
      type: csv
      delimiter: ";"
      encoding: cp1252
      decimal_separator: ","
      thousands_separator: "."
      date_format: "%d.%m.%Y"
    tables:
      - name: rechnungen
        location: accounting/rechnungen*.csv
        primary_key: Belegnr
        columns:
          - {name: Belegnr, data_type: varchar}
          - {name: Belegdatum, data_type: date, required: true}
          - {name: Konto, data_type: integer, required: true}
          - {name: Faellig, data_type: date}
          - {name: Netto, data_type: "decimal(14,2)", required: true}
          - {name: Steuer, data_type: "decimal(14,2)"}
          - {name: Brutto, data_type: "decimal(14,2)", required: true}
          - {name: Waehrung, data_type: varchar}
          - {name: Auftragsnr, data_type: bigint}
          - {name: Buchungstext, data_type: varchar}
"""

HEADER = "Belegnr;Belegdatum;Konto;Faellig;Netto;Steuer;Brutto;Waehrung;Auftragsnr;Buchungstext"

# Umlauts and ß (same byte in cp1252 and latin-1) and cp1252-only characters (€ – „ “ …),
# which DuckDB's latin-1 reader would turn into C1 control characters.
TEXTS = [
    "Rechnung Müller & Söhne GmbH",
    "Lieferung Öl- und Gasgeräte – Größe XL",
    "Wartung Kühlaggregat; Anfahrt pauschal",
    "Gutschrift Überzahlung 50 €",
    "Beratung „Jahresabschluss“ Büro Köln",
    "Straßenbau Los 3 … Abschlag",
    "Schulung Äpfel & Birnen AG",
    "Miete Lagerfläche Düsseldorf",
    "Reparatur Förderband Halle 2",
    "Ersatzteile Getriebe Typ Ü7",
]
BAD_AMOUNTS = ["12,34,56", "n/a", "1.2345,00", "12.5O0,00", "--3,00"]
BAD_DATES = ["31.02.2024", "2024-05-01", "32.13.2023", "1.1.24", "00.00.0000"]

ROOT = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- generation

def generate(path: Path, rows: int, seed: int = SEED) -> dict:
    """Write the cp1252 file; return what was injected. Vectorised: numpy draws, DuckDB formats
    the lines as UTF-8 text, Python transcodes each chunk to cp1252."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = rows
    i = np.arange(n, dtype=np.int64)
    n_bad = max(3, round(n * BAD_FRACTION)) if n >= 3 else 0
    bad_rows = np.sort(rng.choice(n, size=n_bad, replace=False)) if n_bad else np.array([], dtype=np.int64)
    bad_kind = np.full(n, -1, dtype=np.int8)
    bad_kind[bad_rows] = np.arange(n_bad) % 3           # 0 amount, 1 date, 2 ragged
    data = pa.table({
        "i": i,
        "day": rng.integers(0, 6 * 365, n),               # days after 2020-01-01
        "due": rng.choice(np.array([0, 10, 14, 30, 60]), n),
        "konto": rng.integers(10000, 70000, n),
        "cents": np.round(np.exp(rng.normal(9.0, 2.0, n))).astype(np.int64).clip(1, 99_999_999_999),
        "cur": rng.choice(np.array(["EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "EUR", "CHF", "USD", "GBP"]), n),
        "text": rng.choice(np.array(TEXTS), n),
        "bad": bad_kind,
        "bad_pick": rng.integers(0, 5, n),
        "ragged_long": rng.integers(0, 2, n),
    })
    con = duckdb.connect()
    con.execute("set threads = 1")   # keep row order trivially deterministic
    con.register("g", data)
    bad_amount = "[" + ", ".join(f"'{a}'" for a in BAD_AMOUNTS) + "]"
    bad_date = "[" + ", ".join(f"'{d}'" for d in BAD_DATES) + "]"
    rel = con.sql(f"""
        with v as (
            select i, bad, bad_pick, ragged_long, text,
                   date '2020-01-01' + day::integer as belegdatum,
                   date '2020-01-01' + (day + due)::integer as faellig,
                   konto, cur,
                   cents::decimal(14,0) / 100 as netto,
                   round(cents * 0.19)::decimal(14,0) / 100 as steuer
            from g),
        f as (
            select i, bad, ragged_long,
                   'RE' || (100000000 + i)::varchar as belegnr,
                   case when bad = 1 then {bad_date}[bad_pick + 1] else strftime(belegdatum, '%d.%m.%Y') end as d1,
                   konto::varchar as konto,
                   strftime(faellig, '%d.%m.%Y') as d2,
                   case when bad = 0 then {bad_amount}[bad_pick + 1]
                        else translate(format('{{:,.2f}}', netto), ',.', '.,') end as netto,
                   translate(format('{{:,.2f}}', steuer), ',.', '.,') as steuer,
                   translate(format('{{:,.2f}}', netto + steuer), ',.', '.,') as brutto,
                   cur,
                   (4500000000 + i * 7)::varchar as auftrag,
                   '"' || text || ' ' || (i % 9973)::varchar || '"' as btext
            from v)
        select case
                 when bad = 2 and ragged_long = 0 then concat_ws(';', belegnr, d1, konto, d2, netto, steuer, brutto, cur, auftrag)
                 when bad = 2 then concat_ws(';', belegnr, d1, konto, d2, netto, steuer, brutto, cur, auftrag, btext, 'X')
                 else concat_ws(';', belegnr, d1, konto, d2, netto, steuer, brutto, cur, auftrag, btext)
               end as line
        from f order by i""")
    reader = rel.to_arrow_reader(200_000)
    tmp = path.with_suffix(".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        out.write((HEADER + "\r\n").encode("cp1252"))
        for batch in reader:
            lines = batch.column(0).to_pylist()
            out.write(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    con.close()
    os.replace(tmp, path)
    # DuckDB's latin-1 reader rejects the whole file at the first byte 0x80-0x9F (where cp1252
    # has € – „ “ …), so the baseline reads a twin with those bytes replaced by '¿' (0xBF):
    # same size, same rows, same parsing work.
    _write_twin(path)
    counts = np.bincount(bad_kind[bad_kind >= 0], minlength=3) if n_bad else [0, 0, 0]
    two_digit_year = int(((bad_kind == 1) & (data.column("bad_pick").to_numpy() == BAD_DATES.index("1.1.24"))).sum())
    # an ISO date is unambiguous and loads (issue 15): injected as "bad", it is not quarantined
    iso = int(((bad_kind == 1) & (data.column("bad_pick").to_numpy() == BAD_DATES.index("2024-05-01"))).sum())
    return {"bad_date_iso": iso, "bad_date_two_digit_year": two_digit_year,"rows": rows, "seed": seed, "generator": GENERATOR_VERSION, "bad_rows": int(n_bad),
            "bad_amount": int(counts[0]), "bad_date": int(counts[1]), "ragged": int(counts[2]),
            "file_bytes": path.stat().st_size}


def latin1_twin(path: Path) -> Path:
    return path.parent.parent / "baseline" / f"{path.stem}_latin1.csv"


def _write_twin(path: Path) -> None:
    twin = latin1_twin(path)
    twin.parent.mkdir(parents=True, exist_ok=True)
    c1 = bytes(range(0x80, 0xA0))
    table = bytes.maketrans(c1, b"\xbf" * len(c1))
    with open(path, "rb") as src, open(twin, "wb") as dst:
        for chunk in iter(lambda: src.read(4 << 20), b""):
            dst.write(chunk.translate(table))


EXTF_LINE = ('"EXTF";700;21;"Buchungsstapel";13;20260105101500123;;"RE";"Benchmark";"";29098;55003;20250701;4;'
             '20250701;20260630;"Buchungen";"";1;0;0;"EUR";;"";;;"03";;;"";""')
EXTF_HEADER = ('Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;Konto;'
               'Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1;Belegfeld 2;Skonto;Buchungstext')
EXTF_YAML = """
sources:
  - name: accounting
    format: {type: datev}
    tables:
      - name: buchungen
        location: accounting/EXTF_Buchungsstapel*.csv
        columns:
          - {name: Umsatz, data_type: "decimal(14,2)", required: true}
          - {name: "WKZ Umsatz", data_type: varchar}
          - {name: Konto, data_type: integer, required: true}
          - {name: "Gegenkonto (ohne BU-Schlüssel)", data_type: integer}
          - {name: Belegdatum, data_type: date, required: true}
          - {name: "Belegfeld 1", data_type: varchar}
          - {name: Buchungstext, data_type: varchar}
"""


def generate_extf(path: Path, rows: int, seed: int = SEED) -> dict:
    """A Buchungsstapel over a fiscal year July to June: amounts without sign plus S/H, Belegdatum
    DDMM, quoted texts, cp1252, CRLF. Bad rows: an S/H that is neither, a day that does not exist."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = rows
    n_bad = max(2, round(n * BAD_FRACTION)) if n >= 2 else 0
    bad_kind = np.full(n, -1, dtype=np.int8)
    if n_bad:
        bad_kind[np.sort(rng.choice(n, size=n_bad, replace=False))] = np.arange(n_bad) % 2   # 0 sign, 1 date
    data = pa.table({"i": np.arange(n, dtype=np.int64), "day": rng.integers(0, 365, n),
                     "cents": np.round(np.exp(rng.normal(9.0, 2.0, n))).astype(np.int64).clip(1, 99_999_999_999),
                     "haben": rng.integers(0, 2, n), "konto": rng.integers(10000, 70000, n),
                     "text": rng.choice(np.array(TEXTS), n), "bad": bad_kind})
    con = duckdb.connect()
    con.execute("set threads = 1")
    con.register("g", data)
    rel = con.sql("""
        select concat_ws(';',
                   replace((cents::decimal(14,0) / 100)::varchar, '.', ','),
                   case when bad = 0 then '"X"' when haben = 1 then '"H"' else '"S"' end,
                   '"EUR"', '', '', '', konto::varchar, '8400', '""',
                   case when bad = 1 then '3102' else strftime(date '2025-07-01' + day::integer, '%d%m') end,
                   '"RE' || (100000000 + i)::varchar || '"', '""', '', '"' || text || '"') as line
        from g order by i""")
    tmp = path.with_suffix(".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as out:
        out.write((EXTF_LINE + "\r\n" + EXTF_HEADER + "\r\n").encode("cp1252"))
        for batch in rel.to_arrow_reader(200_000):
            out.write(("\r\n".join(batch.column(0).to_pylist()) + "\r\n").encode("cp1252"))
    con.close()
    os.replace(tmp, path)
    _write_twin(path)
    return {"rows": rows, "seed": seed, "generator": GENERATOR_VERSION, "bad_rows": int(n_bad),
            "bad_date_two_digit_year": 0, "bad_date_iso": 0, "bad_amount": int((bad_kind == 0).sum()), "bad_date": int((bad_kind == 1).sum()),
            "ragged": 0, "file_bytes": path.stat().st_size}


def generate_mixed(path: Path, rows: int, seed: int = SEED) -> dict:
    """The plain file with every 100th data line re-encoded as UTF-8 (an interface appending in UTF-8)."""
    plain = path.with_name("plain.source.csv")
    meta = generate(plain, rows, seed)
    utf8_lines = 0
    with open(plain, "rb") as src, open(path, "wb") as dst:
        dst.write(src.readline())
        for number, line in enumerate(src):
            if number % 100 == 0 and not line.isascii():
                line = line.decode("cp1252").encode("utf-8")
                utf8_lines += 1
            dst.write(line)
    plain.unlink()
    latin1_twin(plain).unlink(missing_ok=True)
    _write_twin(path)
    return {**meta, "utf8_lines": utf8_lines, "file_bytes": path.stat().st_size}


# input -> (file name under accounting/, generator, sources YAML, table key, lines above the header)
INPUTS = {
    "plain": ("rechnungen.csv", lambda p, n: generate(p, n), SOURCES_YAML, "accounting__rechnungen", 0),
    "extf": ("EXTF_Buchungsstapel.csv", generate_extf, EXTF_YAML, "accounting__buchungen", 1),
    "mixed": ("rechnungen_mixed.csv", generate_mixed, SOURCES_YAML.replace("rechnungen*.csv", "rechnungen_mixed*.csv"),
              "accounting__rechnungen", 0),
}


def ensure_file(workdir: Path, rows: int, kind: str = "plain") -> tuple[Path, Path, dict]:
    name, make, *_ = INPUTS[kind]
    data_dir = workdir / f"data_{kind}_{rows}"
    path = data_dir / "accounting" / name
    meta_path = data_dir / "generated.json"
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("generator") == GENERATOR_VERSION and meta.get("seed") == SEED \
                and meta.get("file_bytes") == path.stat().st_size and latin1_twin(path).is_file():
            return data_dir, path, meta
    log(f"generating {rows:,} rows -> {path}")
    started = time.perf_counter()
    meta = make(path, rows)
    meta_path.write_text(json.dumps(meta))
    log(f"generated {meta['file_bytes']:,} bytes in {time.perf_counter() - started:.1f}s")
    return data_dir, path, meta


def declared_table(kind: str = "plain"):
    from pipelines.core import yamlfile
    from pipelines.sources.spec import parse_sources

    _, _, yaml_text, key, _ = INPUTS[kind]
    return parse_sources(yamlfile.loads(yaml_text, "<benchmark>"), "<benchmark>").table(key)


def _children_rss_mb() -> float:
    """Peak RSS of the largest waited-for child (the transcoding helper), 0 without one.

    An upper bound: Linux carries ru_maxrss across exec, so the helper's figure is at least this
    process's RSS when it started the helper (its own peak is ~60 MB, half the file's UTF-8 text)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# --------------------------------------------------------------------------- child processes

def _rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    child would report the parent's peak at fork time; VmHWM belongs to the new address space."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds of this process (all its threads) and of its waited-for helper processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime


def child_kontor(args) -> dict:
    from pipelines.sources import stage
    from pipelines.core.warehouse import connect

    table = declared_table(args.input)
    rss_before = _rss_mb()
    cpu_before = _cpu_s()
    started = time.perf_counter()
    con = connect(Path(args.db))
    result = stage.load(con, table, Path(args.data_dir), Path(args.tmp_dir), run_id="benchmark").load
    loaded_s = time.perf_counter() - started
    con.close()
    elapsed = time.perf_counter() - started
    cpu = _cpu_s() - cpu_before
    f = result.files[0] if result.files else None
    return {"elapsed_s": elapsed, "cpu_s": cpu, "load_s": loaded_s, "peak_rss_mb": _rss_mb(), "rss_before_mb": rss_before,
            "helper_peak_rss_mb": _children_rss_mb(),
            "status": f.status if f else "no file", "message": f.message if f else "", "notes": f.notes if f else [],
            "rows_read": result.total("rows_read"), "rows_loaded": result.total("rows_loaded"),
            "rows_quarantined": result.total("rows_quarantined")}


def child_baseline(args) -> dict:
    import duckdb

    rss_before = _rss_mb()
    cpu_before = _cpu_s()
    started = time.perf_counter()
    con = duckdb.connect(args.db)
    csv = str(args.csv).replace("'", "''")
    skip = INPUTS[args.input][4]
    # The target's baseline reads every column as text (all_varchar); ``baseline_typed`` lets DuckDB
    # sniff and type the columns, as a bare ``read_csv`` does by default (reported beside it).
    typed = args.child == "baseline_typed"
    con.execute(f"create table t as select * from read_csv('{csv}', delim=';', header=true, skip={skip}, "
                f"{'' if typed else 'all_varchar=true, '}encoding='latin-1', ignore_errors=true)")
    loaded_s = time.perf_counter() - started
    rows = con.execute("select count(*) from t").fetchone()[0]
    con.close()
    elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "cpu_s": _cpu_s() - cpu_before, "load_s": loaded_s, "peak_rss_mb": _rss_mb(),
            "rss_before_mb": rss_before, "helper_peak_rss_mb": 0.0, "rows_loaded": rows}


def baseline_typed_facts(csv: Path, kind: str, rows: int, meta: dict) -> dict:
    """What ``baseline_typed`` does with the file (outside any timing, once per run): the type
    DuckDB's sniffer gives each column, the rows it loads against the rows in the file (what
    ``ignore_errors`` drops silently), whether each typed value equals the column's text read
    the way Kontor declares it, and how many texts differ from the real file (the twin's 0xBF
    for cp1252-only characters; UTF-8 lines read as latin-1)."""
    import duckdb

    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    quoted = str(csv).replace("'", "''")
    read = (f"read_csv('{quoted}', delim=';', header=true, skip={INPUTS[kind][4]}, encoding='latin-1', "
            "ignore_errors=true{})")
    con.execute(f"create table t as select * from {read.format('')}")
    con.execute(f"create table v as select * from {read.format(', all_varchar=true')}")
    types = {name: typ for name, typ, *_ in con.execute("describe t").fetchall()}
    sniffed = con.execute(f"select DateFormat from sniff_csv('{quoted}', delim=';', header=true, "
                          f"skip={INPUTS[kind][4]}, encoding='latin-1', ignore_errors=true)").fetchone()[0]
    loaded = con.execute("select count(*) from t").fetchone()[0]
    checks = []
    for name, typ in types.items():
        col = '"' + name.replace('"', '""') + '"'
        if typ == "DATE":
            checks.append(f"count(*) filter (where t.{col} is distinct from strptime(v.{col}, '{sniffed or '%Y-%m-%d'}')::date)")
        elif typ != "VARCHAR":
            checks.append(f"count(*) filter (where t.{col} is distinct from cast(v.{col} as {typ}))")
    typed = [n for n, t in types.items() if t != "VARCHAR"]
    wrong = con.execute(f"select {', '.join(checks) or '0'} from t positional join v").fetchone() if checks else []
    text = [n for n, t in types.items() if t == "VARCHAR"]
    replaced = " or ".join(f"contains(\"{n}\", '\u00bf')" for n in text) or "false"
    mojibake = " or ".join(f"contains(\"{n}\", '\u00c3')" for n in text) or "false"
    altered = con.execute(f"select count(*) filter (where {replaced}), count(*) filter (where {mojibake}) from t").fetchone()
    con.close()
    return {
        "columns": types,
        "typed_columns": typed,
        "date_format_sniffed": sniffed,
        "rows_in_file": rows,
        "rows_loaded": loaded,
        "rows_dropped_silently": rows - loaded,
        "ragged_rows_injected": meta.get("ragged", 0),
        "typed_values_differing_from_text": dict(zip(typed, wrong)),
        "rows_with_cp1252_character_replaced": altered[0],
        "rows_with_utf8_read_as_latin1": altered[1],
    }


class _TimedConnection:
    """Stands in for a DuckDB connection and times every statement, labelled by what it does."""

    LABELS = [
        (r"create schema if not exists raw", "bookkeeping DDL"),
        (r"information_schema\.columns", "raw table check"),
        (r"create table if not exists", "create raw table"),
        (r"from kontor\.load_ledger where system", "already-loaded lookup"),
        (r"max\(batch_id\)", "next batch id"),
        (r"drop table if exists _kontor_rejects", "drop rejects tables"),
        (r"create or replace temp(orary)? table _typed", "read_csv + typed conversion in one pass (_typed)"),
        (r"create or replace temp table _rejects", "rejects aggregation (_rejects)"),
        (r"create or replace temp table _dups", "duplicate-key window (_dups)"),
        (r"^\s*insert into \"raw\"", "insert raw"),
        (r"where (t\._errors is not null|not t\._errors is null)", "insert quarantine: conversion errors"),
        (r"from _dups d join", "insert quarantine: duplicate keys"),
        (r"from _rejects\s*$", "insert quarantine: parser rejects"),
        (r"having count\(\*\) > 1", "duplicate-key check (grouping)"),
        (r"count\(\*\)", "counts (read = loaded + quarantined)"),
        (r"temp table _lines", "line numbers past rejects (_lines)"),
        (r"select k, max\(n\)", "line-number steps (rejects, blank lines)"),
        (r"_blank_lines", "blank-line table"),
        (r"insert into kontor\.load_ledger", "ledger insert"),
        (r"^begin", "begin"),
        (r"^commit", "commit"),
    ]

    def __init__(self, con):
        self._con = con
        self.phases: dict[str, float] = {}
        self.hwm = _rss_mb()
        self.hwm_growth: dict[str, float] = {}

    def _label(self, sql: str) -> str:
        text = re.sub(r"^\s*/\*.*?\*/", "", sql, flags=re.DOTALL).strip()   # templates open with a comment
        for pattern, label in self.LABELS:
            if re.search(pattern, text, re.IGNORECASE | re.MULTILINE):
                return label
        return "other SQL: " + " ".join(text.split())[:40]

    def add(self, label: str, seconds: float) -> None:
        self.phases[label] = self.phases.get(label, 0.0) + seconds
        # Which phase pushed the peak RSS up, and by how much (VmHWM only grows).
        hwm = _rss_mb()
        if hwm > self.hwm:
            self.hwm_growth[label] = self.hwm_growth.get(label, 0.0) + hwm - self.hwm
            self.hwm = hwm

    def execute(self, sql, *params):
        started = time.perf_counter()
        self._con.execute(sql, *params)
        self.add(self._label(sql), time.perf_counter() - started)
        return self._con

    def __getattr__(self, name):
        return getattr(self._con, name)


def child_profile(args) -> dict:
    from pipelines.sources import ingest, readers, stage
    from pipelines.core.warehouse import connect

    table = declared_table(args.input)
    con = connect(Path(args.db))
    timed = _TimedConnection(con)

    def wrap(module, name, label):
        original = getattr(module, name)

        def timed_call(*a, **kw):
            started = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                timed.add(label, time.perf_counter() - started)
        setattr(module, name, timed_call)

    # Python-side steps of the reader; wrapped only if the (evolving) reader still has them.
    for name, label in [("digest", "digest (sha256, size, utf-8 check)"),
                        ("_transcode", "transcode cp1252 -> utf-8 (Python)"),
                        ("_first_line", "header line"),
                        ("_blank_lines", "blank-line scan (Python)")]:
        if hasattr(readers, name):
            wrap(readers, name, label)
    if hasattr(ingest, "_check_columns"):
        wrap(ingest, "_check_columns", "column checks")
    started = time.perf_counter()
    result = stage.load(timed, table, Path(args.data_dir), Path(args.tmp_dir), run_id="profile").load
    load_s = time.perf_counter() - started
    before_close = time.perf_counter()
    con.close()
    timed.add("close (checkpoint to disk)", time.perf_counter() - before_close)
    total = time.perf_counter() - started
    measured = sum(timed.phases.values())
    timed.add("Python glue (untimed remainder)", max(0.0, total - measured))
    phases = sorted(timed.phases.items(), key=lambda kv: -kv[1])
    return {"total_s": round(total, 3), "load_s": round(load_s, 3), "peak_rss_mb": round(_rss_mb(), 1),
            "peak_rss_growth_mb": {k: round(v, 1) for k, v in sorted(timed.hwm_growth.items(), key=lambda kv: -kv[1])
                                   if v >= 1},
            "rows_loaded": result.total("rows_loaded"), "rows_quarantined": result.total("rows_quarantined"),
            "phases": [{"phase": k, "s": round(v, 3), "share": round(v / total, 3)} for k, v in phases]}


def run_child(kind: str, csv: Path, data_dir: Path, workdir: Path, tag: str, input_kind: str = "plain") -> dict:
    db = workdir / "db" / f"{kind}_{tag}.duckdb"
    tmp_dir = workdir / "tmp" / f"{kind}_{tag}"
    db.parent.mkdir(parents=True, exist_ok=True)
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--input", input_kind, "--csv", str(csv),
           "--data-dir", str(data_dir), "--tmp-dir", str(tmp_dir), "--db", str(db)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT),
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        for p in (db, db.with_name(db.name + ".wal")):
            p.unlink(missing_ok=True)
        shutil.rmtree(tmp_dir, ignore_errors=True)


# --------------------------------------------------------------------------- summary

def summarise(runs: list[dict], rows: int) -> dict:
    times = [r["elapsed_s"] for r in runs]
    median = statistics.median(times)
    return {
        "median_s": round(median, 3),
        "min_s": round(min(times), 3),
        "all_s": [round(t, 3) for t in times],
        "rows_per_s": round(rows / median) if median else None,
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        # the child and its transcoding helper run at the same time: their peaks add up at worst
        "peak_rss_with_helpers_mb": round(max(r["peak_rss_mb"] + r.get("helper_peak_rss_mb", 0.0) for r in runs), 1),
        "rss_before_load_mb": round(max(r["rss_before_mb"] for r in runs), 1),
        "load_before_close_median_s": round(statistics.median(r["load_s"] for r in runs), 3),
        # CPU seconds (all threads and helper processes): on a loaded machine wall time stretches,
        # CPU time much less
        "cpu_median_s": round(statistics.median(r["cpu_s"] for r in runs), 3) if all("cpu_s" in r for r in runs) else None,
    }


def code_fingerprint() -> dict[str, str]:
    """sha256 prefixes of the code under test: the sources package changes while it is benchmarked."""
    import hashlib

    files = sorted((ROOT / "pipelines" / "sources").glob("*.py")) + [ROOT / "pipelines" / "core" / "warehouse.py"]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in files}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", choices=sorted(INPUTS), default="plain",
                    help="plain cp1252 export, DATEV EXTF Buchungsstapel, or cp1252 with 1 %% UTF-8 lines")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor-bench-ingest-datev")
    ap.add_argument("--profile", action="store_true", help="add a per-phase profile of one Kontor run")
    ap.add_argument("--child", choices=["kontor", "baseline", "baseline_typed", "profile"], help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--tmp-dir", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        fn = {"kontor": child_kontor, "baseline": child_baseline, "baseline_typed": child_baseline,
              "profile": child_profile}[args.child]
        print(json.dumps(fn(args)))
        return 0

    workdir = args.workdir.resolve()
    if workdir == ROOT or ROOT in workdir.parents:
        ap.error(f"--workdir must be outside the repository ({ROOT})")
    workdir.mkdir(parents=True, exist_ok=True)
    if args.rows < 1 or args.repeats < 1:
        ap.error("--rows and --repeats must be positive")

    code_before = code_fingerprint()
    declared_table(args.input)   # fail early if the declaration does not validate
    data_dir, csv, meta = ensure_file(workdir, args.rows, args.input)

    import duckdb

    try:   # does DuckDB's latin-1 reader take the real cp1252 file? (it does not when it holds € etc.)
        quoted = str(csv).replace("'", "''")
        duckdb.connect().execute(f"select count(*) from read_csv('{quoted}', delim=';', header=true, "
                                 "all_varchar=true, encoding='latin-1', ignore_errors=true)").fetchone()
        latin1_on_cp1252 = "reads"
    except duckdb.Error as exc:
        latin1_on_cp1252 = "fails: " + str(exc).splitlines()[0]

    runs = {"kontor": [], "baseline": [], "baseline_typed": []}
    kontor_runs, baseline_runs = runs["kontor"], runs["baseline"]
    for rep in range(args.repeats):
        # Rotate the order too, so no side always runs on a warmer machine.
        order = ["kontor", "baseline", "baseline_typed"]
        order = order[rep % 3:] + order[:rep % 3]
        for kind in order:
            run = run_child(kind, csv if kind == "kontor" else latin1_twin(csv), data_dir, workdir, str(rep), args.input)
            runs[kind].append(run)
            log(f"repeat {rep + 1}/{args.repeats} {kind:8s} {run['elapsed_s']:.3f}s  rss {run['peak_rss_mb']:.0f} MB")

    kontor = summarise(kontor_runs, args.rows)
    baseline = summarise(baseline_runs, args.rows)
    baseline_typed = summarise(runs["baseline_typed"], args.rows)
    last = kontor_runs[-1]
    consistent = all((r["rows_read"], r["rows_loaded"], r["rows_quarantined"])
                     == (last["rows_read"], last["rows_loaded"], last["rows_quarantined"]) for r in kontor_runs)
    checks = {
        "status": last["status"],
        "rows_read": last["rows_read"],
        "rows_loaded": last["rows_loaded"],
        "rows_quarantined": last["rows_quarantined"],
        "read_equals_loaded_plus_quarantined": last["rows_read"] == last["rows_loaded"] + last["rows_quarantined"],
        "read_equals_rows_generated": last["rows_read"] == args.rows,
        "bad_rows_injected": meta["bad_rows"],
        "quarantined_equals_injected": last["rows_quarantined"] == meta["bad_rows"],
        "quarantined_plus_iso_dates_equals_injected":
            last["rows_quarantined"] + meta.get("bad_date_iso", 0) == meta["bad_rows"],
        "quarantined_plus_two_digit_year_equals_injected":
            last["rows_quarantined"] + meta["bad_date_two_digit_year"] == meta["bad_rows"],
        "same_counts_every_repeat": consistent,
        "baseline_rows_loaded": baseline_runs[-1]["rows_loaded"],
        "notes_of_the_load": last.get("notes", []),
    }
    ratio = kontor["median_s"] / baseline["median_s"]
    met = {
        "rows_per_s": (kontor["rows_per_s"] or 0) >= TARGETS["rows_per_s"],
        "peak_rss_mb": kontor["peak_rss_with_helpers_mb"] <= TARGETS["peak_rss_mb"],
        "ratio": ratio <= TARGETS["ratio_to_baseline"],
    }
    met["all"] = all(met.values()) and checks["read_equals_loaded_plus_quarantined"] and last["status"] == "loaded"
    out = {
        "benchmark": "ingest_datev",
        "input": args.input,
        "rows": args.rows,
        "file_bytes": meta["file_bytes"],
        "injected": {k: meta[k] for k in ("bad_amount", "bad_date", "bad_date_two_digit_year", "ragged")},
        "repeats": args.repeats,
        "kontor": kontor,
        "baseline": baseline,
        "baseline_typed": baseline_typed,
        "baseline_file": str(latin1_twin(csv)),
        "baseline_latin1_on_real_cp1252_file": latin1_on_cp1252,
        "ratio_kontor_to_baseline": round(ratio, 2),
        # not the target's baseline: a read_csv that sniffs and types the columns (DuckDB's default)
        "ratio_kontor_to_baseline_typed": round(kontor["median_s"] / baseline_typed["median_s"], 2),
        "cpu_ratio_kontor_to_baseline": round(kontor["cpu_median_s"] / baseline["cpu_median_s"], 2)
        if kontor["cpu_median_s"] and baseline["cpu_median_s"] else None,
        "checks": checks,
        "targets": TARGETS,
        "met": met,
        "notes": [
            "times are wall clock from connect to close (data checkpointed to the DuckDB file), "
            "measured inside a fresh subprocess; interpreter start-up and imports are excluded",
            "peak_rss_mb is the child's VmHWM (peak RSS of that process) and includes its imports "
            "(rss_before_load_mb)",
            "injected bad dates include '1.1.24' (two-digit year); strptime '%d.%m.%Y' reads it as "
            "year 0024, so those rows are loaded, not quarantined: quarantined_equals_injected is false "
            "by exactly bad_date_two_digit_year while that holds",
            "baseline reads with encoding='latin-1' because DuckDB cannot read cp1252 natively "
            "(encoding='cp1252' needs the encodings extension, which Kontor never downloads); DuckDB's "
            "latin-1 reader rejects the whole file at the first byte 0x80-0x9F (€ – „ “ … in cp1252), so "
            "the baseline reads a same-size twin of the file with those bytes replaced by 0xBF; it types "
            "nothing, silently drops ragged rows (ignore_errors) and writes no ledger or quarantine; "
            "met.ratio is measured against it",
            "baseline_typed is the same read_csv without all_varchar: DuckDB sniffs and types the "
            "columns as a bare read_csv does by default (integers become BIGINT, a DD.MM.YYYY column without a bad value in the sample DATE; German decimal numbers "
            "stay text, which the sniffer does not read; see baseline_typed_columns); at 1M rows it is faster than the "
            "all_varchar read (smaller integer columns to write): ratio_kontor_to_baseline_typed is the stricter figure",
            "Kontor: digest + cp1252 transcode + read_csv (store_rejects) + typed conversion + "
            "duplicate-key window + raw/quarantine/ledger inserts in one transaction",
        ],
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "duckdb_threads": duckdb.connect().execute("select current_setting('threads')").fetchone()[0],
            "platform": platform.platform(),
        },
        "workdir": str(workdir),
        "code": code_before if code_before == code_fingerprint() else "changed during the run",
    }
    log("inspecting what baseline_typed does with the file")
    out["baseline_typed_columns"] = baseline_typed_facts(latin1_twin(csv), args.input, args.rows, meta)
    if args.profile or not met["all"]:
        log("profiling one Kontor run phase by phase")
        out["profile"] = run_child("profile", csv, data_dir, workdir, "profile", args.input)
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
