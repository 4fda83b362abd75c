"""Per-system drift of master data copies (seeded, each copy independently)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from . import refdata as R
from .names import translit


@dataclass(frozen=True)
class Profile:
    lf_variant: float  # legal form written as a variant
    lf_missing: float  # legal form omitted
    abbrev: float  # name words abbreviated
    translit: float  # umlauts transliterated (whole record)
    upper: float  # name in upper case
    typo_name: float
    typo_street: float
    street_abbrev: float  # Straße -> Str. / Strasse
    city_variant: float
    vat_missing: float
    iban_missing: float
    bic_missing: float
    bad_id: float  # invalid IBAN / VAT (wrong check digit)
    email_alt: tuple[str, ...]
    email_alt_p: float
    email_missing: float
    phone_missing: float


PROFILES = {
    "crm": Profile(lf_variant=0.12, lf_missing=0.05, abbrev=0.06, translit=0.04, upper=0.02, typo_name=0.05,
                   typo_street=0.05, street_abbrev=0.30, city_variant=0.05, vat_missing=0.30, iban_missing=1.0,
                   bic_missing=1.0, bad_id=0.01, email_alt=("vertrieb", "einkauf", "zentrale"), email_alt_p=0.12,
                   email_missing=0.04, phone_missing=0.03),
    "erp": Profile(lf_variant=0.15, lf_missing=0.03, abbrev=0.10, translit=0.10, upper=0.06, typo_name=0.05,
                   typo_street=0.05, street_abbrev=0.45, city_variant=0.06, vat_missing=0.12, iban_missing=0.05,
                   bic_missing=0.12, bad_id=0.01, email_alt=("bestellung", "einkauf"), email_alt_p=0.10,
                   email_missing=0.05, phone_missing=0.05),
    "acc": Profile(lf_variant=0.25, lf_missing=0.08, abbrev=0.25, translit=0.45, upper=0.12, typo_name=0.05,
                   typo_street=0.05, street_abbrev=0.55, city_variant=0.08, vat_missing=0.18, iban_missing=0.03,
                   bic_missing=0.08, bad_id=0.01, email_alt=("buchhaltung", "rechnung", "rechnungen"),
                   email_alt_p=0.25, email_missing=0.08, phone_missing=0.06),
}

_STRASSE_END = re.compile(r"(?<=\w)straße$")
_STRASSE_WORD = re.compile(r"\bStraße\b")


def typo(rnd: random.Random, s: str) -> str:
    """One char swapped / dropped / replaced / doubled (never the first char)."""
    pos = [i for i, ch in enumerate(s) if ch.isalpha() and i > 0]
    if len(pos) < 2:
        return s
    i = rnd.choice(pos)
    kind = rnd.randrange(4)
    if kind == 0 and i + 1 < len(s) and s[i + 1].isalpha() and s[i + 1] != s[i]:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == 1:
        return s[:i] + s[i + 1:]
    if kind == 2:
        ch = s[i]
        nb = R.KEY_NEIGHBOURS.get(ch.lower())
        if nb:
            rep = rnd.choice(nb)
            return s[:i] + (rep.upper() if ch.isupper() else rep) + s[i + 1:]
    return s[:i] + s[i] + s[i:]


def corrupt_check_digit(s: str) -> str:
    """Change the last digit: a single-digit substitution, always detected by the check digit."""
    for i in range(len(s) - 1, -1, -1):
        if s[i].isdigit():
            return s[:i] + str((int(s[i]) + 3) % 10) + s[i + 1:]
    return s


class Copy:
    """Drifts one entity's attributes for one system. Record-level decisions (transliteration,
    upper case) are drawn once so that name, street and city behave consistently."""

    def __init__(self, rnd: random.Random, system: str) -> None:
        self.rnd = rnd
        self.p = PROFILES[system]
        self.tr = rnd.random() < self.p.translit
        self.up = rnd.random() < self.p.upper

    def name(self, base: str, legal_form: str) -> str:
        rnd, p = self.rnd, self.p
        words = base.split(" ")
        if rnd.random() < p.abbrev:
            cand = [i for i, w in enumerate(words) if w in R.WORD_ABBREVIATIONS]
            if cand:
                for i in cand:
                    if i == cand[0] or rnd.random() < 0.5:
                        words[i] = rnd.choice(R.WORD_ABBREVIATIONS[words[i]])
        s = " ".join(words)
        if legal_form:
            r = rnd.random()
            if r < p.lf_missing:
                lf = ""
            elif r < p.lf_missing + p.lf_variant:
                lf = rnd.choice(R.LEGAL_FORM_VARIANTS[legal_form])
            else:
                lf = R.LEGAL_FORM_TEXT[legal_form]
            if lf:
                s = f"{s} {lf}"
        if rnd.random() < p.typo_name:
            s = typo(rnd, s)
        if self.tr:
            s = translit(s)
        if self.up:
            s = s.upper()
        return s

    def street(self, street: str, house_no: str) -> tuple[str, str]:
        rnd, p = self.rnd, self.p
        if rnd.random() < p.street_abbrev:
            if _STRASSE_END.search(street):
                street = _STRASSE_END.sub(rnd.choice(("str.", "str.", "str.", "strasse")), street)
            elif "Straße" in street:
                street = _STRASSE_WORD.sub(rnd.choice(("Str.", "Str.", "Strasse")), street)
        if rnd.random() < p.typo_street:
            street = typo(rnd, street)
        if self.tr:
            street = translit(street)
        if house_no[-1].isalpha() and rnd.random() < 0.3:
            house_no = house_no[:-1] + rnd.choice((" " + house_no[-1], house_no[-1].upper()))
        elif "-" in house_no and rnd.random() < 0.3:
            house_no = house_no.replace("-", " - ")
        return street, house_no

    def city(self, city: str) -> str:
        if self.rnd.random() < self.p.city_variant and city in R.CITY_VARIANTS:
            city = self.rnd.choice(R.CITY_VARIANTS[city])
        if self.tr:
            city = translit(city)
        return city

    def vat(self, vat: str) -> str:
        rnd = self.rnd
        if not vat or rnd.random() < self.p.vat_missing:
            return ""
        if rnd.random() < self.p.bad_id:
            vat = corrupt_check_digit(vat[:-4]) + vat[-4:] if vat.startswith("CHE") else corrupt_check_digit(vat)
        r = rnd.random()
        if vat.startswith("DE"):
            if r < 0.08:
                return f"DE {vat[2:5]} {vat[5:8]} {vat[8:]}"
            if r < 0.10:
                return vat.lower()
        elif vat.startswith("ATU"):
            if r < 0.15:
                return f"ATU {vat[3:]}"
        elif vat.startswith("CHE"):
            d = vat[3:12]
            if r < 0.6:
                return f"CHE-{d[:3]}.{d[3:6]}.{d[6:]} MWST"
        return vat

    def iban(self, iban: str, bic: str, spaced_p: float = 0.0) -> tuple[str, str]:
        rnd = self.rnd
        if not iban or rnd.random() < self.p.iban_missing:
            return "", ""
        if rnd.random() < self.p.bad_id:
            iban = corrupt_check_digit(iban)
        if rnd.random() < spaced_p:
            iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        if not bic or rnd.random() < self.p.bic_missing:
            bic = ""
        elif rnd.random() < 0.1 and bic.endswith("XXX"):
            bic = bic[:-3]
        return iban, bic

    def email(self, email: str) -> str:
        rnd = self.rnd
        if rnd.random() < self.p.email_missing:
            return ""
        local, _, dom = email.partition("@")
        if rnd.random() < self.p.email_alt_p and not dom.startswith(("t-online", "gmx", "web.", "gmail", "online")):
            local = rnd.choice(self.p.email_alt)
        s = f"{local}@{dom}"
        return s.upper() if rnd.random() < 0.01 else s

    def phone(self, phone: str) -> str:
        rnd = self.rnd
        if rnd.random() < self.p.phone_missing:
            return ""
        cc, area, sub = phone[1:].split(" ")
        r = rnd.random()
        if r < 0.30:
            return phone
        if r < 0.55:
            return f"0{area} {sub}"
        if r < 0.75:
            return f"0{area}/{sub}"
        if r < 0.85:
            return f"+{cc} (0){area} {sub}"
        if r < 0.93:
            return f"+{cc}{area}{sub}"
        return f"00{cc} {area} {sub}-0"

    def postcode(self, pc: str, country: str, system: str) -> str:
        if system == "acc":
            if pc.startswith("0") and self.rnd.random() < 0.5:
                return pc.lstrip("0")  # numeric PLZ field in the old accounting system
            if country in ("AT", "CH") and self.rnd.random() < 0.15:
                return f"{'A' if country == 'AT' else 'CH'}-{pc}"
        return pc


def split_name(full: str, rnd: random.Random, city: str) -> tuple[str, str | None]:
    """ERP: name1 max 40 chars, name2 = overflow (word boundary) or a branch suffix."""
    if len(full) <= 40:
        if rnd.random() < 0.08:
            suf = rnd.choice(R.NAME2_SUFFIXES).format(city=city, n=rnd.randint(1, 3))
            return full, suf
        return full, None
    cut = full.rfind(" ", 0, 41)
    if cut <= 0:
        cut = 40
        return full[:cut], full[cut:].strip() or None
    return full[:cut], full[cut + 1:].strip() or None


def cut30(s: str) -> str:
    return s[:30].rstrip()
