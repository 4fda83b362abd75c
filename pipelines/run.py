"""``kontor run``: materialise the asset graph in this process, on the same Definitions as the UI.

Runs go to the Dagster instance in ``DAGSTER_HOME`` (default ``target/dagster``), so they show up
in ``kontor dev`` afterwards; with ``[tool.kontor] history = "none"`` (or ``--no-history``) to an
in-memory instance instead. Progress is printed from the instance's event stream.
"""
from __future__ import annotations

import gc
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from assets.entities import EVALUATE_TAG, RETRAIN_TAG
from assets.models import FULL_REFRESH_TAG
from assets.serving import SERVING_KEY
from pipelines.core.dagster_instance import prepare_dagster_home
from pipelines.core.alerts import (ALERT_METADATA, WAREHOUSE, failed_assets, init_failure_reason, report_outcome,
                                   step_failure_reason)
from pipelines.core.services import services_for
from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.core.errors import KontorError
from pipelines.core.names import SELECTION_EXAMPLES, selection_text
from pipelines.core.settings import Settings
from pipelines.reports.spec import ReportSpec


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)      # "asset: one-line reason"
    skipped: list[str] = field(default_factory=list)
    gate_failures: list[str] = field(default_factory=list)  # "asset: check 'rule' failed: summary" (error)
    gate_warnings: list[str] = field(default_factory=list)  # the same for warn rules
    alert_warnings: list[str] = field(default_factory=list)  # those warnings that alert (quarantine share)
    files_waiting: int = 0                                  # extracts not loaded yet (settling, no marker)
    assets: dict[str, str | None] = field(default_factory=dict)  # every asset key of the project -> group


# Dagster's notes to developers (an API in beta, superseded, in preview): they name Dagster's
# internals, which a user of `kontor` neither wrote nor can change.
DAGSTER_NOTICES = ("BetaWarning", "PreviewWarning", "SupersessionWarning")


def quiet_dagster_notices() -> None:
    """Hide Dagster's beta/preview/supersession warnings in this process."""
    import warnings

    for name in DAGSTER_NOTICES:
        warnings.filterwarnings("ignore", category=getattr(dg, name))


def instance_for(settings: Settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))


def _record_check(check, outcome: RunOutcome, on_event) -> None:
    """A failed quality gate (expectations/*.yml): blocking (error) or annotating (warn)."""
    if check.passed:
        return
    asset = check.asset_key.to_user_string()
    blocking = check.severity == dg.AssetCheckSeverity.ERROR
    line = f"{asset}: check {check.check_name!r} failed" + (f" ({check.description})" if check.description else "")
    (outcome.gate_failures if blocking else outcome.gate_warnings).append(line)
    if not blocking and _alerts(check):
        outcome.alert_warnings.append(line)
    if on_event:
        on_event("gate_failed" if blocking else "gate_warned", asset,
                 f"{check.check_name}" + (f": {check.description}" if check.description else ""))


def _alerts(check) -> bool:
    """A failed warn check that alerts all the same (``pipelines/core/alerts.py`` ALERT_METADATA)."""
    flag = (check.metadata or {}).get(ALERT_METADATA)
    return bool(flag is not None and getattr(flag, "value", flag))


def _is_gate_failure(event: dg.DagsterEvent) -> bool:
    error = event.step_failure_data.error
    while error is not None:
        if error.cls_name == "DagsterAssetCheckFailedError":
            return True
        error = error.cause
    return False


def _selection(defs: dg.Definitions, select: Sequence[str] | None) -> tuple[list[dg.AssetKey] | None, set]:
    """(the assets to build, the checks of the dbt sources the selection names). A dbt source loaded
    outside the project is an asset nothing builds; as in ``dbt build --select source:x+`` (or
    ``+model``), a selection that takes it in runs its tests, before the models reading it."""
    if not select:
        return None, set()
    graph = defs.resolve_asset_graph()
    groups = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()} - {None})
    keys: set[dg.AssetKey] = set()
    sources: set[dg.AssetKey] = set()
    for text in select:
        dagster_text = selection_text(text, [k.to_user_string() for k in graph.get_all_asset_keys()], groups)
        try:
            found = dg.AssetSelection.from_string(dagster_text).resolve(graph)
        except Exception as exc:  # Dagster raises several error types for a bad selection string
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise KontorError(f"--select {text!r}: {reason}; groups: {', '.join(groups)}; "
                              f"fix: {SELECTION_EXAMPLES}") from exc
        if not found:
            raise KontorError(f"--select {text!r} matches no asset; groups: {', '.join(groups)}; {SELECTION_EXAMPLES}")
        keys |= {k for k in found if graph.get(k).is_executable}
        sources |= {k for k in found if not graph.get(k).is_executable}
        if dagster_text.lstrip()[:1] in ("+", "*"):     # upstream: Dagster leaves out the sources above
            sources |= {p for k in found for p in graph.get(k).parent_keys if not graph.get(p).is_executable}
    checks = {c for c in graph.asset_check_keys if c.asset_key in sources}
    if not keys and not checks:
        raise KontorError(f"--select {', '.join(map(repr, select))}: {', '.join(sorted(k.to_user_string() for k in sources))} "
                          "is loaded outside the project (a dbt source) and has no tests, so nothing of it is built "
                          "or checked here; fix: select what reads it (add + after it)")
    if checks:      # the selected assets' own checks as well: a subset names every check it runs
        checks |= {c for c in graph.asset_check_keys if c.asset_key in keys}
    return sorted(keys | {SERVING_KEY}, key=lambda k: k.to_user_string()), checks


def check_warehouse(settings: Settings, run_id: str) -> None:
    """Open the warehouse for writing before any asset runs: when it cannot be (another process
    holds DuckDB's lock, no permission, disk full), one line says why, and the alert goes out,
    instead of every asset failing on its own."""
    from pipelines.core.runlock import warehouse_problem
    from pipelines.core.warehouse import connect_settings
    from pipelines.engines.connection import EngineError

    try:
        connect_settings(settings).close()
    except (EngineError, OSError) as exc:
        reason = warehouse_problem(settings.warehouse_path, settings.relative(settings.warehouse_path), exc)
        alerts, problems = report_outcome(settings, run_id, [f"{WAREHOUSE}: {reason}"], [], [],
                                          services=services_for(settings))
        sent = sorted({channel for alert in alerts for channel in alert.sent})
        note = f" (alert sent: {', '.join(sent)})" if sent else ""
        note += "".join(f" ({problem})" for problem in problems)
        raise KontorError(reason + note) from exc


def run_pipeline(settings: Settings, select: Sequence[str] | None = None,
                 on_event: Callable[[str, str, str], None] | None = None, full_refresh: bool = False,
                 retrain: bool = False, history: bool | None = None, evaluate: bool = False) -> RunOutcome:
    """Materialise everything (or ``select``); ``on_event(kind, asset, detail)`` reports progress.
    ``evaluate``: score the resolved entities against the ground truth their entity files name
    (the demo data's), into the golden records' metadata; otherwise not evaluated.

    The reports are partitioned by their periods and run after the rest, each in its own run of
    its job for the latest complete period the data covers (``facts.default_period``); a report
    any of whose upstream assets failed, was skipped or failed a blocking gate is not issued.
    ``history``: record the run in the Dagster instance of ``settings.dagster_home`` (True) or run
    on an in-memory one, not in the UI's history (False; faster by what the history costs,
    ``benchmarks/models_vs_dbt.py``); None: as ``settings.history`` says (``[tool.kontor] history``).
    Holds the one-writer lock (joined when ``kontor run`` took it already): while another run
    writes, refused at once naming it (a steward's re-resolve included), before anything alerts."""
    from pipelines.core.runlock import RunLock

    with RunLock(settings.target_dir, ", ".join(select or []) or "everything"):
        return _run_pipeline(settings, select, on_event, full_refresh, retrain,
                             settings.history != "none" if history is None else history, evaluate)


def _run_pipeline(settings: Settings, select: Sequence[str] | None, on_event: Callable[[str, str, str], None] | None,
                  full_refresh: bool, retrain: bool, history: bool, evaluate: bool = False) -> RunOutcome:
    quiet_dagster_notices()
    outcome = RunOutcome(run_id=str(uuid.uuid4()), success=False)
    defs = build_definitions(settings)          # a broken project is refused before the warehouse is touched
    check_warehouse(settings, outcome.run_id)
    job = defs.resolve_job_def(ALL_JOB)
    instance = instance_for(settings) if history else dg.DagsterInstance.ephemeral()
    graph = defs.resolve_asset_graph()
    outcome.assets = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    step_assets = {
        a.op.name: a.key.to_user_string()
        for a in graph.assets_defs if a.is_executable and len(a.keys) == 1
    }
    reports = report_assets(settings, defs)
    selected, source_checks = _selection(defs, select)
    if source_checks:      # tests of dbt sources the selection takes in: a subset that names its checks
        job = job.get_subset(asset_selection={k for k in selected if k not in reports},
                             asset_check_selection=source_checks)
    main = None if selected is None else [k for k in selected if k not in reports]
    wanted = sorted(reports, key=lambda k: k.to_user_string()) if selected is None else \
        [k for k in selected if k in reports]

    planned: list[str] = []

    def listen(entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        asset = step_assets.get(event.step_key or "", event.step_key or "")
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            asset = event.asset_key.to_user_string()
            outcome.materialized.append(asset)
            metadata = event.event_specific_data.materialization.metadata
            rows, sources = metadata.get("dagster/row_count"), metadata.get("kontor/outcome")
            period = metadata.get("period")
            detail = "; ".join(filter(None, [f"{rows.value:,} rows" if rows is not None else "",
                                             sources.value if sources is not None else "",
                                             period.value if period is not None else ""]))
            waiting = metadata.get("files_waiting")
            outcome.files_waiting += waiting.value if waiting is not None else 0
            if on_event:
                on_event("materialized", asset, detail)
        elif kind == "STEP_START" and on_event:
            on_event("started", asset, "")
        elif kind == "ASSET_MATERIALIZATION_PLANNED":
            planned.append(event.asset_key.to_user_string())
        elif kind == "ASSET_CHECK_EVALUATION":
            _record_check(event.event_specific_data, outcome, on_event)
        elif kind == "RESOURCE_INIT_FAILURE":   # nothing runs: the warehouse could not be opened or locked
            reason = init_failure_reason(event)
            outcome.failures.append(f"{WAREHOUSE}: {reason}")
            if on_event:
                on_event("failed", WAREHOUSE, reason)
        elif kind == "STEP_FAILURE":
            if _is_gate_failure(event) and outcome.gate_failures:
                return  # already reported per rule by ASSET_CHECK_EVALUATION
            for failed, why in failed_assets(event).items():   # the model layer: one line per model
                outcome.failures.append(f"{failed}: {why}")
                if on_event:
                    on_event("failed", failed, why)
            if failed_assets(event):
                return
            reason = step_failure_reason(event)
            outcome.failures.append(f"{asset}: {reason}")
            if on_event:
                on_event("failed", asset, reason)
        elif kind == "STEP_SKIPPED":
            outcome.skipped.append(asset)
            if on_event:
                on_event("skipped", asset, "an upstream asset failed")

    instance.add_event_listener(outcome.run_id, listen)
    # The definitions and every module outlive the run: frozen, they are no longer rescanned by
    # each full garbage collection during it (half of the collector's time in a 200-model run).
    # The collector runs during the run, also where `kontor run` paused it for start-up.
    gc.freeze()
    gc.enable()
    tags = {**({FULL_REFRESH_TAG: "true"} if full_refresh else {}), **({RETRAIN_TAG: "true"} if retrain else {}),
            **({EVALUATE_TAG: "true"} if evaluate else {})} or None
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    try:
        result = job.execute_in_process(instance=instance, run_id=outcome.run_id, raise_on_error=False,
                                        asset_selection=None if source_checks else main, run_config=quiet,
                                        tags=tags)
        success = result.success
        # Steps below a failed step or a failed blocking gate are not executed and emit no event.
        failed = {f.split(": ", 1)[0] for f in outcome.failures}
        for asset in dict.fromkeys(planned if WAREHOUSE not in failed else []):
            if asset not in outcome.materialized and asset not in failed and asset not in outcome.skipped:
                outcome.skipped.append(asset)
                if on_event:
                    on_event("skipped", asset, "not built: an upstream asset or a blocking quality gate failed")
        for key in wanted:
            success = _run_report(settings, defs, graph, key, reports[key], instance, outcome, listen, on_event,
                                  quiet) and success
    finally:
        gc.unfreeze()
        instance.dispose()
    outcome.success = success
    # The same engine as the run-failure sensor (assets/automation.py); keyed by run id, so a
    # daemon watching this instance does not alert twice.
    alerts, problems = report_outcome(settings, outcome.run_id, outcome.failures, outcome.gate_failures,
                                      outcome.materialized, outcome.alert_warnings, services=services_for(settings))
    if on_event:
        for alert in alerts:
            on_event("recovered" if alert.recovered else "alerted", alert.asset, ", ".join(alert.sent) or "not delivered")
        for problem in problems:
            on_event("alert_failed", "", problem)
    return outcome


def report_assets(settings: Settings, defs: dg.Definitions) -> dict[dg.AssetKey, ReportSpec]:
    """The report assets of ``defs`` and the report each issues."""
    from assets.reports import report_key
    from pipelines.reports.spec import load_reports

    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return {report_key(spec): spec for spec in load_reports(settings.project_dir)[0] if report_key(spec) in keys}


def _run_report(settings: Settings, defs: dg.Definitions, graph, key: dg.AssetKey, spec: ReportSpec,
                instance: dg.DagsterInstance, outcome: RunOutcome, listen, on_event, run_config) -> bool:
    """Issue one report for its latest complete period, in its own run of its job; False if it failed."""
    from assets.reports import job_name, partition_key, partitions_for
    from pipelines.core.warehouse import connect_settings
    from pipelines.reports.facts import default_period

    asset = key.to_user_string()
    upstream = {k.to_user_string() for k in dg.AssetSelection.assets(key).upstream(include_self=False).resolve(graph)}
    broken = {f.split(": ", 1)[0] for f in [*outcome.failures, *outcome.gate_failures]} | set(outcome.skipped)
    if upstream & broken:
        outcome.skipped.append(asset)
        if on_event:
            on_event("skipped", asset, "not issued: an upstream asset or a blocking quality gate failed: "
                                       + ", ".join(sorted(upstream & broken)))
        return True
    try:
        con = connect_settings(settings)
        try:
            period = default_period(con, spec)
        finally:
            con.close()
    except KontorError as exc:
        outcome.failures.append(f"{asset}: {exc}")
        if on_event:
            on_event("failed", asset, str(exc))
        return False
    key_text = partition_key(spec, period)
    if not partitions_for(spec).has_partition_key(key_text):
        outcome.skipped.append(asset)
        if on_event:
            on_event("skipped", asset, f"{period.key} is before the report's first period (first_period in {spec.file})")
        return True
    run_id = str(uuid.uuid4())
    instance.add_event_listener(run_id, listen)
    result = defs.resolve_job_def(job_name(spec)).execute_in_process(
        instance=instance, run_id=run_id, raise_on_error=False, partition_key=key_text, run_config=run_config)
    return result.success


def issue_by_hand(settings: Settings, name: str, period: str | None = None, force: bool = False,
                  language: str | None = None):
    """``kontor report``: materialise the report's partition for ``period`` (default: the latest
    complete period the data covers) in this process, recorded in the Dagster instance like a run
    of the UI. The asset writes a new version only when the facts changed (or ``force``) and puts
    its facts into the serving copy at once. A period of another grain, or one the data does not
    cover, is refused before anything is archived."""
    from assets.reports import FORCE_TAG, build_report_asset, partition_key, partitions_for
    from assets.resources import WarehouseResource, service_resources
    from pipelines.core.warehouse import connect_settings
    from pipelines.engines.connection import EngineIOError
    from pipelines.reports.facts import check_period, compute_facts, default_period
    from pipelines.reports.stage import issued_result
    from pipelines.reports.spec import find_report

    quiet_dagster_notices()
    spec = find_report(settings.project_dir, name)
    if language is not None:
        spec = spec.in_language(language)
    chosen = check_period(spec, period) if period is not None else None   # before the warehouse is opened
    if not settings.warehouse_path.is_file():
        raise KontorError(f"{settings.relative(settings.warehouse_path)} does not exist yet; fix: run `kontor run` first")
    try:
        con = connect_settings(settings)
    except EngineIOError as exc:
        raise KontorError(f"{settings.relative(settings.warehouse_path)} is in use by another process ({exc}); "
                          "fix: wait for the running pipeline to finish, then try again") from exc
    try:
        chosen = chosen or default_period(con, spec)
        key = partition_key(spec, chosen)
        if not partitions_for(spec).has_partition_key(key):
            compute_facts(con, spec, chosen)     # refuses a period the data does not cover, naming its last day
            raise KontorError(f"{spec.name}: {chosen.key} is before the report's first period; fix: set "
                              f"'first_period: {chosen.key}' in {spec.file}")
    finally:
        con.close()
    asset = build_report_asset(spec, settings, set())
    instance = instance_for(settings)
    try:
        result = dg.materialize([asset], instance=instance, partition_key=key, raise_on_error=False,
                                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                                resources={"warehouse": WarehouseResource.from_settings(settings),
                                           **service_resources(settings)},
                                tags={FORCE_TAG: "true"} if force else None)
    finally:
        instance.dispose()
    if not result.success:
        reasons = [step_failure_reason(event) for event in result.get_step_failure_events()] or ["the run failed"]
        raise KontorError(re.sub(r"^[\w.]*KontorError: ", "", reasons[0]))
    metadata = result.asset_materializations_for_node(asset.op.name)[0].metadata
    return issued_result(settings, spec, metadata["period"].value, metadata["version"].value,
                         metadata["issued"].value, metadata["delivery"].value)
