"""Attribute types of a generic entity file (``attributes:`` in ``models/entities/<entity>.yml``).

Each type is one small class that knows three things about a value of its kind:

- its standardiser, as DuckDB SQL on the raw value: the value as written (trimmed), a ``<attr>_key``
  folded for matching and, where the type validates, ``<attr>_valid``;
- its default Splink comparison (levels on ``<attr>_key``, null level first, ``else`` last);
- its default survivorship rules.

An entity file without ``attributes:`` keeps the fixed company schema of ``spec.py``
(``SHARED``/``STANDARDISED``) and ``standardise.py``; these types are used only when an entity
declares its attributes. IBANs and VAT IDs are checked in Python (schwifty, python-stdnum) by
``standardise.py``; their type only says so (``python_check``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipelines.core.sql import literal

# Types whose equal keys identify one entity (used for deterministic training rules and as
# blocking rules on their own).
IDENTIFYING = ("identifier", "iban", "vat_id", "email")


def fold(sql: str) -> str:
    """Lower case with umlauts and accents written out: 'Müller' and 'MUELLER' both give 'mueller'."""
    out = f"lower({sql})"
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("é", "e"), ("è", "e")):
        out = f"replace({out}, '{a}', '{b}')"
    return out


def alnum(sql: str) -> str:
    return f"nullif(regexp_replace({sql}, '[^a-z0-9]', '', 'g'), '')"


def _rules(expr: str, rules: list[list[str]]) -> str:
    for pattern, replacement in rules:
        expr = f"regexp_replace({expr}, {literal(pattern)}, {literal(replacement)}, 'g')"
    return expr


@dataclass(frozen=True)
class AttributeDecl:
    """One declared attribute: ``name: {type, block, critical, tf, options...}``."""
    name: str
    type: str
    block: bool = False
    critical: bool = False
    tf: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    distinct: bool = False          # the type's "different" rule keeps two records apart (distinct_when)

    @property
    def kind(self) -> "AttributeType":
        return TYPES[self.type]

    @property
    def key(self) -> str:
        return f"{self.name}_key"

    def columns(self) -> list[str]:
        return [self.name, self.key] + ([f"{self.name}_valid"] if self.kind.validates else [])


def _levels(attr: AttributeDecl, levels: list[tuple[str, str]], fixed_m: dict[str, float] | None = None) -> dict[str, Any]:
    """A comparison on ``<attr>_key``: null level, the given (condition, label) levels, else."""
    k = attr.key
    out: list[dict[str, Any]] = [{"sql_condition": f"{k}_l IS NULL OR {k}_r IS NULL", "is_null_level": True,
                                  "label_for_charts": "null"}]
    for index, (condition, label) in enumerate(levels):
        level: dict[str, Any] = {"sql_condition": condition.format(k=k), "label_for_charts": label}
        if index == 0 and attr.tf:
            level.update(tf_adjustment_column=k, tf_adjustment_weight=1.0)
        out.append(level)
    last: dict[str, Any] = {"sql_condition": "ELSE", "label_for_charts": "different"}
    for label, m in (fixed_m or {}).items():
        if label == "different":
            last.update(m_probability=m, fix_m_probability=True)
    out.append(last)
    return {"output_column_name": attr.name, "comparison_description": f"{attr.name} ({attr.type})",
            "comparison_levels": out}


class AttributeType:
    """A text value compared exactly, then by Jaro-Winkler."""
    name: ClassVar[str] = "text"
    validates: ClassVar[bool] = False
    python_check: ClassVar[str | None] = None        # 'iban' | 'vat_id': validated by standardise.py
    options: ClassVar[tuple[str, ...]] = ()
    survivorship: ClassVar[tuple[str, ...]] = ("valid_only", "most_frequent", "source_priority", "most_recent")

    def value(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return raw

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return alnum(fold(raw))

    def valid(self, raw: str, attr: AttributeDecl) -> str | None:
        return None

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.92", "jaro-winkler >= 0.92"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.8", "jaro-winkler >= 0.8")])

    def different(self, attr: AttributeDecl) -> str | None:
        """SQL on ``_l``/``_r``: evidence that two records are different entities (``distinct: true``),
        or None where the type has none (two spellings of a name are no such evidence)."""
        return None


class Text(AttributeType):
    name = "text"


class PersonName(AttributeType):
    """A given name or surname: typos, transpositions and nicknames' first letters."""
    name = "person_name"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "jaro-winkler >= 0.9"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.75", "jaro-winkler >= 0.75")])


class CompanyName(AttributeType):
    """A company name: the legal form (``_reference.yml``'s legal_forms) is cut from the key and the
    name abbreviations written out. (The company path of customer/supplier does more: cut names,
    typos in the legal form, a second name line.)"""
    name = "company_name"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        spellings = sorted({s.lower() for c, ss in (reference.get("legal_forms") or {}).items() for s in [c, *ss]},
                           key=len, reverse=True)
        folded = fold(raw)
        if spellings:
            pattern = r"\s+(" + "|".join(re.escape(s) for s in spellings) + r")\.?$"
            folded = f"regexp_replace({folded}, {literal(pattern)}, '')"
        return alnum(_rules(folded, reference.get("name_abbreviations") or []))

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.85 AND damerau_levenshtein({k}_l, {k}_r) <= 1",
                               "one edit"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.92", "jaro-winkler >= 0.92"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.8", "jaro-winkler >= 0.8")])


class Street(AttributeType):
    """Street (with or without house number); ``_reference.yml``'s street abbreviations apply."""
    name = "street"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return alnum(_rules(fold(raw), reference.get("street_abbreviations") or []))

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "jaro-winkler >= 0.9")])


class Postcode(AttributeType):
    name = "postcode"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"nullif(upper(regexp_replace({raw}, '[^A-Za-z0-9]', '', 'g')), '')"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit"),
                              ("substr({k}_l, 1, 3) = substr({k}_r, 1, 3)", "same area (first 3)")])


class City(AttributeType):
    """A city; ``_reference.yml``'s city_aliases map other spellings onto one key."""
    name = "city"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        key = alnum(fold(raw))
        aliases = reference.get("city_aliases") or {}
        if aliases:
            whens = " ".join(f"when {literal(str(k))} then {literal(str(v))}" for k, v in aliases.items())
            key = f"coalesce(case {key} {whens} end, {key})"
        return key

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "jaro-winkler >= 0.9")])


class Country(AttributeType):
    name = "country"
    validates = True

    def value(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"upper({raw})"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"nullif(upper(regexp_replace({raw}, '[^A-Za-z]', '', 'g')), '')"

    def valid(self, raw: str, attr: AttributeDecl) -> str | None:
        return f"regexp_full_match(upper({raw}), '[A-Z]{{2}}')"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact")])


class Identifier(AttributeType):
    """An id (social security number, register number, customer number): exact, or one typo."""
    name = "identifier"

    def value(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return raw

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"nullif(upper(regexp_replace({raw}, '[^A-Za-z0-9]', '', 'g')), '')"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"), ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit")])

    def different(self, attr: AttributeDecl) -> str | None:
        # more than a typo apart: another id, so another entity
        return f"damerau_levenshtein({attr.key}_l, {attr.key}_r) > 1"


class Iban(Identifier):
    """An IBAN, checked by schwifty; only valid ones get a key."""
    name = "iban"
    validates = True
    python_check = "iban"
    survivorship = ("valid_only", "most_frequent", "source_priority", "most_recent")

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact")])

    def different(self, attr: AttributeDecl) -> str | None:
        return None         # companies change banks and keep two accounts: no evidence of two entities


class VatId(Iban):
    """A VAT ID, checked by python-stdnum; only valid ones get a key. Two different valid ids are
    strong evidence of two entities (fixed m)."""
    name = "vat_id"
    python_check = "vat_id"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact")], {"different": 0.01})

    def different(self, attr: AttributeDecl) -> str | None:
        return f"{attr.key}_l <> {attr.key}_r"        # keys are valid ids only


class Email(AttributeType):
    name = "email"
    validates = True

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"nullif(lower({raw}), '')"

    def valid(self, raw: str, attr: AttributeDecl) -> str | None:
        return f"regexp_full_match({raw}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("split_part({k}_l, '@', 2) = split_part({k}_r, '@', 2) AND "
                               "jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "same domain, similar")])


class Phone(AttributeType):
    """A phone number: digits only, without the trunk or international prefix; compared on the
    last eight digits too (one number written with and without country code)."""
    name = "phone"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"nullif(ltrim(regexp_replace({raw}, '[^0-9]', '', 'g'), '0'), '')"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"), ("right({k}_l, 8) = right({k}_r, 8)", "last 8 digits")])


class Date(AttributeType):
    """A date in one of ``formats`` (strptime); the key is YYYYMMDD, or the digits as written when
    the value is no valid date, so a typo still compares by edit distance."""
    name = "date"
    validates = True
    options = ("formats",)
    default_formats = ("%Y-%m-%d", "%d.%m.%Y", "%Y%m%d")

    def _parsed(self, raw: str, attr: AttributeDecl) -> str:
        formats = attr.options.get("formats") or list(self.default_formats)
        return f"try_strptime({raw}, [{', '.join(literal(f) for f in formats)}])"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return (f"coalesce(strftime({self._parsed(raw, attr)}, '%Y%m%d'), "
                f"nullif(regexp_replace({raw}, '[^0-9]', '', 'g'), ''))")

    def valid(self, raw: str, attr: AttributeDecl) -> str | None:
        return f"{self._parsed(raw, attr)} is not null"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact"),
                              ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one typo"),
                              ("substr({k}_l, 1, 6) = substr({k}_r, 1, 6)", "same month")])

    def different(self, attr: AttributeDecl) -> str | None:
        # two valid dates more than a typo apart: a person's birthday does not change (namesakes:
        # father and son at one address)
        return (f"{attr.name}_valid_l and {attr.name}_valid_r "
                f"and damerau_levenshtein({attr.key}_l, {attr.key}_r) > 1")


class Reference(AttributeType):
    """A record of another entity, by that system's id (a contact's CRM account): the value and the
    key are the other entity's golden id, looked up in ``entities.<entity>_xref`` for the input's
    system, so two records pointing at one golden company agree whatever ids they used. The lookup
    is a join ``standardise.py`` writes; the type gives the comparison."""
    name = "reference"
    options = ("entity",)
    survivorship = ("most_frequent", "source_priority", "most_recent")

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "same golden record")])


class Number(AttributeType):
    name = "number"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return f"cast(try_cast(replace({raw}, ',', '.') as double) as varchar)"

    def comparison(self, attr: AttributeDecl) -> dict[str, Any]:
        return _levels(attr, [("{k}_l = {k}_r", "exact")])


TYPES: dict[str, AttributeType] = {t.name: t() for t in (
    CompanyName, PersonName, Street, Postcode, City, Country, Iban, VatId, Email, Phone, Date, Identifier, Text,
    Number, Reference)}
ATTRIBUTE_KEYS = ("type", "block", "critical", "tf", "distinct", "formats", "entity")


def default_splink(attrs: list[AttributeDecl], inputs: int) -> dict[str, Any]:
    """Splink settings from the types: one comparison per attribute; blocking rules from the
    ``block: true`` attributes (every pair of them, so no block grows with one common value alone;
    a single block attribute blocks alone; two person-name block attributes also crosswise, for
    swapped given name and surname), an address block (each street attribute with each postcode
    and city attribute) and identifying types declared critical (alone)."""
    blocks = [a for a in attrs if a.block]
    rules: list[str] = []
    if len(blocks) == 1:
        rules.append(f"l.{blocks[0].key} = r.{blocks[0].key}")
    for i, a in enumerate(blocks):
        for b in blocks[i + 1:]:
            rules.append(f"l.{a.key} = r.{a.key} AND l.{b.key} = r.{b.key}")
    # name parts swapped between given name and surname, a common entry error: the pair of name
    # block attributes crosswise
    names = [a for a in blocks if a.type == "person_name"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rules.append(f"l.{a.key} = r.{b.key} AND l.{b.key} = r.{a.key}")
    # an address block whatever is declared block: street with postcode, or street with city
    for street in (a for a in attrs if a.type == "street"):
        for place in (a for a in attrs if a.type in ("postcode", "city")):
            rules.append(f"l.{street.key} = r.{street.key} AND l.{place.key} = r.{place.key}")
    rules += [f"l.{a.key} = r.{a.key}" for a in attrs if a.type in IDENTIFYING and a.critical and not
              (len(blocks) == 1 and a is blocks[0])]
    return {"link_type": "dedupe_only" if inputs == 1 else "link_and_dedupe",
            "probability_two_random_records_match": 0.0001, "em_convergence": 0.0001, "max_iterations": 25,
            "comparisons": [a.kind.comparison(a) for a in attrs],
            "blocking_rules_to_generate_predictions": [{"blocking_rule": r, "sql_dialect": "duckdb"} for r in rules]}


def default_training(attrs: list[AttributeDecl]) -> dict[str, Any]:
    """λ from identifying attributes declared critical (an id that says "same entity") and from all
    block attributes agreeing; EM in one session per block attribute."""
    blocks = [a for a in attrs if a.block]
    deterministic = [f"l.{a.key} = r.{a.key}" for a in attrs if a.type in IDENTIFYING and a.critical]
    if blocks:
        deterministic.append(" AND ".join(f"l.{a.key} = r.{a.key}" for a in blocks))
    return {"deterministic_rules": deterministic, "em_blocking_rules": [f"l.{a.key} = r.{a.key}" for a in blocks]}
