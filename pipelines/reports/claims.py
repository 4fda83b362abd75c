"""The check of a commentary against the facts: every claim, not only every number.

A sentence is read clause by clause. A clause may name KPIs (their label or aliases), a
comparison (Vormonat / Vorjahr / Plan, previous month / last year / plan, or the comparison's
period label), a direction (stieg, sank, legte zu, ging zurück; rose, fell, grew, dropped),
numbers (digits or words, with their unit, sign, precision and bound words such as "rund" or
"knapp"), and a main cause ("vor allem wegen", "driven by") followed by a driver member. Each
is checked:

- every number must be a figure of the KPI the clause is about (its value, a comparison value,
  a change, a change in %, a driver's contribution, a z-score ...), within the precision it is
  written with; a number bound to a comparison must belong to the comparison named nearest to it;
- an explicit sign and a direction word must agree with the sign of the change they describe;
- a member named as main cause must be the largest contributor in the direction of the move;
- a clause with numbers but no KPI, in a paragraph that named none, may only use data-status
  figures and dates; anything else fails (fail closed), as does a negated direction.

KPIs carry over from clause to clause and sentence to sentence within a paragraph ("Er stieg
um 2 %"), directions from clause to clause within a sentence.

>>> facts = {"language": "en", "grain": "month", "comparisons": {"previous_period": {"label": "September 2026"}},
...          "kpis": [{"name": "revenue", "label": "Revenue", "unit": "EUR", "decimals": 0, "status": "ok",
...                    "value": 1_420_000.0, "comparisons": {"previous_period": {"value": 1_300_000.0,
...                    "delta": 120_000.0, "delta_pct": 9.23}}, "drivers": []}]}
>>> claims = ClaimFacts.from_facts(facts)
>>> check("Revenue rose 9.2% to about 1.4 million.", claims)
[]
>>> [p.reason for p in check("Revenue fell 9.2% to 1 million.", claims)]
['9.2%: matches no figure of Revenue', '1 million: matches no figure of Revenue', 'fell: Revenue rose against September 2026']
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pipelines.reports.figures import Token, read_numbers

# -- the words ------------------------------------------------------------------------------------

_UP = {
    "de": r"stieg\w*|steig\w*|gestiegen|anstieg\w*|legte\w*\b[^;]*?\bzu\b|legt\b[^;]*?\bzu\b|zugelegt|wuchs\w*|wächst|"
          r"gewachsen|wachstum|erhöht\w*|erhöhung|höher\w*|zuwachs\w*|kletter\w*|zog\w*\b[^;]*?\ban\b|nahm\w*\b[^;]*?\bzu\b|"
          r"zugenommen|übertraf\w*|übertroffen|plus\s+von|über\s+(?:dem\s+|den\s+|der\s+|seinem\s+)?(?:plan|vor|budget|ziel)\w*",
    "en": r"rose|rise[sn]?|rising|increase[ds]?|increasing|grew|grow[sn]?|growth|climb\w*|gain(?:ed|s)?|up|higher|"
          r"above|exceed\w*|jump\w*|advanced",
}
_DOWN = {
    "de": r"sank\w*|sinkt|gesunken|fiel\w*|fällt|gefallen|ging\w*\b[^;]*?\bzurück\b|geh\w+\b[^;]*?\bzurück\b|zurückgegangen|"
          r"rückgang\w*|verringer\w*|niedriger\w*|schrumpf\w*|geschrumpft|brach\w*\b[^;]*?\bein\b|einbruch|"
          r"nahm\w*\b[^;]*?\bab\b|abgenommen|verfehlt\w*|rückläufig|minus\s+von|"
          r"unter\s+(?:dem\s+|den\s+|der\s+|seinem\s+)?(?:plan|vor|budget|ziel)\w*",
    "en": r"fell|fall(?:s|en|ing)?|decrease[ds]?|decreasing|dropp?\w*|declin\w*|down|lower|below|shr[aiu]nk\w*|"
          r"slipp?\w*|missed|short of",
}
_FLAT = {"de": r"unverändert|stagnier\w*|konstant", "en": r"unchanged|flat|stagnat\w*"}
_NEGATION = {"de": r"nicht|kein\w*|weder", "en": r"not|no|never|neither"}
_CAUSE = {
    "de": r"vor allem|hauptsächlich|überwiegend|maßgeblich|insbesondere|größtenteils|haupttreiber\w*|hauptursache|"
          r"hauptgrund|getrieben|getragen|größte[nrs]? beitrag|stärkste[nrs]? beitrag|wegen|aufgrund|dank|"
          r"zurückzuführen|verantwortlich",
    "en": r"mainly|mostly|largely|primarily|chiefly|driven by|led by|due to|because of|thanks to|main driver|"
          r"main cause|biggest contribut\w*|largest contribut\w*|main contribut\w*|attributable|owing to",
}
# Comparison words by grain: "Vorwoche" in a monthly report names no comparison the report has.
_PREVIOUS = {
    "de": {"month": r"vormonat\w*", "week": r"vorwoche\w*", "day": r"vortag\w*|vorherigen (?:geschäfts|werk)tag\w*",
           "quarter": r"vorquartal\w*", "any": r"vorperiode\w*"},
    "en": {"month": r"(?:previous|prior|preceding) month|month before|month earlier|month[- ]on[- ]month|mom",
           "week": r"(?:previous|prior|preceding) week|week before|week earlier|week[- ]on[- ]week",
           "day": r"(?:previous|prior|preceding) (?:business |working )?day|day before",
           "quarter": r"(?:previous|prior|preceding) quarter|quarter[- ]on[- ]quarter",
           "any": r"(?:previous|prior|preceding) period"},
}
_LAST_YEAR = {"de": r"vorjahr\w*", "en": r"(?:last|previous|prior) year|year earlier|year ago|year[- ]on[- ]year|yoy"}
_PLAN = {"de": r"plan\w*|budget\w*|planwert\w*|ziel\w*|soll\b", "en": r"plan(?:ned)?|budget\w*|target\w*"}

# Clauses: at "; ", at a comma before a space (a decimal comma has none), and at a conjunction
# that starts a new statement about a comparison or a number ("... und ggü. Vorjahr um 3 %").
_CLAUSE_SPLIT = {
    "de": r";\s|,\s+|\s+(?:und|sowie|aber|während)\s+(?=ggü\.|gegenüber|im\s+vergleich|verglichen|um\b|auf\b|bei\b|[+−\-]?\d)",
    "en": r";\s|,\s+|\s+(?:and|but|while|whereas)\s+(?=vs\b|versus|against|compared|by\b|to\b|at\b|up\b|down\b|on\b|[+−\-]?\d)",
}
_FROM = re.compile(r"(?:\bvon|\bfrom)\s*€?\s*$", re.I)       # "stieg von 1,27 Mio. auf ...": a start value
_CONTRIBUTION = {"de": r"beitr[aä]g\w*|treiber\w*", "en": r"contribut\w*|driver\w*"}
_ABBREVIATIONS = r"(?:Mio|Mrd|Tsd|ggü|ca|rd|bzw|inkl|z\. ?B|Nr|Abw|Pp|vs|approx|Vj|St|d\. ?h|u\. ?a|c)"
_DELTA_KINDS = ("delta", "delta_pct", "member_delta", "member_delta_pct")


def _words(pattern: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", re.I)


# -- the facts a commentary may state --------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """One figure of a KPI: what it is, for which comparison and member, in which unit."""

    kind: str                    # value | compare_value | delta | delta_pct | contribution | member_* | share | extra
    value: float
    unit: str                    # EUR, %, pp, count, days, number, z
    comparison: str | None = None
    member: str | None = None


@dataclass(eq=False)
class KpiClaims:
    name: str
    names: list[str]             # label and aliases as the commentary may write them
    unit: str
    decimals: int
    slots: list[Slot] = field(default_factory=list)
    deltas: dict[str, float] = field(default_factory=dict)              # comparison → change
    delta_pcts: dict[str, float] = field(default_factory=dict)          # comparison → change in %
    flat_limit: float = 0.5      # |change %| (|change| in pp for a KPI in %) below this is "unchanged"
    drivers: dict[str, list[list[tuple[str, float]]]] = field(default_factory=dict)  # comparison → dimensions → members
    member_deltas: dict[tuple[str, str], float] = field(default_factory=dict)        # (comparison, member) → change
    members: set[str] = field(default_factory=set)                                    # every member named in the facts


@dataclass
class ClaimFacts:
    language: str
    grain: str
    kpis: list[KpiClaims]
    loose: list[float]           # data-status figures: gates, open review items
    dates: set[int]              # years, months, days, week numbers of the periods
    comparison_words: list[tuple[re.Pattern, str]]
    default_comparison: str | None
    labels: dict[str, str] = field(default_factory=dict)      # comparison → its label, for messages

    @classmethod
    def from_facts(cls, facts: dict, member: Callable[[dict, str], str] | None = None) -> ClaimFacts:
        """``member(driver, name)`` gives the name the commentary sees (a pseudonym in a prompt)."""
        lang, grain = facts["language"], facts.get("grain") or facts.get("period", {}).get("grain", "month")
        member = member or (lambda driver, name: name)
        kpis = [_kpi_claims(k, member) for k in facts["kpis"] if k.get("status", "ok") == "ok"]
        status = facts.get("data_status") or {}
        loose = [float(status.get("gates", {}).get(k) or 0) for k in ("total", "failed", "warned")]
        loose += [float(status.get("review", {}).get("total_open") or 0)]
        loose += [float(v) for v in (status.get("review", {}).get("open") or {}).values()]
        dates: set[int] = set()
        for part in (facts.get("period") or {}, *facts["comparisons"].values()):
            for day in (part.get("start"), part.get("end"), facts.get("data_through")):
                if day and len(day) >= 10:
                    dates.update(int(x) for x in day[:10].split("-"))
            found = re.search(r"-[WQ](\d+)$", part.get("key", ""))
            if found:
                dates.add(int(found.group(1)))
        names = list(facts["comparisons"])
        default = "previous_period" if "previous_period" in names else (names[0] if names else None)
        labels = {name: c.get("label") or name for name, c in facts["comparisons"].items()}
        return cls(lang, grain, kpis, loose, dates, _comparison_words(facts, lang, grain), default, labels)


def _kpi_claims(kpi: dict, member: Callable[[dict, str], str]) -> KpiClaims:
    unit, percent = kpi["unit"], kpi["unit"] == "%"
    change_unit = "pp" if percent else unit
    names = [kpi["label"], re.sub(r"\s*\(.*?\)", "", kpi["label"]).strip(), *kpi.get("aliases", [])]
    claims = KpiClaims(kpi["name"], sorted({n for n in names if n}, key=len, reverse=True), unit, kpi["decimals"],
                       flat_limit=0.05 if percent else 0.5)
    add = claims.slots.append
    if kpi.get("value") is not None:
        add(Slot("value", kpi["value"], unit))
    for name, cmp in kpi.get("comparisons", {}).items():
        if cmp.get("value") is not None:
            add(Slot("compare_value", cmp["value"], unit, name))
        if cmp.get("delta") is not None:
            add(Slot("delta", cmp["delta"], change_unit, name))
            claims.deltas[name] = cmp["delta"]
        if cmp.get("delta_pct") is not None:
            add(Slot("delta_pct", cmp["delta_pct"], "%", name))
            claims.delta_pcts[name] = cmp["delta_pct"]
    for driver in kpi.get("drivers", []):
        cmp = driver.get("comparison")
        members = []
        for m in driver.get("members", []):
            shown = member(driver, m["member"])
            claims.members.add(shown)
            for key, kind, u in (("value", "member_value", unit), ("compare_value", "member_compare_value", unit),
                                 ("delta", "member_delta", change_unit), ("delta_pct", "member_delta_pct", "%"),
                                 ("contribution", "contribution", change_unit), ("share_pct", "share", "%")):
                if m.get(key) is not None:
                    add(Slot(kind, m[key], u, cmp if kind not in ("member_value", "share") else None, shown))
            if cmp and m.get("contribution") is not None:
                members.append((shown, m["contribution"]))
            if cmp and m.get("delta") is not None:
                claims.member_deltas[(cmp, shown)] = m["delta"]
        if cmp and members:
            claims.drivers.setdefault(cmp, []).append(members)
    for anomaly in kpi.get("anomalies", []):
        if anomaly.get("member") is None:
            continue
        shown, cmp = anomaly["member"], anomaly.get("comparison")
        claims.members.add(shown)
        for key, kind, u, c in (("value", "member_value", unit, None), ("compare_value", "member_compare_value", unit, cmp),
                                ("delta", "member_delta", change_unit, cmp), ("delta_pct", "member_delta_pct", "%", cmp),
                                ("share_pct", "share", "%", None)):
            if anomaly.get(key) is not None:
                add(Slot(kind, anomaly[key], u, c, shown))
        if cmp and anomaly.get("delta") is not None:
            claims.member_deltas.setdefault((cmp, shown), anomaly["delta"])
    if kpi.get("zscore"):
        add(Slot("extra", kpi["zscore"]["z"], "z"))
        add(Slot("extra", kpi["zscore"]["n"], "count"))
    for anomaly in kpi.get("anomalies", []):
        for key in ("z", "n", "threshold"):
            if anomaly.get(key) is not None:
                add(Slot("extra", anomaly[key], "z" if key == "z" else "count" if key == "n" else
                         ("pp" if percent else "%")))
    # History values are not claimable: "im Oktober 1,3 Mio." must be October's value.
    return claims


def _comparison_words(facts: dict, lang: str, grain: str) -> list[tuple[re.Pattern, str]]:
    words: list[tuple[re.Pattern, str]] = []
    have = facts["comparisons"]
    for name, data in have.items():             # the comparison's own label: "September 2026"
        if data.get("label") and name != "plan":
            words.append((re.compile(re.escape(data["label"]), re.I), name))
    for other, pattern in _PREVIOUS[lang].items():
        target = "previous_period" if other in (grain, "any") and "previous_period" in have else "other"
        words.append((_words(pattern), target))
    words.append((_words(_LAST_YEAR[lang]), "same_period_last_year" if "same_period_last_year" in have else "other"))
    words.append((_words(_PLAN[lang]), "plan" if "plan" in have else "other"))
    return words


# -- reading a commentary ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    sentence: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason} (in: {self.sentence})"


@dataclass
class _Clause:
    text: str
    kpis: list[KpiClaims]
    named_kpi: bool
    direction: tuple[str, int, str] | None         # (up|down|flat, position, the word)
    comparisons: list[tuple[int, str]]               # (position, comparison)
    members: list[tuple[int, int, str]]               # (start, end, member)
    numbers: list[Token]
    cause: int | None                                  # position of a main-cause word
    negated: bool
    contribution: bool = False                         # speaks of contributions: driver figures may be stated


def sentences(text: str) -> list[list[str]]:
    """Paragraphs of sentences; a full stop after an abbreviation or inside a number ends nothing."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        flat = " ".join(paragraph.split())
        parts, start = [], 0
        for match in re.finditer(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ\[„\"(\d+−-])", flat):
            before = flat[start:match.start()]
            if re.search(rf"(?<![\w])(?:{_ABBREVIATIONS})\.$", before):
                continue
            parts.append(before)
            start = match.end()
        parts.append(flat[start:])
        paragraphs.append([p for p in parts if p.strip()])
    return paragraphs


def _find_all(pattern: str, text: str) -> list[re.Match]:
    return list(_words(pattern).finditer(text))


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _read_clause(text: str, claims: ClaimFacts) -> _Clause:
    lang = claims.language
    kpi_spans = []
    for kpi in claims.kpis:
        for name in kpi.names:
            # German compounds start with the KPI: "Umsatzrückgang", "Forderungsbestand".
            for m in re.finditer(rf"(?<![\w]){re.escape(name)}[\w-]*", text, re.I):
                kpi_spans.append((m.start(), m.end(), kpi, len(name)))
    # The longest name wins: "Deckungsbeitrag in %" is not also "Deckungsbeitrag", and of two
    # names covering "Deckungsbeitragsquote" the one written out in full.
    kpi_spans = [s for s in kpi_spans if not any(
        o is not s and o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0], o[3]) > (s[1] - s[0], s[3]) for o in kpi_spans)]
    kpis = list(dict.fromkeys(s[2] for s in sorted(kpi_spans, key=lambda s: s[0])))
    members = []
    for kpi in claims.kpis:
        for name in kpi.members:
            for m in re.finditer(rf"(?<![\w]){re.escape(name)}(?![\w])", text, re.I):
                members.append((m.start(), m.end(), name))
    members = [s for s in members if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in members)]
    comparisons = sorted({(m.start(), target) for pattern, target in claims.comparison_words
                          for m in pattern.finditer(text)})
    spans = [(s, s + n) for s, _, _, n in kpi_spans] + [(s, e) for s, e, _ in members]
    spans += [(m.start(), m.end()) for pattern, _ in claims.comparison_words for m in pattern.finditer(text)]
    numbers = [t for t in read_numbers(_mask(text, spans), lang)]
    found = [(kind, m) for kind, pattern in (("up", _UP[lang]), ("down", _DOWN[lang]), ("flat", _FLAT[lang]))
             for m in _find_all(pattern, _mask(text, [(s, s + n) for s, _, _, n in kpi_spans]))]
    found.sort(key=lambda f: f[1].start())
    direction = (found[0][0], found[0][1].start(), found[0][1].group(0)) if found else None
    cause = next(iter(_find_all(_CAUSE[lang], text)), None)
    negated = bool(direction) and bool(_find_all(_NEGATION[lang], text))
    contribution = cause is not None or bool(_find_all(_CONTRIBUTION[lang], text))
    return _Clause(text, kpis, bool(kpis), direction, comparisons, sorted(members), numbers,
                   cause.start() if cause else None, negated, contribution)


def _clauses(sentence: str, claims: ClaimFacts) -> list[str]:
    pattern = re.compile(_CLAUSE_SPLIT[claims.language], re.I)
    parts, start = [], 0
    for m in pattern.finditer(sentence):
        parts.append(sentence[start:m.start()])
        start = m.end()
    parts.append(sentence[start:])
    return [p for p in parts if p.strip()]


# -- checking ----------------------------------------------------------------------------------------

def fits(token: Token, fact: float) -> bool:
    """Whether ``token`` states ``fact`` (magnitudes) with the precision and bound it is written with.

    Written plainly a number is the fact rounded to the digits shown; a number with a scale word
    ("1 Mio.") must also be within 5 %, so "1 Mio." does not state 1.42 M. "rund" allows 5 %,
    "knapp"/"gut" a little under/over (5 %), "unter"/"über" under/over within 10 %. A plain number
    with a scale word and one significant digit ("2 Mio.") must be within 1 %.

    >>> from pipelines.reports.figures import read_numbers as r
    >>> [fits(t, 1_420_000) for t in r("1,4 Mio. / rund 1,4 Mio. / 1 Mio. / knapp 1,4 Mio. / gut 1,4 Mio.", "de")]
    [True, True, False, False, True]
    >>> [fits(t, 2_104_800) for t in r("2 Mio. / rund 2 Mio. / 2,1 Mio.", "de")]
    [False, True, True]
    """
    written, fact = abs(token.value), abs(fact)
    exact = 0.5 * 10 ** -token.decimals * token.scale * (1 + 1e-9) + 1e-9
    gap = abs(written - fact)
    scaled_ok = token.scale == 1 or gap <= 0.05 * fact + 1e-9
    if token.bound is None:
        # "2 Mio." claims two million: one significant digit is exact or hedged ("rund 2 Mio.").
        mantissa = f"{written / token.scale:.{token.decimals}f}".replace(".", "").lstrip("0")
        precise = token.scale == 1 or len(mantissa) >= 2 or gap <= 0.01 * fact
        return gap <= exact and scaled_ok and precise
    if token.bound == "approx":
        return (gap <= exact or gap <= 0.05 * fact) and scaled_ok
    if token.bound == "near_below":
        return fact <= written and written - fact <= 0.05 * written
    if token.bound == "near_above":
        return fact >= written and fact - written <= 0.05 * written
    if token.bound == "below":
        return fact < written and written - fact <= 0.1 * written
    return fact > written and fact - written <= 0.1 * written          # above


def _unit_ok(token: Token, slot: Slot) -> bool:
    if token.marker == "pct":
        return slot.unit == "%"
    if token.marker == "pp":
        return slot.unit == "pp"
    if slot.unit in ("%", "pp"):
        return False
    return slot.unit != "z" or token.scale == 1


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _nearest(position: int, marks: list[tuple[int, str]]) -> str | None:
    return min(marks, key=lambda m: abs(m[0] - position))[1] if marks else None


def _slot_ok(token: Token, slot: Slot, clause: _Clause, direction: str | None) -> bool:
    if not _unit_ok(token, slot) or not fits(token, slot.value):
        return False
    deltaish = slot.kind in (*_DELTA_KINDS, "contribution")
    if token.signed and _sign(token.value) and _sign(slot.value) and _sign(token.value) != _sign(slot.value):
        return False
    if not deltaish and not token.signed and _sign(slot.value) < 0:
        return False                                   # a negative value written without its minus
    if slot.comparison is not None:
        named = _nearest(token.start, clause.comparisons)
        if named is not None and named != slot.comparison:
            return False
    if slot.kind == "contribution" and not clause.contribution:
        return False                                   # "Nord sank um 0,9 PP" is not Nord's contribution
    if slot.kind in ("member_value", "member_compare_value", "member_delta", "member_delta_pct", "share") \
            and not clause.members:
        return False                                   # a member's figure only where the member is named
    if slot.kind.endswith("compare_value") and not clause.comparisons and not _FROM.search(clause.text[:token.start]):
        return False                                   # "lag bei 1,5 Mio." is the value, not last year's
    if slot.member is not None and clause.members and slot.member not in {m for _, _, m in clause.members}:
        return False
    if direction and not token.signed and slot.kind in _DELTA_KINDS and _sign(slot.value):
        if {"up": 1, "down": -1}.get(direction, 0) != _sign(slot.value):
            return False
    return True


def _check_number(token: Token, clause: _Clause, claims: ClaimFacts, direction: str | None) -> tuple[str | None, Slot | None]:
    """Why ``token`` states no fact (None when it does), and the figure it states."""
    if token.value is None:
        return f"{token.raw}: not a number as a {claims.language} reader reads it", None
    plain_int = token.marker == "plain" and token.decimals == 0 and not token.signed and token.bound is None
    if plain_int and abs(token.value) in claims.dates:
        return None, None
    if not clause.kpis:
        if plain_int and abs(token.value) in claims.loose:
            return None, None
        return f"{token.raw}: names no KPI and matches no data-status figure", None
    subject_members = bool(clause.members) and clause.cause is None
    for kpi in clause.kpis:
        for slot in kpi.slots:
            # A direction word about a member ("Süd legte zu") constrains the member's change, one
            # about the KPI its change; contributions carry their sign only in the sign written.
            use = direction if (slot.kind.startswith("member_") == subject_members) else None
            if _slot_ok(token, slot, clause, use):
                return None, slot
    if not clause.named_kpi and plain_int and abs(token.value) in claims.loose:
        return None, None
    return f"{token.raw}: matches no figure of {' / '.join(k.names[0] for k in clause.kpis)}", None


def _check_direction(clause: _Clause, claims: ClaimFacts, stated: list[Slot]) -> list[str]:
    if not clause.direction or not clause.kpis:
        return []
    kind, position, word = clause.direction
    if clause.negated:
        return [f"{word}: a negated direction cannot be checked"]
    # The comparison meant: the one named, else the one of the change the clause states, else
    # the report's first ("stieg" in a monthly report means: against the previous month).
    named = [c for _, c in clause.comparisons] or \
        [s.comparison for s in stated if s.kind in ("delta", "delta_pct") and s.comparison] or [claims.default_comparison]
    problems = []
    for kpi in clause.kpis:
        for cmp in dict.fromkeys(named):
            if cmp == "other":
                problems.append(f"{word}: the report has no such comparison")
                continue
            if clause.members and clause.cause is None:
                changes = [(m, kpi.member_deltas.get((cmp, m))) for _, _, m in clause.members]
                changes = [(m, d) for m, d in changes if d is not None]
                if changes:
                    for member, change in changes:
                        if not _direction_ok(kind, change, None):
                            problems.append(f"{word}: {member} {_moved(change, claims.language)} against {_label(cmp, claims)}")
                    continue
            change = kpi.deltas.get(cmp)
            if change is None:
                problems.append(f"{word}: {kpi.names[0]} has no comparison {_label(cmp, claims)}")
            elif not _direction_ok(kind, change, kpi, cmp):
                problems.append(f"{word}: {kpi.names[0]} {_moved(change, claims.language)} against {_label(cmp, claims)}")
    return problems


def _direction_ok(kind: str, change: float, kpi: KpiClaims | None, cmp: str | None = None) -> bool:
    if kind == "flat":       # "unverändert": below half a percent (half a tenth of a point for a KPI in %)
        if kpi is None:
            return change == 0
        size = abs(change) if kpi.unit == "%" else abs(kpi.delta_pcts.get(cmp, 100.0 if change else 0.0))
        return size < kpi.flat_limit
    return _sign(change) == (1 if kind == "up" else -1)


def _moved(change: float, language: str) -> str:
    return "rose" if change > 0 else "fell" if change < 0 else "was unchanged"


def _label(cmp: str, claims: ClaimFacts) -> str:
    return claims.labels.get(cmp, cmp)


def _check_cause(clause: _Clause, claims: ClaimFacts) -> list[str]:
    if clause.cause is None:
        return []
    named = [m for s, _, m in clause.members if s > clause.cause] or [m for _, _, m in clause.members]
    if not clause.kpis:
        return ["a main cause is named, but no KPI it explains"] if named else []
    if not named:
        return []                                    # "wegen" without a driver member: no driver claim
    member = named[0]
    comparisons = [c for _, c in clause.comparisons] or [claims.default_comparison]
    for kpi in clause.kpis:
        for cmp in dict.fromkeys(comparisons):
            change = kpi.deltas.get(cmp)
            for members in kpi.drivers.get(cmp, []):
                if member not in {m for m, _ in members}:
                    continue
                moving = [(m, c) for m, c in members if change is None or _sign(c) == _sign(change)]
                top = max(moving, key=lambda mc: abs(mc[1]), default=None)
                if top is None or top[0] != member:
                    largest = top[0] if top else "none"
                    return [f"{member}: not the largest contributor to {kpi.names[0]} against "
                            f"{_label(cmp, claims)} (largest: {largest})"]
                return []
    return [f"{member}: not a driver of {' / '.join(k.names[0] for k in clause.kpis)} against "
            f"{', '.join(_label(c, claims) for c in comparisons)}"]


def check(text: str, claims: ClaimFacts) -> list[Problem]:
    """Every claim of ``text`` that the facts do not support; empty when the commentary is true."""
    problems = []
    for paragraph in sentences(text):
        context: list[KpiClaims] = []
        for sentence in paragraph:
            direction, compared, contribution = None, [], False
            for part in _clauses(sentence, claims):
                clause = _read_clause(part, claims)
                if clause.kpis:
                    context = clause.kpis
                else:
                    clause.kpis = context
                # Within a sentence a clause without its own comparison or cause continues the
                # previous one: "Der Umsatz sank ggü. Vorjahr, vor allem wegen Nord".
                if clause.comparisons:
                    compared = [(-1, c) for _, c in clause.comparisons]
                else:
                    clause.comparisons = compared
                contribution = clause.contribution = clause.contribution or (contribution and not clause.members)
                if clause.direction:
                    direction = clause.direction
                elif direction and clause.numbers:
                    clause.direction = (direction[0], -1, direction[2])
                checked = [_check_number(t, clause, claims, clause.direction[0] if clause.direction else None)
                           for t in clause.numbers]
                reasons = [r for r, _ in checked if r]
                stated = [slot for _, slot in checked if slot]
                reasons += _check_direction(clause, claims, stated) if clause.direction and clause.direction[1] >= 0 else []
                reasons += _check_cause(clause, claims)
                problems += [Problem(sentence, r) for r in reasons]
    return problems
