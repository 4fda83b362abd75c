"""Tests for the demo data generator (pipelines/demo, see pipelines/demo/CONTRACT.md)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipelines.demo import generate  # noqa: E402
from pipelines.demo.generator import konto_digits  # noqa: E402

# ----------------------------------------------------------------------------- contract (CONTRACT.md)

CSV_COLUMNS = {
    "crm/accounts.csv": ["account_id", "account_name", "street", "postal_code", "city", "country", "vat_id",
                         "email", "phone", "industry", "account_type", "created_at", "modified_at"],
    "crm/contacts.csv": ["contact_id", "account_id", "salutation", "first_name", "last_name", "email", "phone",
                         "position", "modified_at"],
    "accounting/debitoren.csv": ["Konto", "Name", "Strasse", "PLZ", "Ort", "Land", "UStIdNr", "IBAN", "BIC", "EMail",
                                 "Telefon", "Zahlungsziel", "Kreditlimit", "GeaendertAm"],
    "accounting/kreditoren.csv": ["Konto", "Name", "Strasse", "PLZ", "Ort", "Land", "UStIdNr", "IBAN", "BIC",
                                  "EMail", "Telefon", "Zahlungsziel", "Kreditlimit", "GeaendertAm"],
    "accounting/rechnungen.csv": ["Belegnr", "Belegdatum", "Konto", "Faellig", "Netto", "Steuer", "Brutto",
                                  "Waehrung", "Auftragsnr"],
    "accounting/offene_posten.csv": ["Belegnr", "Konto", "Belegdatum", "Faellig", "Offen", "Stichtag"],
    "ground_truth/entities.csv": ["entity_type", "true_id", "system", "source_table", "source_id"],
    "ground_truth/golden.csv": ["entity_type", "true_id", "name", "legal_form", "street", "house_number", "postcode",
                                "city", "country", "vat_id", "iban", "email", "phone"],
    "ground_truth/hard_negatives.csv": ["entity_type", "true_id_a", "true_id_b"],
}
S, D12, D14, TS = pa.string(), pa.decimal128(12, 2), pa.decimal128(14, 2), pa.timestamp("us")
PARQUET_COLUMNS = {
    "erp/customers.parquet": [
        ("customer_no", pa.int64()), ("name1", S), ("name2", S), ("street", S), ("house_no", S), ("zip", S),
        ("city", S), ("country_code", S), ("vat_id", S), ("iban", S), ("bic", S), ("payment_terms_days", pa.int32()),
        ("credit_limit", D12), ("region", S), ("blocked", pa.bool_()), ("created_at", pa.date32()),
        ("updated_at", TS), ("register_no", S)],
    "erp/suppliers.parquet": [
        ("supplier_no", pa.int64()), ("name1", S), ("name2", S), ("street", S), ("house_no", S), ("zip", S),
        ("city", S), ("country_code", S), ("vat_id", S), ("iban", S), ("bic", S), ("payment_terms_days", pa.int32()),
        ("email", S), ("updated_at", TS), ("register_no", S)],
    "erp/items.parquet": [
        ("item_no", S), ("description", S), ("product_group", S), ("product_group_name", S), ("unit", S),
        ("list_price", D12), ("standard_cost", D12), ("supplier_no", pa.int64())],
    "erp/orders.parquet": [
        ("order_no", pa.int64()), ("customer_no", pa.int64()), ("order_date", pa.date32()), ("region", S),
        ("status", S), ("currency", S), ("updated_at", TS)],
    "erp/order_lines.parquet": [
        ("order_no", pa.int64()), ("line_no", pa.int32()), ("item_no", S), ("quantity", D12), ("unit_price", D12),
        ("discount_pct", pa.decimal128(5, 2)), ("net_amount", D14)],
    "erp/purchase_orders.parquet": [
        ("po_no", pa.int64()), ("supplier_no", pa.int64()), ("order_date", pa.date32()), ("item_no", S),
        ("quantity", D12), ("net_amount", D14)],
}
# Payments come from DATEV as it exports them: a Buchungsstapel per fiscal year (the demo's months
# 2024-11 .. 2026-10 fall in three calendar years).
DATEV_PAYMENTS = {f"accounting/EXTF_Buchungsstapel_Zahlungen_{y}.csv": (f"{y}0101" if y > 2024 else "20241101",
                                                                       f"{y}1231" if y < 2026 else "20261031")
                  for y in (2024, 2025, 2026)}
DATEV_HEADER = ["Umsatz (ohne Soll/Haben-Kz)", "Soll/Haben-Kennzeichen", "WKZ Umsatz", "Kurs", "Basis-Umsatz",
                "WKZ Basis-Umsatz", "Konto", "Gegenkonto (ohne BU-Schlüssel)", "BU-Schlüssel", "Belegdatum",
                "Belegfeld 1", "Belegfeld 2", "Skonto", "Buchungstext"]
ALL_FILES = sorted([*CSV_COLUMNS, *PARQUET_COLUMNS, *DATEV_PAYMENTS, "ground_truth/manifest.json"])
ACCOUNTING = [f for f in [*CSV_COLUMNS, *DATEV_PAYMENTS] if f.startswith("accounting/")]
AMOUNT_RE = re.compile(r"^\d{1,3}(\.\d{3})*,\d{2}$")
DATE_RE = re.compile(r"^\d{2}\.\d{2}\.\d{4}$")


def encoding_of(rel: str) -> tuple[str, str]:
    return ("cp1252", ";") if rel.startswith("accounting/") else ("utf-8", ",")


def read_csv(root: Path, rel: str) -> pl.DataFrame:
    enc, delim = encoding_of(rel)
    text = (root / rel).read_bytes().decode(enc)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"'))
    header, body = rows[0], rows[1:]
    return pl.DataFrame({h: [r[i] for r in body] for i, h in enumerate(header)}, schema={h: pl.String for h in header})


def read_datev(root: Path, rel: str) -> tuple[list[str], pl.DataFrame]:
    """A DATEV EXTF file: its metadata line's fields and the rows below its column header."""
    text = (root / rel).read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"'))
    meta, header, body = rows[0], rows[1], rows[2:]
    return meta, pl.DataFrame({h: [r[i] for r in body] for i, h in enumerate(header)},
                              schema={h: pl.String for h in header})


def datev_payments(root: Path) -> pl.DataFrame:
    """The payments of all Buchungsstapel files in the shape of the columns they carry: payment
    number, date (DDMM completed with the year of the file's range), account, invoice, amount."""
    frames = []
    for rel in DATEV_PAYMENTS:
        meta, df = read_datev(root, rel)
        year = meta[14][:4]
        frames.append(df.select(
            pl.col("Belegfeld 2").alias("ZahlungsNr"),
            (pl.col("Belegdatum").str.slice(0, 2) + "." + pl.col("Belegdatum").str.slice(2, 2) + "." + year).alias("Datum"),
            "Konto", pl.col("Belegfeld 1").alias("Belegnr"), pl.col("Umsatz (ohne Soll/Haben-Kz)").alias("Betrag"),
            pl.col("Soll/Haben-Kennzeichen").alias("SH")))
    return pl.concat(frames)


def cents(col: str) -> pl.Expr:
    return pl.col(col).str.replace_all(".", "", literal=True).str.replace(",", "", literal=True).cast(pl.Int64)


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo_s1")
    manifest = generate(out, scale=1.0, seed=42)
    return out, manifest


@pytest.fixture(scope="module")
def frames(data) -> dict[str, pl.DataFrame]:
    root, _ = data
    f = {rel: read_csv(root, rel) for rel in CSV_COLUMNS}
    f.update({rel: pl.read_parquet(root / rel) for rel in PARQUET_COLUMNS})
    f["payments"] = datev_payments(root)
    return f


# ----------------------------------------------------------------------------- determinism / small scale


def test_determinism_and_small_scale(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ma = generate(a, scale=0.2, seed=7)
    mb = generate(b, scale=0.2, seed=7)
    mc = generate(c, scale=0.2, seed=8)
    ha, hb, hc = file_hashes(a), file_hashes(b), file_hashes(c)
    assert sorted(ha) == ALL_FILES
    assert ha == hb, "same (scale, seed) must give byte-identical files"
    assert ma == mb
    differing = [f for f in ha if ha[f] != hc[f]]
    assert len(differing) >= len(ha) - 1, f"different seed should change (almost) all files, changed: {differing}"
    # the small run is complete and non-trivial
    assert ma["scale"] == 0.2 and ma["seed"] == 7
    for rel, info in ma["files"].items():
        if rel != "ground_truth/hard_negatives.csv":
            assert info["rows"] > 0, rel


def test_manifest(data) -> None:
    root, manifest = data
    on_disk = json.loads((root / "ground_truth" / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert manifest["seed"] == 42 and manifest["scale"] == 1.0
    assert sorted(manifest["files"]) == sorted(f for f in ALL_FILES if not f.endswith("manifest.json"))
    for rel in CSV_COLUMNS:
        enc, _ = encoding_of(rel)
        n_lines = len(read_csv(root, rel))
        assert manifest["files"][rel]["rows"] == n_lines, rel
    for rel in PARQUET_COLUMNS:
        assert manifest["files"][rel]["rows"] == pq.ParquetFile(root / rel).metadata.num_rows, rel
    for rel in DATEV_PAYMENTS:
        assert manifest["files"][rel]["rows"] == len(read_datev(root, rel)[1]) > 0, rel
    # rough size expectations at scale 1
    rows = {k: v["rows"] for k, v in manifest["files"].items()}
    assert 1300 <= rows["erp/customers.parquet"] <= 1550
    assert 1400 <= rows["crm/accounts.csv"] <= 1650
    assert 1150 <= rows["accounting/debitoren.csv"] <= 1400
    assert rows["erp/suppliers.parquet"] == 300
    assert 240 <= rows["accounting/kreditoren.csv"] <= 300
    assert rows["erp/items.parquet"] == 400
    assert 10_500 <= rows["erp/orders.parquet"] <= 13_500
    assert 2.6 <= rows["erp/order_lines.parquet"] / rows["erp/orders.parquet"] <= 3.4


# ----------------------------------------------------------------------------- contract


def test_csv_headers(data) -> None:
    root, _ = data
    for rel, cols in CSV_COLUMNS.items():
        enc, delim = encoding_of(rel)
        with open(root / rel, encoding=enc, newline="") as fh:
            header = next(csv.reader(fh, delimiter=delim))
        assert header == cols, rel


def test_payments_are_datev_buchungsstapel(data, frames) -> None:
    """Each file as DATEV Rechnungswesen writes it: the EXTF 700 line (Buchungsstapel, category 21,
    format version 13, fiscal year, date range, consultant and client), its column header, CRLF,
    amounts without sign and decimal comma, S/H, Belegdatum DDMM within the file's range."""
    root, _ = data
    for rel, (date_from, date_to) in DATEV_PAYMENTS.items():
        raw = (root / rel).read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n") and raw.endswith(b"\r\n"), rel
        meta, df = read_datev(root, rel)
        assert meta[:5] == ["EXTF", "700", "21", "Buchungsstapel", "13"], rel
        assert (meta[10], meta[11], meta[12], meta[13]) == ("29098", "10001", date_from[:4] + "0101", "4"), rel
        assert (meta[14], meta[15], meta[21]) == (date_from, date_to, "EUR"), rel
        assert list(df.columns) == DATEV_HEADER, rel
        assert df["Umsatz (ohne Soll/Haben-Kz)"].str.contains(r"^\d+,\d{2}$").all(), rel
        assert (df["Soll/Haben-Kennzeichen"] == "H").all() and (df["WKZ Umsatz"] == "EUR").all(), rel
        assert (df["Gegenkonto (ohne BU-Schlüssel)"] == "1200").all(), rel
        ddmm = df["Belegdatum"]
        assert ddmm.str.contains(r"^\d{4}$").all(), rel
        mmdd = ddmm.str.slice(2, 2) + ddmm.str.slice(0, 2)
        assert mmdd.is_between(date_from[4:], date_to[4:]).all(), rel
    # the text fields are quoted as DATEV quotes them: a line of the body
    line = (root / next(iter(DATEV_PAYMENTS))).read_bytes().split(b"\r\n")[2].decode("cp1252")
    assert re.fullmatch(r'\d+,\d{2};"H";"EUR";;;;\d{5};1200;"";\d{4};"\d+";"\d+";;"Zahlungseingang"', line), line
    assert frames["payments"]["ZahlungsNr"].is_unique().all()


def test_parquet_schemas(data) -> None:
    root, _ = data
    for rel, cols in PARQUET_COLUMNS.items():
        schema = pq.read_schema(root / rel)
        assert [(f.name, f.type) for f in schema] == cols, rel


def test_crm_formats(frames) -> None:
    acc = frames["crm/accounts.csv"]
    assert acc["account_id"].str.contains(r"^CRM-\d{7}$").all()
    assert set(acc["account_type"].unique()) == {"customer", "prospect"}
    assert acc["created_at"].str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert acc["modified_at"].str.contains(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").all()
    assert (acc["created_at"] <= acc["modified_at"].str.slice(0, 10)).all()
    # street and number in one field
    assert acc["street"].str.contains(r"\d").mean() > 0.99
    con = frames["crm/contacts.csv"]
    assert con["contact_id"].str.contains(r"^CON-\d{7}$").all()
    assert set(con["account_id"]) <= set(acc["account_id"])


def test_erp_formats(frames) -> None:
    cust = frames["erp/customers.parquet"]
    assert cust["customer_no"].min() >= 100001
    assert cust["customer_no"].is_unique().all()
    assert (cust["name1"].str.len_chars() <= 40).all()
    assert cust["name2"].null_count() < len(cust) and cust["name2"].null_count() > 0
    assert set(cust["region"].unique()) <= {"North", "South", "East", "West"}
    sup = frames["erp/suppliers.parquet"]
    assert sup["supplier_no"].min() == 700001 and sup["supplier_no"].is_unique().all()
    items = frames["erp/items.parquet"]
    assert items["item_no"].str.contains(r"^A-\d{5,}$").all()
    assert items["product_group"].n_unique() == 8
    assert set(items["product_group_name"]) >= {"Hydraulik", "Pneumatik", "Antriebstechnik"}
    orders = frames["erp/orders.parquet"]
    assert set(orders["status"].unique()) == {"open", "delivered", "invoiced", "cancelled"}
    assert (orders["currency"] == "EUR").all()
    assert orders["order_date"].min().isoformat() >= "2024-11-01"
    assert orders["order_date"].max().isoformat() <= "2026-10-31"


def test_erp_register_numbers(frames) -> None:
    """About half of the ERP's companies in a German register carry their register number, written
    a few ways; one number is one legal entity (a hard negative pair never shares one)."""
    truth = frames["ground_truth/entities.csv"].filter(pl.col("system") == "erp")
    for name, table, key in (("erp/customers.parquet", "customers", "customer_no"),
                             ("erp/suppliers.parquet", "suppliers", "supplier_no")):
        frame = frames[name]
        given = frame.filter(pl.col("register_no").is_not_null())
        assert 0.2 * len(frame) < len(given) < 0.7 * len(frame), (name, len(given), len(frame))
        assert given["register_no"].str.contains(r"^(HRA|HRB) ?\d+(, Amtsgericht .+)?$").all()
        assert given["register_no"].str.contains(", Amtsgericht ").any() and given["register_no"].str.contains(r"^HR[AB]\d").any()
        keyed = given.select(pl.col(key).cast(pl.String).alias("source_id"),
                             pl.col("register_no").str.replace(r"^(HR[AB]) ?(\d+).*$", "$1$2").alias("number")) \
            .join(truth.filter(pl.col("source_table") == table), on="source_id")
        assert len(keyed) == len(given)
        assert keyed.group_by("number").agg(pl.col("true_id").n_unique().alias("n"))["n"].max() == 1


# ----------------------------------------------------------------------------- accounting files


def test_accounting_encoding_and_formats(data, frames) -> None:
    root, _ = data
    for rel in ACCOUNTING:
        raw = (root / rel).read_bytes()
        raw.decode("cp1252")  # must decode
        if any(b >= 0x80 for b in raw):
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
    for rel in ("accounting/debitoren.csv", "accounting/kreditoren.csv"):
        raw = (root / rel).read_bytes()
        assert any(ch.encode("cp1252") in raw for ch in "äöüß"), rel
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        df = frames[rel]
        assert (df["Name"].str.len_chars() <= 30).all(), rel
        assert (df["Name"].str.len_chars() == 30).any(), rel
        assert df["GeaendertAm"].str.contains(DATE_RE.pattern).all(), rel
        assert df["Konto"].str.contains(r"^\d{5}$").all(), rel
    deb, kred = frames["accounting/debitoren.csv"], frames["accounting/kreditoren.csv"]
    assert deb["Konto"].cast(pl.Int64).is_between(10000, 69999).all()
    assert kred["Konto"].cast(pl.Int64).is_between(70000, 99999).all()
    assert deb["Kreditlimit"].str.contains(AMOUNT_RE.pattern).all()

    amount_cols = {"accounting/rechnungen.csv": ("Netto", "Steuer", "Brutto"),
                   "accounting/offene_posten.csv": ("Offen",)}
    date_cols = {"accounting/rechnungen.csv": ("Belegdatum", "Faellig"),
                 "accounting/offene_posten.csv": ("Belegdatum", "Faellig", "Stichtag")}
    for rel, cols in amount_cols.items():
        for c in cols:
            assert frames[rel][c].str.contains(AMOUNT_RE.pattern).all(), (rel, c)
        assert frames[rel][cols[-1]].str.contains(r"^\d{1,3}\.\d{3},\d{2}$").any(), rel  # thousands separator used
    for rel, cols in date_cols.items():
        for c in cols:
            assert frames[rel][c].str.contains(DATE_RE.pattern).all(), (rel, c)
    assert (frames["accounting/offene_posten.csv"]["Stichtag"] == "31.10.2026").all()
    # quoting: fields containing ';' or '"' are quoted -> the csv reader sees the right number of columns
    text = (root / "accounting/debitoren.csv").read_bytes().decode("cp1252")
    for row in csv.reader(io.StringIO(text, newline=""), delimiter=";"):
        assert len(row) == 14
    assert deb["Name"].str.contains('"', literal=True).any()  # quoted names ('Gasthof "Zur Post" ...') exist
    via_polars = pl.read_csv(io.BytesIO(text.encode("utf-8")), separator=";", quote_char='"', infer_schema=False)
    assert via_polars.with_columns(pl.all().fill_null("")).equals(deb)


# ----------------------------------------------------------------------------- ground truth


def _source_ids(frames) -> pl.DataFrame:
    parts = [
        frames["crm/accounts.csv"].select(pl.lit("crm").alias("system"), pl.lit("accounts").alias("source_table"),
                                          pl.col("account_id").alias("source_id")),
        frames["erp/customers.parquet"].select(pl.lit("erp").alias("system"), pl.lit("customers").alias("source_table"),
                                               pl.col("customer_no").cast(pl.String).alias("source_id")),
        frames["erp/suppliers.parquet"].select(pl.lit("erp").alias("system"), pl.lit("suppliers").alias("source_table"),
                                               pl.col("supplier_no").cast(pl.String).alias("source_id")),
        frames["accounting/debitoren.csv"].select(pl.lit("accounting").alias("system"),
                                                  pl.lit("debitoren").alias("source_table"),
                                                  pl.col("Konto").alias("source_id")),
        frames["accounting/kreditoren.csv"].select(pl.lit("accounting").alias("system"),
                                                   pl.lit("kreditoren").alias("source_table"),
                                                   pl.col("Konto").alias("source_id")),
    ]
    return pl.concat(parts)


def test_entities_cover_every_master_record_once(frames) -> None:
    ent = frames["ground_truth/entities.csv"]
    src = _source_ids(frames)
    key = ["system", "source_table", "source_id"]
    assert ent.select(key).is_duplicated().sum() == 0
    assert src.is_duplicated().sum() == 0
    assert sorted(ent.select(key).rows()) == sorted(src.rows())
    golden = frames["ground_truth/golden.csv"]
    assert golden["true_id"].is_unique().all()
    assert set(ent["true_id"]) == set(golden["true_id"])
    # true ids are typed consistently
    assert ent.join(golden.select("true_id", pl.col("entity_type").alias("gt")), on="true_id").filter(
        pl.col("entity_type") != pl.col("gt")).is_empty()
    assert ent.filter(pl.col("entity_type") == "supplier")["source_table"].is_in(["suppliers", "kreditoren"]).all()
    # multi-system entities exist (customers in all three systems)
    n_sys = ent.group_by("true_id").agg(pl.col("system").n_unique().alias("n"))
    assert (n_sys["n"] == 3).sum() > 800
    assert (n_sys["n"] == 2).sum() > 200
    # CRM prospects are their own entities, only in the CRM
    acc = frames["crm/accounts.csv"]
    prospects = ent.join(acc.filter(pl.col("account_type") == "prospect").select(pl.col("account_id").alias("source_id")),
                         on="source_id")["true_id"]
    assert len(prospects) > 50
    assert ent.filter(pl.col("true_id").is_in(prospects.implode()))["system"].unique().to_list() == ["crm"]


def test_golden_values_valid(frames) -> None:
    from schwifty import IBAN
    from stdnum.ch import vat as ch_vat
    from stdnum.eu import vat as eu_vat

    g = frames["ground_truth/golden.csv"]
    assert set(g["legal_form"].unique()) <= {"GmbH", "GmbH & Co. KG", "e.K.", "AG", "KG", "OHG", "UG", "GbR"}
    assert g["country"].unique().sort().to_list() == ["AT", "CH", "DE"]
    for lf in ("GmbH", "e.K.", "UG"):  # name without legal form
        assert not g["name"].str.ends_with(" " + lf).any()
    vats = [v for v in g["vat_id"].to_list() if v]
    ibans = [v for v in g["iban"].to_list() if v]
    assert 0.65 < len(vats) / len(g) < 0.9
    assert 0.75 < len(ibans) / len(g) < 0.95
    assert all(ch_vat.is_valid(v) if v.startswith("CHE") else eu_vat.is_valid(v) for v in vats)
    for v in ibans:
        IBAN(v)  # raises if invalid
    assert len(set(vats)) == len(vats) and len(set(ibans)) == len(ibans)


def test_hard_negatives(frames) -> None:
    hn = frames["ground_truth/hard_negatives.csv"]
    g = frames["ground_truth/golden.csv"]
    assert len(hn) >= 20
    assert (hn["true_id_a"] != hn["true_id_b"]).all()
    j = hn.join(g.select(pl.col("true_id").alias("true_id_a"), pl.col("name").alias("name_a"),
                         pl.col("entity_type").alias("ta"), pl.col("vat_id").alias("vat_a"),
                         pl.col("street").alias("street_a"), pl.col("city").alias("city_a"),
                         pl.col("legal_form").alias("lf_a")), on="true_id_a") \
          .join(g.select(pl.col("true_id").alias("true_id_b"), pl.col("name").alias("name_b"),
                         pl.col("entity_type").alias("tb"), pl.col("vat_id").alias("vat_b"),
                         pl.col("street").alias("street_b"), pl.col("city").alias("city_b"),
                         pl.col("legal_form").alias("lf_b")), on="true_id_b")
    assert len(j) == len(hn)
    assert (j["name_a"] == j["name_b"]).all()
    assert ((j["entity_type"] == j["ta"]) & (j["entity_type"] == j["tb"])).all()
    # distinct companies: different address or legal form, never the same VAT ID
    assert ((j["city_a"] != j["city_b"]) | (j["street_a"] != j["street_b"]) | (j["lf_a"] != j["lf_b"])).all()
    assert j.filter((pl.col("vat_a") != "") & (pl.col("vat_a") == pl.col("vat_b"))).is_empty()


def test_drift_present(frames) -> None:
    ent = frames["ground_truth/entities.csv"]
    g = frames["ground_truth/golden.csv"]
    deb = frames["accounting/debitoren.csv"]
    erp = frames["erp/customers.parquet"]
    deb_g = deb.join(ent.filter(pl.col("source_table") == "debitoren").select("true_id", pl.col("source_id").alias("Konto")),
                     on="Konto").join(g, on="true_id")
    # umlaut transliteration in accounting names
    assert deb_g.filter(pl.col("name").str.contains("ü") & pl.col("Name").str.contains("ue")).height >= 10
    # umlauts kept elsewhere in accounting names
    assert deb_g.filter(pl.col("Name").str.contains("[äöüß]")).height >= 10
    # upper-case names, legal-form variants
    assert deb_g.filter(pl.col("Name") == pl.col("Name").str.to_uppercase()).height >= 5
    acc = frames["crm/accounts.csv"]
    assert acc["account_name"].str.contains("Gesellschaft mit beschränkter Haftung").any()
    assert acc["account_name"].str.contains(r"e\. K\.|\beK\b").any() or deb["Name"].str.contains(r"e\. K\.|\beK\b").any()
    # street abbreviations
    assert deb["Strasse"].str.contains(r"str\.|Str\.").sum() >= 20
    assert erp["street"].str.contains(r"str\.|Str\.").sum() >= 20
    # ERP copies differ from the truth for some records (typos/abbreviations/old addresses)
    erp_g = erp.select(pl.col("customer_no").cast(pl.String).alias("source_id"), pl.col("street").alias("erp_street"),
                       pl.col("zip").alias("erp_zip"), pl.col("iban").alias("iban_erp"), "updated_at").join(
        ent.filter(pl.col("source_table") == "customers").select("true_id", "source_id"), on="source_id").join(
        g, on="true_id")
    assert erp_g.filter(pl.col("erp_street") != pl.col("street")).height > 50
    # different IBAN between ERP and accounting for the same true entity (changed bank account)
    both = erp_g.select("true_id", "iban_erp", "erp_zip", "postcode").join(
        deb_g.select("true_id", pl.col("IBAN").str.replace_all(" ", "").alias("iban_acc"), "PLZ"), on="true_id")
    changed = both.filter(pl.col("iban_erp").is_not_null() & (pl.col("iban_acc") != "")
                          & (pl.col("iban_erp") != pl.col("iban_acc")))
    assert changed.height >= 10
    # moved addresses: one system still has the old postcode while the other has the current one
    both = both.with_columns(pl.col("PLZ").str.replace(r"^(A|CH)-", "").str.strip_chars_start("0").alias("plz_n"),
                             pl.col("erp_zip").str.strip_chars_start("0").alias("erp_n"),
                             pl.col("postcode").str.strip_chars_start("0").alias("true_n"))
    moved = both.filter((pl.col("erp_n") != pl.col("plz_n"))
                        & ((pl.col("erp_n") == pl.col("true_n")) | (pl.col("plz_n") == pl.col("true_n"))))
    assert moved.height >= 10
    # accounting names are cut to 30 characters after drift
    assert deb_g.filter(pl.col("Name").str.len_chars() == 30).height >= 10


def test_copy_identifiers_mostly_valid(frames) -> None:
    from schwifty import IBAN
    from stdnum.ch import vat as ch_vat
    from stdnum.eu import vat as eu_vat

    def vat_ok(v: str) -> bool:
        return ch_vat.is_valid(v) if v.upper().startswith("CHE") else eu_vat.is_valid(v)

    def iban_ok(v: str) -> bool:
        try:
            IBAN(v)
            return True
        except Exception:
            return False

    vats = [v for v in frames["accounting/debitoren.csv"]["UStIdNr"].to_list() if v] + \
        frames["erp/customers.parquet"]["vat_id"].drop_nulls().to_list() + \
        [v for v in frames["crm/accounts.csv"]["vat_id"].to_list() if v]
    ibans = [v for v in frames["accounting/debitoren.csv"]["IBAN"].to_list() if v] + \
        frames["erp/customers.parquet"]["iban"].drop_nulls().to_list()
    bad_vat = sum(not vat_ok(v) for v in vats)
    bad_iban = sum(not iban_ok(v) for v in ibans)
    assert 0 < bad_vat < 0.03 * len(vats)
    assert 0 < bad_iban < 0.03 * len(ibans)


# ----------------------------------------------------------------------------- referential integrity


def test_referential_integrity(frames) -> None:
    orders = frames["erp/orders.parquet"]
    lines = frames["erp/order_lines.parquet"]
    cust = frames["erp/customers.parquet"]
    items = frames["erp/items.parquet"]
    sup = frames["erp/suppliers.parquet"]
    po = frames["erp/purchase_orders.parquet"]
    inv = frames["accounting/rechnungen.csv"]
    pay = frames["payments"]
    op = frames["accounting/offene_posten.csv"]
    deb = frames["accounting/debitoren.csv"]

    assert orders["order_no"].is_unique().all()
    assert lines.select("order_no", "line_no").is_duplicated().sum() == 0
    assert lines.join(orders, on="order_no", how="anti").is_empty()
    assert orders.join(lines, on="order_no", how="anti").is_empty()  # every order has lines
    assert orders.join(cust, on="customer_no", how="anti").is_empty()
    assert lines.join(items, on="item_no", how="anti").is_empty()
    assert items.join(sup, on="supplier_no", how="anti").is_empty()
    assert po.join(sup, on="supplier_no", how="anti").is_empty()
    assert po.join(items, on="item_no", how="anti").is_empty()
    # order region = customer's region
    oc = orders.join(cust.select("customer_no", pl.col("region").alias("cust_region")), on="customer_no")
    assert (oc["region"] == oc["cust_region"]).all()

    assert inv["Belegnr"].is_unique().all()
    assert inv.join(deb, on="Konto", how="anti").is_empty()
    assert pay.join(inv, on="Belegnr", how="anti").is_empty()
    assert op.join(inv, on="Belegnr", how="anti").is_empty()
    pj = pay.join(inv.select("Belegnr", pl.col("Konto").alias("inv_konto")), on="Belegnr")
    assert (pj["Konto"] == pj["inv_konto"]).all()

    # one invoice per delivered/invoiced order, amounts consistent with the order lines
    billed = orders.filter(pl.col("status").is_in(["delivered", "invoiced"]))
    inv_n = inv.with_columns(pl.col("Auftragsnr").cast(pl.Int64).alias("order_no"), cents("Netto").alias("netto"),
                             cents("Steuer").alias("steuer"), cents("Brutto").alias("brutto"))
    assert inv_n["order_no"].is_unique().all()
    assert sorted(inv_n["order_no"].to_list()) == sorted(billed["order_no"].to_list())
    line_sum = lines.group_by("order_no").agg((pl.col("net_amount").cast(pl.Float64) * 100).round(0).cast(pl.Int64)
                                             .sum().alias("lines_net"))
    chk = inv_n.join(line_sum, on="order_no")
    assert (chk["netto"] == chk["lines_net"]).all()
    assert (chk["brutto"] == chk["netto"] + chk["steuer"]).all()
    # 19% VAT for German customers, 0% for AT/CH
    deb_land = deb.select("Konto", "Land")
    t = chk.join(deb_land, on="Konto")
    de = t.filter(pl.col("Land") == "DE")
    assert ((de["steuer"] - (de["netto"] * 19 / 100)).abs() <= 1).all()
    assert (t.filter(pl.col("Land") != "DE")["steuer"] == 0).all()
    # the invoiced customer in accounting is the ERP customer of the order (same true entity)
    ent = frames["ground_truth/entities.csv"]
    e_deb = ent.filter(pl.col("source_table") == "debitoren").select("true_id", pl.col("source_id").alias("Konto"))
    e_cus = ent.filter(pl.col("source_table") == "customers").select(
        "true_id", pl.col("source_id").cast(pl.Int64).alias("customer_no"))
    m = chk.join(e_deb, on="Konto").join(orders.select("order_no", "customer_no"), on="order_no").join(
        e_cus, on="customer_no", suffix="_erp")
    assert m.height == chk.height and (m["true_id"] == m["true_id_erp"]).all()


def test_payments_and_open_items(frames) -> None:
    inv = frames["accounting/rechnungen.csv"].with_columns(cents("Brutto").alias("brutto"))
    pay = frames["payments"].with_columns(cents("Betrag").alias("betrag"))
    op = frames["accounting/offene_posten.csv"].with_columns(cents("Offen").alias("offen"))
    paid = pay.group_by("Belegnr").agg(pl.col("betrag").sum().alias("paid"))
    t = inv.join(paid, on="Belegnr", how="left").with_columns(pl.col("paid").fill_null(0))
    t = t.with_columns((pl.col("brutto") - pl.col("paid")).alias("rest"))
    assert (t["rest"] >= 0).all()
    expected = t.filter(pl.col("rest") > 0).select("Belegnr", "rest").sort("Belegnr")
    got = op.select("Belegnr", pl.col("offen").alias("rest")).sort("Belegnr")
    assert expected.equals(got)
    # most invoices are paid, some partially, some late
    assert 0.75 < (t["rest"] == 0).mean() < 0.97
    assert t.filter((pl.col("paid") > 0) & (pl.col("rest") > 0)).height > 10
    assert pay.group_by("Belegnr").len().filter(pl.col("len") > 1).height > 10
    # payment dates not after the Stichtag
    d = pay["Datum"].str.strptime(pl.Date, "%d.%m.%Y")
    assert d.max().isoformat() <= "2026-10-31"


def test_kpi_story(frames) -> None:
    """Seasonality/trend and a visible drop of one product group in one region in the last month."""
    orders = frames["erp/orders.parquet"].filter(pl.col("status") != "cancelled")
    lines = frames["erp/order_lines.parquet"]
    items = frames["erp/items.parquet"].select("item_no", "product_group_name")
    x = lines.join(orders, on="order_no").join(items, on="item_no").with_columns(
        pl.col("order_date").dt.strftime("%Y-%m").alias("m"), pl.col("net_amount").cast(pl.Float64))
    cell = x.filter((pl.col("region") == "South") & (pl.col("product_group_name") == "Hydraulik")) \
        .group_by("m").agg(pl.col("net_amount").sum()).sort("m")
    last = cell["net_amount"][-1]
    prev = cell["net_amount"][-4:-1].mean()
    assert last < 0.5 * prev
    monthly = x.group_by("m").agg(pl.len().alias("n")).sort("m")["n"]
    assert len(monthly) == 24
    assert monthly.max() > 1.5 * monthly.min()


def test_konto_digits_grow_with_scale() -> None:
    assert konto_digits(1500, 300) == 5
    assert konto_digits(60_000, 30_000) == 5
    assert konto_digits(375_000, 75_000) == 6
