"""What runs without anybody pressing a button: the daily sync, the extract sensor and alerts.

- ``kontor_sync`` (job) + ``kontor_sync_schedule``: every asset except the reports (ingest →
  models → entities → gates → serving copy), daily at 05:30 Europe/Berlin; the reports keep
  their own schedules (``assets/reports.py``) and read what the sync built.
- ``kontor_extract_sensor``: notices new or changed extract files under the data directory
  (path, size and modification time, kept in the cursor) and runs only the affected source
  assets and what depends on them (reports excepted). The run key is a digest of the change,
  so the same change never runs twice. Stopped by default: turn it on in the UI (Automation) for
  a data directory that receives extracts during the day.
- ``kontor_alert_on_failure`` / ``kontor_alert_reset``: on a failed run, alert per failed asset
  or blocking gate through ``pipelines/core/alerts.py``; on a successful run, reset the count of
  consecutive failures of the assets it built. Webhooks, mailer and state store are the
  resources ``alert_webhooks``, ``mailer`` and ``state_store`` (``assets/resources.py``).
"""
# No `from __future__ import annotations`: Dagster reads the sensor context annotations at
# definition time and needs real types, not strings.
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from assets.reports import TIMEZONE
from assets.resources import AlertWebhooksResource, MailerResource, StateStoreResource, services
from assets.sources import asset_key
from pipelines.core.alerts import (ALERT_METADATA, WAREHOUSE, Failure, failed_assets, init_failure_reason, report_run,
                                   step_failure_reason)
from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings
from pipelines.sources.ingest import resolve_files
from pipelines.sources.spec import SourcesProject

SYNC_JOB = "kontor_sync"
SYNC_CRON = "30 5 * * *"
SYNC_SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("reports")


def extract_state(sources: SourcesProject, data_dir: Path) -> dict[str, dict[str, str]]:
    """Per source asset key, its extract files (relative to the data directory) → "size:mtime_ns"."""
    state: dict[str, dict[str, str]] = {}
    for table in sources.tables:
        if not table.location:
            continue
        try:
            files = resolve_files(table, data_dir)
        except (KontorError, OSError):
            continue                  # the run reports it; the sensor only looks for changes
        entries = {}
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue              # removed between glob and stat
            entries[path.relative_to(data_dir).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
        state[asset_key(table).to_user_string()] = entries
    return state


def build_extract_sensor(settings: Settings, sources: SourcesProject, assets: Sequence, job) -> dg.SensorDefinition:
    @dg.sensor(name="kontor_extract_sensor", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description=f"Runs the source assets whose extract files under {settings.data_dir} are new or "
                           f"changed (path, size, mtime), and everything downstream except reports.")
    def _extracts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = json.loads(context.cursor) if context.cursor else {}
        now = extract_state(sources, settings.data_dir)
        changed = {key: {p: sig for p, sig in files.items() if seen.get(p) != sig} for key, files in now.items()}
        changed = {key: files for key, files in changed.items() if files}
        cursor = json.dumps({p: sig for files in now.values() for p, sig in sorted(files.items())})
        if not changed:
            return dg.SensorResult(skip_reason="no new or changed extract files", cursor=cursor)
        keys = [dg.AssetKey.from_user_string(k) for k in sorted(changed)]
        selection = (dg.AssetSelection.assets(*keys).downstream() - dg.AssetSelection.groups("reports")).resolve(assets)
        change = json.dumps(changed, sort_keys=True)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(
                run_key=f"extracts-{hashlib.sha256(change.encode()).hexdigest()[:16]}",
                asset_selection=sorted(selection, key=lambda k: k.to_user_string()),
                tags={"kontor/trigger": "extract_sensor", "kontor/changed": ", ".join(sorted(changed))[:200]},
            )],
            cursor=cursor,
        )

    return _extracts


def _step_assets(assets: Sequence) -> dict[str, str]:
    return {a.op.name: a.key.to_user_string() for a in assets
            if isinstance(a, dg.AssetsDefinition) and a.is_executable and len(a.keys) == 1}


def _blocking_check_failure(event) -> bool:
    """A step that failed only because a blocking check failed: a check in its own step (such as the
    spot checks' merge_precision) would otherwise alert a second time under its step key."""
    error = event.step_failure_data.error if event.step_failure_data else None
    while error is not None:
        if error.cls_name == "DagsterAssetCheckFailedError":
            return True
        error = error.cause
    return False


def run_failures(instance: dg.DagsterInstance, run_id: str, steps: dict[str, str]) -> tuple[list[Failure], list[str]]:
    """The failed assets (and blocking gates) of a finished run, and the assets it materialised."""
    failures: dict[str, Failure] = {}
    materialized: list[str] = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialized.append(event.asset_key.to_user_string())
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            check = event.event_specific_data
            asset = check.asset_key.to_user_string()
            detail = f"check {check.check_name!r} failed" + (f" ({check.description})" if check.description else "")
            if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR:
                failures[asset] = Failure(asset, detail, check.check_name)
            elif not check.passed and getattr((check.metadata or {}).get(ALERT_METADATA), "value", False):
                # a warn check that alerts (a source's quarantine share): built, but look at it
                failures.setdefault(asset, Failure(asset, detail, check.check_name, warning=True))
        elif event.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE:
            # the warehouse resource could not start: locked by another run or process, no space ...
            failures.setdefault(WAREHOUSE, Failure(WAREHOUSE, init_failure_reason(event)))
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            if _blocking_check_failure(event):
                continue        # the failed checks alert from their own evaluations above, by asset
            for asset, why in failed_assets(event).items():     # the model layer: one alert per model
                if asset not in failures or failures[asset].warning:
                    failures[asset] = Failure(asset, why)
            if failed_assets(event):
                continue
            asset = steps.get(event.step_key or "", event.step_key or "run")
            if asset not in failures or failures[asset].warning:
                failures[asset] = Failure(asset, step_failure_reason(event))
    return list(failures.values()), materialized


def build_alert_sensors(settings: Settings, assets: Sequence) -> list[dg.SensorDefinition]:
    steps = _step_assets(assets)

    @dg.run_failure_sensor(name="kontor_alert_on_failure", default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Alerts (webhook, e-mail; [tool.kontor.alerts]) for each failed asset or "
                                       "blocking gate of a failed run; escalates repeated failures.")
    def _on_failure(context: dg.RunFailureSensorContext, alert_webhooks: AlertWebhooksResource,
                    mailer: MailerResource, state_store: StateStoreResource) -> None:
        run_id = context.dagster_run.run_id
        failures, materialized = run_failures(context.instance, run_id, steps)
        if not failures:
            failures = [Failure(context.dagster_run.job_name, context.failure_event.message or "run failed")]
        for alert in report_run(settings, run_id, failures, materialized,
                                services=services(mailer=mailer, alert_webhooks=alert_webhooks, state_store=state_store)):
            context.log.info(f"alert for {alert.asset}: {', '.join(alert.sent) or 'not sent'}")
            for problem in alert.problems:
                context.log.warning(problem)

    @dg.run_status_sensor(name="kontor_alert_reset", run_status=dg.DagsterRunStatus.SUCCESS,
                          default_status=dg.DefaultSensorStatus.RUNNING,
                          description="Resets the consecutive-failure count of the assets a successful run built and "
                                      "sends an all-clear where they had failed before; alerts for the checks "
                                      "of a successful run that alert (a source's quarantine share).")
    def _on_success(context: dg.RunStatusSensorContext, alert_webhooks: AlertWebhooksResource,
                    mailer: MailerResource, state_store: StateStoreResource) -> None:
        # a successful run can still carry checks that alert: a non-blocking error check, or a warn
        # check flagged to alert (a source's quarantine share)
        failures, materialized = run_failures(context.instance, context.dagster_run.run_id, steps)
        for alert in report_run(settings, context.dagster_run.run_id, failures, materialized,
                                services=services(mailer=mailer, alert_webhooks=alert_webhooks, state_store=state_store)):
            kind = "all-clear" if alert.recovered else "warning" if alert.warning else "alert"
            context.log.info(f"{kind} for {alert.asset}: {', '.join(alert.sent) or 'not sent'}")
            for problem in alert.problems:
                context.log.warning(problem)

    return [_on_failure, _on_success]


def build_automation(settings: Settings, sources: SourcesProject, assets: Sequence,
                     checked: dg.AssetSelection | None = None):
    """The sync job, its schedule and the sensors, for ``build_definitions``; ``checked``: checks
    of assets nothing materialises (a dbt source's tests) that the job runs too."""
    job = dg.define_asset_job(SYNC_JOB, selection=SYNC_SELECTION | checked if checked is not None else SYNC_SELECTION,
                              description="Daily sync: ingest, models, entities, gates, serving copy (no reports).")
    schedule = dg.ScheduleDefinition(
        name=f"{SYNC_JOB}_schedule", cron_schedule=SYNC_CRON, job=job, execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily sync at 05:30 ({TIMEZONE}), before the 07:00 reports.")
    sensors = [build_extract_sensor(settings, sources, assets, job), *build_alert_sensors(settings, assets)]
    return job, schedule, sensors
