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
    (re.compile(r"^\s?(PP\b|pp\b|Pp\.|Prozentpunkte?\b|percentage points?\b)"), "pp", 1.0),
    (re.compile(r"^\s?(Mrd\.?|Milliarden?\b|billion\b|bn\b)", re.I), "scale", 1e9),
    (re.compile(r"^\s?(Mio\.?|Millionen\b|Million\b|million\b|m\b)", re.I), "scale", 1e6),
    (re.compile(r"^\s?(Tsd\.?|Tausend\b|thousand\b|k\b|T€)", re.I), "scale", 1e3),
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


@dataclass(frozen=True)
class Fact:
    """A number the prose may use: ``kind`` pct and pp only match numbers marked as such;
    ``date`` only matches the exact integer (years, days, week numbers)."""

    value: float
    kind: str = "plain"


def read_numbers(text: str, language: str) -> list[Token]:
    thousands, decimal = _SEPARATORS[language]
    text = _DATE_FORMS.sub(" ", text)
    tokens = []
    for match in _TOKEN.finditer(text):
        sign, digits = match.groups()
        marker, multiplier, rest = "plain", 1.0, text[match.end():]
        for pattern, name, factor in _MARKERS:
            found = pattern.match(rest)
            if found:
                marker, multiplier = name, factor
                rest = rest[found.end():]
                break
        raw = (sign + digits + text[match.end():len(text) - len(rest)]).strip()
        if not _GRAMMAR[language].match(digits):
            tokens.append(Token(raw, None, 0, marker, multiplier))
            continue
        whole, _, fraction = digits.partition(decimal)
        value = float(whole.replace(thousands, "") + ("." + fraction if fraction else ""))
        negative = sign in ("-", MINUS, "–")
        tokens.append(Token(raw, (-value if negative else value) * multiplier, len(fraction), marker, multiplier))
    return tokens


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
