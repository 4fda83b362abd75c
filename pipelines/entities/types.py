"""Attribute types of a generic entity file (``attributes:`` in ``models/entities/<entity>.yml``).

Each type is one small class that knows three things about a value of its kind:

- its standardiser, as DuckDB SQL on the raw value (the expressions of ``sql/types.sql``): the
  value as written (trimmed), a ``<attr>_key`` folded for matching and, where the type validates,
  ``<attr>_valid``;
- its default Splink comparison (levels on ``<attr>_key``, null level first, ``else`` last);
- its default survivorship rules.

An entity file without ``attributes:`` maps onto the fixed company schema (the column names in
``spec.py``: ``SHARED``/``STANDARDISED``), whose company-specific rules are these types' too:
``standardise.py`` only assembles them (the legal-form split, second name lines and cut names of
:class:`CompanyName`, the house-number split and display spelling of :class:`Street`, the city
qualifiers of :class:`City`, the ISO code of :class:`Country`, the phone key of :class:`Phone`, the mail domain of :class:`Email`,
the register number of :class:`RegisterNumber`). IBANs and VAT IDs are checked in Python
(schwifty, python-stdnum) by ``standardise.py`` with the type's own ``check`` (``python_check``
names it), whose code is ``id_checks.py``'s: a module without Kontor's imports, which travels to
Spark's executors when the checks run there.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp

from pipelines.core.sql import render, template, verbatim
from pipelines.entities import id_checks

# Types whose equal keys identify one entity (used for deterministic training rules and as
# blocking rules on their own).
IDENTIFYING = ("identifier", "iban", "vat_id", "register_number", "email")
# Types that place an entity (its address, the company a contact works for): persons of one name
# are told apart by them, and they change (a move, a new employer).
LOCATING = ("street", "postcode", "city", "reference")
# The places a person name blocks with, narrowest first (default_splink).
PLACES = ("postcode", "city", "reference")
# Types whose equal values say "one person" beside a name: what corroborates a match of persons.
CORROBORATING = IDENTIFYING + ("phone",)


@functools.cache
def _fragments() -> dict[str, str]:
    """The expressions of ``sql/types.sql`` by their ``-- name:``, without comments."""
    found = re.findall(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", template(__file__, "types"), re.M | re.S)
    return {name: "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip().rstrip(";")
            for name, body in found}


def _sql(name: str, /, **parts: str | exp.Expression | list) -> str:
    """Expression ``name`` of ``sql/types.sql`` with its ``:parts`` filled: a string is SQL of the
    caller (a column, another type's expression), put in as written; a value is a literal."""
    def node(part: str | exp.Expression) -> exp.Expression:
        return verbatim(part) if isinstance(part, str) else part
    return render(_fragments()[name], **{k: [node(v) for v in part] if isinstance(part, list) else node(part)
                                         for k, part in parts.items()})


_text = exp.Literal.string


def fold(sql: str) -> str:
    """Lower case with umlauts and accents written out: 'Müller' and 'MUELLER' both give 'mueller'."""
    return _sql("fold", value=sql)


def _form_key(text: str) -> str:
    # '&' and '+' read 'und': a name cut after "GmbH &" is then the start of one form only
    return re.sub(r"[^a-z0-9]", "", re.sub(r"[&+]", "und", text))


def alnum(sql: str) -> str:
    return _sql("alnum", value=sql)


def upper_alnum(sql: str) -> str:
    """Letters and digits in upper case (an IBAN, a VAT ID, a postcode, an id)."""
    return _sql("upper_alnum", value=sql)


def _needs_dot(pattern: str) -> bool:
    """Whether every match of the regular expression ``pattern`` holds a '.': an escaped dot outside
    any group, class or top-level alternation and not made optional by a quantifier ('\\bstb\\.' yes,
    '\\s(u\\.|und)\\s' no). A conservative reading: False where unsure."""
    depth, i, found, in_class = 0, 0, False, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if pattern[i + 1:i + 2] == "." and depth == 0 and not in_class and pattern[i + 2:i + 3] not in ("?", "*", "{"):
                found = True
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 1 + (pattern[i + 1:i + 2] == "^")
            i += pattern[i:i + 1] == "]"        # a ']' first in a class is one of its characters
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return False
        i += 1
    return found


def _rules(expr: str, rules: list[list[str]]) -> str:
    """SQL: ``rules`` ([pattern, replacement]) applied in order to ``expr``. On a column, a value
    without a '.' skips the rules that need one ('\\bstb\\.', most abbreviations): the same result
    (no replacement writes a '.'), a few regular expressions per value instead of all of them."""
    def chain(kept: list[list[str]]) -> str:
        out = expr
        for pattern, replacement in kept:
            out = _sql("rule", value=out, pattern=_text(pattern), replacement=_text(replacement))
        return out

    undotted = [r for r in rules if not _needs_dot(r[0])]
    if len(undotted) == len(rules) or not re.fullmatch(r"[A-Za-z_][\w.]*", expr) \
            or any("." in replacement for _, replacement in rules):
        return chain(rules)
    return _sql("unless_dot", value=expr, dotted=chain(rules), undotted=chain(undotted))


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


def _levels(attr: AttributeDecl, levels: list[tuple[str, str, float]], fixed_else: float | None = None) -> dict[str, Any]:
    """A comparison on ``<attr>_key``: null level, the given (condition, label, prior m) levels, else."""
    k = attr.key
    null = exp.or_(*(exp.column(f"{k}_{side}").is_(exp.null()) for side in "lr")).sql()
    out: list[dict[str, Any]] = [{"sql_condition": null, "is_null_level": True,
                                  "label_for_charts": "null"}]
    for index, (condition, label, _) in enumerate(levels):
        level: dict[str, Any] = {"sql_condition": condition.format(k=k), "label_for_charts": label}
        if index == 0 and attr.tf:
            level.update(tf_adjustment_column=k, tf_adjustment_weight=1.0)
        out.append(level)
    last: dict[str, Any] = {"sql_condition": "ELSE", "label_for_charts": "different"}
    if fixed_else is not None:
        last.update(m_probability=fixed_else, fix_m_probability=True)
    out.append(last)
    return {"output_column_name": attr.name, "comparison_description": f"{attr.name} ({attr.type})",
            "comparison_levels": out}


# The survivorship of a value people read (a name, a street, a city): of one value's spellings (one
# key), the one most records write, then the one a person would write in a letter (mixed case,
# umlauts, spelled out: 'Volkan' over 'VOLKAN', 'Müller' over 'Mueller'), then the systems' order.
SPELLED = ("valid_only", "most_frequent", "common_spelling", "well_formed", "source_priority", "most_recent")


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

    def valid(self, raw: str, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> str | None:
        return None

    # m of the "different" level before training: how often one entity's records disagree on it
    m_different: ClassVar[float] = 0.3
    # a fixed m for "different" (never trained): strong evidence the type owns
    fixed_different: ClassVar[float | None] = None

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        """(condition on ``{k}_l``/``{k}_r``, label, prior m) per agreement level, best first; the
        prior m is the share of one entity's record pairs expected at that level (job titles, say,
        change)."""
        return [("{k}_l = {k}_r", "exact", 0.5),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.92", "jaro-winkler >= 0.92", 0.1),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.8", "jaro-winkler >= 0.8", 0.1)]

    def comparison(self, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Splink comparison (``reference``: ``_reference.yml``, for types whose levels read it)."""
        return _levels(attr, self.levels(attr), self.fixed_different)

    def priors(self, attr: AttributeDecl) -> dict[str, float]:
        """label -> prior m of every non-null level of :meth:`comparison` (summing to 1): the
        model's m where training cannot estimate it (see ``matching.train``)."""
        m = {label: prior for _, label, prior in self.levels(attr)}
        m["different"] = self.fixed_different if self.fixed_different is not None else self.m_different
        total = sum(m.values())
        return {label: value / total for label, value in m.items()}

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        """SQL on ``_l``/``_r``: evidence that two records are different entities (``distinct: true``),
        or None where the type has none (two spellings of a name are no such evidence). ``others``:
        the entity's other declared attributes."""
        return None

    def agrees(self, attr: AttributeDecl) -> str:
        """SQL on ``_l``/``_r``: the two values are at one of the comparison's agreement levels."""
        return " or ".join(f"({c.format(k=attr.key)})" for c, _, _ in self.levels(attr))

    def same(self, attr: AttributeDecl) -> str:
        """SQL on ``_l``/``_r``: the two values are one value (the first agreement level)."""
        return self.levels(attr)[0][0].format(k=attr.key)


class Text(AttributeType):
    name = "text"


def name_key(text: str) -> str:
    """A name as :func:`fold` and :func:`alnum` key it, in Python: 'Käthe' -> 'kaethe'."""
    folded = text.lower()
    for letter, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("é", "e"), ("è", "e")):
        folded = folded.replace(letter, plain)
    return re.sub(r"[^a-z0-9]", "", folded)


class PersonName(AttributeType):
    """A given name or surname: typos, transpositions, short forms ('Hans' / 'Johannes',
    ``_reference.yml``'s given_name_short_forms) and nicknames' first letters. The key leaves out
    salutations, titles and generation suffixes (person_name_affixes): 'Dr. Hans' is 'hans'.

    ``distinct: true`` (on a given name): two given names that are neither one spelling or a typo
    apart, nor one part of the other (a second given name left out, 'Tina' of 'Christina'), nor
    short forms of one name, nor the other record's surname (the two fields swapped), are two
    persons (twins, spouses); so are two records of one name that state two generations ('jun.' /
    'sen.', 'd. J.' / 'd. Ä.': person_name_generations, read after the first word of either name
    field, so a given name 'Jun' is none). A suffix on one record only: :func:`type_rules`."""
    name = "person_name"
    survivorship = SPELLED

    m_different = 0.02

    @staticmethod
    def short_form_pairs(reference: dict[str, Any]) -> list[str]:
        """'<key>|<key>' of every two forms of one entry of given_name_short_forms, both ways round."""
        pairs: set[str] = set()
        for full, shorts in (reference.get("given_name_short_forms") or {}).items():
            keys = sorted({name_key(str(n)) for n in [full, *(shorts or [])]} - {""})
            pairs.update(f"{a}|{b}" for a in keys for b in keys if a != b)
        return sorted(pairs)

    @classmethod
    def short_forms(cls, reference: dict[str, Any]) -> exp.Expression:
        """A DuckDB MAP of each form's key to the keys of the other forms of its entries."""
        forms: dict[str, list[str]] = {}
        for pair in cls.short_form_pairs(reference):
            a, b = pair.split("|")
            forms.setdefault(a, []).append(b)
        forms = forms or {"": []}
        return exp.func("map", exp.Array(expressions=[_text(k) for k in forms]),
                        exp.Array(expressions=[exp.Array(expressions=[_text(v) for v in vs]) for vs in forms.values()]),
                        dialect="duckdb")

    @staticmethod
    def generations(reference: dict[str, Any] | None) -> dict[str, list[str]]:
        """generation -> the keys of its spellings (``_reference.yml``'s person_name_generations:
        'jun.' -> 'jun', 'd. Ä.' -> 'dae')."""
        return {g: sorted({name_key(w) for w in words or []} - {""})
                for g, words in ((reference or {}).get("person_name_generations") or {}).items()}

    @staticmethod
    def joined(value: str, reference: dict[str, Any] | None) -> str:
        """SQL: a folded name with each generation suffix of more than one word written as one word,
        its key ('hans d. j.' -> 'hans dj')."""
        for words in ((reference or {}).get("person_name_generations") or {}).values():
            for spelling in words or []:
                parts = [name_key(w) for w in str(spelling).split()]
                parts = [w for w in parts if w]
                if len(parts) > 1:
                    value = _rules(value, [[r"\b" + r"\.?\s*".join(parts) + r"\b\.?", "".join(parts)]])
        return value

    @classmethod
    def affixes(cls, reference: dict[str, Any] | None) -> list[exp.Expression]:
        """person_name_affixes and the generation suffixes' keys, as literals."""
        words = list((reference or {}).get("person_name_affixes") or [])
        words += [w for keys in cls.generations(reference).values() for w in keys if w not in words]
        return [_text(a) for a in words] or [_text("")]

    @classmethod
    def generation(cls, fields: list[str], side: str, reference: dict[str, Any] | None) -> str | None:
        """SQL on ``_l``/``_r``: the generations the record's name ``fields`` state, as a string
        ('' for none: 'junior', 'senior', 'junior,senior'), or None without person_name_generations."""
        said = []
        for generation, words in cls.generations(reference).items():
            if not words:
                continue
            says = [_sql("person_name_says", value=cls.joined(fold(_side(f, side).sql("duckdb")), reference),
                         words=[_text(w) for w in words]) for f in fields]
            said.append(exp.Case(ifs=[exp.If(this=exp.paren(verbatim(" or ".join(f"({x})" for x in says))),
                                             true=_text(generation))]))
        if not said:
            return None
        return exp.func("concat_ws", _text(","), *said, dialect="duckdb").sql("duckdb")

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return _sql("person_name_key", value=self.joined(fold(raw), reference), affixes=self.affixes(reference))

    def _short_form(self, reference: dict[str, Any] | None) -> str:
        pairs = self.short_form_pairs(reference or {})
        if not pairs:
            return "false"
        return exp.func("list_contains", exp.Array(expressions=[_text(p) for p in pairs]),
                        verbatim("{k}_l || '|' || {k}_r"), dialect="duckdb").sql("duckdb")

    def levels(self, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.88),
                ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit", 0.06),
                (self._short_form(reference), "short form", 0.02),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "jaro-winkler >= 0.9", 0.02),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.75", "jaro-winkler >= 0.75", 0.02)]

    def comparison(self, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> dict[str, Any]:
        return _levels(attr, self.levels(attr, reference), self.fixed_different)

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        reference = reference or {}
        affixes = self.affixes(reference)
        # the map of short forms, bound once (with_short_forms) where the rule names it six times
        short_forms = verbatim("short_forms")

        def differ(one: AttributeDecl, side: str, other: AttributeDecl, other_side: str,
                   swapped: exp.Expression) -> str:
            words = [_sql("person_name_words", value=self.joined(fold(f"{a.name}_{s}"), reference), affixes=affixes)
                     for a, s in ((one, side), (other, other_side))]
            return _sql("person_names_differ", left=f"{one.key}_{side}", right=f"{other.key}_{other_side}",
                        words_left=words[0], words_right=words[1], short_forms=short_forms, swapped=swapped)

        # the two fields swapped: each record's given name is the other's surname as the rule reads
        # names (a typo, a left-out second name or a short form apart: 'Rabl' / 'Rbl', 'Bernhard' /
        # 'Bernd'), both ways round ('Hans Hansen' is no swap of 'Peter Hansen')
        def crossed(o: AttributeDecl, side: str, o_side: str) -> exp.Expression:
            return verbatim(_sql("person_name_swapped", other=f"{o.key}_{o_side}",
                                 differ=differ(attr, side, o, o_side, exp.false())))
        swapped = [exp.and_(crossed(o, "l", "r"), crossed(o, "r", "l"))
                   for o in others or [] if o.type == "person_name" and o.name != attr.name]
        names = differ(attr, "l", attr, "r", exp.or_(*swapped) if swapped else exp.false())
        # a suffix is written into either name field: read them all; two records that each state a
        # generation, not the same ('jun.' / 'sen.'), are two persons
        fields = [attr.name] + [o.name for o in others or [] if o.type == "person_name" and o.name != attr.name]
        left, right = (self.generation(fields, side, reference) for side in "lr")
        if left is None:
            return _sql("with_short_forms", short_forms=self.short_forms(reference), body=names)
        return _sql("with_short_forms", short_forms=self.short_forms(reference),
                    body=f"({names}) or ({left} <> '' and {right} <> '' and {left} <> {right})")


class CompanyName(AttributeType):
    """A company name: the legal form (``_reference.yml``'s legal_forms) is split off the key, with a
    typo in it or written in parts ('GmbH & Co. KG'), and the name abbreviations written out
    (:meth:`split_sql`, run by ``standardise.py``; :meth:`key` is the plain fallback without legal
    forms). The company schema of customer/supplier uses the same split, and cut names and second
    name lines besides."""
    name = "company_name"

    # The shortest legal-form spelling in which a one-letter typo is recognised: 'AG' and 'KG' are
    # one letter away from too many words.
    MIN_FUZZY: ClassVar[int] = 4

    @staticmethod
    def legal_form_rows(legal_forms: dict[str, list[str]], in_full_only: list[str] | None = None
                        ) -> list[tuple[str, str | None, bool]]:
        """(key, canonical form or None when ambiguous, is a full spelling): every spelling's key
        (``_reference.yml``'s legal_forms), and every prefix of one, for names that a system cut
        off in the middle of the legal form; except the prefixes of the forms ``in_full_only``
        (legal_forms_in_full_only: rare forms that begin like a common one, so "... GmbH & Co", cut,
        stays a GmbH & Co. KG and is not made ambiguous by the GmbH & Co. KGaA)."""
        full: dict[str, str] = {}
        for canonical, spellings in legal_forms.items():
            for spelling in [canonical, *spellings]:
                full[_form_key(spelling.lower())] = canonical
        rows = [(k, c, True) for k, c in full.items() if k]
        prefixes: dict[str, set[str]] = {}
        rare = set(in_full_only or ())
        for k, c in full.items():
            if c in rare:
                continue
            for i in range(1, len(k) + 1):
                prefixes.setdefault(k[:i], set()).add(c)
        rows += [(p, next(iter(cs)) if len(cs) == 1 else None, False) for p, cs in prefixes.items()]
        return rows

    def split_sql(self, source: str, lookup: str, max_tail: int) -> str:
        """SQL: the legal form split off each name of ``source`` (source_system, source_id,
        name_raw, name_trunc, legal_form_raw), read against ``lookup`` (the rows of
        :meth:`legal_form_rows` as lf_key, legal_form, is_full): the longest tail of at most
        ``max_tail`` words that is a legal form, the beginning of one where the system cut the name
        (name_trunc), or one with a single typo ('GmbHH'). Gives source_system, source_id,
        legal_form, name (the name as written without it) and base (its folded words)."""
        return render(template(__file__, "legal_form_split"), source=verbatim(source), lookup=verbatim(lookup),
                      folded=verbatim(fold("name_raw")), max_tail=exp.Literal.number(max_tail),
                      min_fuzzy=exp.Literal.number(self.MIN_FUZZY))

    @staticmethod
    def with_addition(name: str, addition: str, max_length: int, branch_prefixes: list[str]) -> str:
        """SQL: the name with a second name line (ERP ``name2``) that continues it, which it does
        only if the first line was full (its first word would not have fitted); a branch
        ('Filiale Passau', ``_reference.yml``'s branch_prefixes) is never part of the name."""
        branch = "^(" + "|".join(re.escape(p) for p in branch_prefixes) + ")" if branch_prefixes else None
        kept = verbatim(_sql("not_branch", addition=addition, branch=_text(branch))) if branch else exp.true()
        return _sql("with_addition", name=name, addition=addition, kept=kept, max_length=exp.Literal.number(int(max_length)))

    @staticmethod
    def cut(name: str, cut_at: int | None) -> str:
        """SQL: whether a system that cuts names to ``cut_at`` characters may have cut this one
        (the end of its legal form may then be missing: :meth:`split_sql` reads prefixes)."""
        return _sql("cut", name=name, at=exp.Literal.number(int(cut_at) - 1)) if cut_at else "false"

    @staticmethod
    def base_key(base: str, reference: dict[str, Any]) -> str:
        """SQL: the matching key of a name's folded words without legal form (``base`` of
        :meth:`split_sql`): abbreviations written out, then letters and digits only."""
        return _sql("base_key", value=_rules(base, reference.get("name_abbreviations") or []))

    @staticmethod
    def words(base: str, reference: dict[str, Any]) -> str:
        """SQL: the words of the name, abbreviations written out (for rules on a distinguishing word)."""
        return _sql("words", value=_rules(base, reference.get("name_abbreviations") or []))

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        spellings = sorted({s.lower() for c, ss in (reference.get("legal_forms") or {}).items() for s in [c, *ss]},
                           key=len, reverse=True)
        folded = fold(raw)
        if spellings:
            pattern = r"\s+(" + "|".join(re.escape(s) for s in spellings) + r")\.?$"
            folded = _sql("strip", value=folded, pattern=_text(pattern))
        return alnum(_rules(folded, reference.get("name_abbreviations") or []))

    m_different = 0.04

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.8),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.85 AND damerau_levenshtein({k}_l, {k}_r) <= 1",
                 "one edit", 0.07),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.92", "jaro-winkler >= 0.92", 0.05),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.8", "jaro-winkler >= 0.8", 0.04)]


class Street(AttributeType):
    """Street (with or without house number); ``_reference.yml``'s street abbreviations apply."""
    name = "street"
    survivorship = SPELLED

    # a trailing house number: '12', '12a', '12 - 14b'
    HOUSE_NUMBER: ClassVar[str] = "\\s(\\d+\\s*[a-zA-Z]?(\\s*-\\s*\\d+\\s*[a-zA-Z]?)?)$"

    @classmethod
    def split(cls, street: str, house: str) -> tuple[str, str]:
        """SQL (street, house number): a house number written into the street field is split off
        when the system has no field of its own for it (or left it empty)."""
        return (_sql("street_split", street=street, house=house, pattern=_text(cls.HOUSE_NUMBER)),
                _sql("house_split", street=street, house=house, pattern=_text(cls.HOUSE_NUMBER)))

    @staticmethod
    def house_key(house: str) -> str:
        """SQL: a house number without blanks, lower case ('12 A' and '12a' are one)."""
        return _sql("house_key", value=house)

    @staticmethod
    def display(street: str, country: str, reference: dict[str, Any]) -> str:
        """SQL: the street as the golden record spells it (``_reference.yml``'s display_spellings,
        for the countries listed there)."""
        street = _sql("blank_null", value=street)
        spelling = (reference.get("display_spellings") or {}).get("street")
        if not spelling:
            return street
        countries = [_text(c) for c in spelling.get("countries") or []]
        fixed = _rules(street, spelling.get("rules") or [])
        return _sql("display_in", country=country, countries=countries, fixed=fixed, value=street) if countries else fixed

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return alnum(_rules(fold(raw), reference.get("street_abbreviations") or []))

    m_different = 0.08        # moves

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.8),
                ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit", 0.08),
                ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "jaro-winkler >= 0.9", 0.04)]


class Postcode(AttributeType):
    name = "postcode"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return upper_alnum(raw)

    m_different = 0.08

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.85),
                ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit", 0.03),
                ("substr({k}_l, 1, 3) = substr({k}_r, 1, 3)", "same area (first 3)", 0.04)]

    def agrees(self, attr: AttributeDecl) -> str:
        # one edit or the first three digits apart is another place as often as a typo ('8449' /
        # '8249' are two towns): where an address is compared, street and city carry the typos
        return self.same(attr)


class City(AttributeType):
    """A city; ``_reference.yml``'s city_aliases map other spellings onto one key."""
    name = "city"
    survivorship = SPELLED

    @staticmethod
    def without_qualifiers(raw: str) -> str:
        """SQL: the folded city without what qualifies it ('a.d. Isar', '/Opf.', '(Allgäu)', 'am
        Main'), letters and digits only: the company schema's key before ``city_aliases``."""
        return _sql("city_without_qualifiers", value=fold(raw))

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        key = alnum(fold(raw))
        aliases = reference.get("city_aliases") or {}
        if aliases:
            case = exp.Case(this=verbatim(key), ifs=[exp.If(this=_text(str(k)), true=_text(str(v))) for k, v in aliases.items()])
            key = exp.func("coalesce", case, verbatim(key), dialect="duckdb").sql("duckdb")
        return key

    m_different = 0.08

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.88), ("jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "jaro-winkler >= 0.9", 0.04)]


class Country(AttributeType):
    """A country as its ISO 3166-1 alpha-2 code: ``_reference.yml``'s ``countries`` list the other
    ways of writing each (names in German, English, French, Italian, with or without umlauts; the
    alpha-3 code; the international vehicle code), so "Österreich", "Oesterreich", "AUT" and "A"
    are all "AT". A value not listed stays as written, upper-cased, never guessed."""
    name = "country"
    validates = True

    @staticmethod
    def spelling_keys(spelling: str) -> set[str]:
        """A spelling of ``countries`` as the SQL of :meth:`code` compares it (:func:`fold`, then
        letters and digits only: 'Österreich' -> 'oesterreich', 'U.S.A.' -> 'usa'), and, for
        accents ``fold`` drops with the letter, also written without them ('Česko' -> 'esko' as
        written, 'cesko' without the accent). No accent stripping in SQL: Spark has none."""
        folded = spelling.lower()
        for letter, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("é", "e"), ("è", "e")):
            folded = folded.replace(letter, plain)
        ascii_only = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
        return {re.sub(r"[^a-z0-9]", "", folded), re.sub(r"[^a-z0-9]", "", ascii_only)} - {""}

    @classmethod
    def spellings(cls, reference: dict[str, Any]) -> dict[str, str]:
        """Folded spelling -> ISO code, from ``countries`` (each code is a spelling of itself)."""
        out: dict[str, str] = {}
        for code, spellings in (reference.get("countries") or {}).items():
            for spelling in [code, *(spellings or [])]:
                out.update(dict.fromkeys(sorted(cls.spelling_keys(str(spelling))), str(code)))
        return out

    @classmethod
    def code(cls, raw: str, reference: dict[str, Any]) -> str:
        """SQL: the ISO code of a country as written, or the value upper-cased when not listed."""
        value = _sql("country_upper", value=raw)
        spellings = cls.spellings(reference)
        if not spellings:
            return value
        case = exp.Case(this=verbatim(alnum(fold(raw))),
                        ifs=[exp.If(this=_text(k), true=_text(v)) for k, v in spellings.items()])
        return exp.func("coalesce", case, verbatim(value), dialect="duckdb").sql("duckdb")

    def value(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return self.code(raw, reference)

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return _sql("country_key", value=self.code(raw, reference))

    def valid(self, raw: str, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> str | None:
        """SQL: whether the value is (or is listed as a spelling of) a two-letter code."""
        return _sql("country_valid", value=self.code(raw, reference or {}))

    m_different = 0.03

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.97)]


class Identifier(AttributeType):
    """An id (social security number, register number, customer number): exact, or one typo."""
    name = "identifier"

    def value(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return raw

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return upper_alnum(raw)

    m_different = 0.02

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.95), ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one edit", 0.03)]

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        # more than a typo apart: another id, so another entity
        return f"damerau_levenshtein({attr.key}_l, {attr.key}_r) > 1"


class Iban(Identifier):
    """An IBAN, checked by schwifty; only valid ones get a key."""
    name = "iban"
    validates = True
    python_check = "iban"
    survivorship = ("valid_only", "most_frequent", "source_priority", "most_recent")

    m_different = 0.3         # new bank accounts

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.7)]

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        return None         # companies change banks and keep two accounts: no evidence of two entities

    @staticmethod
    def key_of(compact: str) -> str:
        """SQL: the matching key of a valid one's compact form (the compact form itself)."""
        return compact

    def check(self, value: str) -> tuple[str | None, bool]:
        """(compact form, valid) by schwifty (``id_checks.check_iban``)."""
        return id_checks.check_iban(value)


class VatId(Iban):
    """A VAT ID, checked by python-stdnum; only valid ones get a key. Two different valid ids are
    strong evidence of two entities (fixed m)."""
    name = "vat_id"
    python_check = "vat_id"
    # one number's spellings (MWST, TVA, the bare UID) share a key: the full VAT number wins
    survivorship = ("valid_only", "most_frequent", "most_complete", "source_priority", "most_recent")

    fixed_different = 0.01

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.99)]

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        return _side(attr.key, "l").neq(_side(attr.key, "r")).sql("duckdb")        # keys are valid ids only

    @staticmethod
    def key_of(compact: str) -> str:
        """SQL: the matching key of a valid VAT ID's compact form: a Swiss one without its 'MWST' /
        'TVA' / 'IVA' / 'TPV' (the UID it is made of, as stdnum.ch.vat reads it), so the German,
        French and Italian spellings and the bare UID of one company are one number."""
        return _sql("vat_key", value=compact)

    def check(self, value: str) -> tuple[str | None, bool]:
        """(compact form, valid) by python-stdnum (``id_checks.check_vat_id``: a bare Swiss UID
        'CHE-123.456.789' is valid too)."""
        return id_checks.check_vat_id(value)


class RegisterNumber(AttributeType):
    """A German commercial register number (Handelsregister: HRA, HRB; Genossenschafts-, Partnerschafts-,
    Vereinsregister: GnR, PR, VR), 'HRB 12345 B, Amtsgericht Charlottenburg': the key is the register
    and the number ('HRB12345B'), the court left out (one company writes it three ways). Valid when it
    reads as one. Two different valid register numbers are two legal entities (a GmbH and its GmbH &
    Co. KG share name, address and phone, never their HRB): fixed m, and the type's 'different' rule
    for ``distinct: true``."""
    name = "register_number"
    validates = True
    fixed_different = 0.01
    PATTERN: ClassVar[str] = r"\b(HRA|HRB|GNR|PR|VR)\s*\.?\s*(\d+)\s*([A-Z])?\b"

    def value(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return raw

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return _sql("register_key", value=raw, pattern=_text(self.PATTERN))

    def valid(self, raw: str, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> str | None:
        return _sql("register_valid", value=raw, pattern=_text(self.PATTERN))

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.99)]

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        return _side(attr.key, "l").neq(_side(attr.key, "r")).sql("duckdb")        # keys are valid register numbers only


class Email(AttributeType):
    name = "email"
    validates = True

    @staticmethod
    def domain(raw: str, reference: dict[str, Any]) -> str:
        """SQL: the domain of an address, unless many unrelated people share it (``_reference.yml``'s
        freemail_domains): a company's domain is evidence, gmx.de is not."""
        freemail = [_text(d) for d in reference.get("freemail_domains") or []] or [_text("")]
        return _sql("email_domain", value=raw, freemail=freemail)

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return _sql("email_key", value=raw)

    def valid(self, raw: str, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> str | None:
        return _sql("email_valid", value=raw)

    m_different = 0.2

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.7),
                ("split_part({k}_l, '@', 2) = split_part({k}_r, '@', 2) AND "
                 "jaro_winkler_similarity({k}_l, {k}_r) >= 0.9", "same domain, similar", 0.1)]


class Phone(AttributeType):
    """A phone number: digits only, without the trunk prefix and without the home country's code
    (``_reference.yml``'s default_calling_code, 49), so '0941 123' and '+49 941 123' are one key;
    compared on the last eight digits too (a foreign number written with and without its code)."""
    name = "phone"

    @staticmethod
    def dialled(raw: str) -> str:
        """SQL: the digits and '+' of a number, without a '(0)' trunk prefix and a '-0' switchboard
        extension."""
        return _sql("dialled", value=raw)

    @staticmethod
    def national_key(dialled: str, reference: dict[str, Any]) -> str:
        """SQL: the company schema's key of a :meth:`dialled` number: without the trunk prefix and
        without any country code (two digits for foreign ones)."""
        cc = str(reference.get("default_calling_code") or "49")
        return _sql("national_key", value=dialled, home=_text("+" + cc + "%"), cc=_text(cc))

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        home = _text(r"^\s*(\+|00)\s*" + str(reference.get("default_calling_code") or "49"))
        return _sql("phone_key", value=raw, home=home)

    m_different = 0.3

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.6), ("right({k}_l, 8) = right({k}_r, 8)", "last 8 digits", 0.1)]

    def same(self, attr: AttributeDecl) -> str:
        return self.agrees(attr)        # a number with and without its country code is one number


class Date(AttributeType):
    """A date in one of ``formats`` (strptime); the key is YYYYMMDD, or the digits as written when
    the value is no valid date, so a typo still compares by edit distance."""
    name = "date"
    validates = True
    options = ("formats",)
    default_formats = ("%Y-%m-%d", "%d.%m.%Y", "%Y%m%d")
    # keys YYYYMMDD of one year whose day and month are each other's (a date read the other way round)
    SWAPPED: ClassVar[str] = ("substr({k}_l, 1, 4) = substr({k}_r, 1, 4) and substr({k}_l, 5, 2) = substr({k}_r, 7, 2) "
                              "and substr({k}_l, 7, 2) = substr({k}_r, 5, 2)")

    def _parsed(self, raw: str, attr: AttributeDecl) -> str:
        formats = attr.options.get("formats") or list(self.default_formats)
        return _sql("date_parsed", value=raw, formats=[_text(f) for f in formats])

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return _sql("date_key", value=raw, parsed=self._parsed(raw, attr))

    def valid(self, raw: str, attr: AttributeDecl, reference: dict[str, Any] | None = None) -> str | None:
        return _sql("date_valid", parsed=self._parsed(raw, attr))

    m_different = 0.02

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.93),
                ("damerau_levenshtein({k}_l, {k}_r) <= 1", "one typo", 0.04),
                (self.SWAPPED, "day and month swapped", 0.01),
                ("substr({k}_l, 1, 6) = substr({k}_r, 1, 6)", "same month", 0.01)]

    def different(self, attr: AttributeDecl, reference: dict[str, Any] | None = None,
                  others: list[AttributeDecl] | None = None) -> str | None:
        # two valid dates more than a typo apart: a person's birthday does not change (namesakes:
        # father and son at one address); day and month swapped is a typo too (12.03. / 03.12.),
        # and so is the day before or after (29. / 30.; a birthday stored as a local midnight
        # and read in UTC is the day before)
        return _sql("date_differs", valid_l=f"{attr.name}_valid_l", valid_r=f"{attr.name}_valid_r",
                    left=f"{attr.key}_l", right=f"{attr.key}_r", swapped=self.SWAPPED.format(k=attr.key))


class Reference(AttributeType):
    """A record of another entity, by that system's id (a contact's CRM account): the value and the
    key are the other entity's golden id, looked up in ``entities.<entity>_xref`` for the input's
    system, so two records pointing at one golden company agree whatever ids they used. The lookup
    is a join ``standardise.py`` writes; the type gives the comparison."""
    name = "reference"
    options = ("entity",)
    survivorship = ("most_frequent", "source_priority", "most_recent")

    m_different = 0.2

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "same golden record", 0.8)]


class Number(AttributeType):
    name = "number"

    def key(self, raw: str, attr: AttributeDecl, reference: dict[str, Any]) -> str:
        return _sql("number_key", value=raw)

    m_different = 0.2

    def levels(self, attr: AttributeDecl) -> list[tuple[str, str, float]]:
        return [("{k}_l = {k}_r", "exact", 0.8)]


TYPES: dict[str, AttributeType] = {t.name: t() for t in (
    CompanyName, PersonName, Street, Postcode, City, Country, Iban, VatId, RegisterNumber, Email, Phone, Date,
    Identifier, Text, Number, Reference)}
ATTRIBUTE_KEYS = ("type", "block", "critical", "tf", "distinct", "formats", "entity")


def _same(*pairs: tuple[str, str]) -> str:
    """A Splink rule on a pair: ``l.<a> = r.<b>`` for each (a, b), and-ed."""
    return exp.and_(*(exp.column(a, "l").eq(exp.column(b, "r")) for a, b in pairs)).sql()


def _side(column: str, side: str) -> exp.Column:
    """``<column>_l`` or ``_r``: a column of one record of a pair, as Splink names it."""
    return exp.column(f"{column}_{side}")


def default_splink(attrs: list[AttributeDecl], inputs: int, reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Splink settings from the types: one comparison per attribute; blocking rules from the
    ``block: true`` attributes (every pair of them, so no block grows with one common value alone;
    a single block attribute blocks alone; two person-name block attributes also crosswise, for
    swapped given name and surname), an address block (each street attribute with each postcode
    and city attribute), each person-name block attribute with the entity's narrowest place
    (:data:`PLACES`: a postcode, else a city, else a reference) unless that place is block itself,
    and identifying types declared critical (alone)."""
    blocks = [a for a in attrs if a.block]
    rules: list[str] = []
    if len(blocks) == 1:
        rules.append(_same((blocks[0].key, blocks[0].key)))
    for i, a in enumerate(blocks):
        for b in blocks[i + 1:]:
            rules.append(_same((a.key, a.key), (b.key, b.key)))
    # name parts swapped between given name and surname, a common entry error: the pair of name
    # block attributes crosswise
    names = [a for a in blocks if a.type == "person_name"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rules.append(_same((a.key, b.key), (b.key, a.key)))
    # an address block whatever is declared block: street with postcode, or street with city
    for street in (a for a in attrs if a.type == "street"):
        for place in (a for a in attrs if a.type in ("postcode", "city")):
            rules.append(_same((street.key, street.key), (place.key, place.key)))
    # each name part with the narrowest place the entity has (a postcode, else a city, else the
    # record it belongs to: a contact's company), so a typo in the other name part is compared
    # without a birthday, e-mail or phone agreeing; a place declared block pairs with it already
    places = [a for t in PLACES for a in attrs if a.type == t][:1]
    for name in (a for a in blocks if a.type == "person_name"):
        rules += [_same((name.key, name.key), (p.key, p.key)) for p in places if not p.block]
    rules += [_same((a.key, a.key)) for a in attrs if a.type in IDENTIFYING and a.critical and not
              (len(blocks) == 1 and a is blocks[0])]
    return {"link_type": "dedupe_only" if inputs == 1 else "link_and_dedupe",
            "probability_two_random_records_match": 0.0001, "em_convergence": 0.0001, "max_iterations": 25,
            "comparisons": [a.kind.comparison(a, reference) for a in attrs],
            "blocking_rules_to_generate_predictions": [{"blocking_rule": r, "sql_dialect": "duckdb"} for r in rules]}


def default_training(attrs: list[AttributeDecl]) -> dict[str, Any]:
    """λ from identifying attributes declared critical (an id that says "same entity") and from all
    block attributes agreeing; EM in one session per block attribute."""
    blocks = [a for a in attrs if a.block]
    deterministic = [_same((a.key, a.key)) for a in attrs if a.type in IDENTIFYING and a.critical]
    if blocks:
        deterministic.append(_same(*((a.key, a.key) for a in blocks)))
    return {"deterministic_rules": deterministic, "em_blocking_rules": [_same((a.key, a.key)) for a in blocks]}


def type_rules(declared: list[AttributeDecl], reference: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The ``distinct_when`` rules the types give an entity declared by ``attributes:`` (name, sql,
    review_when, scope), each SQL on ``<column>_l`` / ``<column>_r``:

    - ``different <attr>`` for each attribute declared ``distinct: true`` (the type's
      :meth:`AttributeType.different`). Such a pair Splink would have merged is conflicting
      evidence for a steward only when something of one individual agrees: an identifying
      attribute (an e-mail address, an id, an IBAN) is equal and every other distinct attribute
      is known on both and not different. Twins at one address, spouses with one family mailbox,
      father and son with one phone are no such conflict: they are a household.
    - for an entity that names persons and has e-mail addresses: two records with an address
      each, not the same one, and nothing else of one individual in common (an identifying
      attribute agreeing: an id, an IBAN; an attribute declared ``distinct: true`` other than a
      name, a birthday, agreeing), while no other rule keeps them apart (``different email and no
      <attrs> in common``). Father and son of one name at one address, a birthday on one record
      only, each with his own mailbox: name, address and household phone say one person,
      nothing of his own does. They are kept apart (no chain of matches joins them either) and
      go to review, as is one person with two mailboxes and no birthday on both: merging two
      persons is the costlier error, a review item costs seconds.
    - for an entity with a person name declared ``distinct: true`` and generation suffixes
      (``_reference.yml``'s person_name_generations): a suffix ("jun.", "sen.", "d. J.") on one
      record only, where that record holds nothing of its own (no e-mail address, id or birthday
      known: nothing but the suffix says whose it is). Father and son of one name at one address,
      the son's record with "jun." and nothing else of his: kept apart and listed for review. A
      suffixed record that has an e-mail address or birthday is tied to its person by them, and a
      record without a suffix that matches both father and son is left on its own by the
      clustering (a bridge): keeping that one from the son would send it to the father.
    - for an entity that names persons (a ``person_name`` attribute) and places them (an address,
      an employer: :data:`LOCATING`): a match on which every placing attribute known on both
      disagrees and nothing of :data:`CORROBORATING` (e-mail, phone, ids) is shared. A person
      who moved and a namesake with one birthday look the same to the name and the birthday;
      such a match does not merge by itself (scope ``match``: another chain of matches still
      may) and goes to review.
    """
    reference = reference or {}

    def sql(text: str) -> exp.Expression:
        return exp.paren(sqlglot.parse_one(text, read="duckdb"))

    def holds(condition: str | exp.Expression) -> exp.Expression:
        return exp.func("coalesce", sql(condition) if isinstance(condition, str) else condition, exp.false(),
                        dialect="duckdb")

    def known(a: AttributeDecl) -> exp.Expression:
        return exp.and_(*(_side(a.key, side).is_(exp.null()).not_() for side in "lr"))

    distinct = [(a, a.kind.different(a, reference, declared)) for a in declared if a.distinct]
    distinct = [(a, rule) for a, rule in distinct if rule]
    identifying = [a for a in declared if a.type in IDENTIFYING]
    rules = []
    for attr, rule in distinct:
        review: exp.Expression = exp.false()
        if identifying:
            review = exp.and_(exp.paren(exp.or_(*(holds(a.kind.same(a)) for a in identifying))),
                              # the other rules as the types wrote them: parsed, a rule on person names
                              # took seconds
                              *(exp.and_(known(o), exp.not_(holds(exp.paren(verbatim(other)))))
                                for o, other in distinct if o is not attr))
        rules.append({"name": "different " + attr.name, "sql": rule, "review_when": review.sql("duckdb"),
                      "scope": "cluster"})
    persons = any(a.type == "person_name" for a in declared)
    mailboxes = [a for a in declared if a.type == "email"]
    if persons and mailboxes:
        own = [(a, rule) for a, rule in distinct if a.type != "person_name"]
        agree = [holds(a.kind.same(a)) for a in mailboxes] + \
            [holds(a.kind.agrees(a)) for a in identifying if a.type != "email"] + \
            [exp.and_(holds(a.kind.agrees(a)), exp.not_(holds(exp.paren(verbatim(rule))))) for a, rule in own]
        condition = exp.and_(exp.paren(exp.or_(*(exp.paren(known(a)) for a in mailboxes))),
                             exp.not_(exp.paren(exp.or_(*agree))),
                             *(exp.not_(holds(exp.paren(verbatim(rule)))) for _, rule in distinct))
        others = [a.name for a in identifying if a.type != "email"] + [a.name for a, _ in own]
        rules.append({"name": "different " + "/".join(a.name for a in mailboxes) +
                      (" and no " + " or ".join(others) + " in common" if others else ""),
                      "sql": condition.sql("duckdb"), "review_when": "true", "scope": "cluster"})
    names = [a for a in declared if a.type == "person_name"]
    told = [PersonName.generation([a.name for a in names], side, reference) for side in "lr"]
    if any(a.distinct for a in names) and told[0] is not None:
        own = [a for a, _ in distinct if a.type != "person_name"]
        personal = identifying + own

        def alone(side: str, other: str) -> exp.Expression:
            # this record states a generation, the other none, and this one holds nothing of its own
            # (no e-mail address, id or birthday): nothing but the suffix says whose record it is
            return exp.and_(sql(told["lr".index(side)]).neq(_text("")), sql(told["lr".index(other)]).eq(_text("")),
                            *(_side(a.key, side).is_(exp.null()) for a in personal))
        condition = exp.and_(exp.paren(exp.or_(alone("l", "r"), alone("r", "l"))),
                             *(exp.not_(holds(exp.paren(verbatim(rule)))) for _, rule in distinct))
        rules.append({"name": "generation suffix on one record only" +
                      (", no " + " or ".join(a.name for a in personal) + " on it" if personal else ""),
                      "sql": condition.sql("duckdb"), "review_when": "true", "scope": "cluster"})
    locating = [a for a in declared if a.type in LOCATING]
    corroborating = [a for a in declared if a.type in CORROBORATING]
    if locating and persons:
        compared = exp.paren(exp.or_(*(exp.paren(known(a)) for a in locating)))
        condition = exp.and_(compared, *(exp.not_(holds(a.kind.agrees(a))) for a in locating),
                             *(exp.not_(holds(a.kind.same(a))) for a in corroborating))
        name = "different " + "/".join(a.name for a in locating) + \
            (" and no " + " or ".join(a.name for a in corroborating) + " in common" if corroborating else "")
        rules.append({"name": name, "sql": condition.sql("duckdb"), "review_when": "true", "scope": "match"})
    return rules
