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

from pipelines.entities.decisions import DecisionError, StewardAction
from pipelines.settings import Settings

STEWARD_JOB = "steward_decision"
APPLY_TAG = "kontor/apply_entity"       # set by a steward run that changed an entity's decisions


class StewardDecision(dg.Config):
    entity: str = Field(description="The entity: customer or supplier (models/entities/<entity>.yml).")
    action: StewardAction = Field(description="merge, split, distinct, choose_value, reopen, or approve a pending decision.")
    target_ids: list[str] = Field(default_factory=list,
                                  description="Golden ids (C-…) or record ids (crm:CRM-0000011); for approve: the decision id.")
    attribute: Optional[str] = Field(default=None, description="choose_value: the attribute, e.g. iban or name.")
    value: Optional[str] = Field(default=None, description="choose_value: the value to keep.")
    steward: str = Field(description="Your name, as it goes into the audit trail.")
    comment: Optional[str] = Field(default=None, description="Why; goes into the audit trail.")


def build_steward_job(settings: Settings) -> dg.JobDefinition:
    @dg.op(name="record_decision", description="Check the decision and append it to the state store with its audit event.")
    def record_decision(context: dg.OpExecutionContext, config: StewardDecision) -> None:
        from pipelines.stewardship import decide

        targets = list(config.target_ids)
        request = {"entity": config.entity, "action": config.action.value, "target_ids": targets,
                   "attribute": config.attribute, "steward": config.steward, "comment": config.comment,
                   "value": (config.value or (targets[0] if targets else None)) if config.action.value == "approve" else config.value,
                   "run_id": context.run_id}
        try:
            decision = decide(settings, request)
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
                      "steward": decision["steward"], "targets": ", ".join(decision["target_ids"][:20])}))

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
