"""The reports stage's entry point: issue a report: facts → narrative → HTML → PDF → archive
(+ facts table, + optional e-mail).

:func:`issue_report` is the one function the Dagster asset (which ``kontor run`` and ``kontor
report`` materialise) and the benchmark call; :func:`approve_report` the four eyes before e-mail;
:func:`code_version` what a report's asset is versioned by; :func:`scheduled_period` the period a
schedule's tick issues. ``assets/reports.py`` only wires them into Dagster.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipelines.core.errors import KontorError
from pipelines.engines.connection import Connection
from pipelines.reports import i18n
from pipelines.reports.archive import Archive
from pipelines.core.services import Services, services_for
from pipelines.reports.delivery import send_report
from pipelines.reports.facts import BERLIN, compute_facts
from pipelines.reports.narrative import llm_config, write_narrative
from pipelines.reports.periods import Period, latest_complete
from pipelines.reports.render import TEMPLATES, offline_html, render_html, render_pdf
from pipelines.reports.spec import ReportSpec, referenced_relations
from pipelines.reports.status import failed_blocking_gates
from pipelines.reports.store import facts_digest, store_facts
from pipelines.core.settings import Settings


@dataclass
class IssueResult:
    record: dict                       # the manifest entry
    facts: dict
    path: str                          # the PDF
    issued: bool = True                # False: facts unchanged since the latest version, nothing new written
    narrative: dict = field(default_factory=dict)
    refused_urls: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    delivery: str = ""


def code_version(spec: ReportSpec) -> str:
    """The report's folder and the shared templates, hashed: the asset's code version."""
    digest = hashlib.sha256()
    for path in sorted([*spec.dir.rglob("*"), *TEMPLATES.glob("*")]):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def scheduled_period(spec: ReportSpec, at: datetime) -> Period:
    """The period a tick at ``at`` (Berlin time) issues: the latest complete one by the clock; the
    asset then refuses it when the data does not cover it, or issues it *vorläufig*."""
    return latest_complete(spec.grain, at.date() - timedelta(days=1), spec.calendar == "business_days")


def archive_for(settings: Settings, spec: ReportSpec) -> Archive:
    return Archive(settings.target_dir / "reports", spec.issue_name)


def issue_report(con: Connection, settings: Settings, spec: ReportSpec,
                 period: Period | str | None = None, *, reissue: bool = True, now: datetime | None = None,
                 services: Services | None = None) -> IssueResult:
    """Issue ``spec`` for ``period`` (default: latest complete). ``reissue=False`` (the scheduled
    asset) keeps the latest version when its facts are unchanged instead of writing a new one.
    ``services``: the LLM, the mailer and the state store (none given: ``services_for(settings)``)."""
    services = services or services_for(settings)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    refuse_failed_gates(con, settings, spec)
    facts = compute_facts(con, spec, period, now)
    timings["facts_s"] = time.perf_counter() - started
    archive = archive_for(settings, spec)
    key, digest = facts["period"]["key"], facts_digest(facts)
    latest = archive.latest(key)
    if not reissue and latest and latest.get("facts_digest") == digest:
        return IssueResult(latest, facts, str(archive.dir / latest["pdf"]), issued=False, timings=timings,
                           delivery="unchanged: no new version")

    mark = time.perf_counter()
    narrative, messages = write_narrative(facts, spec, llm_config(spec, services.llm, settings.project_dir))
    timings["narrative_s"] = time.perf_counter() - mark
    issued_at = (now or datetime.now(BERLIN).replace(tzinfo=None)).isoformat(sep=" ", timespec="seconds")
    with archive.locked():
        version = archive.next_version(key)
        issue = {"version": version, "issued_at": issued_at}
        mark = time.perf_counter()
        html = render_html(spec, facts, narrative.as_dict(), issue)
        pdf, pages, refused = render_pdf(html, spec.dir)
        timings["pdf_s"] = time.perf_counter() - mark
        document = {"issue": {"report": spec.issue_name, "period": key, "version": version, "issued_at": issued_at},
                    "facts": facts, "narrative": narrative.as_dict(), "prompt": messages}
        needs_approval = bool(spec.email and spec.email.require_approval)
        offline = offline_html(html, spec.dir).encode()
        record = archive.add(key, version, pdf, json.dumps(document, indent=1, ensure_ascii=False, default=str).encode(), {
            "issued_at": issued_at, "pages": pages, "narrative": narrative.kind, "narrative_reason": narrative.reason,
            "facts_digest": digest, "status": "awaiting approval" if needs_approval else "issued",
            "provisional": not facts["coverage"]["complete"],
        }, html=offline)
    store_facts(con, facts, version)
    _audit(settings, services, "report_issued", "kontor", spec, record,
           {k: record.get(k) for k in ("pdf", "sha256", "pages", "narrative", "status", "issued_at")})
    result = IssueResult(record, facts, str(archive.dir / record["pdf"]), narrative=narrative.as_dict(),
                         refused_urls=refused, timings=timings)
    result.delivery = deliver(settings, services, spec, archive, record)
    timings["total_s"] = time.perf_counter() - started
    return result


def refuse_failed_gates(con: Connection, settings: Settings, spec: ReportSpec) -> None:
    """No report from data whose blocking gate failed: every path (schedule, backfill, ``kontor
    report``, ``kontor run``) issues through ``issue_report``, which calls this before anything is
    computed or archived. The tables are those the report's SQL reads; warn rules only annotate the
    banner (``status.data_status``)."""
    failed = failed_blocking_gates(con, spec.relations())
    if not failed:
        return
    from pipelines.quality.spec import expectations_dir, load_suites

    suites, _ = load_suites(expectations_dir(settings.project_dir), settings.relative)
    written = {(suite.asset, rule.name): f"{rule.file}:{rule.line}" for suite in suites for rule in suite.rules}
    read_by = {}
    for path in spec.sql_files:
        for relation in referenced_relations(path.read_text(encoding="utf-8")):
            read_by.setdefault(relation, settings.relative(path))
    parts = []
    for gate in failed:
        rows = (f"on {gate['unexpected_count']:,} of {gate['element_count']:,} rows" if gate["element_count"] is not None
                else f"on {gate['unexpected_count']:,} rows") if gate["unexpected_count"] is not None \
            else f"(observed {gate['observed_value']})" if gate["observed_value"] is not None else ""
        where = written.get((gate["asset"], gate["rule"]))
        parts.append(" ".join(filter(None, [
            f"{gate['relation']} (read by {read_by.get(gate['relation'], spec.file)}): rule {gate['rule']!r}"
            + (f" ({where})" if where else ""), "failed", rows,
            f"– {gate['description']}" if gate["description"] else "",
            f"(checked {gate['checked_at']:%Y-%m-%d %H:%M} UTC, run {gate['run_id']})"])))
    assets = ", ".join(f"'{a}'" for a in dict.fromkeys(g["asset"] for g in failed))
    raise KontorError(
        f"{spec.file}: {spec.name} not issued: {len(failed)} blocking quality gate(s) failed on the data its SQL "
        f"reads: {'; '.join(parts)}; fix: look at the results (kontor query \"select * from kontor.gate_results where "
        f"asset in ({assets}) and not success order by checked_at desc\"), the failing rows in kontor.gate_quarantine "
        f"and {settings.relative(settings.target_dir / 'data_docs' / 'index.html')}, correct the data at its source "
        f"(or the rule in expectations/), rerun `kontor run` so the gates pass, then issue the report again")


def deliver(settings: Settings, services: Services, spec: ReportSpec, archive: Archive, record: dict) -> str:
    """Send an issued version by e-mail if the report asks for it and SMTP is configured."""
    if spec.email is None:
        return "no delivery configured"
    if spec.email.require_approval and not record.get("approved_by"):
        return "awaiting approval (kontor report-approve)"
    smtp = services.smtp
    if smtp is None:
        return "not sent: KONTOR_SMTP_HOST is not set"
    pdf = (archive.dir / record["pdf"]).read_bytes()
    document = json.loads((archive.dir / record["facts"]).read_text(encoding="utf-8"))
    facts, narrative = document["facts"], document["narrative"]
    subject = spec.text(spec.email.subject) or f"{facts['title']} – {facts['period']['label']} (v{record['version']})"
    body = "\n\n".join([f"{facts['title']} – {facts['period']['label']}, {i18n.word('version', spec.language)} "
                        f"{record['version']}", narrative["text"], f"sha256 {record['sha256']}"])
    message_id = send_report(smtp, list(spec.email.to), subject, body, pdf, record["pdf"])
    with archive.locked():
        archive.update(record["period"], record["version"], status="sent", delivered_to=list(spec.email.to),
                       delivered_at=datetime.now(BERLIN).replace(tzinfo=None).isoformat(timespec="seconds"),
                       message_id=message_id)
    _audit(settings, services, "report_sent", "kontor", spec, record, {"to": list(spec.email.to), "message_id": message_id})
    return f"sent to {', '.join(spec.email.to)}"


def approve_report(settings: Settings, spec: ReportSpec, period: str, version: int | None, by: str,
                   services: Services | None = None) -> tuple[dict, str]:
    """Four eyes: record who approved an issued version, then deliver it."""
    services = services or services_for(settings)
    archive = archive_for(settings, spec)
    record = archive.find(period, version)
    with archive.locked():
        record = archive.update(record["period"], record["version"], status="approved", approved_by=by,
                                approved_at=datetime.now(BERLIN).replace(tzinfo=None).isoformat(timespec="seconds"))
    _audit(settings, services, "report_approved", f"steward:{by}", spec, record, {"approved_by": by})
    return record, deliver(settings, services, spec, archive, record)


def _audit(settings: Settings, services: Services, kind: str, actor: str, spec: ReportSpec, record: dict, after: dict) -> None:
    """Every issued, approved and sent report goes into the audit trail (GoBD), beside the archive."""
    from pipelines.core.state import StateStore

    with StateStore.at(settings, services.state) as store:
        store.append_audit([{"run_id": None, "actor": actor, "kind": kind, "entity": None,
                             "object_id": f"{spec.issue_name}/{record['period']}/v{record['version']}", "before": None,
                             "after": after, "detail": record.get("pdf")}])


def issued_result(settings: Settings, spec: ReportSpec, period: str, version: int, issued: bool,
                  delivery: str = "") -> IssueResult:
    """An issued version as ``IssueResult``, read back from the archive (its manifest entry and JSON):
    what ``kontor report`` prints after the Dagster run that issued it."""
    archive = archive_for(settings, spec)
    record = archive.find(period, version)
    document = json.loads((archive.dir / record["facts"]).read_text(encoding="utf-8"))
    return IssueResult(record, document["facts"], str(archive.dir / record["pdf"]), issued=issued,
                       narrative=document["narrative"], delivery=delivery)
