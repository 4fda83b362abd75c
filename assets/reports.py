"""One asset per report folder: ``reports/<name>``, group ``reports``, with its own schedule.

Dependencies are the relations the report's SQL reads (``marts.fct_orders`` → ``marts/fct_orders``),
so the graph shows which marts feed which report and a report runs after them. The asset issues
the latest complete period unless the run is tagged ``kontor/report_period`` (e.g. ``2026-10``);
when the facts equal those of the latest issued version nothing new is written (a second
scheduled run does not produce a copy). Schedules run in Europe/Berlin time.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from assets.resources import LlmResource, MailerResource, StateStoreResource, WarehouseResource, services
from pipelines.core.errors import ProjectError
from pipelines.reports.issue import issue_report
from pipelines.reports.render import TEMPLATES
from pipelines.reports.spec import ReportSpec, load_reports
from pipelines.core.settings import Settings

PERIOD_TAG = "kontor/report_period"
TIMEZONE = "Europe/Berlin"


@dataclass
class ReportDefinitions:
    assets: list[dg.AssetsDefinition] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)


def report_key(spec: ReportSpec) -> dg.AssetKey:
    return dg.AssetKey(["reports", spec.name])


def _code_version(spec: ReportSpec) -> str:
    digest = hashlib.sha256()
    for path in sorted([*spec.dir.rglob("*"), *TEMPLATES.glob("*")]):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def build_report_asset(spec: ReportSpec, settings: Settings, known: set[dg.AssetKey]) -> dg.AssetsDefinition:
    deps = sorted((dg.AssetKey(rel.split(".")) for rel in spec.relations()), key=lambda k: k.to_user_string())
    title = spec.text(spec.title)

    @dg.asset(
        key=report_key(spec),
        deps=[k for k in deps if k in known],
        group_name="reports",
        kinds={"pdf"},
        code_version=_code_version(spec),
        description=f"{title}: PDF for the latest complete {spec.grain} under target/reports/{spec.name}/ "
                    f"(folder reports/{spec.name}, {len(spec.kpis)} KPIs).",
        metadata={"folder": f"reports/{spec.name}", "grain": spec.grain, "language": spec.language,
                  "schedule": spec.schedule or "none", "kpis": ", ".join(k.name for k in spec.kpis)},
    )
    def _issue(context: dg.AssetExecutionContext, warehouse: WarehouseResource, llm: LlmResource,
               mailer: MailerResource, state_store: StateStoreResource) -> dg.MaterializeResult:
        period = context.run.tags.get(PERIOD_TAG) or None
        with warehouse.connection() as con:
            result = issue_report(con, settings, spec, period, reissue=False,
                                  services=services(llm, mailer, state_store=state_store))
        record = result.record
        metadata = {
            "period": result.facts["period"]["key"],
            "version": record["version"],
            "issued": result.issued,
            "pdf": dg.MetadataValue.path(result.path),
            "sha256": record["sha256"],
            "pages": record["pages"],
            "narrative": record["narrative"] + (f" ({record['narrative_reason']})" if record.get("narrative_reason") else ""),
            "delivery": result.delivery,
        }
        for step, seconds in result.timings.items():
            metadata[f"timing/{step}"] = dg.MetadataValue.float(round(seconds, 3))
        for kpi in result.facts["kpis"]:
            if kpi["headline"] and isinstance(kpi["value"], (int, float)):
                metadata[f"kpi/{kpi['name']}"] = dg.MetadataValue.float(float(kpi["value"]))
        context.log.info(f"{spec.name} {metadata['period']} v{record['version']}: {result.path} ({result.delivery})")
        return dg.MaterializeResult(metadata=metadata)

    return _issue


def build_report_definitions(settings: Settings, upstream: Sequence[dg.AssetsDefinition],
                             problems_out: list | None = None) -> ReportDefinitions:
    """Assets, jobs and schedules for every folder under ``reports/``; raises on problems, unless
    ``problems_out`` collects them (then the broken reports are left out, the others built)."""
    reports, problems = load_reports(settings.project_dir)
    if problems and problems_out is None:
        raise ProjectError(problems)
    if problems_out is not None:
        problems_out.extend(problems)
    known = {key for a in upstream for key in a.keys}
    built = ReportDefinitions()
    for spec in reports:
        asset = build_report_asset(spec, settings, known)
        built.assets.append(asset)
        if spec.schedule:
            job = dg.define_asset_job(f"report_{spec.name}", selection=[report_key(spec)],
                                      description=f"Issue the report {spec.name} for the latest complete {spec.grain}.")
            built.jobs.append(job)
            built.schedules.append(dg.ScheduleDefinition(
                name=f"report_{spec.name}_schedule", cron_schedule=spec.schedule, job=job,
                execution_timezone=TIMEZONE, default_status=dg.DefaultScheduleStatus.RUNNING,
                description=f"{spec.text(spec.title)} at {spec.schedule} ({TIMEZONE}).",
            ))
    return built
