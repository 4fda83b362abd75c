"""A third, independent probe of the entity stage: company records from Faker's de_DE, de_AT and
de_CH locales, with a noise model of its own (neither the demo generator's nor ``companies.py``'s).

The names, legal forms, streets, postcodes and cities are Faker's (so the legal forms are the
ones Faker writes: "GmbH & Co. KGaA", "AG & Co. OHG", "Stiftung & Co. KG", "e.G.", "GesbR", "OG",
"& Partner", "& Cie.", Swiss and Austrian four-digit postcodes); VAT IDs carry check digits
computed by python-stdnum (DE, ATU, CHE ... MWST), IBANs by schwifty. ``generate(out_dir,
companies=1000, seed=1)`` writes the same three extracts and ground truth as ``companies.py``
(columns :data:`pipelines.entities.testdata.companies.COLUMNS`), so
:func:`pipelines.entities.testdata.harness.run` measures the shipped ``customer`` configuration on it.

Noise, per record: the legal form written out or abbreviated differently ("Gesellschaft mbH",
"Aktiengesellschaft", "GmbH u. Co. KG"), "&" / "und", ß -> ss and umlauts written out or dropped,
upper case, one keyboard-neighbour typo, ERP names cut at 40 characters in the middle of a word
with the rest in name2, accounting names cut at 30, "Straße" / "Str." / "Strasse" / "STR.",
"Platz" / "Pl.", house numbers "12a" / "12 A", postcodes with the country prefix ("A-1010",
"CH-8001") or without, country codes and country names ("Österreich", "Schweiz", "D"), phones
national / international / with "(0)" / with slashes, VAT IDs with blanks, dots or lower case,
Swiss VAT IDs with and without "MWST"; missing values; moves (one system keeps the old address),
new bank accounts (one system keeps the old IBAN) and duplicates inside one system.

Hard negatives (distinct legal entities that look alike), at least a fifth of the companies:
``sister`` (one family name, another trade word, one address, one phone, one mail domain),
``legal_form`` (one name, one address and phone: GmbH / GmbH & Co. KG / AG / KGaA of one group),
``other_city`` (one name and legal form, another city, its own mail domain), ``cross_border`` (namesakes in Germany,
Austria and Switzerland: "Meyer AG" in Zürich, "Meyer GmbH" in Wien), ``association`` (an e.V.
and the GmbH it runs, one name, one address and phone).

    python -m pipelines.entities.testdata.faker_companies --companies 1000 --seed 1 --out /tmp/fk
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.entities.testdata.companies import write_set

SYSTEMS = ("crm", "erp", "accounting")
LOCALES = {"DE": "de_DE", "AT": "de_AT", "CH": "de_CH"}
COUNTRY_WEIGHTS = {"DE": 0.6, "AT": 0.2, "CH": 0.2}
CALLING = {"DE": "49", "AT": "43", "CH": "41"}
BANKS = {"DE": ["37040044", "10070000", "50010517", "70150000", "20050550"],
         "AT": ["20111", "12000", "14000", "38000"],
         "CH": ["00700", "00230", "09000", "00762"]}
COUNTRY_NAMES = {"DE": ["DE", "DE", "D", "Deutschland", "GERMANY"], "AT": ["AT", "AT", "A", "Österreich", "AUSTRIA"],
                 "CH": ["CH", "CH", "Schweiz", "SWITZERLAND"]}
# Ways a legal form is written out or abbreviated in master data (only these forms get variants).
FORM_SPELLINGS = {
    "GmbH": ["Gesellschaft mbH", "Gesellschaft mit beschränkter Haftung", "G.m.b.H.", "GMBH"],
    "AG": ["Aktiengesellschaft", "A.G."],
    "KG": ["Kommanditgesellschaft"],
    "GmbH & Co. KG": ["GmbH u. Co. KG", "GmbH & Co.KG", "GmbH und Co. KG", "GmbH&Co. KG"],
    "OHG": ["oHG"],
    "e.V.": ["eV", "e. V.", "eingetragener Verein"],
}
TRADES = ["Bau", "Immobilien", "Logistik", "Verwaltung", "Holding", "Technik", "Handel", "Service", "Consulting",
          "Beteiligungen", "Elektro", "Transporte", "Software", "Energie", "Medizintechnik"]
KINDS = ("sister", "legal_form", "other_city", "cross_border", "association")
KEYBOARD = {"a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo", "k": "jl",
            "l": "k", "m": "n", "n": "bm", "o": "ip", "r": "et", "s": "ad", "t": "rz", "u": "zi", "z": "tu"}


@dataclass(frozen=True)
class Site:
    street: str
    house: str
    postcode: str
    city: str
    country: str
    phone: str          # national significant number, digits only, e.g. "891234567"


@dataclass(frozen=True)
class Firm:
    true_id: str
    base: str
    form: str           # as Faker writes it, "" for a name without one
    site: Site
    vat: str
    iban: str
    domain: str | None
    kind: str | None = None
    family: str | None = None


class FakerCompanies:
    def __init__(self, seed: int):
        from faker import Faker

        self.r = random.Random(seed)
        self.fakers = {}
        for country, locale in LOCALES.items():
            f = Faker(locale)
            f.seed_instance(seed * 10 + len(self.fakers))
            self.fakers[country] = f
        self.serial = 0
        self.bases: set[str] = set()

    def _id(self) -> str:
        self.serial += 1
        return f"F{self.serial:06d}"

    def country(self) -> str:
        return self.r.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]

    def base(self, country: str) -> str:
        """A company name without legal form, from Faker's last names, unused so far (a name is one company
        unless a hard-negative family shares it on purpose)."""
        f = self.fakers[country]
        for _ in range(200):
            shape = self.r.random()
            if shape < 0.45:
                name = f.last_name()
            elif shape < 0.75:
                name = f"{f.last_name()} {f.last_name()}"
            else:
                name = f"{f.last_name()} & {f.last_name()}"
            if name.lower() not in self.bases:
                self.bases.add(name.lower())
                return name
        raise RuntimeError("faker_companies: out of names; lower --companies")

    def form(self, country: str) -> str:
        """A legal form as Faker writes it; one name in ten has none (a sole trader's "Meyer")."""
        return "" if self.r.random() < 0.1 else self.fakers[country].company_suffix()

    def site(self, country: str) -> Site:
        f = self.fakers[country]
        house = str(self.r.randint(1, 160)) + (self.r.choice("abc") if self.r.random() < 0.08 else "")
        area = str(self.r.randint(2, 9)) + "".join(str(self.r.randint(0, 9)) for _ in range(self.r.randint(1, 3)))
        phone = area + "".join(str(self.r.randint(0, 9)) for _ in range(self.r.randint(5, 7)))
        return Site(f.street_name(), house, f.postcode(), f.city(), country, phone)

    def vat(self, country: str) -> str:
        from stdnum.at import uid as at_uid
        from stdnum.ch import uid as ch_uid
        from stdnum.iso7064 import mod_11_10

        if country == "AT":
            body = "U" + str(self.r.randint(1_000_000, 9_999_999))
            return "AT" + body + at_uid.calc_check_digit(body)
        if country == "CH":
            while True:
                body = str(self.r.randint(10_000_000, 99_999_999))
                digit = ch_uid.calc_check_digit(body)
                if digit != "10":      # no valid UID has this body
                    return "CHE" + body + digit
        body = str(self.r.randint(10_000_000, 99_999_999))
        return "DE" + body + mod_11_10.calc_check_digit(body)

    def iban(self, country: str) -> str:
        from schwifty import IBAN

        digits = {"DE": 10, "AT": 11, "CH": 12}[country]
        account = "".join(str(self.r.randint(0, 9)) for _ in range(digits))
        return str(IBAN.generate(country, bank_code=self.r.choice(BANKS[country]), account_code=account).compact)

    def domain(self, base: str, country: str) -> str | None:
        if self.r.random() < 0.2:
            return None
        word = base.lower().replace(" & ", "-").replace(" ", "")
        for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
            word = word.replace(a, b)
        return f"{word}.{country.lower()}"

    def firm(self, base: str, form: str, site: Site, **kw) -> Firm:
        return Firm(self._id(), base, form, site, self.vat(site.country), self.iban(site.country),
                    kw.pop("domain") if "domain" in kw else self.domain(base, site.country), **kw)

    def single(self) -> Firm:
        country = self.country()
        return self.firm(self.base(country), self.form(country), self.site(country))

    def family(self, kind: str, n: int) -> list[Firm]:
        fam = f"{kind}-{n}"
        country = self.country()
        base, site = self.base(country), self.site(country)
        if kind == "sister":       # "Meyer Bau GmbH" / "Meyer Immobilien GmbH": one address, phone, domain
            trades = self.r.sample(TRADES, self.r.choice((2, 2, 3)))
            dom = self.domain(base, country)
            return [self.firm(f"{base} {t}", self.form(country), site, domain=dom, kind=kind, family=fam) for t in trades]
        if kind == "legal_form":   # one group, one building: GmbH, GmbH & Co. KG, AG, KGaA
            forms = self.r.sample(["GmbH", "GmbH & Co. KG", "AG", "GmbH & Co. KGaA", "KG", "AG & Co. KG"],
                                  self.r.choice((2, 2, 3)))
            return [self.firm(base, f, site, kind=kind, family=fam) for f in forms]
        if kind == "other_city":   # one name and form, independent companies in other cities (and
            form = self.form(country)  # mail domains: only one of them can own the name's domain)
            firms = []
            for i in range(self.r.choice((2, 2, 3))):
                there = self.site(country)
                dom = self.domain(base if i == 0 else f"{base} {there.city.split()[0].split('/')[0]}", country)
                firms.append(self.firm(base, form, there, domain=dom, kind=kind, family=fam))
            return firms
        if kind == "cross_border":  # namesakes in DE, AT and CH, each with its country's usual form
            countries = self.r.sample(["DE", "AT", "CH"], self.r.choice((2, 2, 3)))
            forms = {"DE": ["GmbH", "AG", "GmbH & Co. KG"], "AT": ["GmbH", "AG", "KG"], "CH": ["AG", "GmbH"]}
            firms, used = [], set()
            for c in countries:
                f = self.r.choice([x for x in forms[c] if x not in used] or forms[c])
                used.add(f)
                firms.append(self.firm(base, f, self.site(c), kind=kind, family=fam))
            return firms
        # association: "Meyer e.V." and "Meyer GmbH" (its commercial arm), one address and phone
        return [self.firm(base, "e.V.", site, kind=kind, family=fam),
                self.firm(base, "GmbH", site, kind=kind, family=fam)]

    def firms(self, n: int, hard_share: float) -> list[Firm]:
        out: list[Firm] = []
        number = 0
        while sum(f.family is not None for f in out) < hard_share * n:
            number += 1
            out.extend(self.family(KINDS[number % len(KINDS)], number))
        while len(out) < n:
            out.append(self.single())
        self.r.shuffle(out)
        return out

    # ---- noise ------------------------------------------------------------------------------
    def spell_form(self, form: str) -> str:
        if form in FORM_SPELLINGS and self.r.random() < 0.2:
            return self.r.choice(FORM_SPELLINGS[form])
        return form

    def letters(self, text: str, p_fold: float, p_drop: float, p_upper: float) -> str:
        x = self.r.random()
        if x < p_fold:
            for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss")):
                text = text.replace(a, b)
        elif x < p_fold + p_drop:
            for a, b in (("ä", "a"), ("ö", "o"), ("ü", "u"), ("Ä", "A"), ("Ö", "O"), ("Ü", "U"), ("ß", "ss")):
                text = text.replace(a, b)
        return text.upper() if self.r.random() < p_upper else text

    def typo(self, text: str) -> str:
        """A keyboard-neighbour slip in a letter of a word of five letters or more (not the first letter)."""
        spots = [i for i in range(1, len(text) - 1) if text[i].lower() in KEYBOARD and text[i - 1].isalpha()
                 and text[i + 1].isalpha()]
        if not spots:
            return text
        i = self.r.choice(spots)
        return text[:i] + self.r.choice(KEYBOARD[text[i].lower()]) + text[i + 1:]

    def name(self, f: Firm, system: str) -> str:
        base = f.base.replace(" & ", " und ") if " & " in f.base and self.r.random() < 0.15 else f.base
        if self.r.random() < 0.06:
            base = self.typo(base)
        text = f"{base} {self.spell_form(f.form)}".strip()
        return self.letters(text, 0.2, 0.08, {"crm": 0.03, "erp": 0.1, "accounting": 0.35}[system])

    def street(self, s: Site) -> tuple[str, str]:
        """(street, house number) as one clerk typed them."""
        street = s.street
        x = self.r.random()
        stem = street[:-6] if street.endswith("straße") else street[:-7] if street.endswith("strasse") else None
        if stem is not None and x < 0.4:
            street = stem + self.r.choice(["str.", "strasse", "straße", "Str."])
        elif street.endswith("platz") and x < 0.3:
            street = street[:-5] + "pl."
        house = s.house if self.r.random() > 0.1 else s.house.upper().replace("A", " A").replace("B", " B").replace("C", " C")
        return self.letters(street, 0.12, 0.03, 0.05), house

    def postcode(self, s: Site) -> str:
        x = self.r.random()
        if s.country != "DE" and x < 0.12:
            return {"AT": "A-", "CH": "CH-"}[s.country] + s.postcode
        if s.country == "DE" and x < 0.05:
            return "D-" + s.postcode
        return s.postcode

    def phone(self, s: Site) -> str:
        national = "0" + s.phone
        cut = self.r.randint(2, 4)
        area, rest = s.phone[:cut], s.phone[cut:]
        cc = CALLING[s.country]
        return self.r.choice([f"+{cc} {area} {rest}", f"+{cc} (0){area} {rest}", f"00{cc} {area} {rest}",
                              f"0{area} {rest}", f"0{area}/{rest}", national, f"+{cc}{s.phone}"])

    def vat_text(self, f: Firm) -> str:
        v = f.vat
        if v.startswith("CHE"):
            body = f"CHE-{v[3:6]}.{v[6:9]}.{v[9:]}"
            return self.r.choice([body + " MWST", body + " MWST", v + "MWST", body])
        x = self.r.random()
        if x < 0.15:
            v = f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"
        elif x < 0.2:
            v = v.lower()
        if self.r.random() < 0.02:      # a digit typed wrong: fails its check, no key
            i = self.r.randrange(4, len(v))
            v = v[:i] + str((int(v[i]) + 1) % 10 if v[i].isdigit() else 1) + v[i + 1:]
        return v

    def email(self, f: Firm) -> str:
        if f.domain is None:
            handle = self.fakers[f.site.country].last_name().lower().replace("ü", "ue").replace("ö", "oe").replace(
                "ä", "ae").replace("ß", "ss")
            return f"{handle}{self.r.randint(1, 99)}@{self.r.choice(['gmx.de', 'web.de', 'gmail.com', 'bluewin.ch', 'gmx.at'])}"
        return f"{self.r.choice(['info', 'office', 'buchhaltung', 'kontakt', 'verkauf'])}@{f.domain}"

    def maybe(self, value: str, missing: float) -> str:
        return "" if self.r.random() < missing else value

    def record(self, system: str, f: Firm, source_id: str, updated: str) -> dict[str, str]:
        s = f.site
        name = self.name(f, system)
        city = self.letters(s.city, 0.15, 0.03, 0.05)
        country = self.maybe(self.r.choice(COUNTRY_NAMES[s.country]), {"crm": 0.2, "erp": 0.05, "accounting": 0.4}[system])
        vat = self.maybe(self.vat_text(f), {"crm": 0.5, "erp": 0.35, "accounting": 0.3}[system])
        street, house = self.street(s)
        if system == "crm":
            return {"crm_id": source_id, "firma": name, "strasse_hnr": self.maybe(f"{street} {house}", 0.04),
                    "plz": self.maybe(self.postcode(s), 0.04), "ort": city, "land": country, "ust_id": vat,
                    "email": self.maybe(self.email(f), 0.25), "telefon": self.maybe(self.phone(s), 0.2), "geaendert": updated}
        if system == "erp":
            # cut at 40 characters wherever that falls, the rest goes to the second line
            return {"kunden_nr": source_id, "name1": name[:40], "name2": name[40:80], "strasse": self.maybe(street, 0.03),
                    "hnr": house, "plz": self.postcode(s), "ort": city, "land": country, "ust_id": vat,
                    "iban": self.maybe(f.iban, 0.3), "geaendert": updated, "handelsregister": ""}
        return {"konto": source_id, "name": name[:30], "anschrift": self.maybe(f"{street} {house}", 0.06), "plz": self.postcode(s),
                "ort": city, "land": country, "ust_id": vat, "iban": self.maybe(f.iban, 0.15),
                "email": self.maybe(self.email(f), 0.35), "telefon": self.maybe(self.phone(s), 0.25), "geaendert": updated}

    def date(self, lo: int = 2020, hi: int = 2026) -> str:
        return f"{self.r.randint(lo, hi)}-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d} 09:30:00"


def generate(out_dir: Path, companies: int = 1000, seed: int = 1, hard_share: float = 0.25,
             entity_type: str = "customer") -> dict[str, int]:
    """Write crm.csv, erp.csv, accounting.csv and ground_truth/ under ``out_dir``; returns counts."""
    g = FakerCompanies(seed)
    firms = g.firms(companies, hard_share)
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SYSTEMS}
    membership: list[tuple[str, str, str]] = []
    next_id = {"crm": 500_000, "erp": 70_000, "accounting": 40_000}
    prefix = {"crm": "K-", "erp": "", "accounting": ""}

    def add(system: str, f: Firm, updated: str) -> None:
        next_id[system] += g.r.randint(1, 4)
        source_id = f"{prefix[system]}{next_id[system]}"
        rows[system].append(g.record(system, f, source_id, updated))
        membership.append((system, source_id, f.true_id))

    for f in firms:
        systems = [s for s in SYSTEMS if g.r.random() < {"crm": 0.7, "erp": 0.75, "accounting": 0.6}[s]]
        systems = systems or [g.r.choice(SYSTEMS)]
        stale = g.r.choice(systems) if len(systems) > 1 else None
        moved, rebanked = g.r.random() < 0.07, g.r.random() < 0.08
        for system in systems:
            copy, updated = f, g.date()
            if system == stale and moved:      # still the address before the move (same country)
                copy, updated = replace(copy, site=replace(g.site(f.site.country), phone=f.site.phone)), g.date(2016, 2019)
            if system == stale and rebanked:   # still the old bank account
                copy, updated = replace(copy, iban=g.iban(f.site.country)), g.date(2016, 2019)
            add(system, copy, updated)
            if g.r.random() < 0.04:            # entered twice in one system
                add(system, f, g.date())
    families: dict[str, list[Firm]] = {}
    for f in sorted(firms, key=lambda f: f.true_id):
        if f.family:
            families.setdefault(f.family, []).append(f)
    write_set(out_dir, rows, membership, [(m[0].kind, [f.true_id for f in m])
                                          for m in sorted(families.values(), key=lambda m: m[0].true_id)], entity_type)
    kinds = {k: sum(f.kind == k for f in firms) for k in KINDS}
    return {"companies": len(firms), "records": len(membership),
            "hard_negative_companies": sum(f.family is not None for f in firms),
            **{f"companies_{k}": v for k, v in kinds.items()},
            **{f"companies_{c}": sum(f.site.country == c for f in firms) for c in LOCALES},
            **{f"records_{s}": len(rows[s]) for s in SYSTEMS}}


def main() -> None:
    from pipelines.entities.testdata.harness import main as run_generator

    run_generator(generate, companies=1000, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()
