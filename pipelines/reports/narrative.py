"""The narrative: written by a language model from aggregated facts, checked number by number.

The prompt holds the KPI facts only (values, deltas, top drivers, anomalies, data status), with
every number already formatted the way the report writes it. Members of dimensions marked
``personal`` (customers, suppliers: a sole trader's firm is a person's name) are replaced by
placeholders such as ``[Kunde A]`` unless the report sets ``narrative.allow_personal_data``; the
placeholders are put back after the check. IBANs and e-mail addresses never reach a prompt.

Every number in the answer must match a number of the prompt within the rounding it is written
with (``numbers.mismatches``). A mismatch gets one more request naming the wrong numbers; a
second mismatch, a timeout, an HTTP error or no configured endpoint gives the deterministic
template narrative. The report never fails because of the model.
"""
from __future__ import annotations

import json
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.reports import i18n
from pipelines.reports.periods import parse_period
from pipelines.reports.figures import Fact, format_value, mismatches, read_numbers
from pipelines.reports.spec import ReportSpec

DEFAULT_MODEL = "gpt-4o-mini"
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PLACEHOLDER_WORD = {"de": {"customer": "Kunde", "supplier": "Lieferant"}, "en": {"customer": "Customer", "supplier": "Supplier"}}

SYSTEM = {
    "de": ("Du bist Controller in einem mittelständischen Unternehmen und schreibst den Kommentar zu einem "
           "Kennzahlenbericht. Schreibe höchstens {words} Wörter in zwei bis vier kurzen Absätzen, sachlich, auf "
           "Deutsch, ohne Überschriften, Aufzählungen oder Markdown. Nenne zuerst, was sich am stärksten bewegt "
           "hat und warum (Treiber, Auffälligkeiten), dann die übrigen Kennzahlen, zuletzt Einschränkungen aus "
           "dem Datenstatus. Verwende ausschließlich Zahlen aus den Fakten, genau so geschrieben wie dort "
           "(deutsches Zahlenformat), oder gerundet mit weniger Nachkommastellen; rechne nichts selbst aus. "
           "Platzhalter in eckigen Klammern wie [Kunde A] übernimmst du unverändert."),
    "en": ("You are a controller at a mid-sized company writing the commentary for a KPI report. Write at most "
           "{words} words in two to four short paragraphs, factual, in English, without headings, bullet points "
           "or Markdown. Start with what moved most and why (drivers, anomalies), then the other KPIs, then any "
           "caveats from the data status. Use only numbers from the facts, written exactly as there (English "
           "number format), or rounded to fewer decimals; do not calculate anything yourself. Keep placeholders "
           "in square brackets such as [Customer A] unchanged."),
}
RETRY = {
    "de": "Diese Zahlen stehen so nicht in den Fakten: {wrong}. Schreibe den Kommentar neu und verwende nur Zahlen aus den Fakten.",
    "en": "These numbers are not in the facts: {wrong}. Rewrite the commentary using only numbers from the facts.",
}


@dataclass
class NarrativeResult:
    kind: str                        # llm | template
    text: str
    model: str | None = None
    reason: str | None = None        # why the template was used
    attempts: int = 0
    rejected: list[list[str]] = field(default_factory=list)   # the wrong numbers of each rejected answer

    def as_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "model": self.model, "reason": self.reason,
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


def llm_config(spec: ReportSpec, env: Mapping[str, str], project_dir: Path | None = None) -> LlmConfig:
    """Endpoint and key from OPENAI_BASE_URL / OPENAI_API_KEY; the model from KONTOR_LLM_MODEL, else
    report.yml's narrative.model, else ``llm_model`` in [tool.kontor], else gpt-4o-mini."""
    tool_model = None
    if project_dir and (project_dir / "pyproject.toml").is_file():
        tool = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {})
        tool_model = tool.get("kontor", {}).get("llm_model")
    model = env.get("KONTOR_LLM_MODEL") or spec.narrative.model or tool_model or DEFAULT_MODEL
    return LlmConfig(env.get("OPENAI_BASE_URL") or None, env.get("OPENAI_API_KEY") or None, model,
                     spec.narrative.timeout_s)


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

    def delta(self, kpi: dict, cmp: dict) -> str:
        if cmp.get("delta") is None:
            return "–"
        if kpi["unit"] == "%":
            return self.num(cmp["delta"], "pp", max(kpi["decimals"], 1), sign=True)
        pct = f" ({self.num(cmp['delta_pct'], '%', 1, sign=True)})" if cmp.get("delta_pct") is not None else ""
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
            hidden = driver["personal"] and not spec.narrative.allow_personal_data
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


def template_narrative(facts: dict, spec: ReportSpec) -> str:
    """The deterministic narrative: the same facts in fixed sentences (also the model's fallback)."""
    lang = facts["language"]
    w = _Writer(lang)
    comparisons = facts["comparisons"]
    paragraphs, anomalies = [], []
    when = i18n.period_phrase(parse_period(facts["period"]["key"]), lang)
    shown = [k for k in facts["kpis"] if k["status"] == "ok" and (k["headline"] or k["anomalies"])] or \
        [k for k in facts["kpis"] if k["status"] == "ok"][:3]
    for kpi in shown:
        first = next((c for c in kpi["comparisons"].values() if c["delta"] is not None), None)
        shown_delta = round(first["delta"], max(kpi["decimals"], 1) if kpi["unit"] == "%" else kpi["decimals"]) if first else 0
        verb = i18n.word("rose" if shown_delta > 0 else "fell", lang)
        form = "kpi_sentence_plain" if first is None else "kpi_sentence" if shown_delta else "kpi_sentence_flat"
        sentence = i18n.word(form, lang, kpi=kpi["label"], verb=verb,
                             when=when, value=w.num(kpi["value"], kpi["unit"], kpi["decimals"]))
        clauses = [i18n.word("cmp_clause", lang, delta=w.delta(kpi, c), vs=i18n.word("vs", lang),
                             cmp=comparisons[name]["label"], cmp_value=w.num(c["value"], kpi["unit"], kpi["decimals"]))
                   for name, c in kpi["comparisons"].items() if c["delta"] is not None]
        text = sentence + (": " + "; ".join(clauses) if clauses else "") + "."
        driver = next((d for d in kpi["drivers"] if d["members"] and d["comparison"] and not d["personal"]), None)
        if driver:
            top = driver["members"][0]
            unit = "pp" if kpi["unit"] == "%" else kpi["unit"]
            text += " " + i18n.word("driver_clause", lang, vs=i18n.word("vs", lang),
                                    cmp=comparisons[driver["comparison"]]["label"],
                                    member=f"{driver['dimension']} {top['member']}",
                                    contribution=w.num(top["contribution"], unit,
                                                       max(kpi["decimals"], 1) if kpi["unit"] == "%" else kpi["decimals"], sign=True))
        paragraphs.append(text)
        anomalies += [_anomaly_text(kpi, a, w, comparisons, lang) for a in kpi["anomalies"] if a["direction"] == "bad"]
    if anomalies:
        paragraphs.insert(0, f"{i18n.word('anomalies', lang)}: " + " ".join(anomalies))
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
        return NarrativeResult("template", template, reason="narrative disabled in report.yml"), []
    if not config.configured:
        return NarrativeResult("template", template, reason="no LLM endpoint configured (OPENAI_BASE_URL / OPENAI_API_KEY)"), []
    import openai

    payload, allowed, names = prompt_payload(facts, spec)
    messages = messages_for(payload, spec)
    client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key or "not-needed",
                           timeout=config.timeout_s, max_retries=0)
    result = NarrativeResult("template", template, model=config.model)
    for attempt in (1, 2):
        result.attempts = attempt
        try:
            answer = client.chat.completions.create(model=config.model, messages=messages, temperature=0.2)
            text = _clean(answer.choices[0].message.content or "")
        except openai.APITimeoutError:
            result.reason = f"the model did not answer within {config.timeout_s:g} s"
            return result, messages
        except openai.APIStatusError as exc:
            result.reason = f"the model endpoint answered HTTP {exc.status_code}"
            return result, messages
        except (openai.OpenAIError, ValueError, IndexError, AttributeError) as exc:
            result.reason = f"the model endpoint failed: {type(exc).__name__}"
            return result, messages
        if not text:
            wrong = ["(empty answer)"]
        else:
            wrong = mismatches(text, spec.language, allowed)
        if not wrong:
            return NarrativeResult("llm", names.restore(text), model=config.model, attempts=attempt,
                                   rejected=result.rejected), messages
        result.rejected.append(wrong)
        messages = [*messages, {"role": "assistant", "content": text},
                    {"role": "user", "content": RETRY[spec.language].format(wrong=", ".join(wrong[:10]))}]
    result.reason = "the model's numbers did not match the facts twice"
    return result, messages
