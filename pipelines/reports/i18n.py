"""The few words the engine writes itself (table headers, banner, template narrative), in de and en.

>>> period_label(parse_period("2026-10"), "de"), period_label(parse_period("2026-W43"), "en")
('Oktober 2026', 'week 43 2026')
"""
from __future__ import annotations

from datetime import date

from pipelines.reports.periods import Period, parse_period  # noqa: F401  (doctest)

MONTHS = {
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}

WORDS = {
    "de": {
        "previous_period": "Vorperiode", "same_period_last_year": "Vorjahr", "plan": "Plan",
        "previous_day": "Vortag", "previous_week": "Vorwoche", "previous_month": "Vormonat",
        "previous_quarter": "Vorquartal",
        "value": "Wert", "delta": "Abw.", "delta_pct": "Abw. %", "kpi": "Kennzahl", "period": "Zeitraum",
        "version": "Version", "page": "Seite", "of": "von", "as_of": "Datenstand", "issued": "erstellt",
        "gates": "Qualitätsprüfungen", "review": "Offene Prüffälle", "freshness": "Aktualität der Quellen",
        "no_gates": "keine Prüfungen gelaufen", "no_review": "keine Prüfliste vorhanden",
        "gates_ok": "alle {n} Prüfungen bestanden", "gates_failed": "{failed} Fehler, {warned} Warnungen bei {n} Prüfungen",
        "open_items": "{n} offen", "stale": "veraltet", "fresh": "aktuell", "loaded": "geladen",
        "narrative_llm": "vom Sprachmodell {model} geschrieben; jede Zahl (mit ihrer Genauigkeit), jede Richtungsangabe, jeder genannte Vergleich und jeder als Hauptursache genannte Treiber gegen die Fakten geprüft.",
        "narrative_template": "Textvorlage (kein Sprachmodell: {reason}).",
        "commentary": "Kommentar", "drivers": "Treiber", "contribution": "Beitrag", "member": "Ausprägung",
        "anomalies": "Auffälligkeiten", "no_anomalies": "Keine Auffälligkeiten.", "history": "Verlauf",
        "actual": "Ist", "sources": "Herkunft der Zahlen", "sql_file": "SQL-Datei", "missing": "keine Daten",
        "zscore": "z-Wert", "threshold": "Schwelle", "data_status": "Datenstatus", "none": "keine",
        "vs": "ggü.", "rose": "stieg", "fell": "sank", "unchanged": "blieb unverändert",
        "anomaly_member": "{kpi} bei {member}: {delta} {vs} {cmp} auf {value}, z-Wert {z}.",
        "anomaly_kpi_z": "{kpi}: {value}, z-Wert {z} gegenüber den letzten {n} Perioden.",
        "anomaly_kpi_threshold": "{kpi}: {delta} {vs} {cmp} (Schwelle {threshold}).",
        "kpi_sentence": "{kpi} {verb} {when} auf {value}",
        "kpi_sentence_flat": "{kpi} lag {when} unverändert bei {value}",
        "missing_sentence": "Ohne Daten: {kpis} ({message}).",
        "kpi_sentence_plain": "{kpi} {when}: {value}", "review_sentence": "offene Prüffälle: {n}",
        "cmp_clause": "{delta} {vs} {cmp} ({cmp_value})",
        "driver_clause": "Größter Beitrag {vs} {cmp}: {member} mit {contribution}.",
        "status_sentence": "Datenstand {as_of}; {gates}; {review}.",
        "deviations": "Abweichungen", "headline": "Die wichtigsten Kennzahlen",
        "provisional": "vorläufig", "coverage": "Abdeckung",
        "reason_disabled": "im Bericht abgeschaltet", "reason_no_endpoint": "kein Sprachmodell eingerichtet",
        "reason_personal": "personenbezogene Daten wären an das Modell gegangen, nichts gesendet",
        "reason_timeout": "das Sprachmodell hat nicht rechtzeitig geantwortet",
        "reason_unavailable": "das Sprachmodell war nicht erreichbar",
        "reason_mismatch": "die Aussagen des Sprachmodells stimmten zweimal nicht mit den Fakten überein",
        "entity_customer": "Kunden", "entity_supplier": "Lieferanten", "system": "System", "table": "Tabelle",
        "age_hours": "Alter (Std.)",
        "gates_scope": "Prüfungen der {tables} gelesenen Tabellen", "ungated": "ohne Prüfung gelesen: {tables}",
        "coverage_partial": "vorläufig: Daten bis {through}, {covered} von {days} Tagen des Zeitraums",
        "kpi_move": "{kpi} {verb} {when} ggü. {cmp} um {change} auf {value}",
        "cmp_move": "ggü. {cmp} {verb} der Wert um {change}",
        "kpi_flat": "{kpi} blieb {when} ggü. {cmp} mit {value} unverändert",
        "cmp_flat": "ggü. {cmp} blieb der Wert unverändert",
        "driver_sentence": "{kpi}: größter Beitrag ggü. {cmp} von {member} ({dimension}) mit {contribution}.",
        "member_sentence": "{kpi}, {dimension} {member}: {delta} ggü. {cmp} ({before} → {after}).",
        "snapshot_when": "am {date}",
        "plan_deviations": "Abweichungen vom Plan (Monatsplan anteilig auf die Geschäftstage)",
    },
    "en": {
        "previous_period": "previous period", "same_period_last_year": "last year", "plan": "plan",
        "previous_day": "previous day", "previous_week": "previous week", "previous_month": "previous month",
        "previous_quarter": "previous quarter",
        "value": "Value", "delta": "Δ", "delta_pct": "Δ %", "kpi": "KPI", "period": "Period",
        "version": "version", "page": "Page", "of": "of", "as_of": "Data as of", "issued": "issued",
        "gates": "Quality gates", "review": "Open review items", "freshness": "Source freshness",
        "no_gates": "no gates run", "no_review": "no review queue",
        "gates_ok": "all {n} gates passed", "gates_failed": "{failed} failed, {warned} warnings in {n} gates",
        "open_items": "{n} open", "stale": "stale", "fresh": "fresh", "loaded": "loaded",
        "narrative_llm": "written by the language model {model}; every number (with its precision), every direction, every comparison named and every driver named as main cause checked against the facts.",
        "narrative_template": "template text (no language model: {reason}).",
        "commentary": "Commentary", "drivers": "Drivers", "contribution": "Contribution", "member": "Member",
        "anomalies": "Anomalies", "no_anomalies": "No anomalies.", "history": "History",
        "actual": "Actual", "sources": "Where the numbers come from", "sql_file": "SQL file", "missing": "no data",
        "zscore": "z-score", "threshold": "threshold", "data_status": "Data status", "none": "none",
        "vs": "vs", "rose": "rose", "fell": "fell", "unchanged": "was unchanged",
        "anomaly_member": "{kpi} for {member}: {delta} {vs} {cmp} to {value}, z-score {z}.",
        "anomaly_kpi_z": "{kpi}: {value}, z-score {z} against the last {n} periods.",
        "anomaly_kpi_threshold": "{kpi}: {delta} {vs} {cmp} (threshold {threshold}).",
        "kpi_sentence": "{kpi} {verb} {when} to {value}",
        "kpi_sentence_flat": "{kpi} was unchanged {when} at {value}",
        "missing_sentence": "Without data: {kpis} ({message}).",
        "kpi_sentence_plain": "{kpi} {when}: {value}", "review_sentence": "open review items: {n}",
        "cmp_clause": "{delta} {vs} {cmp} ({cmp_value})",
        "driver_clause": "Largest contribution {vs} {cmp}: {member} with {contribution}.",
        "status_sentence": "Data as of {as_of}; {gates}; {review}.",
        "deviations": "Deviations", "headline": "Key figures",
        "provisional": "provisional", "coverage": "Coverage",
        "reason_disabled": "switched off in the report", "reason_no_endpoint": "no language model configured",
        "reason_personal": "personal data would have reached the model, nothing sent",
        "reason_timeout": "the language model did not answer in time",
        "reason_unavailable": "the language model could not be reached",
        "reason_mismatch": "the language model's statements did not match the facts twice",
        "entity_customer": "customers", "entity_supplier": "suppliers", "system": "System", "table": "Table",
        "age_hours": "Age (h)",
        "gates_scope": "gates of the {tables} tables read", "ungated": "read without a gate: {tables}",
        "coverage_partial": "provisional: data through {through}, {covered} of {days} days of the period",
        "kpi_move": "{kpi} {verb} {when} against {cmp} by {change} to {value}",
        "cmp_move": "against {cmp} it {verb} by {change}",
        "kpi_flat": "{kpi} was unchanged {when} against {cmp} at {value}",
        "cmp_flat": "against {cmp} it was unchanged",
        "driver_sentence": "{kpi}: largest contribution against {cmp} from {member} ({dimension}) with {contribution}.",
        "member_sentence": "{kpi}, {dimension} {member}: {delta} against {cmp} ({before} → {after}).",
        "snapshot_when": "as of {date}",
        "plan_deviations": "Deviations from plan (the monthly plan pro-rated to business days)",
    },
}


def word(key: str, language: str, **values: object) -> str:
    return WORDS[language][key].format(**values) if values else WORDS[language][key]


def period_label(period: Period, language: str) -> str:
    if period.grain == "month":
        return f"{MONTHS[language][period.start.month - 1]} {period.start.year}"
    if period.grain == "quarter":
        return f"Q{(period.start.month - 1) // 3 + 1} {period.start.year}"
    if period.grain == "week":
        year, week, _ = period.start.isocalendar()
        return f"KW {week} {year}" if language == "de" else f"week {week} {year}"
    return date_label(period.start, language)


def period_phrase(period: Period, language: str) -> str:
    """The period after a preposition: "im Oktober 2026", "am 30.10.2026", "in week 43 2026"."""
    label = period_label(period, language)
    if language == "de":
        return {"day": "am", "week": "in der"}.get(period.grain, "im") + " " + label
    return ("on " if period.grain == "day" else "in ") + label


def date_label(day: date | str, language: str) -> str:
    """``31.10.2026`` or ``2026-10-31``; accepts a date or an ISO text."""
    day = date.fromisoformat(day[:10]) if isinstance(day, str) else day
    return day.strftime("%d.%m.%Y") if language == "de" else day.isoformat()
