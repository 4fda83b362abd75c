"""The steward job: a data steward records a decision from the Dagster launchpad.

The run config is typed (entity, action, target ids, attribute, value, steward, comment), so the
launchpad shows the fields and refuses a malformed decision before the run starts. The decision is
checked against the last published master data; a refused decision fails the run with the reason
and stores nothing; a repeated one stores nothing and says which decision it repeats.

Decisions show at once: the queue a steward sees joins the state store live, and a sensor starts
``steward_apply_<entity>`` after every steward run that changed something: the entity's resolve
step (clusters, golden records, queue) on the pairs already scored, its sync proposals and the
serving copy, without waiting for the nightly sync.
"""
# No `from __future__ import annotations`: Dagster reads the config annotations at definition time.
from typing import Optional

import dagster as dg
from pydantic import Field

from assets.resources import StateStoreResource, WarehouseResource
from pipelines.entities.decisions import DecisionError, StewardAction
from pipelines.stewards.identity import steward_settings
from pipelines.core.settings import Settings

STEWARD_JOB = "steward_decision"
APPLY_TAG = "kontor/apply_entity"       # set by a steward run that changed an entity's decisions


class StewardDecision(dg.Config):
    entity: str = Field(description="The entity: customer or supplier (models/entities/<entity>.yml).")
    action: StewardAction = Field(description="merge, split, distinct, choose_value, reopen, or approve a pending decision.")
    target_ids: list[str] = Field(default_factory=list,
                                  description="Golden ids (C-…) or record ids (crm:CRM-0000011); for approve: the decision id.")
    attribute: Optional[str] = Field(default=None, description="choose_value: the attribute, e.g. iban or name.")
    value: Optional[str] = Field(default=None, description="choose_value: the value to keep.")
    comment: Optional[str] = Field(default=None, description="Why; goes into the audit trail.")
    identity_token: Optional[str] = Field(default=None, description="Who decides, signed by the review page "
                                          "(kontor steward review) that authenticated the steward; a typed name is not accepted.")


def build_steward_job(settings: Settings) -> dg.JobDefinition:
    @dg.op(name="record_decision", description="Check the decision and append it to the state store with its audit event.")
    def record_decision(context: dg.OpExecutionContext, config: StewardDecision, state_store: StateStoreResource) -> None:
        from pipelines.stewards.stewardship import decide

        from pipelines.core.errors import KontorError
        from pipelines.stewards.identity import verify

        targets = list(config.target_ids)
        request = {"entity": config.entity, "action": config.action.value, "target_ids": targets,
                   "attribute": config.attribute, "comment": config.comment, "value": config.value}
        try:
            identity = verify(settings, config.identity_token, request)
        except KontorError as exc:
            raise dg.Failure(description=f"decision refused, nothing stored: {exc}") from None
        if config.action.value == "approve":
            request["value"] = config.value or (targets[0] if targets else None)
        try:
            decision = decide(settings, {**request, "run_id": context.run_id}, identity, state_store.location())
        except DecisionError as exc:
            raise dg.Failure(description=f"decision refused, nothing stored: {exc}") from None
        if decision.get("duplicate"):
            context.log.info(decision["message"])
            return
        if decision["status"] == "active":      # a pending decision changes no golden record yet
            context.instance.add_run_tags(context.run_id, {APPLY_TAG: config.entity})
        state = "pending a second steward's approval" if decision["status"] == "pending" else "recorded"
        context.log.info(f"decision {decision['decision_id']} ({decision['action']}) {state}")
        context.log_event(dg.AssetObservation(
            asset_key=dg.AssetKey(["entities", f"{config.entity}_review_queue"]),
            metadata={"decision_id": decision["decision_id"], "action": decision["action"], "status": decision["status"],
                      "steward": decision["steward"], "authenticated_by": identity.method,
                      "targets": ", ".join(decision["target_ids"][:20])}))

    @dg.job(name=STEWARD_JOB, description="Record a steward's decision (merge, split, distinct, choose_value, reopen, "
                                          "approve); the next run of the entity honours it.",
            tags={"kontor/kind": "steward"})
    def steward_decision():
        record_decision()

    return steward_decision


def apply_selection(entity: str) -> list[dg.AssetKey]:
    """What a decision changes: the entity's resolve step (all its tables) and its sync proposals."""
    from assets.entities import RESOLVED_PARTS, key

    return [key(entity, part) for part in (*RESOLVED_PARTS, "sync_proposals")]


def build_apply(entities: list[str], serving_key: dg.AssetKey, steward_job: dg.JobDefinition) -> tuple[list, list]:
    """(one apply job per entity, the sensor that starts it after a steward run changed the entity)."""
    jobs = {e: dg.define_asset_job(f"steward_apply_{e}", selection=[*apply_selection(e), serving_key],
                                   description=f"Re-resolve {e} with the stewards' decisions now: clusters, golden "
                                               "records, review queue, sync proposals, serving copy.",
                                   tags={"kontor/kind": "steward"})
            for e in entities}
    if not jobs:
        return [], []

    @dg.run_status_sensor(name="steward_decisions_apply", run_status=dg.DagsterRunStatus.SUCCESS,
                          monitored_jobs=[steward_job], request_jobs=list(jobs.values()),
                          minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING,
                          description="After a steward decision that changes an entity, re-resolve that entity.")
    def _apply(context: dg.RunStatusSensorContext):
        entity = context.dagster_run.tags.get(APPLY_TAG)
        if entity not in jobs:
            return dg.SkipReason("the decision changed nothing (pending, repeated or refused)")
        return dg.RunRequest(run_key=f"apply-{context.dagster_run.run_id}", job_name=jobs[entity].name,
                             tags={"kontor/decision_run": context.dagster_run.run_id})

    return list(jobs.values()), [_apply]


def build_spot_checks(settings: Settings, specs: dict) -> tuple[list, list, list, list]:
    """Per entity an asset ``steward/<entity>_spot_checks`` (draws the week's sample, estimates the
    precision of the automatic merges, writes ``entities.<entity>_spot_check_precision``) with a
    blocking gate that fails below the threshold, so the run fails and the alerts go out; the job
    and its weekly schedule (Monday 06:00 Europe/Berlin)."""
    import datetime as dt

    from pipelines.entities.spec import EntitySpec

    if not specs:
        return [], [], [], []
    assets, checks = [], []

    def build(spec: EntitySpec):
        asset_key = dg.AssetKey(["steward", f"{spec.name}_spot_checks"])
        table = f"entities.{spec.name}_spot_check_precision"

        # No deps on the entity assets: it reads their tables on its weekly schedule, and as their
        # downstream every sync and extract-triggered run would draw a sample and gate on it.
        @dg.asset(key=asset_key, group_name="steward", kinds={"duckdb"},
                  description=f"Weekly spot checks of the automatic {spec.name} decisions: the week's sample for the "
                              "stewards (review page, Weekly spot checks) and the precision of the automatic merges "
                              "with a 95 % Wilson interval, per week and over the last weeks.",
                  metadata={"dagster/table_name": table})
        def _spot(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  state_store: StateStoreResource) -> dg.MaterializeResult:
            from pipelines.stewards.spotchecks import precision, spot_check_settings, take_sample
            from pipelines.stewards.spotchecks import write_precision_table

            config = spot_check_settings(settings)
            today = dt.date.today()
            with state_store.open(settings) as store, warehouse.connection() as con:
                sample = take_sample(settings, con, spec, store, today, config.size)
                found = precision(store, spec.name, config.weeks, today)
                write_precision_table(con, spec.name, found)
            pooled = found["pooled"]
            rows = "\n".join(f"| {w['week']} | {w['judged']} | {w['wrong']} | "
                             + (f"{w['precision']:.3f} | [{w['low']:.3f}, {w['high']:.3f}]" if w["precision"] is not None else "– | –")
                             + " |" for w in found["weeks"])
            return dg.MaterializeResult(metadata={
                "sampled_this_week": len(sample),
                "judged": pooled["judged"], "wrong": pooled["wrong"],
                "precision": pooled["precision"] if pooled["precision"] is not None else float("nan"),
                "precision_low_95": pooled["low"] if pooled["low"] is not None else float("nan"),
                "precision_high_95": pooled["high"] if pooled["high"] is not None else float("nan"),
                "threshold": config.threshold,
                "by_week": dg.MetadataValue.md("| week | judged | wrong | precision | 95 % |\n|---|---|---|---|---|\n" + rows),
                "review_page": dg.MetadataValue.url(steward_settings(settings).review_url.rstrip("/") + "/spot-checks"),
            })

        @dg.asset_check(asset=asset_key, name="merge_precision", blocking=True,
                        description="Fails (and alerts) when the spot-checked precision of the automatic merges over "
                                    "the last weeks is below the threshold ([tool.kontor.stewards] spot_check_threshold).")
        def _gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                  state_store: StateStoreResource) -> dg.AssetCheckResult:
            from pipelines.stewards.spotchecks import precision, spot_check_settings
            from pipelines.core.warehouse import ensure_bookkeeping

            config = spot_check_settings(settings)
            with state_store.open(settings) as store:
                pooled = precision(store, spec.name, config.weeks, dt.date.today())["pooled"]
            p = pooled["precision"]
            passed = p is None or p >= config.threshold
            description = ("no verdicts yet" if p is None else
                           f"precision {p:.3f} (95 % {pooled['low']:.3f}–{pooled['high']:.3f}) from {pooled['judged']} "
                           f"verdict(s), threshold {config.threshold}")
            # Evidence beside the other gates', on the table the master-data report reads, so its
            # data status names this gate (and a failure) instead of an ungated table.
            with warehouse.connection() as con:
                ensure_bookkeeping(con)
                con.execute("insert into kontor.gate_results values (?, now()::timestamp, ?, 'merge_precision', 'error', "
                            "?, ?, ?, ?, ?)", [context.run.run_id, table.replace(".", "/", 1), passed,
                                               None if p is None else f"{p:.3f}", pooled["wrong"], pooled["judged"],
                                               description])
            return dg.AssetCheckResult(
                passed=passed, severity=dg.AssetCheckSeverity.ERROR, description=description,
                metadata={"judged": pooled["judged"], "wrong": pooled["wrong"]})

        assets.append(_spot)
        checks.append(_gate)

    for spec in specs.values():
        build(spec)
    job = dg.define_asset_job("steward_spot_checks", selection=[k for a in assets for k in a.keys],
                              description="Draw the week's spot-check sample and estimate the precision of the automatic merges.")
    schedule = dg.ScheduleDefinition(name="steward_spot_checks_weekly", cron_schedule="0 6 * * 1", job=job,
                                      execution_timezone="Europe/Berlin", default_status=dg.DefaultScheduleStatus.RUNNING)
    return assets, checks, [job], [schedule]
