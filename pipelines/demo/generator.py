"""Orchestration: generate all demo files chunk by chunk (bounded memory, deterministic)."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import numpy as np

from . import refdata as R
from .companies import Entity, IdFactory, make_entities
from .drift import Copy, cut30, split_name
from .items import make_items
from .names import CompanyNamer, person, translit
from .transactions import LAST, SalesCustomers, purchase_orders, sales
from .writers import (
    OutputSet, date_array, de_amount, de_amounts, de_date, de_dates, decimal_array, ts_array,
)

CHUNK = 20_000  # entities per chunk
PO_CHUNK = 100_000

# base rates at scale 1.0
N_CUSTOMERS = 1500
N_PROSPECTS = 150
N_SUPPLIERS = 300
N_ITEMS = 400
N_ORDERS = 12_000
N_POS = 2_400
P_ACTIVE = 0.95 * 0.895  # share of customers that are invoiced (in ERP and accounting)
MEAN_ACTIVE_SHARE = 0.91  # mean share of the period a customer exists (new customers start later)

_REGION_IDX = {r: i for i, r in enumerate(R.REGIONS)}
_STICHTAG = de_date(R.PERIOD_END)


def _off(d: dt.date) -> int:
    return (d - R.PERIOD_START).days


def _iso(off: int) -> str:
    return (R.PERIOD_START + dt.timedelta(days=off)).isoformat()


def _iso_ts(off: int, sec: int) -> str:
    return f"{_iso(off)} {sec // 3600:02d}:{sec % 3600 // 60:02d}:{sec % 60:02d}"


def konto_digits(n_customers: int, n_suppliers: int) -> int:
    """DATEV personal accounts: 5 digits (10000..69999 / 70000..99999); one digit more when the
    number of debtors/creditors does not fit (as with a longer Sachkontenlaenge in DATEV)."""
    d = 5
    while n_customers > 6 * 10 ** (d - 1) or n_suppliers > 3 * 10 ** (d - 1):
        d += 1
    return d


class _Times:
    """Per-copy timestamps that respect the stale/fresh story of an entity."""

    @staticmethod
    def updated(rnd: random.Random, e: Entity, system: str, created: int) -> tuple[int, int]:
        if e.stale_sys and e.event_date is not None:
            ev = _off(e.event_date)
            if system == e.stale_sys:
                lo, hi = max(created, ev - 700), ev - 1
            else:
                lo, hi = ev, LAST
        else:
            lo, hi = max(created, -900), LAST
        day = rnd.randint(lo, max(lo, hi))
        return day, rnd.randint(7 * 3600, 19 * 3600)


# The register a legal form is entered in (a GbR is in none): capital companies in HRB,
# partnerships and merchants in HRA.
_REGISTER = {"GmbH": "HRB", "UG": "HRB", "AG": "HRB", "GmbH & Co. KG": "HRA", "KG": "HRA", "OHG": "HRA", "e.K.": "HRA"}


def _register_nos(seed: int, kind: str, lo: int, ents: list[Entity]) -> dict[str, str | None]:
    """The ERP's commercial register number of each entity ('HRB 12345', sometimes with the court),
    or None where the clerk left it empty (about half) or the company is in no German register.
    Drawn from a stream of its own, so every other value is the same as before the ERP had them."""
    rnd = random.Random(f"{seed}:register:{kind}:{lo}")
    out: dict[str, str | None] = {}
    for e in ents:
        # one number per entity: its index spread out, so no two entities share one
        number, shown, style = 1_000 + 7 * e.idx + rnd.randrange(7), rnd.random() < 0.5, rnd.randrange(4)
        register = _REGISTER.get(e.legal_form) if e.addr.country == "DE" else None
        if register is None or not shown:
            out[e.true_id] = None
            continue
        text = f"{register} {number}"
        out[e.true_id] = [text, text, f"{text}, Amtsgericht {e.addr.city}", text.replace(" ", "")][style]
    return out


def _addr_iban(e: Entity, system: str):
    addr = e.old_addr if (e.stale_sys == system and e.old_addr is not None) else e.addr
    if e.stale_sys == system and e.old_iban:
        return addr, e.old_iban, e.old_bic
    return addr, e.iban, e.bic


class Generator:
    def __init__(self, out_dir: Path, scale: float, seed: int) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.out_dir = Path(out_dir)
        self.scale = float(scale)
        self.seed = int(seed)
        self.n_cust = max(20, round(N_CUSTOMERS * scale))
        self.n_prosp = max(2, round(N_PROSPECTS * scale))
        self.n_supp = max(8, round(N_SUPPLIERS * scale))
        self.n_items = max(40, round(N_ITEMS * scale))
        self.n_pos = max(20, round(N_POS * scale))
        self.digits = konto_digits(self.n_cust, self.n_supp)
        self.counters = {
            "crm": 1, "contact": 1, "customer": 100001, "deb": 10 ** (self.digits - 1),
            "kred": 7 * 10 ** (self.digits - 1), "order": 10_000_001, "invoice": 30_000_001,
            "payment": 50_000_001, "po": 45_000_001,
        }
        self.orders_per_customer = N_ORDERS / (N_CUSTOMERS * P_ACTIVE) / MEAN_ACTIVE_SHARE
        self.namer = CompanyNamer()
        self.ids = IdFactory(self.seed)

    # ------------------------------------------------------------------ main
    def run(self) -> dict:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # DATEV's Sachkontenlaenge: personal accounts have one digit more than general ledger accounts
        out = OutputSet(self.out_dir, account_length=self.digits - 1)
        try:
            items, item_cols = make_items(self.n_items, self.n_supp, self.seed)
            self.items = items
            self.item_no_arr = np.array(items.item_no, dtype=object)
            out.pq["erp/items.parquet"].write({
                **item_cols,
                "list_price": decimal_array(item_cols["list_price"], 12),
                "standard_cost": decimal_array(item_cols["standard_cost"], 12),
            })
            for lo in range(0, self.n_supp, CHUNK):
                self._supplier_chunk(out, lo, min(lo + CHUNK, self.n_supp))
            n_total = self.n_cust + self.n_prosp
            for lo in range(0, n_total, CHUNK):
                self._customer_chunk(out, lo, min(lo + CHUNK, n_total), n_total)
            for lo in range(0, self.n_pos, PO_CHUNK):
                self._po_chunk(out, lo, min(lo + PO_CHUNK, self.n_pos))
        finally:
            counts = out.close()
        manifest = {
            "seed": self.seed,
            "scale": self.scale,
            "company": "Kontor Demo GmbH, Regensburg",
            "period_start": R.PERIOD_START.isoformat(),
            "period_end": R.PERIOD_END.isoformat(),
            "stichtag": R.PERIOD_END.isoformat(),
            "konto_digits": self.digits,
            "true_entities": {"customers": self.n_cust, "prospects": self.n_prosp, "suppliers": self.n_supp},
            "files": {rel: {"rows": n} for rel, n in counts.items()},
        }
        with open(self.out_dir / "ground_truth" / "manifest.json", "w", encoding="utf-8", newline="\n") as fh:
            json.dump(manifest, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        return manifest

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _golden(e: Entity) -> list:
        a = e.addr
        return [e.etype, e.true_id, e.name, e.legal_form, a.street, a.house_no, a.postcode, a.city, a.country,
                e.vat_id, e.iban, e.email, e.phone]

    def _acc_row(self, rnd: random.Random, e: Entity, konto: int, customer: bool) -> tuple[list, int]:
        cp = Copy(rnd, "acc")
        addr, iban, bic = _addr_iban(e, "acc")
        street, hno = cp.street(addr.street, addr.house_no)
        iban, bic = cp.iban(iban, bic, spaced_p=0.3)
        terms = e.payment_terms if rnd.random() > 0.04 else rnd.choice((14, 21, 30, 45, 60))
        created = _off(e.since)
        upd, _ = _Times.updated(rnd, e, "acc", created)
        if customer:
            limit = e.credit_limit if rnd.random() > 0.05 else e.credit_limit // 2
            limit_s = de_amount(limit)
        else:
            limit_s = ""
        row = [konto, cut30(cp.name(e.name, e.legal_form)), f"{street} {hno}",
               cp.postcode(addr.postcode, addr.country, "acc"), cp.city(addr.city), addr.country, cp.vat(e.vat_id),
               iban, bic, cp.email(e.email), cp.phone(e.phone), terms, limit_s, de_date(R.PERIOD_START + dt.timedelta(days=upd))]
        return row, terms

    def _erp_cols(self, rnd: random.Random, e: Entity, cols: dict, customer: bool) -> str:
        cp = Copy(rnd, "erp")
        addr, iban, bic = _addr_iban(e, "erp")
        n1, n2 = split_name(cp.name(e.name, e.legal_form), rnd, addr.city)
        street, hno = cp.street(addr.street, addr.house_no)
        iban, bic = cp.iban(iban, bic)
        created = _off(e.since)
        upd, sec = _Times.updated(rnd, e, "erp", created)
        vals = {"name1": n1, "name2": n2, "street": street, "house_no": hno, "zip": addr.postcode,
                "city": cp.city(addr.city), "country_code": addr.country, "vat_id": cp.vat(e.vat_id) or None,
                "iban": iban or None, "bic": bic or None, "payment_terms_days": e.payment_terms,
                "upd_day": upd, "upd_sec": sec}
        if customer:
            vals.update({"credit_limit": e.credit_limit, "region": addr.region, "blocked": e.blocked,
                         "created_day": created})
        for k, v in vals.items():
            cols.setdefault(k, []).append(v)
        return addr.region

    # ------------------------------------------------------------------ suppliers
    def _supplier_chunk(self, out: OutputSet, lo: int, hi: int) -> None:
        rnd = random.Random(f"{self.seed}:supplier:{lo}")
        # the ERP's e-mail for purchase orders, drawn from a stream of its own: every other value
        # is the same as in the files before suppliers had it
        mail_rnd = random.Random(f"{self.seed}:supplier_email:{lo}")
        ents, pairs = make_entities("supplier", lo, hi, rnd, self.namer, self.ids, hi)
        registers = _register_nos(self.seed, "supplier", lo, ents)
        ent_rows: list[list] = []
        cols: dict[str, list] = {}
        sup_no, emails = [], []
        for e in ents:  # every supplier is in the ERP, numbered in index order
            no = 700001 + e.idx
            sup_no.append(no)
            self._erp_cols(rnd, e, cols, customer=False)
            emails.append(Copy(mail_rnd, "erp").email(e.email) or None)
            ent_rows.append([e.etype, e.true_id, "erp", "suppliers", str(no)])
        out.pq["erp/suppliers.parquet"].write({
            "supplier_no": np.array(sup_no, dtype=np.int64),
            **{k: cols[k] for k in ("name1", "name2", "street", "house_no", "zip", "city", "country_code", "vat_id",
                                    "iban", "bic", "payment_terms_days")},
            "email": emails,
            "updated_at": ts_array(np.array(cols["upd_day"]), np.array(cols["upd_sec"])),
            "register_no": [registers[e.true_id] for e in ents],
        })
        acc = [e for e in ents if e.in_acc]
        rnd.shuffle(acc)
        rows = []
        for e in acc:
            konto = self.counters["kred"]
            self.counters["kred"] += 1
            row, _ = self._acc_row(rnd, e, konto, customer=False)
            rows.append(row)
            ent_rows.append([e.etype, e.true_id, "accounting", "kreditoren", str(konto)])
        out.csv["accounting/kreditoren.csv"].write(rows)
        out.csv["ground_truth/entities.csv"].write(sorted(ent_rows, key=lambda r: (r[1], r[2])))
        out.csv["ground_truth/golden.csv"].write(self._golden(e) for e in ents)
        out.csv["ground_truth/hard_negatives.csv"].write(["supplier", a, b] for a, b in pairs)

    # ------------------------------------------------------------------ customers
    def _customer_chunk(self, out: OutputSet, lo: int, hi: int, n_total: int) -> None:
        rnd = random.Random(f"{self.seed}:customer:{lo}")
        rng = np.random.default_rng([self.seed, 1, lo])
        ents, pairs = make_entities("customer", lo, hi, rnd, self.namer, self.ids, n_total, self.n_prosp)
        registers = _register_nos(self.seed, "customer", lo, ents)
        ent_rows: list[list] = []

        # CRM accounts + contacts
        crm = [e for e in ents if e.in_crm]
        rnd.shuffle(crm)
        acc_rows, con_rows = [], []
        for e in crm:
            aid = f"CRM-{self.counters['crm']:07d}"
            self.counters["crm"] += 1
            cp = Copy(rnd, "crm")
            addr, _, _ = _addr_iban(e, "crm")
            street, hno = cp.street(addr.street, addr.house_no)
            created = _off(e.since) - (0 if e.prospect else rnd.randint(0, 120))
            upd, sec = _Times.updated(rnd, e, "crm", created)
            acc_rows.append([aid, cp.name(e.name, e.legal_form), f"{street} {hno}", addr.postcode, cp.city(addr.city),
                             addr.country, cp.vat(e.vat_id), cp.email(e.email), cp.phone(e.phone), e.industry,
                             "prospect" if e.prospect else "customer", _iso(created), _iso_ts(upd, sec)])
            ent_rows.append([e.etype, e.true_id, "crm", "accounts", aid])
            n_con = 1 + (rnd.random() < 0.55) + (rnd.random() < 0.25) + (rnd.random() < 0.08)
            for _ in range(n_con):
                sal, first, last = person(rnd)
                cid = f"CON-{self.counters['contact']:07d}"
                self.counters["contact"] += 1
                if "@" in e.email and e.email.split("@")[1] == e.domain:
                    mail = f"{translit(first).lower()}.{translit(last).lower()}@{e.domain}"
                else:
                    mail = e.email if rnd.random() < 0.7 else ""
                _, area, sub = e.phone[1:].split(" ")
                phone = f"0{area} {sub}-{rnd.randint(10, 49)}" if rnd.random() < 0.85 else ""
                cday = rnd.randint(max(created, upd - 700), LAST)
                con_rows.append([cid, aid, sal, first, last, mail, phone, rnd.choice(R.POSITIONS),
                                 _iso_ts(cday, rnd.randint(7 * 3600, 19 * 3600))])
        out.csv["crm/accounts.csv"].write(acc_rows)
        out.csv["crm/contacts.csv"].write(con_rows)

        # ERP customers
        erp = [e for e in ents if e.in_erp]
        rnd.shuffle(erp)
        cols: dict[str, list] = {}
        cust_no: dict[str, int] = {}
        erp_region: dict[str, int] = {}
        for e in erp:
            no = self.counters["customer"]
            self.counters["customer"] += 1
            cust_no[e.true_id] = no
            erp_region[e.true_id] = _REGION_IDX[self._erp_cols(rnd, e, cols, customer=True)]
            ent_rows.append([e.etype, e.true_id, "erp", "customers", str(no)])
        if erp:
            out.pq["erp/customers.parquet"].write({
                "customer_no": np.array([cust_no[e.true_id] for e in erp], dtype=np.int64),
                **{k: cols[k] for k in ("name1", "name2", "street", "house_no", "zip", "city", "country_code",
                                        "vat_id", "iban", "bic", "payment_terms_days", "region", "blocked")},
                "credit_limit": decimal_array(np.array(cols["credit_limit"], dtype=np.int64), 12),
                "created_at": date_array(np.array(cols["created_day"])),
                "updated_at": ts_array(np.array(cols["upd_day"]), np.array(cols["upd_sec"])),
                "register_no": [registers[e.true_id] for e in erp],
            })

        # accounting debitoren (exactly the invoiced customers)
        acc = [e for e in ents if e.in_acc]
        rnd.shuffle(acc)
        deb_rows = []
        konto_of: dict[str, int] = {}
        terms_of: dict[str, int] = {}
        for e in acc:
            konto = self.counters["deb"]
            self.counters["deb"] += 1
            konto_of[e.true_id] = konto
            row, terms = self._acc_row(rnd, e, konto, customer=True)
            terms_of[e.true_id] = terms
            deb_rows.append(row)
            ent_rows.append([e.etype, e.true_id, "accounting", "debitoren", str(konto)])
        out.csv["accounting/debitoren.csv"].write(deb_rows)
        out.csv["ground_truth/entities.csv"].write(sorted(ent_rows, key=lambda r: (r[1], r[2])))
        out.csv["ground_truth/golden.csv"].write(self._golden(e) for e in ents)
        out.csv["ground_truth/hard_negatives.csv"].write(["customer", a, b] for a, b in pairs)

        # transactions for the invoiced customers of this chunk (in ERP customer number order)
        active = sorted((e for e in ents if e.in_acc and e.in_erp), key=lambda e: cust_no[e.true_id])
        if not active:
            return
        sc = SalesCustomers(
            customer_no=np.array([cust_no[e.true_id] for e in active], dtype=np.int64),
            konto=np.array([konto_of[e.true_id] for e in active], dtype=np.int64),
            region=np.array([erp_region[e.true_id] for e in active], dtype=np.int64),
            terms=np.array([terms_of[e.true_id] for e in active], dtype=np.int64),
            tax_bp=np.array([1900 if e.addr.country == "DE" else 0 for e in active], dtype=np.int64),
            start_day=np.array([max(0, _off(e.since)) for e in active], dtype=np.int64),
            discount_bp=np.array([e.discount_bp for e in active], dtype=np.int64),
            pay_type=np.array([e.pay_type for e in active], dtype=np.int64),
        )
        s = sales(rng, sc, self.items, self.orders_per_customer, self.counters)
        self._write_sales(out, s)

    def _write_sales(self, out: OutputSet, s: dict) -> None:
        o = s["orders"]
        n = len(o["order_no"])
        out.pq["erp/orders.parquet"].write({
            "order_no": o["order_no"], "customer_no": o["customer_no"], "order_date": date_array(o["order_day"]),
            "region": o["region"].tolist(), "status": o["status"].tolist(), "currency": ["EUR"] * n,
            "updated_at": ts_array(o["updated_day"], o["updated_sec"]),
        })
        ln = s["lines"]
        out.pq["erp/order_lines.parquet"].write({
            "order_no": ln["order_no"], "line_no": ln["line_no"], "item_no": self.item_no_arr[ln["item"]].tolist(),
            "quantity": decimal_array(ln["quantity"], 12), "unit_price": decimal_array(ln["unit_price"], 12),
            "discount_pct": decimal_array(ln["discount_pct"], 5), "net_amount": decimal_array(ln["net_amount"], 14),
        })
        iv = s["invoices"]
        out.csv["accounting/rechnungen.csv"].write(zip(
            iv["belegnr"].tolist(), de_dates(iv["belegdatum"]), iv["konto"].tolist(), de_dates(iv["faellig"]),
            de_amounts(iv["netto"]), de_amounts(iv["steuer"]), de_amounts(iv["brutto"]),
            ["EUR"] * len(iv["belegnr"]), iv["auftragsnr"].tolist(),
        ))
        p = s["payments"]
        # a payment received: credited (H) to the debtor's account against the bank account
        # (SKR03 1200, as long as the general ledger accounts); Belegfeld 1 the invoice it settles
        # (DATEV's open-item matching), Belegfeld 2 the payment number
        out.payments.write(p["datum"], p["betrag"], True, p["konto"], int("1200".ljust(self.digits - 1, "0")),
                           p["belegnr"], p["zahlungsnr"], "Zahlungseingang")
        op = s["open_items"]
        out.csv["accounting/offene_posten.csv"].write(zip(
            op["belegnr"].tolist(), op["konto"].tolist(), de_dates(op["belegdatum"]), de_dates(op["faellig"]),
            de_amounts(op["offen"]), [_STICHTAG] * len(op["belegnr"]),
        ))

    # ------------------------------------------------------------------ purchase orders
    def _po_chunk(self, out: OutputSet, lo: int, hi: int) -> None:
        rng = np.random.default_rng([self.seed, 3, lo])
        p = purchase_orders(rng, hi - lo, self.items, self.counters)
        out.pq["erp/purchase_orders.parquet"].write({
            "po_no": p["po_no"], "supplier_no": p["supplier_no"], "order_date": date_array(p["order_day"]),
            "item_no": self.item_no_arr[p["item"]].tolist(), "quantity": decimal_array(p["quantity"], 12),
            "net_amount": decimal_array(p["net_amount"], 14),
        })


def generate(out_dir: Path, scale: float = 1.0, seed: int = 42) -> dict:
    """Write the complete demo data set to out_dir and return the manifest."""
    return Generator(Path(out_dir), scale, seed).run()
