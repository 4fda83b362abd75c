"""``kontor run``: materialise the asset graph in this process, on the same Definitions as the UI.

Runs go to the Dagster instance in ``DAGSTER_HOME`` (default ``target/dagster``), so they show up
in ``kontor dev`` afterwards. Progress is printed from the instance's event stream.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from assets.models import FULL_REFRESH_TAG
from assets.serving import SERVING_KEY
from pipelines.definitions import ALL_JOB, build_definitions
from pipelines.errors import KontorError
from pipelines.settings import Settings


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)      # "asset: one-line reason"
    skipped: list[str] = field(default_factory=list)


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance directory, with a dagster.yaml if there is none: local SQLite storage and no
    telemetry (a closed network must not see failing phone-home calls)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def instance_for(settings: Settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))


def _failure_reason(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    return (error.message.strip().splitlines() or ["unknown error"])[-1] if error else "unknown error"


def _selection(defs: dg.Definitions, select: Sequence[str] | None) -> list[dg.AssetKey] | None:
    if not select:
        return None
    graph = defs.resolve_asset_graph()
    keys: set[dg.AssetKey] = set()
    for text in select:
        try:
            found = dg.AssetSelection.from_string(text).resolve(graph)
        except Exception as exc:  # Dagster raises several error types for a bad selection string
            raise KontorError(f"--select {text!r}: {exc}; fix: use e.g. 'key:raw/crm__accounts', 'group:raw' or 'key:raw/*+'") from exc
        if not found:
            raise KontorError(f"--select {text!r} matches no asset; fix: see the asset keys in `kontor dev` or README")
        keys |= found
    return sorted(keys | {SERVING_KEY}, key=lambda k: k.to_user_string())


def run_pipeline(settings: Settings, select: Sequence[str] | None = None,
                 on_event: Callable[[str, str, str], None] | None = None, full_refresh: bool = False) -> RunOutcome:
    """Materialise everything (or ``select``); ``on_event(kind, asset, detail)`` reports progress."""
    defs = build_definitions(settings)
    job = defs.resolve_job_def(ALL_JOB)
    instance = instance_for(settings)
    outcome = RunOutcome(run_id=str(uuid.uuid4()), success=False)
    step_assets = {
        a.op.name: a.key.to_user_string()
        for a in defs.resolve_asset_graph().assets_defs if a.is_executable and len(a.keys) == 1
    }

    def listen(entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        asset = step_assets.get(event.step_key or "", event.step_key or "")
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            asset = event.asset_key.to_user_string()
            outcome.materialized.append(asset)
            rows = event.event_specific_data.materialization.metadata.get("dagster/row_count")
            detail = f"{rows.value:,} rows" if rows is not None else ""
            if on_event:
                on_event("materialized", asset, detail)
        elif kind == "STEP_START" and on_event:
            on_event("started", asset, "")
        elif kind == "STEP_FAILURE":
            reason = _failure_reason(event)
            outcome.failures.append(f"{asset}: {reason}")
            if on_event:
                on_event("failed", asset, reason)
        elif kind == "STEP_SKIPPED":
            outcome.skipped.append(asset)
            if on_event:
                on_event("skipped", asset, "an upstream asset failed")

    instance.add_event_listener(outcome.run_id, listen)
    try:
        result = job.execute_in_process(
            instance=instance, run_id=outcome.run_id, raise_on_error=False,
            asset_selection=_selection(defs, select),
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={FULL_REFRESH_TAG: "true"} if full_refresh else None,
        )
    finally:
        instance.dispose()
    outcome.success = result.success
    return outcome


def serving_exists(settings: Settings) -> bool:
    return Path(settings.serving_path).is_file()
