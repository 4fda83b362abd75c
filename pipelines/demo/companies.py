"""True (undrifted) company entities: names, addresses, VAT IDs, IBANs, system presence."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import lru_cache

from schwifty import IBAN
from stdnum.at import uid as at_uid
from stdnum.ch import uid as ch_uid
from stdnum.iso7064 import mod_11_10

from . import refdata as R
from .names import CompanyNamer, slug

# --------------------------------------------------------------------------------------------
# unique, random-looking numbers: k -> ((a*k + b) mod p)^3 mod p is a bijection on [0, p) when p is
# prime and p % 3 == 2. Used for VAT bodies and bank account numbers so that no two entities
# share an identifier by accident.


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for q in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % q == 0:
            return n == q
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@lru_cache(maxsize=None)
def _prime_below(m: int) -> int:
    p = m - 1
    while not (_is_prime(p) and p % 3 == 2):
        p -= 1
    return p


class Scrambler:
    def __init__(self, space: int, seed: int, salt: int) -> None:
        self.p = _prime_below(space)
        self.a = (6364136223846793005 + 1442695040888963407 * salt) % self.p or 1
        self.b = (seed * 2654435761 + salt * 40503 + 12345) % self.p

    def __call__(self, k: int) -> int:
        return pow((self.a * k + self.b) % self.p, 3, self.p)


# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Address:
    street: str
    house_no: str
    postcode: str
    city: str
    country: str
    region: str
    area: str


@dataclass(slots=True)
class Entity:
    etype: str  # customer | supplier
    idx: int  # index within its type (0-based)
    true_id: str
    prospect: bool
    name: str  # base name without legal form
    legal_form: str
    industry: str
    addr: Address
    vat_id: str  # "" if none
    iban: str  # "" if none
    bic: str
    email: str
    phone: str
    domain: str
    since: dt.date
    payment_terms: int
    credit_limit: int  # cents
    discount_bp: int
    pay_type: int
    blocked: bool
    in_crm: bool
    in_erp: bool
    in_acc: bool
    supplier_group: int = -1
    stale_sys: str = ""  # system holding outdated address / IBAN
    event_date: dt.date | None = None
    old_addr: Address | None = None
    old_iban: str = ""
    old_bic: str = ""
    sibling_of: str = ""


_CITY_NAMES = [c[0] for c in R.CITIES]
_CITY_CUM: list[float] = []
_acc = 0.0
for _c in R.CITIES:
    _acc += _c[5]
    _CITY_CUM.append(_acc)
_CITIES_BY_COUNTRY = {cc: [i for i, c in enumerate(R.CITIES) if c[2] == cc] for cc in ("DE", "AT", "CH")}
_PLACE_CITY = {adj: _CITY_NAMES.index(city) for adj, city in (
    ("Regensburger", "Regensburg"), ("Straubinger", "Straubing"), ("Passauer", "Passau"),
    ("Landshuter", "Landshut"), ("Amberger", "Amberg"), ("Weidener", "Weiden in der Oberpfalz"), ("Chamer", "Cham"),
    ("Kelheimer", "Kelheim"), ("Deggendorfer", "Deggendorf"), ("Schwandorfer", "Schwandorf"),
    ("Ingolstädter", "Ingolstadt"), ("Münchner", "München"), ("Nürnberger", "Nürnberg"), ("Augsburger", "Augsburg"),
)}
_COUNTRY_PHONE = {"DE": "49", "AT": "43", "CH": "41"}
_TLD = {"DE": "de", "AT": "at", "CH": "ch"}
_FREEMAIL = ("t-online.de", "gmx.de", "web.de", "gmail.com", "online.de")


def _pick_city(rnd: random.Random, country: str | None = None, avoid: str | None = None) -> int:
    for _ in range(50):
        if country is None:
            i = rnd.choices(range(len(R.CITIES)), cum_weights=_CITY_CUM)[0]
        else:
            cand = _CITIES_BY_COUNTRY[country]
            i = rnd.choices(cand, weights=[R.CITIES[j][5] for j in cand])[0]
        if R.CITIES[i][0] != avoid:
            return i
    return i


def _house_no(rnd: random.Random) -> str:
    n = rnd.randint(1, 60) if rnd.random() < 0.7 else rnd.randint(61, 180)
    r = rnd.random()
    if r < 0.08:
        return f"{n}{rnd.choice('abc')}"
    if r < 0.11:
        return f"{n}-{n + rnd.choice((1, 2, 4))}"
    return str(n)


def make_address(rnd: random.Random, country: str | None = None, avoid_city: str | None = None) -> Address:
    ci = _pick_city(rnd, country, avoid_city)
    city, pcs, cc, region, area, _ = R.CITIES[ci]
    return Address(rnd.choice(R.STREETS), _house_no(rnd), rnd.choice(pcs), city, cc, region, area)


def make_phone(rnd: random.Random, addr: Address) -> str:
    n = rnd.randint(4, 8) if addr.country == "DE" else rnd.randint(5, 7)
    sub = str(rnd.randint(2, 9)) + "".join(str(rnd.randint(0, 9)) for _ in range(n - 1))
    return f"+{_COUNTRY_PHONE[addr.country]} {addr.area} {sub}"


class IdFactory:
    """VAT IDs and IBANs, unique per entity index; valid per python-stdnum / schwifty."""

    def __init__(self, seed: int) -> None:
        self.vat_de = Scrambler(90_000_000, seed, 1)
        self.vat_at = Scrambler(9_000_000, seed, 2)
        self.vat_ch = Scrambler(90_000_000, seed, 3)
        self.acc_de = Scrambler(9_000_000_000, seed, 4)
        self.acc_at = Scrambler(90_000_000_000, seed, 5)
        self.acc_ch = Scrambler(900_000_000_000, seed, 6)
        self._bic: dict[tuple[str, str], str] = {}

    def vat(self, country: str, k: int) -> str:
        if country == "DE":
            body = str(10_000_000 + self.vat_de(k))
            return "DE" + body + mod_11_10.calc_check_digit(body)
        if country == "AT":
            body = str(1_000_000 + self.vat_at(k))
            return "ATU" + body + at_uid.calc_check_digit("U" + body)
        j = k
        while True:
            body = str(10_000_000 + self.vat_ch(j))
            cd = ch_uid.calc_check_digit(body)
            if cd != "10":
                return "CHE" + body + cd + "MWST"
            j += 45_000_000

    def iban(self, rnd: random.Random, country: str, k: int) -> tuple[str, str]:
        """Return (iban compact, bic)."""
        if country == "AT":
            bank = rnd.choice(R.BANKS_AT)
            acc = str(10_000_000_000 + self.acc_at(k))
        elif country == "CH":
            bank = rnd.choice(R.BANKS_CH)
            acc = str(100_000_000_000 + self.acc_ch(k))
        else:
            country = "DE"
            bank = rnd.choices(R.BANKS_DE, weights=R.BANK_WEIGHTS_DE)[0]
            acc = str(1_000_000_000 + self.acc_de(k))
        key = (country, bank)
        if key not in self._bic:
            # schwifty once per bank: the BIC, and a check that the fast path below lays the
            # bank's IBANs out as schwifty does
            ib = IBAN.generate(country, bank_code=bank, account_code=acc)
            if _iban(country, bank, acc) != ib.compact:
                raise AssertionError(f"IBAN fast path disagrees with schwifty for {country} {bank}")
            b = ib.bic
            self._bic[key] = str(b) if b is not None else ""
        return _iban(country, bank, acc), self._bic[key]


# the ISO 13616 check digits of an IBAN: ISO 7064 mod 97-10 over the BBAN, the country code's
# letters as numbers (A = 10 ... Z = 35) and "00"; the same value as schwifty's IBAN.generate for
# the account numbers above (bank code and account number both at their full national length:
# DE 8 + 10, AT 5 + 11, CH 5 + 12 digits), at a fraction of its cost (half the generator's time
# at scale 2 went to schwifty)
_COUNTRY_DIGITS = {c: "".join(str(ord(ch) - 55) for ch in c) for c in ("DE", "AT", "CH")}


def _iban(country: str, bank: str, account: str) -> str:
    bban = bank + account
    return f"{country}{98 - int(bban + _COUNTRY_DIGITS[country] + '00') % 97:02d}{bban}"


_ALT_LF = {"GmbH": "GmbH & Co. KG", "GmbH & Co. KG": "GmbH", "KG": "GmbH & Co. KG", "e.K.": "GmbH",
           "OHG": "KG", "UG": "GmbH", "GbR": "OHG", "AG": "GmbH"}


def _rand_date(rnd: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    span = (hi - lo).days
    return lo + dt.timedelta(days=rnd.randint(0, max(span, 0)))


def make_entities(
    etype: str,
    lo: int,
    hi: int,
    rnd: random.Random,
    namer: CompanyNamer,
    ids: IdFactory,
    n_total: int,
    n_prospects: int = 0,
) -> tuple[list[Entity], list[tuple[str, str]]]:
    """Create true entities with indices lo..hi-1. Returns (entities, hard_negative_pairs)."""
    ents: list[Entity] = []
    is_sup = etype == "supplier"
    gidx_off = 0 if not is_sup else 40_000_000
    for i in range(lo, hi):
        prospect = (not is_sup) and ((i + 1) * n_prospects // n_total) != (i * n_prospects // n_total)
        group = i % len(R.PRODUCT_GROUPS) if is_sup else None
        name, lf, industry = namer.new(rnd, group)
        home = _PLACE_CITY.get(name.split(" ", 1)[0])
        if home is not None and rnd.random() < 0.8:
            # "Regensburger Stahlhandel" is (usually) located in Regensburg
            city, pcs, cc, region, area, _ = R.CITIES[home]
            addr = Address(rnd.choice(R.STREETS), _house_no(rnd), rnd.choice(pcs), city, cc, region, area)
        elif is_sup and rnd.random() < 0.5:
            # suppliers are spread more widely over Germany; customers follow the city weights
            city, pcs, cc, region, area, _ = R.CITIES[rnd.choice(_CITIES_BY_COUNTRY["DE"])]
            addr = Address(rnd.choice(R.STREETS), _house_no(rnd), rnd.choice(pcs), city, cc, region, area)
        else:
            addr = make_address(rnd)
        if addr.country == "CH" and lf in ("GmbH & Co. KG", "e.K.", "UG", "OHG"):
            lf = "GmbH"
        elif addr.country == "AT" and lf in ("UG", "e.K."):
            lf = "GmbH"
        gidx = gidx_off + i
        has_vat = rnd.random() < (0.5 if prospect else (0.92 if is_sup else 0.80))
        vat = ids.vat(addr.country, gidx) if has_vat else ""
        has_iban = (not prospect) and rnd.random() < (0.97 if is_sup else 0.90)
        iban, bic = ids.iban(rnd, addr.country, 2 * gidx) if has_iban else ("", "")
        domain = f"{slug(name)}.{_TLD[addr.country]}"
        if not is_sup and lf in ("e.K.", "GbR") and rnd.random() < 0.35:
            email = f"{slug(name).replace('-', '.')}@{rnd.choice(_FREEMAIL)}"
        else:
            email = f"{rnd.choice(('info', 'info', 'info', 'kontakt', 'office', 'mail'))}@{domain}"
        if prospect:
            since = _rand_date(rnd, dt.date(2023, 1, 1), R.PERIOD_END - dt.timedelta(days=5))
        elif rnd.random() < 0.82:
            since = _rand_date(rnd, dt.date(1998, 1, 1), R.PERIOD_START - dt.timedelta(days=1))
        else:
            since = _rand_date(rnd, R.PERIOD_START, R.PERIOD_END - dt.timedelta(days=45))
        pay_type = rnd.choices((0, 1, 2, 3), weights=(72, 20, 6, 2))[0]
        if is_sup:
            in_crm, in_erp, in_acc = False, True, rnd.random() < 0.90
            terms = rnd.choice((14, 30, 30, 30, 45, 60))
        elif prospect:
            in_crm, in_erp, in_acc = True, False, False
            terms = 30
        else:
            in_crm = rnd.random() < 0.90
            in_erp = rnd.random() < 0.95
            in_acc = in_erp and rnd.random() < 0.895  # active, i.e. invoiced customers
            if not in_crm and not in_erp:
                in_erp = True
            terms = rnd.choices((10, 14, 30, 45, 60), weights=(8, 20, 55, 10, 7))[0]
        ent = Entity(
            etype=etype, idx=i, true_id=("S" if is_sup else "C") + f"{i + 1:07d}", prospect=prospect,
            name=name, legal_form=lf, industry=industry, addr=addr, vat_id=vat, iban=iban, bic=bic,
            email=email, phone=make_phone(rnd, addr), domain=domain, since=since, payment_terms=terms,
            credit_limit=rnd.choice((5_000, 10_000, 10_000, 15_000, 20_000, 25_000, 50_000, 75_000, 100_000,
                                     250_000)) * 100,
            discount_bp=rnd.choice((0, 0, 0, 0, 200, 300, 300, 500, 800, 1000)),
            pay_type=pay_type,
            blocked=rnd.random() < (0.3 if pay_type >= 2 else 0.01),
            in_crm=in_crm, in_erp=in_erp, in_acc=in_acc,
            supplier_group=group if group is not None else -1,
        )
        # stale copy: moved address (~5%) and/or changed IBAN (~4%)
        systems = [s for s, f in (("crm", in_crm), ("erp", in_erp), ("acc", in_acc)) if f]
        moved = len(systems) >= 2 and rnd.random() < 0.05
        iban_changed = bool(iban) and in_erp and in_acc and rnd.random() < 0.04
        lo_ev = max(since + dt.timedelta(days=60), dt.date(2023, 6, 1))
        hi_ev = R.PERIOD_END - dt.timedelta(days=20)
        if (moved or iban_changed) and lo_ev < hi_ev:
            ent.event_date = _rand_date(rnd, lo_ev, hi_ev)
            ent.stale_sys = rnd.choice(["erp", "acc"] if iban_changed else systems)
            if moved:
                if rnd.random() < 0.6:
                    ent.old_addr = make_address(rnd, addr.country, avoid_city=addr.city)
                else:
                    old = make_address(rnd, addr.country)
                    old.city, old.region, old.area, old.postcode = addr.city, addr.region, addr.area, addr.postcode
                    while old.street == addr.street:
                        old.street = rnd.choice(R.STREETS)
                    ent.old_addr = old
            if iban_changed:
                ent.old_iban, ent.old_bic = ids.iban(rnd, addr.country, 2 * gidx + 1)
        ents.append(ent)

    # hard negatives: ~3% of entities get a distinct "sibling" company with a near-identical name
    pairs: list[tuple[str, str]] = []
    n = len(ents)
    n_pairs = int(round(n * 0.015))
    if n >= 4 and n_pairs == 0 and rnd.random() < n * 0.015:
        n_pairs = 1
    if n_pairs:
        chosen = rnd.sample(range(n), 2 * n_pairs)
        for j in range(n_pairs):
            a, b = ents[chosen[2 * j]], ents[chosen[2 * j + 1]]
            b.name = a.name
            if rnd.random() < 0.55:
                b.legal_form = a.legal_form
                if b.addr.city == a.addr.city:
                    b.addr = make_address(rnd, b.addr.country, avoid_city=a.addr.city)
                    b.phone = make_phone(rnd, b.addr)
            else:
                b.legal_form = _ALT_LF[a.legal_form]
                while b.addr.street == a.addr.street:
                    b.addr.street = rnd.choice(R.STREETS)
            if b.old_addr is not None and b.old_addr.country != b.addr.country:
                b.old_addr = make_address(rnd, b.addr.country, avoid_city=b.addr.city)
            b.domain = f"{slug(b.name)}-{slug(b.addr.city)}.{_TLD[b.addr.country]}"
            b.email = f"info@{b.domain}"
            b.sibling_of = a.true_id
            pairs.append((a.true_id, b.true_id))
    return ents, pairs
