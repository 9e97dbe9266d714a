"""Op jobs around the registry: a person's decision from the UI, and a channel rollback."""

from enum import Enum

from dagster import Config, OpExecutionContext, in_process_executor, job, op
from pydantic import Field

from assets.catalog import SINGLE_IMAGE_MODEL
from assets.deployment.planning import act_on_rollout, decide_version
from assets.deployment.publish import update_channel
from orchestration.live_versions import record_live_versions, revocation_check
from resources.registry import PENDING, ModelRegistry
from resources.store_resources import ArtifactStoreResource


class Decision(Enum):
    approve = "approve"
    reject = "reject"


class DecisionConfig(Config):
    """What the launchpad asks for; every field has a default, so it opens ready to edit."""

    model: str = Field(
        default=SINGLE_IMAGE_MODEL,
        description="The registered model (`edgeline registry list` names them).",
    )
    version: int = Field(
        default=0,
        ge=0,
        description="The version to decide; 0: the model's newest version pending approval.",
    )
    decision: Decision = Field(
        default=Decision.approve,
        description="approve: publish it and move the stable channel to it; reject: never "
        "publish it, and move the channel off it if it is live (a rollback).",
    )
    reason: str = Field(
        default="",
        max_length=500,
        description="Why, in words: recorded in the registry and shown on the model's assets.",
    )
    by: str = Field(
        default="dagster-ui",
        min_length=1,
        max_length=100,
        description="Who decides (recorded with the decision).",
    )


def version_to_decide(registry: ModelRegistry, model: str, version: int) -> int:
    """``version``, or for 0 the newest version pending approval (named in the error if none)."""
    if version:
        return version
    pending = registry.list_versions(model, PENDING)
    if not pending:
        raise ValueError(
            f"{model} has no version pending approval: set `version` to the one to decide "
            "(`edgeline registry list` shows them)"
        )
    return max(v.version for v in pending)


@op(
    description="Approve or reject a registered model version; the stable channel moves at once "
    "(an approval is published, a rejection rolls the channel back), and the decision shows on "
    "the model's registered and published assets."
)
def record_registry_decision(
    context: OpExecutionContext,
    config: DecisionConfig,
    registry: ModelRegistry,
    artifacts: ArtifactStoreResource,
) -> None:
    if not config.reason.strip():
        raise ValueError("a decision needs a reason: fill `reason` in the launchpad's config")
    version = version_to_decide(registry, config.model, config.version)
    changed, before, after = decide_version(
        registry,
        artifacts,
        config.model,
        version,
        config.decision.value,
        config.reason,
        config.by,
    )
    context.log.info(
        "%s v%d is now %s (%s, by %s); stable channel %s -> %s",
        changed.model,
        changed.version,
        changed.status,
        config.reason,
        config.by,
        before,
        after,
    )
    record_live_versions(context.instance, registry, artifacts)


# each job below is one quick op, run in the run's own process: a process for the op (the
# default executor's) re-imported the code location and added seconds before a decision held
@job(
    description="Approve or reject a model version, launched from the UI with config.",
    executor_def=in_process_executor,
)
def registry_decision():
    record_registry_decision()


class RollbackConfig(Config):
    model: str
    revoked_version: int = Field(ge=1, description="The published version that was revoked.")


@op(
    description="Point the stable channel at the newest version still approved and published, "
    "and mark the revoked version's published partition (its `approved_in_registry` check fails)."
)
def roll_back_channel(
    context: OpExecutionContext,
    config: RollbackConfig,
    artifacts: ArtifactStoreResource,
    registry: ModelRegistry,
) -> None:
    before, after = update_channel(artifacts, registry, config.model)
    context.log_event(revocation_check(registry, artifacts, config.model, config.revoked_version))
    record_live_versions(context.instance, registry, artifacts)
    context.log.info(
        "%s stable channel: %s -> %s (v%d revoked)",
        config.model,
        before,
        after,
        config.revoked_version,
    )


@job(
    description="Move a model's stable channel off a revoked version (if it names it) and mark it revoked.",
    executor_def=in_process_executor,
)
def channel_rollback():
    roll_back_channel()


class RolloutAction(Enum):
    promote = "promote"
    pause = "pause"
    resume = "resume"
    abort = "abort"


class RolloutConfig(Config):
    model: str = Field(default=SINGLE_IMAGE_MODEL, description="The model whose rollout to act on.")
    action: RolloutAction = Field(
        default=RolloutAction.promote,
        description="promote: the next step's share (the last: stable for everyone); pause: no "
        "automatic promotion (the guardrails still abort); resume; abort: every client back on "
        "the stable version, the candidate rejected.",
    )
    reason: str = Field(default="", max_length=500, description="Why, in words (required).")
    by: str = Field(default="dagster-ui", min_length=1, max_length=100, description="Who decides.")


@op(description="A person's decision on a model's staged rollout, recorded with why.")
def decide_rollout(
    context: OpExecutionContext,
    config: RolloutConfig,
    registry: ModelRegistry,
    artifacts: ArtifactStoreResource,
) -> None:
    if not config.reason.strip():
        raise ValueError("a rollout decision needs a reason: fill `reason` in the launchpad")
    rollout = act_on_rollout(
        registry, artifacts, config.model, config.action.value, config.by, config.reason
    )
    context.log.info(
        "%s v%d: %s, %.0f%% of clients", rollout.model, rollout.candidate, rollout.state,
        100 * rollout.share,
    )  # fmt: skip
    record_live_versions(context.instance, registry, artifacts)


@job(
    description="Promote, pause, resume or abort a model's staged rollout from the UI.",
    executor_def=in_process_executor,
)
def rollout_decision():
    decide_rollout()
