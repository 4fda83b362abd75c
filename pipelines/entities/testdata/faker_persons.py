"""An independent probe of person matching: persons from Faker's de_DE, de_AT and de_CH locales
as a CRM's contacts, an ERP's private customers and a web shop's accounts name them, with a noise
model of its own (neither the demo generator's nor the company probes').

A person has given names (a quarter two of them), a surname (double names "Müller-Lüdenscheidt",
nobility particles "von", "zu", "von der"), maybe a title ("Dr.", "Prof. Dr.", "Dipl.-Ing.",
Austria's "Mag."), a date of birth, an e-mail address, a phone number, an address and maybe an
employer. ``generate(out_dir, persons=800, seed=1)`` writes ``crm.csv``, ``erp.csv``, ``shop.csv``
(columns :data:`COLUMNS`) and the ground truth as the company probes do; the person entity a user
would declare for them is ``person.yml`` beside this file, read by
:func:`pipelines.entities.testdata.harness.run` with :data:`INPUTS`.

Noise of one person's records: umlauts written out or dropped (ü -> ue / u, ß -> ss), upper case,
given name and surname swapped between the fields, one typo (a neighbouring key, a letter
doubled or dropped), short forms (Johannes / Hans, Katharina / Kathi: :data:`SHORT_FORMS`), the
second given name left out, a title in the given-name field or left out, a double surname with a
blank instead of the hyphen, a married name in one system (birth date and e-mail unchanged),
moves (one system keeps the old address and phone), dates of birth as "12.03.1985",
"12.3.1985", "1985-03-12" or "19850312", with day and month swapped or one digit wrong, e-mail
addresses in other case, phone numbers as "+49 941 123456", "0049 941 123456", "0941/123456",
"(0941) 12 34 56", "+49 (0)941 123456"; missing values; duplicates inside one system.

Hard negatives (distinct persons who look alike), at least a fifth of the persons, :data:`KINDS`:
``father_son`` (one name, one address and phone, birth dates decades apart, "jun." / "sen." in
some records), ``twins`` (one surname, address, phone and birth date, other given names),
``namesakes`` (a common name and one birth date, other cities, each a mailbox of their own: a
provider gives an address to one person only), ``spouses`` (one surname,
address, phone and family mailbox, other given names and birth dates), ``cross_border`` (one name
and birth year in Germany, Austria and Switzerland).

    python -m pipelines.entities.testdata.faker_persons --persons 800 --seed 1 --out /tmp/fp
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

SYSTEMS = ("crm", "erp", "shop")
COLUMNS = {
    "crm": ["kontakt_id", "anrede", "titel", "vorname", "nachname", "geburtsdatum", "email", "telefon", "firma",
            "strasse_hnr", "plz", "ort", "land", "geaendert"],
    "erp": ["debitor_nr", "vorname", "nachname", "geb_datum", "strasse", "plz", "ort", "land", "telefon", "email",
            "geaendert"],
    "shop": ["konto_id", "first_name", "last_name", "birthday", "email", "mobile", "street", "zip", "city", "country",
             "created"],
}
INPUTS = [
    {"system": "crm", "model": "gen_crm", "id": "kontakt_id",
     "columns": {"title": "titel", "first_name": "vorname", "last_name": "nachname", "date_of_birth": "geburtsdatum",
                 "email": "email", "phone": "telefon", "employer": "firma", "street": "strasse_hnr", "postcode": "plz",
                 "city": "ort", "country": "land", "updated_at": "geaendert"}},
    {"system": "erp", "model": "gen_erp", "id": "debitor_nr",
     "columns": {"first_name": "vorname", "last_name": "nachname", "date_of_birth": "geb_datum", "email": "email",
                 "phone": "telefon", "street": "strasse", "postcode": "plz", "city": "ort", "country": "land",
                 "updated_at": "geaendert"}},
    {"system": "shop", "model": "gen_shop", "id": "konto_id",
     "columns": {"first_name": "first_name", "last_name": "last_name", "date_of_birth": "birthday", "email": "email",
                 "phone": "mobile", "street": "street", "postcode": "zip", "city": "city", "country": "country",
                 "updated_at": "created"}},
]
ENTITY_FILE = Path(__file__).with_name("person.yml")
LOCALES = {"DE": "de_DE", "AT": "de_AT", "CH": "de_CH"}
COUNTRY_WEIGHTS = {"DE": 0.6, "AT": 0.2, "CH": 0.2}
CALLING = {"DE": "49", "AT": "43", "CH": "41"}
COUNTRY_NAMES = {"DE": ["DE", "DE", "D", "Deutschland", "GERMANY"], "AT": ["AT", "AT", "A", "Österreich"],
                 "CH": ["CH", "CH", "Schweiz", "Suisse"]}
KINDS = ("father_son", "twins", "namesakes", "spouses", "cross_border")
TITLES = {"DE": ["Dr.", "Dr.", "Prof. Dr.", "Dipl.-Ing.", "Dr. med."], "AT": ["Mag.", "Dr.", "DI", "Ing.", "Mag."],
          "CH": ["Dr.", "Prof.", "Dr. med.", "lic. iur."]}
PARTICLES = ["von", "von", "zu", "von der", "von und zu"]
# Common names for namesakes: the names many people share.
COMMON = {"m": [("Thomas", "Müller"), ("Michael", "Schmidt"), ("Andreas", "Schneider"), ("Stefan", "Fischer"),
                ("Peter", "Weber"), ("Markus", "Meyer"), ("Christian", "Wagner"), ("Daniel", "Becker"),
                ("Martin", "Huber"), ("Josef", "Gruber"), ("Daniel", "Meier"), ("Hans", "Keller")],
          "f": [("Sabine", "Müller"), ("Anna", "Schmidt"), ("Julia", "Schneider"), ("Claudia", "Fischer"),
                ("Petra", "Weber"), ("Andrea", "Meyer"), ("Maria", "Huber"), ("Sandra", "Gruber"),
                ("Monika", "Bauer"), ("Barbara", "Steiner"), ("Ursula", "Keller")]}
# Given names and the short forms people use for them (a table of this probe's own).
SHORT_FORMS = {
    "Johannes": ["Hans", "Johann", "Jo"], "Katharina": ["Kathi", "Katrin", "Käthe"], "Alexander": ["Alex", "Sascha"],
    "Elisabeth": ["Lisa", "Elli", "Sissi"], "Wolfgang": ["Wolf"], "Friedrich": ["Fritz"], "Franziska": ["Franzi"],
    "Christoph": ["Chris"], "Christina": ["Tina", "Chris"], "Margarete": ["Grete", "Margit"], "Josef": ["Sepp", "Joe"],
    "Maximilian": ["Max"], "Magdalena": ["Lena", "Leni"], "Nikolaus": ["Klaus", "Niko"], "Susanne": ["Susi", "Sanne"],
    "Barbara": ["Babsi", "Bärbel"], "Matthias": ["Matze", "Hias"], "Theresa": ["Resi"], "Benjamin": ["Ben"],
    "Gabriele": ["Gabi"], "Bernhard": ["Bernd"], "Andreas": ["Andi", "Andy"], "Wilhelm": ["Willi"],
    "Dorothea": ["Doris", "Thea"], "Sebastian": ["Basti"], "Rosemarie": ["Rosi"], "Heinrich": ["Heinz", "Heini"],
    "Cornelia": ["Conny"], "Ulrich": ["Uli"], "Stefanie": ["Steffi"], "Thomas": ["Tom"], "Daniela": ["Dani"],
}
FEMALE_LONG = {"Katharina", "Elisabeth", "Franziska", "Christina", "Margarete", "Magdalena", "Susanne", "Barbara",
               "Theresa", "Gabriele", "Dorothea", "Rosemarie", "Cornelia", "Stefanie", "Daniela"}
NEIGHBOURS = {"a": "qs", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
              "k": "jl", "l": "ko", "m": "n", "n": "bm", "o": "ip", "r": "et", "s": "ad", "t": "rz", "u": "zi",
              "z": "tu", "ü": "u", "ä": "a", "ö": "o"}


@dataclass(frozen=True)
class Home:
    street: str
    house: str
    postcode: str
    city: str
    country: str
    phone: str          # national significant number, digits only: area code and subscriber


@dataclass(frozen=True)
class Person:
    true_id: str
    sex: str                        # "m" | "f"
    given: tuple[str, ...]
    surname: str
    title: str
    born: date
    home: Home
    email: str
    mobile: str | None
    employer: str | None
    suffix: str = ""                # "jun." / "sen." of a father and son of one name
    maiden: str | None = None       # the surname before a marriage, kept by one system
    kind: str | None = None
    family: str | None = None


def _umlauts(text: str, r: random.Random) -> str:
    """Umlauts written out (most systems) or dropped (an old one without them); ß always 'ss'."""
    out = text.replace("ß", "ss")
    pairs = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"))
    if r.random() < 0.2:
        pairs = tuple((u, w[0]) for u, w in pairs)
    for umlaut, written in pairs:
        out = out.replace(umlaut, written)
    return out


def _slip(text: str, r: random.Random) -> str:
    """One slip of the keyboard: a neighbouring key, a letter doubled or a letter dropped."""
    spots = [i for i, c in enumerate(text) if c.isalpha() and 0 < i < len(text) - 1]
    if not spots:
        return text
    i = r.choice(spots)
    c = text[i]
    way = r.random()
    if way < 0.45 and c.lower() in NEIGHBOURS:
        new = r.choice(NEIGHBOURS[c.lower()])
        return text[:i] + (new.upper() if c.isupper() else new) + text[i + 1:]
    if way < 0.75:
        return text[:i] + c + text[i:]
    return text[:i] + text[i + 1:]


class FakerPersons:
    def __init__(self, seed: int):
        from faker import Faker

        self.r = random.Random(seed)
        self.fakers = {}
        for country, locale in LOCALES.items():
            f = Faker(locale)
            f.seed_instance(seed * 7 + len(self.fakers))
            self.fakers[country] = f
        self.serial = 0
        self.taken: set[tuple[str, str]] = set()
        self.mailboxes: set[str] = set()

    def _id(self) -> str:
        self.serial += 1
        return f"P{self.serial:06d}"

    def country(self) -> str:
        return self.r.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]

    def given(self, country: str, sex: str) -> tuple[str, ...]:
        f, r = self.fakers[country], self.r
        if r.random() < 0.18:       # a name with short forms
            pool = [n for n in SHORT_FORMS if (n in FEMALE_LONG) == (sex == "f")]
            first = r.choice(pool)
        else:
            first = f.first_name_female() if sex == "f" else f.first_name_male()
        if r.random() < 0.25:
            second = f.first_name_female() if sex == "f" else f.first_name_male()
            if second != first:
                return first, second
        return (first,)

    def surname(self, country: str) -> str:
        f, r = self.fakers[country], self.r
        shape = r.random()
        if shape < 0.1:
            return f"{f.last_name()}-{f.last_name()}"
        if shape < 0.16:
            return f"{r.choice(PARTICLES)} {f.last_name()}"
        return f.last_name()

    def title(self, country: str) -> str:
        return self.r.choice(TITLES[country]) if self.r.random() < 0.12 else ""

    def born(self, lo: int = 1940, hi: int = 2004) -> date:
        return date(lo, 1, 1) + timedelta(days=self.r.randint(0, (date(hi, 12, 31) - date(lo, 1, 1)).days))

    def home(self, country: str) -> Home:
        f, r = self.fakers[country], self.r
        house = str(r.randint(1, 140)) + (r.choice("abc") if r.random() < 0.07 else "")
        area = str(r.randint(2, 9)) + "".join(str(r.randint(0, 9)) for _ in range(r.randint(1, 3)))
        phone = area + "".join(str(r.randint(0, 9)) for _ in range(r.randint(5, 7)))
        return Home(f.street_name(), house, f.postcode(), f.city(), country, phone)

    def mobile(self, country: str) -> str | None:
        if self.r.random() < 0.35:
            return None
        prefix = {"DE": ["151", "160", "170", "176"], "AT": ["650", "660", "664", "676"], "CH": ["76", "78", "79"]}[country]
        return self.r.choice(prefix) + "".join(str(self.r.randint(0, 9)) for _ in range(7))

    def mailbox(self, given: str, surname: str, born: date, country: str) -> str:
        f, r = self.fakers[country], self.r
        local = r.choice([f"{given}.{surname}", f"{given[0]}.{surname}", f"{given}{surname}{born.year % 100:02d}",
                          f"{surname}.{given}", f"{given}.{surname}{r.randint(1, 99)}"])
        local = _umlauts(local, random.Random(0)).lower().replace(" ", "").replace("-", "")
        domain = f.free_email_domain()
        address, number = f"{local}@{domain}", 1
        while address in self.mailboxes:        # a provider gives an address to one person only
            number += 1
            address = f"{local}{number}@{domain}"
        self.mailboxes.add(address)
        return address

    def person(self, country: str | None = None, sex: str | None = None, **fixed) -> Person:
        country = country or self.country()
        sex = sex or self.r.choice("mf")
        given = fixed.pop("given", None) or self.given(country, sex)
        surname = fixed.pop("surname", None) or self.surname(country)
        born = fixed.pop("born", None) or self.born()
        employer = self.fakers[country].company() if self.r.random() < 0.6 else None
        p = Person(self._id(), sex, given, surname, self.title(country), born, fixed.pop("home", None) or self.home(country),
                   fixed.pop("email", None) or self.mailbox(given[0], surname, born, country), self.mobile(country),
                   employer)
        if sex == "f" and self.r.random() < 0.08 and not fixed.get("kind"):     # married since one system knew her
            p = replace(p, maiden=self.surname(country))
        return replace(p, **fixed)

    def single(self) -> Person:
        for _ in range(100):
            p = self.person()
            if (p.given[0], p.surname) not in self.taken:
                self.taken.add((p.given[0], p.surname))
                return p
        return p

    def family(self, kind: str, number: int) -> list[Person]:
        """A family of distinct persons who look alike, of ``kind``."""
        r, tag = self.r, f"{kind}-{number}"
        if kind == "father_son":
            father = self.person(sex="m", born=self.born(1940, 1965), kind=kind, family=tag, suffix="sen.")
            son = self.person(sex="m", given=father.given, surname=father.surname, home=father.home,
                              born=self.born(father.born.year + 22, min(father.born.year + 38, 2006)),
                              kind=kind, family=tag, suffix="jun.")
            son = replace(son, title="" if r.random() < 0.7 else son.title)
            return [father, son]
        if kind == "twins":
            first = self.person(kind=kind, family=tag, born=self.born(1960, 2004))
            sex = r.choice("mf")
            second_given = first.given
            while second_given[0] == first.given[0]:
                second_given = self.given(first.home.country, sex)
            second = self.person(country=first.home.country, sex=sex, given=second_given, surname=first.surname,
                                 born=first.born, home=first.home, kind=kind, family=tag)
            return [first, second]
        if kind == "namesakes":
            sex = r.choice("mf")
            given, surname = r.choice(COMMON[sex])
            country, born = self.country(), self.born()
            return [self.person(country=country, sex=sex, given=(given,), surname=surname, born=born, kind=kind, family=tag)
                    for _ in range(r.choice((2, 2, 3)))]
        if kind == "spouses":
            one = self.person(sex="m", kind=kind, family=tag)
            family_box = f"familie.{_umlauts(one.surname, random.Random(0)).lower().replace(' ', '')}@" \
                         f"{self.fakers[one.home.country].free_email_domain()}"
            other = self.person(country=one.home.country, sex="f", surname=one.surname, home=one.home,
                                born=self.born(one.born.year - 6, min(one.born.year + 6, 2004)), kind=kind, family=tag)
            return [replace(one, email=family_box), replace(other, email=family_box)]
        if kind == "cross_border":
            sex = r.choice("mf")
            year = r.randint(1950, 2000)
            first = self.person(country="DE", sex=sex, kind=kind, family=tag, born=self.born(year, year))
            others = r.sample(["AT", "CH"], r.choice((1, 2)))
            return [first] + [self.person(country=c, sex=sex, given=first.given, surname=first.surname,
                                          born=self.born(year, year), kind=kind, family=tag) for c in others]
        raise ValueError(kind)

    def persons(self, count: int, hard_share: float) -> list[Person]:
        out: list[Person] = []
        number = 0
        while sum(p.family is not None for p in out) < hard_share * count:
            number += 1
            out += self.family(KINDS[number % len(KINDS)], number)
        while len(out) < count:
            out.append(self.single())
        return out

    # --- how one system writes a person ----------------------------------------------------------

    def names(self, p: Person, system: str, surname: str) -> tuple[str, str, str]:
        """(title, given name, surname) as ``system`` writes them."""
        r = self.r
        given = list(p.given)
        if len(given) > 1 and r.random() < (0.6 if system != "crm" else 0.3):
            given = given[:1]                                   # the second given name left out
        if given[0] in SHORT_FORMS and r.random() < (0.4 if system in ("crm", "shop") else 0.1):
            given[0] = r.choice(SHORT_FORMS[given[0]])
        first = " ".join(given)
        last = surname
        if "-" in last and r.random() < 0.2:
            last = last.replace("-", " ")
        if p.suffix and r.random() < 0.5:                       # "jun." / "sen." where a system keeps it
            last = f"{last} {p.suffix}" if r.random() < 0.7 else last
            first = first if last.endswith(p.suffix) else f"{first} {p.suffix}"
        title = p.title if r.random() < 0.85 else ""
        if system != "crm" and title and r.random() < 0.5:     # no title field: in the given name, or left out
            first, title = f"{title} {first}", ""
        if system == "erp" and r.random() < 0.25:
            first, last = _umlauts(first, r), _umlauts(last, r)
        if system == "erp" and r.random() < 0.2:
            first, last = first.upper(), last.upper()
        if system == "shop" and r.random() < 0.06:
            first, last = first.lower(), last.lower()
        if r.random() < 0.06:
            first = _slip(first, r)
        if r.random() < 0.06:
            last = _slip(last, r)
        if r.random() < 0.03:                                   # entered into each other's field
            first, last = last, first
        return title, first, last

    def birth_date(self, p: Person, system: str) -> str:
        r = self.r
        if r.random() < {"crm": 0.45, "erp": 0.15, "shop": 0.3}[system]:
            return ""
        d, m, y = p.born.day, p.born.month, p.born.year
        if d <= 12 and d != m and r.random() < 0.03:            # day and month swapped
            d, m = m, d
        if r.random() < 0.02:                                   # one digit wrong
            d = d + 1 if d < 28 else d - 1
        if system == "crm":
            return r.choice([f"{d:02d}.{m:02d}.{y}", f"{d}.{m}.{y}"])
        if system == "erp":
            return f"{d:02d}.{m:02d}.{y}" if r.random() < 0.85 else f"{y}{m:02d}{d:02d}"
        return f"{y}-{m:02d}-{d:02d}"

    def phone(self, country: str, number: str) -> str:
        area, rest = number[:-6] if len(number) > 8 else number[:-5], number[-6:] if len(number) > 8 else number[-5:]
        cc = CALLING[country]
        pairs = " ".join(rest[i:i + 2] for i in range(0, len(rest), 2))
        return self.r.choice([f"+{cc} {area} {rest}", f"0{area} {rest}", f"0{area}/{rest}", f"00{cc} {area} {rest}",
                              f"(0{area}) {pairs}", f"+{cc} (0){area} {rest}", f"+{cc}{area}{rest}", f"0{area}-{rest}"])

    def email(self, p: Person) -> str:
        return p.email.upper() if self.r.random() < 0.05 else \
            (p.email.title() if self.r.random() < 0.08 else p.email)

    def country_name(self, country: str) -> str:
        return self.r.choice(COUNTRY_NAMES[country]) if self.r.random() < 0.9 else ""

    def street(self, home: Home) -> str:
        street = home.street
        choice = self.r.random()
        if choice < 0.25:
            street = street.replace("straße", "str.").replace("strasse", "str.")
        elif choice < 0.35:
            street = street.replace("ß", "ss")
        return f"{street} {home.house}"

    def maybe(self, value: str | None, missing: float) -> str:
        return "" if value is None or self.r.random() < missing else value

    def record(self, system: str, p: Person, source_id: str, surname: str, home: Home, updated: str) -> dict[str, str]:
        title, first, last = self.names(p, system, surname)
        born = self.birth_date(p, system)
        c = home.country
        landline = self.phone(c, home.phone)
        if system == "crm":
            return {"kontakt_id": source_id, "anrede": {"m": "Herr", "f": "Frau"}[p.sex] if self.r.random() < 0.9 else "",
                    "titel": title, "vorname": first, "nachname": last, "geburtsdatum": born,
                    "email": self.maybe(self.email(p), 0.15), "telefon": self.maybe(landline, 0.25),
                    "firma": self.maybe(p.employer, 0.2), "strasse_hnr": self.maybe(self.street(home), 0.1),
                    "plz": self.maybe(home.postcode, 0.05), "ort": home.city, "land": self.country_name(c),
                    "geaendert": updated}
        if system == "erp":
            return {"debitor_nr": source_id, "vorname": first, "nachname": last, "geb_datum": born,
                    "strasse": self.street(home), "plz": home.postcode, "ort": home.city, "land": self.country_name(c),
                    "telefon": self.maybe(landline, 0.3), "email": self.maybe(self.email(p), 0.4), "geaendert": updated}
        mobile = self.phone(c, p.mobile) if p.mobile else landline
        return {"konto_id": source_id, "first_name": first, "last_name": last, "birthday": born,
                "email": self.email(p), "mobile": self.maybe(mobile, 0.1), "street": self.street(home),
                "zip": home.postcode, "city": home.city, "country": self.country_name(c), "created": updated}

    def stamp(self, lo: int = 2020, hi: int = 2026) -> str:
        return f"{self.r.randint(lo, hi)}-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d} 10:15:00"


def generate(out_dir: Path, persons: int = 800, seed: int = 1, hard_share: float = 0.25,
             entity_type: str = "person") -> dict[str, int]:
    """Write crm.csv, erp.csv, shop.csv and ground_truth/ under ``out_dir``; returns counts."""
    from pipelines.entities.testdata.companies import write_set

    g = FakerPersons(seed)
    people = g.persons(persons, hard_share)
    rows: dict[str, list[dict[str, str]]] = {s: [] for s in SYSTEMS}
    membership: list[tuple[str, str, str]] = []
    next_id = {"crm": 100_000, "erp": 20_000, "shop": 7_000_000}
    prefix = {"crm": "C-", "erp": "D", "shop": ""}
    moved = married = 0
    for p in people:
        systems = [s for s in SYSTEMS if g.r.random() < {"crm": 0.6, "erp": 0.6, "shop": 0.55}[s]] or [g.r.choice(SYSTEMS)]
        stale = g.r.choice(systems) if len(systems) > 1 else None
        moves = stale is not None and g.r.random() < 0.1
        moved += moves
        married += stale is not None and p.maiden is not None
        for system in systems:
            surname, home, updated = p.surname, p.home, g.stamp()
            if system == stale and p.maiden:          # still the name before the marriage
                surname, updated = p.maiden, g.stamp(2014, 2019)
            if system == stale and moves:             # still the address (and phone) before the move
                home, updated = g.home(p.home.country), g.stamp(2014, 2019)
            for _ in range(2 if g.r.random() < 0.04 else 1):          # entered twice in one system
                next_id[system] += g.r.randint(1, 5)
                source_id = f"{prefix[system]}{next_id[system]}"
                rows[system].append(g.record(system, p, source_id, surname, home, updated))
                membership.append((system, source_id, p.true_id))
    families: dict[str, list[Person]] = {}
    for p in people:
        if p.family:
            families.setdefault(p.family, []).append(p)
    write_set(out_dir, rows, membership, [(m[0].kind, [p.true_id for p in m]) for m in families.values()], entity_type,
              COLUMNS)
    return {"persons": len(people), "records": len(membership),
            "hard_negative_persons": sum(p.family is not None for p in people),
            **{f"persons_{k}": sum(p.kind == k for p in people) for k in KINDS},
            **{f"persons_{c}": sum(p.home.country == c for p in people) for c in LOCALES},
            "moved": moved, "married": married, **{f"records_{s}": len(rows[s]) for s in SYSTEMS}}


def main() -> None:
    from pipelines.entities.testdata.harness import main as run_generator

    run_generator(generate, 800, __doc__.splitlines()[0], unit="persons", entity_file=ENTITY_FILE,
                  entity="person", inputs=INPUTS, columns=COLUMNS)


if __name__ == "__main__":
    main()
