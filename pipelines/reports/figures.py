"""Numbers as a German or English reader writes and reads them, and the check of prose against facts.

A German report writes ``1.234,5``, an English one ``1,234.5``. The check reads every number of a
text the way a reader of the report's language would, so ``12.5 %`` in a German text is read as
125 and fails against a fact of 12.5: a number the reader would misread is a wrong number.

>>> format_number(-1234.5, 1, "de"), format_number(-1234.5, 1, "en")
('−1.234,5', '−1,234.5')
>>> [(t.value, t.decimals, t.marker) for t in read_numbers("Umsatz 1,2 Mio. €, −12,3 % ggü. Vormonat", "de")]
[(1200000.0, 1, 'scale'), (-12.3, 1, 'pct')]
>>> mismatches("Revenue fell 12.3% to €1.2 million.", "en", [Fact(-12.34, "pct"), Fact(1_234_567, "plain")])
[]
>>> mismatches("Umsatz sank um 12,5 %.", "de", [Fact(-12.34, "pct")])
['12,5 %']
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

MINUS = "−"
_UNITS = {
    "de": {"EUR": "{} €", "%": "{} %", "pp": "{} PP", "days": "{} Tage", "count": "{}", "number": "{}"},
    "en": {"EUR": "€{}", "%": "{}%", "pp": "{} pp", "days": "{} days", "count": "{}", "number": "{}"},
}
_SEPARATORS = {"de": (".", ","), "en": (",", ".")}   # thousands, decimal

# Dates and period names are not figures: they are taken out before numbers are read.
_DATE_FORMS = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{4}-W\d{2}\b|\b\d{4}-Q[1-4]\b|\b\d{4}-\d{2}\b|\b\d{1,2}\.\d{1,2}\.\d{2,4}\b"
    r"|\b(?:KW|week|W|Q)\s?\d{1,2}\b", re.IGNORECASE)
_TOKEN = re.compile(r"(?<![\w.,])([+\-−–]?)(\d[\d.,]*\d|\d)(?![\w])")
_GRAMMAR = {
    "de": re.compile(r"^(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$"),
    "en": re.compile(r"^(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"),
}
_MARKERS = [  # (pattern after the number, marker, multiplier)
    (re.compile(r"^\s?(%|Prozent\b|percent\b|per cent\b)", re.I), "pct", 1.0),
    (re.compile(r"^\s?(PP\b|pp\b|Pp\.|ppt\b|Prozentpunkte[n]?\b|Prozentpunkt\b|percentage points?\b|points?\b)"), "pp", 1.0),
    (re.compile(r"^\s?(Mrd\.?|Milliarden?\b|billions?\b|bn\b)", re.I), "scale", 1e9),
    (re.compile(r"^\s?(Mio\.?|Millionen\b|Million\b|millions?\b|m\b)", re.I), "scale", 1e6),
    (re.compile(r"^\s?(Tsd\.?|Tausend\b|thousands?\b|k\b|T€)", re.I), "scale", 1e3),
]


def format_number(value: float, decimals: int, language: str, sign: bool = False) -> str:
    """``value`` rounded to ``decimals`` with the language's separators and a real minus sign."""
    thousands, decimal = _SEPARATORS[language]
    text = f"{abs(value):,.{decimals}f}"
    text = text.replace(",", "\x00").replace(".", decimal).replace("\x00", thousands)
    rounded_zero = round(abs(value), decimals) == 0
    if value < 0 and not rounded_zero:
        return MINUS + text
    return ("+" + text) if sign and not rounded_zero else text


def format_value(value: float | None, unit: str | None, decimals: int, language: str, sign: bool = False) -> str:
    """A value with its unit: ``574.483 €``, ``34,2 %``, ``45 Tage``; ``–`` for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return _UNITS[language].get(unit or "number", "{}").format(format_number(value, decimals, language, sign))


@dataclass(frozen=True)
class Token:
    raw: str
    value: float | None          # None: not a number a reader of this language could read
    decimals: int
    marker: str                  # plain | pct | pp | scale
    scale: float = 1.0           # 1e6 for "Mio.", 1e3 for "Tsd." ...
    start: int = 0               # where the number stands in the text read
    end: int = 0
    signed: bool = False         # written with + / − / plus / minus: the sign is part of the claim
    bound: str | None = None     # approx ("rund"), below ("unter"), near_below ("knapp"), above, near_above


@dataclass(frozen=True)
class Fact:
    """A number the prose may use: ``kind`` pct and pp only match numbers marked as such;
    ``date`` only matches the exact integer (years, days, week numbers)."""

    value: float
    kind: str = "plain"


_WORD = re.compile(r"(?<![\w-])([A-Za-zÄÖÜäöüß]+(?:-[A-Za-z]+)?)(?![\w])")
_SIGN_WORDS = re.compile(r"(?:(?:^|[\s(])(plus|minus)\s*€?|([+\-−–])€)\s*$", re.I)   # "minus 5 %", "−€60,000"
# Words before a number that state its precision or a bound: "rund 1,4 Mio." is 1.33–1.47 M,
# "knapp 1,4 Mio." is a little under 1.4 M, "über 1,4 Mio." is more than 1.4 M.
_BOUNDS = {
    "de": [("near_below", r"knapp|fast|beinahe|nahezu"), ("near_above", r"gut|etwas mehr als|etwas über|knapp über"),
           ("below", r"unter|weniger als|bis zu|höchstens"), ("above", r"über|mehr als|mindestens"),
           ("approx", r"rund|rd\.|etwa|ca\.|circa|ungefähr|annähernd|gerundet|grob")],
    "en": [("near_below", r"nearly|almost|just under|just below|close to"), ("near_above", r"just over|just above|slightly more than"),
           ("below", r"under|below|less than|up to|at most"), ("above", r"over|above|more than|at least"),
           ("approx", r"about|around|roughly|approximately|some|circa|c\.|approx\.")],
}
_BOUND_RES = {lang: [(name, re.compile(rf"(?:^|[\s(])(?:{words})\s*(?:um\s+|by\s+|von\s+|bei\s+|auf\s+|to\s+|at\s+)?€?$", re.I))
                     for name, words in pairs] for lang, pairs in _BOUNDS.items()}

_DE_ONES = {"null": 0, "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8,
            "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15,
            "sechzehn": 16, "siebzehn": 17, "achtzehn": 18, "neunzehn": 19}
_DE_TENS = {"zwanzig": 20, "dreißig": 30, "vierzig": 40, "fünfzig": 50, "sechzig": 60, "siebzig": 70, "achtzig": 80,
            "neunzig": 90}
_DE_ARTICLE = {"ein", "eine", "einen", "einem", "einer", "eines"}       # "ein" is 1 only before a unit
_EN_ONES = {"zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
            "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
            "seventeen": 17, "eighteen": 18, "nineteen": 19}
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_EN_ARTICLE = {"one", "a", "an"}


def _de_word(word: str) -> int | None:
    """``zweiundvierzig`` → 42, ``hundertzwölf`` → 112, ``zwölf`` → 12; else None.

    >>> _de_word("zweiundvierzig"), _de_word("einhundertfünf"), _de_word("Umsatz")
    (42, 105, None)
    """
    word = word.lower()
    hundreds, rest = 0, word
    head, sep, tail = word.partition("hundert")
    if sep:
        hundreds = 1 if head in ("", "ein") else _DE_ONES.get(head, 0)
        if not hundreds:
            return None
        rest = tail
    if not rest:
        return hundreds * 100 if hundreds else None
    if rest in _DE_ONES:
        return hundreds * 100 + _DE_ONES[rest]
    if rest in _DE_TENS:
        return hundreds * 100 + _DE_TENS[rest]
    ones, sep, tens = rest.partition("und")
    if sep and tens in _DE_TENS and (ones in _DE_ONES or ones == "ein") and ones not in ("null",):
        return hundreds * 100 + _DE_TENS[tens] + (1 if ones == "ein" else _DE_ONES[ones])
    return None


def _en_word(word: str) -> int | None:
    """``twenty-one`` → 21, ``twelve`` → 12; else None."""
    word = word.lower()
    if word in _EN_ONES:
        return _EN_ONES[word]
    if word in _EN_TENS:
        return _EN_TENS[word]
    tens, sep, ones = word.partition("-")
    if sep and tens in _EN_TENS and (ones in _EN_ONES or ones == "one") and ones != "zero":
        return _EN_TENS[tens] + (1 if ones == "one" else _EN_ONES[ones])
    return None


def _marker(rest: str) -> tuple[str, float, int]:
    for pattern, name, factor in _MARKERS:
        found = pattern.match(rest)
        if found:
            return name, factor, found.end()
    return "plain", 1.0, 0


def _context(text: str, start: int, language: str) -> tuple[bool, bool, str | None, int]:
    """Sign words and bound words in front of a number: (signed, negative, bound, new start)."""
    before = text[max(0, start - 40):start]
    signed = negative = False
    sign = _SIGN_WORDS.search(before)
    if sign:
        signed, negative = True, (sign.group(1) or sign.group(2)).lower() in ("minus", "-", MINUS, "–")
        before = before[:sign.start()]
    for name, pattern in _BOUND_RES[language]:
        if pattern.search(before):
            return signed, negative, name, start
    return signed, negative, None, start


def _word_numbers(text: str, language: str) -> list[tuple[int, int, float, str]]:
    """Numbers written as words: (start, end, value, following text). An article ("ein", "one", "a")
    is a number only before a unit or scale word ("eine Million", "one percent")."""
    found: list[tuple[int, int, float, str]] = []
    for match in _WORD.finditer(text):
        if found and match.start() < found[-1][1]:
            continue                                  # part of "one hundred and five"
        word = match.group(1)
        article = word.lower() in (_DE_ARTICLE if language == "de" else _EN_ARTICLE)
        value = 1 if article else (_de_word(word) if language == "de" else _en_word(word))
        if value is None:
            continue
        rest = text[match.end():]
        if language == "en":                          # one hundred (and) five
            more = re.match(r"\s+hundred(?:\s+(?:and\s+)?([a-z]+(?:-[a-z]+)?))?", rest, re.I)
            if more:
                tail = _en_word(more.group(1)) if more.group(1) else None
                value = value * 100 + (tail or 0)
                end = match.end() + (more.end() if tail is not None or not more.group(1) else more.start(1) - 1)
                rest = text[end:]
                found.append((match.start(), end, float(value), rest))
                continue
        if article and _marker(rest)[0] == "plain":
            continue
        found.append((match.start(), match.end(), float(value), rest))
    return found


def read_numbers(text: str, language: str) -> list[Token]:
    """Every number of ``text`` as a reader of ``language`` reads it: digits and number words, with
    unit or scale after it, an explicit sign and a bound word ("rund", "knapp", "über") before it."""
    thousands, decimal = _SEPARATORS[language]
    text = _DATE_FORMS.sub(lambda m: " " * len(m.group(0)), text)
    tokens = []
    for match in _TOKEN.finditer(text):
        sign, digits = match.groups()
        rest = text[match.end():]
        marker, multiplier, used = _marker(rest)
        end = match.end() + used
        raw = text[match.start():end].strip()
        signed, negative, bound, start = _context(text, match.start(), language)
        if not _GRAMMAR[language].match(digits):
            tokens.append(Token(raw, None, 0, marker, multiplier, start, end))
            continue
        whole, _, fraction = digits.partition(decimal)
        value = float(whole.replace(thousands, "") + ("." + fraction if fraction else ""))
        signed = signed or bool(sign)
        negative = negative or sign in ("-", MINUS, "–")
        tokens.append(Token(raw, (-value if negative else value) * multiplier, len(fraction), marker, multiplier,
                            start, end, signed, bound))
    for start, end, value, rest in _word_numbers(text, language):
        marker, multiplier, used = _marker(rest)
        signed, negative, bound, begin = _context(text, start, language)
        tokens.append(Token(text[start:end + used].strip(), (-value if negative else value) * multiplier, 0, marker,
                            multiplier, begin, end + used, signed, bound))
    return sorted(tokens, key=lambda t: t.start)


def _matches(token: Token, fact: Fact) -> bool:
    if fact.kind == "date":
        return token.marker == "plain" and token.decimals == 0 and abs(token.value) == fact.value
    if token.marker == "pct" and fact.kind != "pct" or token.marker == "pp" and fact.kind != "pp":
        return False
    tolerance = 0.5 * 10 ** -token.decimals * token.scale * (1 + 1e-9) + 1e-9
    # Prose says "fell by 12 %" for a delta of -12.3: the sign is in the words.
    return abs(abs(token.value) - abs(fact.value)) <= tolerance


def mismatches(text: str, language: str, facts: list[Fact]) -> list[str]:
    """The numbers in ``text`` that match no fact within the rounding they are written with."""
    wrong = []
    for token in read_numbers(text, language):
        if token.value is None or not any(_matches(token, f) for f in facts):
            wrong.append(token.raw)
    return wrong
