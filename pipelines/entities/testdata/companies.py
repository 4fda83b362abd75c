"""An independent generator of company master records with ground truth, for testing entity resolution.

Written without the demo generator (``pipelines/demo``) in view, with its own noise model, so the
entity stage is judged on data it was not tuned on. ``generate(out_dir, companies=1500, seed=1)``
writes three systems' extracts and the truth:

- ``crm.csv`` (street and house number in one field, e-mail, phone, no bank details),
  ``erp.csv`` (name in two 40-character lines, house number apart, IBAN, commercial register number),
  ``accounting.csv`` (name cut hard at 30 characters, IBAN, e-mail, phone);
- ``ground_truth/entities.csv`` (entity_type, system, source_id, true_id: one true_id per legal entity),
  ``ground_truth/hard_negatives.csv`` (entity_type, true_id_a, true_id_b, kind).

Noise: abbreviations, transliteration (ü/ue, ß/ss) or lost umlauts, upper case, typos, legal-form
spellings, truncation at 30/40 characters, moves (one system keeps the old address), new bank
accounts (one system keeps the old IBAN), missing values, in-system duplicates, phone formats,
city spellings, mistyped VAT IDs, register numbers written four ways (with and without the court)
and missing for about half of the records. The register numbers come from a random stream of their
own, so the other columns are the same with or without them.

Hard negatives (distinct legal entities that look alike), about a third of the companies:
``sister`` (one family, other trade, one address, one switchboard, one mail domain: "Huber Bau
GmbH" / "Huber Logistik KG"), ``legal_form`` (same name and address, GmbH vs GmbH & Co. KG vs AG),
``other_city`` (same name and form, another city), ``regional`` (subsidiaries "... Nord GmbH" /
"... Süd GmbH"), ``franchise`` (one brand, independent franchisees). A legal entity's branch
office ("Niederlassung Köln", another address, same VAT ID) is one entity: a hard positive.
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.entities.testdata import vocabulary as V

SYSTEMS = ("crm", "erp", "accounting")
PRESENCE = {"crm": 0.75, "erp": 0.7, "accounting": 0.65}
COLUMNS = {
    "crm": ["crm_id", "firma", "strasse_hnr", "plz", "ort", "land", "ust_id", "email", "telefon", "geaendert"],
    "erp": ["kunden_nr", "name1", "name2", "strasse", "hnr", "plz", "ort", "land", "ust_id", "iban", "geaendert",
            "handelsregister"],
    "accounting": ["konto", "name", "anschrift", "plz", "ort", "land", "ust_id", "iban", "email", "telefon", "geaendert"],
}
FAMILY_KINDS = ("sister", "legal_form", "other_city", "regional", "franchise")
# The register a German legal form is entered in: capital companies in HRB, partnerships and
# merchants in HRA (a GmbH & Co. KG is a KG: HRA, its GmbH has an HRB of its own).
REGISTERS = {"GmbH": "HRB", "UG": "HRB", "AG": "HRB", "KG": "HRA", "GmbH & Co. KG": "HRA", "OHG": "HRA", "e.K.": "HRA"}


@dataclass(frozen=True)
class Address:
    street: str
    house: str
    postcode: str
    city: str
    country: str


@dataclass(frozen=True)
class Company:
    true_id: str
    base: str                 # name without legal form
    legal_form: str
    address: Address
    vat_id: str
    iban: str
    phone: str                # digits after the country code, e.g. "89 1234567"
    domain: str | None        # company mail domain, None: a freemail address
    family: str | None = None
    register: str | None = None   # "HRB 12345 B" (Austrian companies: none, their Firmenbuch is another register)


class Generator:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.seed = seed
        self.registers = random.Random(f"{seed}:registers")    # a stream of its own: see the module docstring
        self.used_names: set[str] = set()
        self.serial = 0

    # ---- the true companies ------------------------------------------------------------
    def _id(self) -> str:
        self.serial += 1
        return f"T{self.serial:06d}"

    def legal_form(self) -> str:
        forms = list(V.LEGAL_FORM_WEIGHTS)
        return self.r.choices(forms, weights=[V.LEGAL_FORM_WEIGHTS[f] for f in forms])[0]

    def address(self, city: tuple | None = None) -> Address:
        name, (lo, hi), _, country = city or self.r.choice(V.CITIES)
        postcode = str(self.r.randint(lo, hi)).zfill(4 if country == "AT" else 5)
        house = str(self.r.randint(1, 180)) + (self.r.choice("abc") if self.r.random() < 0.1 else "")
        return Address(self.r.choice(V.STREETS), house, postcode, name, country)

    def vat(self, country: str) -> str:
        from stdnum.at import uid
        from stdnum.iso7064 import mod_11_10

        if country == "AT":
            body = "U" + str(self.r.randint(1_000_000, 9_999_999))
            return "AT" + body + uid.calc_check_digit(body)
        body = str(self.r.randint(10_000_000, 99_999_999))
        return "DE" + body + mod_11_10.calc_check_digit(body)

    def iban(self, country: str) -> str:
        from schwifty import IBAN

        bank = self.r.choice(V.BANK_CODES[country])
        account = str(self.r.randint(10 ** 7, 10 ** 10 - 1)) if country == "DE" else str(self.r.randint(10 ** 9, 10 ** 11 - 1))
        return str(IBAN.generate(country, bank_code=bank, account_code=account).compact)

    def phone(self, city: str) -> str:
        return f"{V.AREA_CODES[city]} {self.r.randint(100_000, 9_999_999)}"

    def domain(self, base: str) -> str | None:
        if self.r.random() < 0.15:
            return None
        word = base.replace(" ", "-") if self.r.random() < 0.5 else base.replace(" ", "")
        word = fold_ascii(word).lower().replace("&", "und").replace(".", "")
        return f"{word}{self.r.choice(['', '-gmbh', '-online', ''])}.{'at' if self.r.random() < 0.05 else 'de'}"

    def unique_base(self, make) -> str:
        for _ in range(200):
            base = make()
            if base not in self.used_names:
                self.used_names.add(base)
                return base
        raise RuntimeError("name space exhausted: lower the number of companies")

    def plain_name(self) -> str:
        r, s, t = self.r, self.r.choice(V.SURNAMES), self.r.choice(V.TRADES)
        pattern = r.random()
        if pattern < 0.35:
            return f"{s} {t}"
        if pattern < 0.55:
            return f"{t} {s}"
        if pattern < 0.7:
            return f"{s} & {r.choice(V.SURNAMES)} {t}"
        if pattern < 0.8:
            return f"{r.choice(V.REGIONS)} {t}{r.choice(V.WORKS)}"
        if pattern < 0.9:
            return f"Gebrüder {s} {t}"
        letters = "".join(r.choice("ABDEFGHKLMNPRSTW") for _ in range(r.randint(2, 4)))
        return f"{letters} {t}"

    def company(self, base: str, form: str | None = None, address: Address | None = None, phone: str | None = None,
                domain: str | None | bool = False, family: str | None = None) -> Company:
        address = address or self.address()
        form = form or self.legal_form()
        return Company(self._id(), base, form, address, self.vat(address.country),
                       self.iban(address.country), phone or self.phone(address.city),
                       self.domain(base) if domain is False else domain, family, self.register(form, address))

    def register(self, form: str, address: Address) -> str | None:
        """The company's entry in the commercial register: one number per legal entity, the court's
        city suffix for Berlin ('B')."""
        number = 1_000 + 13 * self.serial + self.registers.randrange(13)     # one per legal entity
        if address.country != "DE" or form not in REGISTERS:
            return None
        return f"{REGISTERS[form]} {number}" + (" B" if address.city == "Berlin" else "")

    def family(self, kind: str, number: int) -> list[Company]:
        fam = f"{kind}-{number}"
        r = self.r
        if kind == "sister":
            surname = r.choice(V.SURNAMES)
            address = self.address()
            phone, domain = self.phone(address.city), fold_ascii(surname).lower() + "-gruppe.de"
            return [self.company(self.unique_base(lambda: f"{surname} {r.choice(V.TRADES)}"), address=address,
                                 phone=phone, domain=domain, family=fam) for _ in range(r.randint(2, 3))]
        if kind == "legal_form":
            base = self.unique_base(self.plain_name)
            forms = r.choice([("GmbH", "GmbH & Co. KG"), ("GmbH", "AG"), ("KG", "GmbH & Co. KG"), ("GmbH", "UG"),
                              ("GmbH", "GmbH & Co. KG", "AG")])
            address = self.address()
            phone, domain = self.phone(address.city), self.domain(base)
            return [self.company(base, form=f, address=address, phone=phone, domain=domain, family=fam) for f in forms]
        if kind == "other_city":
            base = self.unique_base(self.plain_name)
            form = self.legal_form()
            cities = r.sample(V.CITIES, r.randint(2, 3))
            return [self.company(base, form=form, address=self.address(c), family=fam) for c in cities]
        if kind == "regional":
            base = self.unique_base(lambda: f"{r.choice(V.SURNAMES)} {r.choice(V.TRADES)}")
            parts = r.sample(["Nord", "Süd", "West", "Ost", "Mitte"], r.randint(2, 3))
            return [self.company(f"{base} {p}", form="GmbH", family=fam) for p in parts]
        # franchise: one brand, independent owners in other cities
        brand = r.choice(V.BRANDS)
        return [self.company(self.unique_base(lambda: f"{brand} {r.choice(V.SURNAMES)}"),
                             form=r.choice(["e.K.", "GmbH", "UG"]), family=fam) for _ in range(r.randint(2, 3))]

    def companies(self, n: int, hard_share: float) -> list[Company]:
        out: list[Company] = []
        number = 0
        while sum(c.family is not None for c in out) < n * hard_share:
            number += 1
            out += self.family(FAMILY_KINDS[number % len(FAMILY_KINDS)], number)
        while len(out) < n:
            out.append(self.company(self.unique_base(self.plain_name)))
        self.r.shuffle(out)
        return out

    # ---- noisy records -----------------------------------------------------------------
    def noisy_name(self, c: Company) -> tuple[str, str]:
        """(base, legal form) as one clerk typed them."""
        r = self.r
        base = c.base
        if r.random() < 0.15:
            base = " ".join(V.ABBREVIATIONS.get(w, w) for w in base.split())
            for long, short in V.ABBREVIATIONS.items():
                if long.islower() and long in base and r.random() < 0.5:
                    base = base.replace(long, short)
        if r.random() < 0.06:
            base = typo(r, base)
        form = r.choice(V.LEGAL_FORMS[c.legal_form])
        return base, form

    def style(self, text: str, translit: float, upper: float) -> str:
        if self.r.random() < translit:
            text = fold_ascii(text) if self.r.random() < 0.85 else drop_umlauts(text)
        if self.r.random() < upper:
            text = text.upper()
        return text

    def street(self, a: Address) -> str:
        street = a.street
        roll = self.r.random()
        if roll < 0.25:
            street = street.replace("straße", "str.").replace("Straße", "Str.")
        elif roll < 0.35:
            street = street.replace("straße", "strasse").replace("Straße", "Strasse")
        if self.r.random() < 0.03:
            street = typo(self.r, street)
        return street

    def city(self, a: Address) -> str:
        spellings = next(c[2] for c in V.CITIES if c[0] == a.city)
        return self.r.choice(spellings) if spellings and self.r.random() < 0.3 else a.city

    def phone_text(self, c: Company) -> str:
        area, number = c.phone.split()
        cc = "43" if c.address.country == "AT" else "49"
        return self.r.choice([f"+{cc} {area} {number}", f"0{area}/{number}", f"0{area} {number}-0",
                              f"(0{area}) {number}", f"+{cc} ({0}){area} {number}", f"00{cc}{area}{number}"])

    def email(self, c: Company) -> str:
        local = self.r.choice(["info", "buchhaltung", "einkauf", "office", "kontakt"])
        if c.domain is None:
            return f"{fold_ascii(c.base.split()[-1]).lower()}.{self.r.randint(1, 999)}@{self.r.choice(V.FREEMAIL)}"
        return f"{local}@{c.domain}"

    def vat_text(self, c: Company) -> str:
        vat = c.vat_id
        if self.r.random() < 0.03:      # a mistyped, invalid VAT ID
            i = self.r.randrange(4, len(vat))
            vat = vat[:i] + str((int(vat[i]) + 1) % 10) + vat[i + 1:]
        return self.r.choice([vat, vat, f"{vat[:2]} {vat[2:]}", f"{vat[:2]}-{vat[2:5]} {vat[5:8]} {vat[8:]}"])

    def maybe(self, value: str, missing: float) -> str:
        return "" if self.r.random() < missing else value

    def register_text(self, c: Company, source_id: str) -> str:
        """The register number as an ERP clerk typed it, or nothing (half of them never did)."""
        r = random.Random(f"{self.seed}:register:{source_id}")
        if c.register is None or r.random() < 0.45:
            return ""
        court = f"Amtsgericht {c.address.city}"
        return r.choice([c.register, c.register, c.register.replace(" ", ""), f"{court}, {c.register}",
                         f"{c.register}, AG {c.address.city}"])

    def record(self, system: str, c: Company, source_id: str, updated: str, branch: str | None = None) -> dict[str, str]:
        r = self.r
        base, form = self.noisy_name(c)
        name = self.style(f"{base} {form}", translit=0.25 if system != "crm" else 0.08, upper=0.3 if system == "accounting" else 0.05)
        a = c.address
        street, city = self.style(self.street(a), 0.2, 0.05), self.style(self.city(a), 0.15, 0.05)
        house = a.house if r.random() > 0.15 else a.house.upper().replace("A", " a")
        vat = self.maybe(self.vat_text(c), {"crm": 0.55, "erp": 0.4, "accounting": 0.3}[system])
        if system == "crm":
            return {"crm_id": source_id, "firma": name, "strasse_hnr": self.maybe(f"{street} {house}", 0.05),
                    "plz": self.maybe(a.postcode, 0.05), "ort": city, "land": self.maybe(a.country, 0.3), "ust_id": vat,
                    "email": self.maybe(self.email(c), 0.2), "telefon": self.maybe(self.phone_text(c), 0.15), "geaendert": updated}
        if system == "erp":
            line1, line2 = split_lines(name, 40)
            if branch:
                line2 = branch
            return {"kunden_nr": source_id, "name1": line1, "name2": line2, "strasse": self.maybe(street, 0.03),
                    "hnr": self.maybe(house, 0.05), "plz": a.postcode, "ort": city, "land": a.country, "ust_id": vat,
                    "iban": self.maybe(c.iban, 0.25), "geaendert": updated,
                    "handelsregister": self.register_text(c, source_id)}
        return {"konto": source_id, "name": name[:30], "anschrift": self.maybe(f"{street} {house}", 0.05), "plz": a.postcode,
                "ort": city, "land": self.maybe(a.country, 0.5), "ust_id": vat, "iban": self.maybe(c.iban, 0.1),
                "email": self.maybe(self.email(c), 0.3), "telefon": self.maybe(self.phone_text(c), 0.2), "geaendert": updated}

    def date(self, lo: int = 2019, hi: int = 2026) -> str:
        return f"{self.r.randint(lo, hi)}-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d} 10:00:00"


def fold_ascii(text: str) -> str:
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss")):
        text = text.replace(a, b)
    return text


def drop_umlauts(text: str) -> str:
    for a, b in (("ä", "a"), ("ö", "o"), ("ü", "u"), ("Ä", "A"), ("Ö", "O"), ("Ü", "U"), ("ß", "ss")):
        text = text.replace(a, b)
    return text


def typo(r: random.Random, text: str) -> str:
    """One edit (swap, drop, double or replace a letter) inside a word longer than four letters."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not long:
        return text
    i = r.choice(long)
    w = words[i]
    j = r.randrange(1, len(w) - 1)
    kind = r.randrange(4)
    if kind == 0:
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif kind == 1:
        w = w[:j] + w[j + 1:]
    elif kind == 2:
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + r.choice("aeinrst") + w[j + 1:]
    words[i] = w
    return " ".join(words)


def split_lines(name: str, width: int) -> tuple[str, str]:
    """A long name in two lines of ``width`` characters, cut between words as ERP clerks do."""
    if len(name) <= width:
        return name, ""
    words, line1 = name.split(), ""
    while words and len(line1) + len(words[0]) + (1 if line1 else 0) <= width:
        line1 = f"{line1} {words.pop(0)}".strip()
    return (line1, " ".join(words)[:width]) if line1 else (name[:width], name[width:2 * width])


def generate(out_dir: Path, companies: int = 1500, seed: int = 1, hard_share: float = 0.3,
             entity_type: str = "customer") -> dict[str, int]:
    """Write the extracts and the ground truth under ``out_dir``; returns counts."""
    g = Generator(seed)
    truth = g.companies(companies, hard_share)
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SYSTEMS}
    membership: list[tuple[str, str, str]] = []
    prefixes = {"crm": "A-", "erp": "", "accounting": ""}
    counters = {"crm": 100_000, "erp": 20_000, "accounting": 10_000}

    def add(system: str, c: Company, updated: str, branch: str | None = None) -> None:
        counters[system] += g.r.randint(1, 3)
        source_id = f"{prefixes[system]}{counters[system]}"
        rows[system].append(g.record(system, c, source_id, updated, branch))
        membership.append((system, source_id, c.true_id))

    for c in truth:
        systems = [s for s in SYSTEMS if g.r.random() < PRESENCE[s]] or [g.r.choice(SYSTEMS)]
        moved = g.r.random() < 0.08 and len(systems) > 1
        rebanked = g.r.random() < 0.1 and len(systems) > 1
        stale = g.r.choice(systems)
        for system in systems:
            copy, updated = c, g.date()
            if system == stale and moved:       # this system still has the address before the move
                copy, updated = replace(copy, address=g.address()), g.date(2015, 2018)
            if system == stale and rebanked:    # and the old bank account
                copy, updated = replace(copy, iban=g.iban(c.address.country)), g.date(2015, 2018)
            add(system, copy, updated)
            if g.r.random() < 0.05:             # a duplicate inside the same system
                add(system, c, g.date())
        if c.family is None and "erp" in systems and g.r.random() < 0.03:   # a branch office: same entity
            branch_city = g.r.choice(V.CITIES)
            add("erp", replace(c, address=g.address(branch_city)), g.date(), branch=f"Niederlassung {branch_city[0]}")
    families: dict[str, list[Company]] = {}
    for c in truth:
        if c.family:
            families.setdefault(c.family, []).append(c)
    write_set(out_dir, rows, membership, [(fam.split("-")[0], [c.true_id for c in members])
                                          for fam, members in sorted(families.items())], entity_type)
    return {"companies": len(truth), "records": len(membership), "hard_negative_companies": sum(map(len, families.values())),
            **{f"records_{s}": len(rows[s]) for s in SYSTEMS}}


def write_systems(out_dir: Path, rows: dict[str, list[dict[str, str]]],
                  columns: dict[str, list[str]] | None = None) -> None:
    """One CSV per system of ``rows`` (its columns: ``columns`` or :data:`COLUMNS`; a column a
    record leaves out is empty)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for system, records in rows.items():
        with open(out_dir / f"{system}.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=(columns or COLUMNS)[system])
            writer.writeheader()
            writer.writerows(records)


def write_set(out_dir: Path, rows: dict[str, list[dict[str, str]]], membership: list[tuple[str, str, str]],
              families: list[tuple[str, list[str]]], entity_type: str,
              columns: dict[str, list[str]] | None = None) -> None:
    """A generated set as the harness reads it: one CSV per system (``COLUMNS``), the ground truth
    (``ground_truth/entities.csv``) and every pair within a family of distinct companies, with the
    family's kind (``ground_truth/hard_negatives.csv``); ``families``: (kind, true ids) in order;
    ``columns``: each system's columns, :data:`COLUMNS` unless given."""
    (out_dir / "ground_truth").mkdir(parents=True, exist_ok=True)
    write_systems(out_dir, rows, columns)
    with open(out_dir / "ground_truth" / "entities.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["entity_type", "system", "source_id", "true_id"])
        writer.writerows((entity_type, *m) for m in membership)
    with open(out_dir / "ground_truth" / "hard_negatives.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["entity_type", "true_id_a", "true_id_b", "kind"])
        for kind, ids in families:
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    writer.writerow([entity_type, a, b, kind])
