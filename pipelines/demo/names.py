"""Company and person name building (German SME style)."""

from __future__ import annotations

import random
import re

from . import refdata as R

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss",
                           "é": "e", "è": "e"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def translit(s: str) -> str:
    """Umlaut transliteration ü->ue, ö->oe, ä->ae, ß->ss."""
    return s.translate(_TRANSLIT)


def name_key(s: str) -> str:
    """Normalised key used to keep base names unique (case/umlaut/punctuation insensitive)."""
    return _NON_ALNUM.sub("", translit(s).lower())


def slug(s: str) -> str:
    return _NON_ALNUM.sub("-", translit(s).lower()).strip("-")


# legal-form weights per name pattern (order = R.LEGAL_FORMS: GmbH, GmbH & Co. KG, e.K., AG, KG, OHG, UG, GbR)
_LF_WEIGHTS = {
    "surname_branch": (50, 18, 8, 1, 8, 4, 7, 4),
    "prefix_surname": (22, 4, 50, 0, 6, 5, 5, 8),
    "place_branch": (55, 20, 0, 10, 8, 0, 7, 0),
    "pair": (20, 8, 0, 0, 22, 25, 0, 25),
    "first_surname": (35, 8, 35, 0, 6, 4, 8, 4),
    "family": (35, 25, 5, 0, 20, 15, 0, 0),
    "acronym": (60, 15, 0, 10, 5, 0, 10, 0),
    "surname": (45, 15, 15, 3, 12, 5, 5, 0),
    "inn": (40, 0, 45, 0, 10, 0, 0, 5),
}
_CUST_PATTERNS = (("surname_branch", 30), ("prefix_surname", 24), ("place_branch", 9), ("pair", 8),
                  ("first_surname", 12), ("family", 6), ("acronym", 6), ("surname", 5), ("inn", 2))
_SUPP_PATTERNS = (("surname_branch", 35), ("prefix_surname", 15), ("place_branch", 15), ("pair", 5),
                  ("family", 10), ("acronym", 15), ("surname", 5))
_LETTERS = "ABCDEFGHIKLMNPRSTWZ"
_INN_KIND = ("Gasthof", "Gasthaus", "Brauereigasthof", "Hotel", "Landgasthof")
_INN_NAMES = ("Zur Post", "Zum Hirschen", "Goldener Löwe", "Zur Linde", "Weißes Rössl", "Zum Stern", "Krone",
              "Zur Sonne", "Schwarzer Adler", "Zum Bräu")
_DISAMBIG = ("Süd", "Nord", "Ost", "West", "Bayern", "Service", "Technik", "Vertrieb", "Systeme", "Donau",
             "Oberpfalz", "Niederbayern", "Franken", "Holding", "Werke", "Handel", "Industrie", "International",
             "Partner", "Produktion", "Montage", "Süddeutschland", "Ostbayern", "Isartal", "Vilstal", "Bayerwald")


class CompanyNamer:
    """Builds unique base names (without legal form). Keeps a set of normalised keys across chunks."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def _pattern(self, rnd: random.Random, supplier_group: int | None) -> tuple[str, str, str]:
        """Return (base_name, pattern, industry)."""
        pats = _SUPP_PATTERNS if supplier_group is not None else _CUST_PATTERNS
        pat = rnd.choices([p for p, _ in pats], weights=[w for _, w in pats])[0]
        if supplier_group is not None:
            branch = rnd.choice(R.SUPPLIER_BRANCHES[supplier_group])
            industry = "Industrie"
            pre_branch = suf_branch = place_branch = branch
        else:
            suf_branch, industry_s = rnd.choice(R.CUSTOMER_SUFFIX_BRANCHES)
            pre_branch, industry_p = rnd.choice(R.CUSTOMER_PREFIX_BRANCHES)
            place_branch, industry_pl = rnd.choice(R.PLACE_BRANCHES)
            industry = {"prefix_surname": industry_p, "place_branch": industry_pl}.get(pat, industry_s)
        sn = rnd.choice(R.SURNAMES)
        if pat == "surname_branch":
            name = f"{sn} {suf_branch}"
        elif pat == "prefix_surname":
            name = f"{pre_branch} {sn}"
        elif pat == "place_branch":
            name = f"{rnd.choice(R.PLACE_ADJECTIVES)} {place_branch}"
        elif pat == "pair":
            sn2 = rnd.choice(R.SURNAMES)
            while sn2 == sn:
                sn2 = rnd.choice(R.SURNAMES)
            name = f"{sn} & {sn2}" + (f" {suf_branch}" if rnd.random() < 0.5 else "")
        elif pat == "first_surname":
            first = rnd.choice(R.FIRST_NAMES_M if rnd.random() < 0.8 else R.FIRST_NAMES_F)
            name = f"{first} {sn} {suf_branch}" if rnd.random() < 0.6 else f"{pre_branch} {first} {sn}"
        elif pat == "family":
            name = rnd.choice((f"Gebrüder {sn}", f"{sn} & Söhne", f"{sn} + Partner", f"Gebrüder {sn} {suf_branch}"))
        elif pat == "inn":  # quoted inn names exercise CSV quoting
            name = f'{rnd.choice(_INN_KIND)} "{rnd.choice(_INN_NAMES)}" {sn}'
            industry = "Gastronomie"
        elif pat == "acronym":
            k = rnd.choice((2, 3, 3))
            name = "".join(rnd.choice(_LETTERS) for _ in range(k)) + f" {suf_branch}"
        else:
            name = sn
        return name, pat, industry

    def new(self, rnd: random.Random, supplier_group: int | None = None) -> tuple[str, str, str]:
        """Return a unique (base_name, legal_form, industry)."""
        name, pat, industry = self._pattern(rnd, supplier_group)
        tries = 0
        while name_key(name) in self.used:
            tries += 1
            name, pat, industry = self._pattern(rnd, supplier_group)
            if tries >= 6:
                # crowded name space (large scales): add one or more distinguishing words
                k = min(1 + (tries - 6) // 10, 4)
                name = f"{name} {' '.join(rnd.sample(_DISAMBIG, k))}"
        self.used.add(name_key(name))
        lf = rnd.choices(R.LEGAL_FORMS, weights=_LF_WEIGHTS[pat])[0]
        return name, lf, industry


def person(rnd: random.Random) -> tuple[str, str, str]:
    """(salutation, first_name, last_name)"""
    if rnd.random() < 0.62:
        return "Herr", rnd.choice(R.FIRST_NAMES_M), rnd.choice(R.SURNAMES)
    return "Frau", rnd.choice(R.FIRST_NAMES_F), rnd.choice(R.SURNAMES)
