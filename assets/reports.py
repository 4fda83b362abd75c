"""One asset per report folder: ``reports/<name>``, group ``reports``, partitioned by its periods.

Dependencies are the relations the report's SQL reads (``marts.fct_orders`` → ``marts/fct_orders``),
so the graph shows which marts feed which report. Each report is partitioned by its grain
(monthly, weekly from Monday, business days or calendar days, quarterly; Europe/Berlin), so the UI
shows per period what was issued and a backfill issues a range of periods; the current, incomplete
period is a partition too (issued *vorläufig*). A partition key is the period's key where a date
format can write it (``2026-10``, ``2026-10-30``), else the period's first day (the week
``2026-W43`` is ``2026-10-19``, the quarter ``2026-Q3`` is ``2026-07-01``).

Each report has its own job ``report_<name>`` (assets of different partitions cannot share one)
and, with ``schedule:`` in report.yml, a schedule on that cron that requests the latest complete
period at the tick (in Berlin time). When the facts equal those of the latest issued version
nothing new is written (a second scheduled run does not produce a copy); the run tag
``kontor/force`` writes a version anyway. A new version's facts go to the serving copy at once.
"""
# No `from __future__ import annotations`: Dagster reads the context and resource annotations
# of asset functions at definition time and needs real types, not strings.
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from zoneinfo import ZoneInfo

import dagster as dg

from assets.resources import LlmResource, MailerResource, StateStoreResource, WarehouseResource, services
from pipelines.core.errors import ProjectError
from pipelines.reports.stage import code_version, scheduled_period
from pipelines.reports.periods import Period, parse_period, period_containing
from pipelines.reports.spec import FIRST_PERIOD_DEFAULT, ReportSpec, load_reports
from pipelines.reports.store import publish_facts
from pipelines.core.settings import Settings

FORCE_TAG = "kontor/force"
TIMEZONE = "Europe/Berlin"
_FORMATS = {"month": "%Y-%m", "week": "%Y-%m-%d", "day": "%Y-%m-%d", "quarter": "%Y-%m-%d"}


def partitions_for(spec: ReportSpec) -> dg.TimeWindowPartitionsDefinition:
    """The report's periods as Dagster partitions, from ``first_period`` (report.yml) to the current one."""
    business = spec.calendar == "business_days"
    first = parse_period(spec.first_period, business) if spec.first_period else \
        period_containing(date.fromisoformat(FIRST_PERIOD_DEFAULT), spec.grain, business)
    while business and first.start.isoweekday() > 5:
        first = first.shift(1)
    start = datetime.combine(first.start, datetime.min.time())
    common = {"timezone": TIMEZONE, "end_offset": 1}
    if spec.grain == "month":
        return dg.MonthlyPartitionsDefinition(start_date=start, fmt=_FORMATS["month"], **common)
    if spec.grain == "week":
        return dg.WeeklyPartitionsDefinition(start_date=start, day_offset=1, **common)
    if spec.grain == "day" and not business:
        return dg.DailyPartitionsDefinition(start_date=start, **common)
    cron = "0 0 * * 1-5" if spec.grain == "day" else "0 0 1 1,4,7,10 *"
    return dg.TimeWindowPartitionsDefinition(cron_schedule=cron, start=start, fmt=_FORMATS[spec.grain], **common)


def partition_key(spec: ReportSpec, period: Period) -> str:
    """``2026-10`` → ``2026-10``; ``2026-W43`` → ``2026-10-19`` (the week's Monday)."""
    return period.start.strftime(_FORMATS[spec.grain])


def period_of_partition(spec: ReportSpec, key: str) -> Period:
    """The report period a partition key stands for."""
    day = datetime.strptime(key, _FORMATS[spec.grain]).date()
    return period_containing(day, spec.grain, spec.calendar == "business_days")


def job_name(spec: ReportSpec) -> str:
    return f"report_{spec.name}"


@dataclass
class ReportDefinitions:
    assets: list[dg.AssetsDefinition] = field(default_factory=list)
    jobs: list = field(default_factory=list)
    schedules: list = field(default_factory=list)


def report_key(spec: ReportSpec) -> dg.AssetKey:
    return dg.AssetKey(["reports", spec.name])


def build_report_asset(spec: ReportSpec, settings: Settings, known: set[dg.AssetKey]) -> dg.AssetsDefinition:
    deps = sorted((dg.AssetKey(rel.split(".")) for rel in spec.relations()), key=lambda k: k.to_user_string())
    title = spec.text(spec.title)

    @dg.asset(
        key=report_key(spec),
        deps=[k for k in deps if k in known],
        group_name="reports",
        kinds={"pdf"},
        partitions_def=partitions_for(spec),
        code_version=code_version(spec),
        description=f"{title}: one PDF per {spec.grain} (partition) under target/reports/{spec.name}/ "
                    f"(folder reports/{spec.name}, {len(spec.kpis)} KPIs).",
        metadata={"folder": f"reports/{spec.name}", "grain": spec.grain, "language": spec.language,
                  "schedule": spec.schedule or "none", "kpis": ", ".join(k.name for k in spec.kpis)},
    )
    def _issue(context: dg.AssetExecutionContext, warehouse: WarehouseResource, llm: LlmResource,
               mailer: MailerResource, state_store: StateStoreResource) -> dg.MaterializeResult:
        # Imported here: the narrative, charts and claims are not loaded by a run that issues no report.
        from pipelines.reports.stage import issue_report

        period = period_of_partition(spec, context.partition_key)
        force = context.run.tags.get(FORCE_TAG) == "true"
        with warehouse.connection() as con:
            result = issue_report(con, settings, spec, period, reissue=force,
                                  services=services(llm, mailer, state_store=state_store))
            if result.issued:       # published at once: the serving copy gets the new facts now
                publish_facts(con, settings.serving_path)
        record = result.record
        metadata = {
            "period": result.facts["period"]["key"],
            "report": spec.issue_name,
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
        job = dg.define_asset_job(job_name(spec), selection=[report_key(spec)], partitions_def=asset.partitions_def,
                                  description=f"Issue the report {spec.name} for one {spec.grain} (a partition).")
        built.jobs.append(job)
        if spec.schedule:
            built.schedules.append(build_report_schedule(spec, job))
    return built


def build_report_schedule(spec: ReportSpec, job) -> dg.ScheduleDefinition:
    """The report.yml cron, in Berlin time; each tick requests the partition of ``scheduled_period``."""
    partitions = partitions_for(spec)

    @dg.schedule(name=f"{job_name(spec)}_schedule", cron_schedule=spec.schedule, job=job,
                 execution_timezone=TIMEZONE, default_status=dg.DefaultScheduleStatus.RUNNING,
                 description=f"{spec.text(spec.title)} at {spec.schedule} ({TIMEZONE}): the latest complete {spec.grain}.")
    def _tick(context: dg.ScheduleEvaluationContext):
        at = context.scheduled_execution_time or datetime.now(ZoneInfo(TIMEZONE))
        at = at.astimezone(ZoneInfo(TIMEZONE))
        key = partition_key(spec, scheduled_period(spec, at))
        if not partitions.has_partition_key(key):
            return dg.SkipReason(f"{key} is before the report's first period (first_period in reports/{spec.name}/report.yml)")
        return dg.RunRequest(run_key=f"{key}@{at.isoformat(timespec='minutes')}", partition_key=key)

    return _tick
