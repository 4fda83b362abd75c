"""The narrative: written by a language model from aggregated facts, checked number by number.

The prompt holds the KPI facts only (values, deltas, top drivers, anomalies, data status), with
every number already formatted the way the report writes it. Members of dimensions marked
``personal`` (customers, suppliers: a sole trader's firm is a person's name) are replaced by
placeholders such as ``[Kunde A]`` unless the report sets ``narrative.allow_personal_data``; the
placeholders are put back after the check. IBANs and e-mail addresses never reach a prompt.

Every claim of the answer is checked against the facts (``claims.check``): each number against
the figure it states within the precision it is written with, each direction word and sign
against the sign of the change, each comparison named against the comparison the number belongs
to, each driver named as main cause against the largest contributor; a sentence with a number
that matches no fact fails. A failed check gets one more request naming the problems; a second
failure, a timeout, an HTTP error or no configured endpoint gives the deterministic template
narrative, which passes the same check. The report never fails because of the model.
"""
from __future__ import annotations

import json
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core.services import LlmEndpoint
from pipelines.reports import i18n
from pipelines.reports.claims import ClaimFacts, check, sentences
from pipelines.reports.periods import parse_period
from pipelines.reports.figures import Fact, format_value, read_numbers
from pipelines.reports.spec import ReportSpec

DEFAULT_MODEL = "gpt-4o-mini"
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PLACEHOLDER_WORD = {"de": {"customer": "Kunde", "supplier": "Lieferant"}, "en": {"customer": "Customer", "supplier": "Supplier"}}

SYSTEM = {
    "de": ("Du bist Controller in einem mittelständischen Unternehmen und schreibst den Kommentar zu einem "
           "Kennzahlenbericht. Schreibe höchstens {words} Wörter in zwei bis vier kurzen Absätzen, sachlich, auf "
           "Deutsch, ohne Überschriften, Aufzählungen oder Markdown. Der erste Absatz ist eine Zusammenfassung "
           "für die Geschäftsführung in höchstens fünf Sätzen: die wichtigsten Bewegungen zuerst (die Kennzahlen "
           "mit headline: true), einschließlich der größten Bewegung eines einzelnen Kunden. Danach, warum "
           "(Treiber, Auffälligkeiten), dann die übrigen Kennzahlen, zuletzt Einschränkungen aus dem Datenstatus. Verwende ausschließlich Zahlen aus den Fakten, genau so geschrieben wie dort "
           "(deutsches Zahlenformat), oder gerundet mit weniger Nachkommastellen; rechne nichts selbst aus. "
           "Platzhalter in eckigen Klammern wie [Kunde A] übernimmst du unverändert."),
    "en": ("You are a controller at a mid-sized company writing the commentary for a KPI report. Write at most "
           "{words} words in two to four short paragraphs, factual, in English, without headings, bullet points "
           "or Markdown. The first paragraph is an executive summary of at most five sentences: the most important "
           "movements first (the KPIs with headline: true), including the largest movement of a single customer. "
           "Then why (drivers, anomalies), then the other KPIs, then any caveats from the data status. Use only numbers from the facts, written exactly as there (English "
           "number format), or rounded to fewer decimals; do not calculate anything yourself. Keep placeholders "
           "in square brackets such as [Customer A] unchanged."),
}
RETRY = {
    "de": "Diese Aussagen stimmen nicht mit den Fakten überein: {wrong}. Schreibe den Kommentar neu; verwende nur "
          "Zahlen aus den Fakten, mit der richtigen Richtung (stieg/sank), dem richtigen Vergleich und als Haupttreiber "
          "nur den größten Beitrag.",
    "en": "These statements do not match the facts: {wrong}. Rewrite the commentary using only numbers from the facts, "
          "with the right direction (rose/fell), the right comparison and as main driver only the largest contribution.",
}


@dataclass
class NarrativeResult:
    kind: str                        # llm | template
    text: str
    model: str | None = None
    reason: str | None = None        # why the template was used
    attempts: int = 0
    rejected: list[list[str]] = field(default_factory=list)   # the failed claims of each rejected answer
    code: str | None = None          # the reason as a key of i18n (reason_<code>), for the reader's language

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "model": self.model, "reason": self.reason, "code": self.code,
                "attempts": self.attempts, "rejected_numbers": self.rejected}


@dataclass(frozen=True)
class LlmConfig:
    base_url: str | None
    api_key: str | None
    model: str
    timeout_s: float

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)


def llm_config(spec: ReportSpec, llm: LlmEndpoint, project_dir: Path | None = None) -> LlmConfig:
    """The endpoint of the services bundle; the model from its ``model`` (KONTOR_LLM_MODEL), else
    report.yml's narrative.model, else ``llm_model`` in [tool.kontor], else gpt-4o-mini."""
    tool_model = None
    if project_dir and (project_dir / "pyproject.toml").is_file():
        tool = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {})
        tool_model = tool.get("kontor", {}).get("llm_model")
    model = llm.model or spec.narrative.model or tool_model or DEFAULT_MODEL
    return LlmConfig(llm.base_url or None, llm.api_key or None, model, spec.narrative.timeout_s)


class _Writer:
    """Formats numbers for prose and remembers each as a fact the prose may use."""

    def __init__(self, language: str):
        self.language = language
        self.facts: list[Fact] = []

    def num(self, value: float | None, unit: str | None, decimals: int, sign: bool = False, kind: str | None = None) -> str:
        if value is None:
            return "–"
        text = format_value(value, unit, decimals, self.language, sign)
        self.facts.append(Fact(value, kind or ("pct" if unit == "%" else "pp" if unit == "pp" else "plain")))
        return text

    def delta(self, kpi: dict, cmp: dict, nested: bool = True) -> str:
        """``+1.898 € (+0,3 %)``; ``nested=False`` inside parentheses: ``+1.898 €, +0,3 %``."""
        if cmp.get("delta") is None:
            return "–"
        if kpi["unit"] == "%":
            return self.num(cmp["delta"], "pp", max(kpi["decimals"], 1), sign=True)
        pct = self.num(cmp['delta_pct'], '%', 1, sign=True) if cmp.get("delta_pct") is not None else ""
        pct = "" if not pct else f" ({pct})" if nested else f", {pct}"
        return self.num(cmp["delta"], kpi["unit"], kpi["decimals"], sign=True) + pct

    def dates(self, *days: str) -> None:
        for day in days:
            if day and len(day) >= 10:
                year, month, dom = (int(x) for x in day[:10].split("-"))
                self.facts += [Fact(year, "date"), Fact(month, "date"), Fact(dom, "date")]


class _Pseudonyms:
    def __init__(self, language: str):
        self.language, self.names, self.counters = language, {}, {}

    def __call__(self, dims: list[str], member: str) -> str:
        kind = "supplier" if "supplier" in dims else "customer"
        key = (kind, member)
        if key not in self.names:
            n = self.counters[kind] = self.counters.get(kind, 0) + 1
            self.names[key] = f"[{_PLACEHOLDER_WORD[self.language][kind]} {_letters(n)}]"
        return self.names[key]

    def restore(self, text: str) -> str:
        for (_, member), placeholder in self.names.items():
            text = text.replace(placeholder, member).replace(placeholder.strip("[]"), member)
        return text


def _letters(n: int) -> str:
    out = ""
    while n:
        n, rest = divmod(n - 1, 26)
        out = string.ascii_uppercase[rest] + out
    return out


def _anomaly_text(kpi: dict, a: dict, w: _Writer, comparisons: dict, lang: str) -> str:
    cmp_label = comparisons.get(a.get("comparison") or "", {}).get("label", "")
    if a["rule"] == "member_zscore":
        delta = w.delta(kpi, a) if a.get("delta") is not None else "–"
        return i18n.word("anomaly_member", lang, kpi=kpi["label"], member=a["member"],
                         value=w.num(a["value"], kpi["unit"], kpi["decimals"]), delta=delta,
                         vs=i18n.word("vs", lang), cmp=cmp_label, z=w.num(a["z"], None, 1, sign=True))
    if a["rule"] == "zscore":
        return i18n.word("anomaly_kpi_z", lang, kpi=kpi["label"], value=w.num(kpi["value"], kpi["unit"], kpi["decimals"]),
                         z=w.num(a["z"], None, 1, sign=True), n=w.num(a["n"], None, 0))
    threshold = w.num(a["threshold"], "pp" if kpi["unit"] == "%" else "%", 0 if float(a["threshold"]).is_integer() else 1)
    return i18n.word("anomaly_kpi_threshold", lang, kpi=kpi["label"], delta=w.delta(kpi, a), vs=i18n.word("vs", lang),
                     cmp=cmp_label, threshold=threshold)


def _status_text(status: dict, w: _Writer, lang: str, data_through: str) -> str:
    gates = status["gates"]
    if gates["state"] == "no gates run":
        gate_text = i18n.word("no_gates", lang)
    elif gates["failed"] or gates["warned"]:
        gate_text = i18n.word("gates_failed", lang, failed=w.num(gates["failed"], None, 0),
                              warned=w.num(gates["warned"], None, 0), n=w.num(gates["total"], None, 0))
    else:
        gate_text = i18n.word("gates_ok", lang, n=w.num(gates["total"], None, 0))
    review = status["review"]
    review_text = i18n.word("no_review", lang) if review["state"] == "no review queue" else \
        i18n.word("review_sentence", lang, n=w.num(review["total_open"], None, 0))
    w.dates(data_through)
    return i18n.word("status_sentence", lang, as_of=i18n.date_label(data_through, lang), gates=gate_text,
                     review=review_text)


def claim_facts(facts: dict, spec: ReportSpec, names: _Pseudonyms) -> ClaimFacts:
    """What the model's answer is checked against: the facts, with members as the prompt names them."""
    def member(driver: dict, name: str) -> str:
        return names(driver["dims"], name) if _hidden(driver, spec) else name
    return ClaimFacts.from_facts(facts, member)


def _hidden(driver: dict, spec: ReportSpec) -> bool:
    return bool(driver["personal"]) and not spec.narrative.allow_personal_data


def prompt_payload(facts: dict, spec: ReportSpec) -> tuple[dict, list[Fact], _Pseudonyms]:
    """What the model sees: aggregated facts only, numbers formatted; and the numbers it may use."""
    lang = facts["language"]
    w, names = _Writer(lang), _Pseudonyms(lang)
    for part in (facts["period"], *facts["comparisons"].values()):
        w.dates(part.get("start", ""), part.get("end", ""))
        week_or_quarter = re.search(r"-[WQ](\d+)$", part.get("key", ""))
        if week_or_quarter:
            w.facts.append(Fact(int(week_or_quarter.group(1)), "date"))
    comparisons = facts["comparisons"]
    kpis = []
    for kpi in facts["kpis"]:
        if kpi["status"] != "ok":
            kpis.append({"kpi": kpi["label"], "status": kpi["message"]})
            continue
        entry = {"kpi": kpi["label"], "value": w.num(kpi["value"], kpi["unit"], kpi["decimals"]),
                 "good_direction": kpi["good"], "headline": kpi["headline"], "comparisons": {}}
        for name, cmp in kpi["comparisons"].items():
            if cmp["value"] is None:
                continue
            entry["comparisons"][comparisons[name]["label"]] = {
                "value": w.num(cmp["value"], kpi["unit"], kpi["decimals"]), "change": w.delta(kpi, cmp)}
        drivers = {}
        for driver in kpi["drivers"]:
            if not driver["members"] or driver["comparison"] is None:
                continue
            hidden = _hidden(driver, spec)
            members = [{"member": names(driver["dims"], m["member"]) if hidden else m["member"],
                        "contribution": w.num(m["contribution"], "pp" if kpi["unit"] == "%" else kpi["unit"],
                                              max(kpi["decimals"], 1) if kpi["unit"] == "%" else kpi["decimals"], sign=True)}
                       for m in driver["members"][:3]]
            drivers.setdefault(f"{i18n.word('vs', lang)} {comparisons[driver['comparison']]['label']}", {})[driver["dimension"]] = members
        if drivers:
            entry["largest_contributions"] = drivers
        entry["anomalies"] = [_anomaly_text(kpi, a, w, comparisons, lang) for a in kpi["anomalies"]]
        kpis.append(entry)
    payload = {"report": facts["title"], "period": facts["period"]["label"],
               "comparisons": {k: v["label"] for k, v in comparisons.items()}, "kpis": kpis,
               "data_status": _status_text(facts["data_status"], w, lang, facts["data_through"])}
    # Numbers inside names and labels ("1–30 Tage", "Oktober 2026") may be repeated as written.
    seen = [t for t in read_numbers(json.dumps(payload, ensure_ascii=False), lang) if t.value is not None]
    w.facts += [Fact(t.value, t.marker if t.marker in ("pct", "pp") else "plain") for t in seen]
    return payload, w.facts, names


def personal_names_in(messages: list[dict], facts: dict, spec: ReportSpec) -> list[str]:
    """Members of pseudonymised dimensions (every one the facts hold, not only the top three)
    that a prompt would still contain."""
    content = "\n".join(m["content"] for m in messages)
    members = {m["member"] for k in facts["kpis"] for d in k["drivers"] if _hidden(d, spec) for m in d["members"]}
    return sorted(n for n in members if len(n) >= 3 and n in content)


def scrub(text: str) -> str:
    """Last line of defence: no IBAN or e-mail address leaves in a prompt, whatever the facts hold."""
    return EMAIL.sub("[redacted]", IBAN.sub("[redacted]", text))


def messages_for(payload: dict, spec: ReportSpec) -> list[dict]:
    lang = spec.language
    facts_json = scrub(json.dumps(payload, ensure_ascii=False, indent=1))
    intro = "Fakten (JSON):" if lang == "de" else "Facts (JSON):"
    return [{"role": "system", "content": SYSTEM[lang].format(words=spec.narrative.max_words)},
            {"role": "user", "content": f"{intro}\n{facts_json}"}]


def _clean(text: str) -> str:
    text = re.sub(r"[*_#`]+", "", text or "")
    return "\n\n".join(p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip())


def _default_comparison(facts: dict) -> str | None:
    names = [n for n in ("previous_period", "same_period_last_year", "plan") if n in facts["comparisons"]]
    return names[0] if names else None


def _movement(kpi: dict, cmp: str | None) -> float:
    """How far a KPI moved against ``cmp``, in % (a KPI in % by its change relative to its value)."""
    c = kpi["comparisons"].get(cmp) if cmp else None
    if not c or c.get("delta") is None:
        return 0.0
    if kpi["unit"] == "%":
        return abs(c["delta"]) / abs(kpi["value"]) * 100 if kpi["value"] else 0.0
    return abs(c["delta_pct"]) if c.get("delta_pct") is not None else 0.0


def _is_flat(kpi: dict, c: dict) -> bool:
    """The claim check's "unverändert": below half a percent, or half a tenth of a point for a KPI in %."""
    if kpi["unit"] == "%":
        return abs(c["delta"]) < 0.05
    return abs(c["delta_pct"]) < 0.5 if c.get("delta_pct") is not None else c["delta"] == 0


def _change(kpi: dict, c: dict, w: _Writer) -> str:
    """``um 12.345 € (2,2 %)``: the size of a change without sign (the verb carries the direction)."""
    if kpi["unit"] == "%":
        return w.num(abs(c["delta"]), "pp", max(kpi["decimals"], 1))
    pct = f" ({w.num(abs(c['delta_pct']), '%', 1)})" if c.get("delta_pct") is not None else ""
    return w.num(abs(c["delta"]), kpi["unit"], kpi["decimals"]) + pct


def _kpi_sentence(kpi: dict, facts: dict, w: _Writer, when: str) -> str:
    lang, comparisons = facts["language"], facts["comparisons"]
    if kpi["kind"] == "snapshot":      # a stock as of the data's last day, not a flow of the period
        w.dates(facts["data_through"])
        when = i18n.word("snapshot_when", lang, date=i18n.date_label(facts["data_through"], lang))
    value = w.num(kpi["value"], kpi["unit"], kpi["decimals"])
    moved = [(n, c) for n, c in kpi["comparisons"].items() if c.get("delta") is not None and n in comparisons]
    if not moved:
        return i18n.word("kpi_sentence_plain", lang, kpi=kpi["label"], when=when, value=value) + "."
    clauses = []
    for index, (name, c) in enumerate(moved):
        cmp = comparisons[name]["label"]
        if _is_flat(kpi, c):
            form = "kpi_flat" if index == 0 else "cmp_flat"
            clauses.append(i18n.word(form, lang, kpi=kpi["label"], when=when, value=value, cmp=cmp))
        else:
            verb = i18n.word("rose" if c["delta"] > 0 else "fell", lang)
            form = "kpi_move" if index == 0 else "cmp_move"
            clauses.append(i18n.word(form, lang, kpi=kpi["label"], verb=verb, when=when, cmp=cmp,
                                     change=_change(kpi, c, w), value=value))
    return "; ".join(clauses) + "."


def _top_driver(kpi: dict, cmp: str, personal: bool) -> tuple[dict, dict] | None:
    """The largest contributor in the direction the KPI moved (never a member that pulled the other way)."""
    change = (kpi["comparisons"].get(cmp) or {}).get("delta")
    if not change:
        return None
    best = None
    for driver in kpi["drivers"]:
        if driver["comparison"] != cmp or bool(driver["personal"]) != personal or len(driver["dims"]) != 1:
            continue
        for m in driver["members"]:
            c = m.get("contribution")
            if c is not None and (c > 0) == (change > 0) and (best is None or abs(c) > abs(best[1]["contribution"])):
                best = (driver, m)
    return best


def _driver_sentence(kpi: dict, facts: dict, w: _Writer, cmp: str) -> str | None:
    """The main driver of a KPI that moved, in the direction it moved (none for an unchanged KPI)."""
    moved = kpi["comparisons"].get(cmp)
    if not moved or moved.get("delta") is None or _is_flat(kpi, moved):
        return None
    top = _top_driver(kpi, cmp, personal=False)
    if top is None:
        return None
    driver, m = top
    unit = "pp" if kpi["unit"] == "%" else kpi["unit"]
    decimals = max(kpi["decimals"], 1) if kpi["unit"] == "%" else kpi["decimals"]
    return i18n.word("driver_sentence", facts["language"], kpi=kpi["label"], cmp=facts["comparisons"][cmp]["label"],
                     member=m["member"], dimension=driver["dimension"],
                     contribution=w.num(m["contribution"], unit, decimals, sign=True))


def _customer_sentence(facts: dict, w: _Writer, cmp: str) -> str | None:
    """The largest movement of a single customer, either way: in a headline KPI if one has a
    customer driver, else in any KPI (a supplier only where no KPI has customers)."""
    kpis = [k for k in facts["kpis"] if k["status"] == "ok" and k["unit"] != "%"]
    with_customers = [k for k in kpis if any(d["personal"] and "customer" in d["dims"] for d in k["drivers"])]
    headline = [k for k in with_customers if k["headline"]]
    return _member_movement(headline or with_customers or kpis, facts, w, cmp)


def _member_movement(kpis: list[dict], facts: dict, w: _Writer, cmp: str) -> str | None:
    best = None
    for kpi in kpis:
        for driver in kpi["drivers"]:
            if driver["comparison"] != cmp or not driver["personal"] or len(driver["dims"]) != 1:
                continue
            for m in driver["members"]:
                if m.get("delta") is not None and m.get("compare_value") is not None and m.get("value") is not None \
                        and (best is None or abs(m["delta"]) > abs(best[2]["delta"])):
                    best = (kpi, driver, m)
    if best is None or not best[2]["delta"]:
        return None
    kpi, driver, m = best
    num = lambda v, sign=False: w.num(v, kpi["unit"], kpi["decimals"], sign=sign)   # noqa: E731
    return i18n.word("member_sentence", facts["language"], kpi=kpi["label"], dimension=driver["dimension"],
                     cmp=facts["comparisons"][cmp]["label"], member=m["member"], delta=num(m["delta"], True),
                     before=num(m["compare_value"]), after=num(m["value"]))


SUMMARY_LINES = 5


def _member_anomaly_sentence(kpis: list[dict], facts: dict, w: _Writer) -> str | None:
    """The strongest bad movement of one member (a product group in a region, ...), by |z|."""
    found = [(abs(a["z"]), k, a) for k in kpis for a in k["anomalies"]
             if a["rule"] == "member_zscore" and a["direction"] == "bad"]
    if not found:
        return None
    _, kpi, a = max(found, key=lambda f: f[0])
    return _anomaly_text(kpi, a, w, facts["comparisons"], facts["language"])


def limit_summary(text: str, lines: int = SUMMARY_LINES) -> str:
    r"""The first paragraph (the executive summary) cut to ``lines`` sentences; the rest opens the
    body as its own paragraph, so no checked statement is lost.

    >>> limit_summary("A1. A2. A3.\n\nB.", lines=2)
    'A1. A2.\n\nA3.\n\nB.'
    >>> limit_summary("A1. A2.\n\nB.", lines=2)
    'A1. A2.\n\nB.'
    """
    # cut as the claim check cuts (claims.sentences), so the sentences are the ones checked
    paragraphs = sentences(text)
    if not paragraphs or len(paragraphs[0]) <= lines:
        return text
    first = paragraphs[0]
    return "\n\n".join([" ".join(first[:lines]), " ".join(first[lines:]), *(" ".join(p) for p in paragraphs[1:])])


def template_narrative(facts: dict, spec: ReportSpec) -> str:
    """The deterministic narrative, written the way a controller writes it and passing the claim check:
    a summary of at most five sentences, the largest movements first (the largest single customer
    movement included), then the main driver of each headline KPI, the bad anomalies, and the data
    status. Also the model's fallback."""
    lang = facts["language"]
    w = _Writer(lang)
    comparisons = facts["comparisons"]
    default = _default_comparison(facts)
    when = i18n.period_phrase(parse_period(facts["period"]["key"]), lang)
    ok = [k for k in facts["kpis"] if k["status"] == "ok" and k["value"] is not None]
    # what a controller leads with: the headline KPIs (largest movement first), the largest single
    # customer movement, the largest member anomaly; other KPIs only where lines are left
    ranked = sorted(ok, key=lambda k: (not k["headline"], -_movement(k, default)))
    extras = [x for x in (_customer_sentence(facts, w, default) if default else None,
                          _member_anomaly_sentence(ok, facts, w)) if x]
    headline = [k for k in ranked if k["headline"]][:SUMMARY_LINES - len(extras)] or ranked[:SUMMARY_LINES - len(extras)]
    others = [k for k in ranked if k not in headline and any(
        a["rule"] == "threshold" and a["comparison"] == default for a in k["anomalies"])]
    summary = [_kpi_sentence(k, facts, w, when) for k in headline] + extras
    summary += [_kpi_sentence(k, facts, w, when) for k in others[:max(0, SUMMARY_LINES - len(summary))]]
    paragraphs = [" ".join(summary)] if summary else []
    drivers = [d for k in ok if k["headline"] for d in [_driver_sentence(k, facts, w, default)] if default and d]
    if drivers:
        paragraphs.append(" ".join(drivers))
    anomalies = [text for k in ok for a in k["anomalies"] if a["direction"] == "bad"
                 for text in [_anomaly_text(k, a, w, comparisons, lang)] if text not in summary]
    if anomalies:
        paragraphs.append(f"{i18n.word('anomalies', lang)}: " + " ".join(anomalies))
    missing: dict[str, list[str]] = {}
    for kpi in facts["kpis"]:
        if kpi["status"] != "ok":
            missing.setdefault(kpi["message"], []).append(kpi["label"])
    paragraphs += [i18n.word("missing_sentence", lang, kpis=", ".join(labels), message=message)
                   for message, labels in missing.items()]
    paragraphs.append(_status_text(facts["data_status"], w, lang, facts["data_through"]))
    return "\n\n".join(paragraphs)


def write_narrative(facts: dict, spec: ReportSpec, config: LlmConfig) -> tuple[NarrativeResult, list[dict]]:
    """The narrative for ``facts`` and the messages sent (for the record; no personal data in them)."""
    template = template_narrative(facts, spec)
    if not spec.narrative.enabled:
        return NarrativeResult("template", template, reason="narrative disabled in report.yml", code="disabled"), []
    if not config.configured:
        return NarrativeResult("template", template, reason="no LLM endpoint configured (OPENAI_BASE_URL / OPENAI_API_KEY)",
                               code="no_endpoint"), []
    import openai

    payload, _, names = prompt_payload(facts, spec)
    claims = claim_facts(facts, spec, names)
    messages = messages_for(payload, spec)
    leaks = personal_names_in(messages, facts, spec)
    if leaks:      # fail closed: whatever put them there, names of persons do not leave
        return NarrativeResult("template", template, reason=f"personal data would reach the model "
                               f"({len(leaks)} names); nothing sent", code="personal"), []
    client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key or "not-needed",
                           timeout=config.timeout_s, max_retries=0)
    result = NarrativeResult("template", template, model=config.model)
    for attempt in (1, 2):
        result.attempts = attempt
        try:
            answer = client.chat.completions.create(model=config.model, messages=messages, temperature=0.2)
            text = _clean(answer.choices[0].message.content or "")
        except openai.APITimeoutError:
            result.reason, result.code = f"the model did not answer within {config.timeout_s:g} s", "timeout"
            return result, messages
        except openai.APIStatusError as exc:
            result.reason, result.code = f"the model endpoint answered HTTP {exc.status_code}", "unavailable"
            return result, messages
        except (openai.OpenAIError, ValueError, IndexError, AttributeError) as exc:
            result.reason, result.code = f"the model endpoint failed: {type(exc).__name__}", "unavailable"
            return result, messages
        wrong = [str(p) for p in check(text, claims)] if text else ["(empty answer)"]
        if not wrong:
            # the summary is at most SUMMARY_LINES sentences whatever the model wrote; sentences
            # beyond move into the body (all of them were checked)
            return NarrativeResult("llm", limit_summary(names.restore(text)), model=config.model, attempts=attempt,
                                   rejected=result.rejected), messages
        result.rejected.append(wrong)
        messages = [*messages, {"role": "assistant", "content": text},
                    {"role": "user", "content": RETRY[spec.language].format(wrong=", ".join(wrong[:10]))}]
    result.reason, result.code = "the model's statements did not match the facts twice", "mismatch"
    return result, messages
