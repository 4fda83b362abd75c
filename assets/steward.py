"""The steward job: a data steward records a decision from the Dagster launchpad.

The run config is typed (entity, action, target ids, attribute, value, steward, comment), so the
launchpad shows the fields and refuses a malformed decision before the run starts. The decision is
checked against the last published master data; a refused decision fails the run with the reason
and stores nothing. The next materialisation of the entity honours it.
"""
# No `from __future__ import annotations`: Dagster reads the config annotations at definition time.
from typing import Optional

import dagster as dg
from pydantic import Field

from pipelines.entities.decisions import DecisionError, StewardAction
from pipelines.settings import Settings

STEWARD_JOB = "steward_decision"


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
