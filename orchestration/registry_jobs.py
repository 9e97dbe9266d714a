"""Op jobs around the registry: a person's decision from the UI, and a channel rollback."""

from typing import Literal

from dagster import Config, OpExecutionContext, job, op
from pydantic import Field

from assets.deployment.planning import decide_version
from assets.deployment.publish import update_channel
from resources.registry import ModelRegistry
from resources.store_resources import ArtifactStoreResource


class DecisionConfig(Config):
    model: str
    version: int = Field(ge=1)
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1, max_length=500)
    by: str = Field(default="dagster-ui", min_length=1, max_length=100)


@op(
    description="Approve or reject a registered model version; the stable channel moves at once "
    "(an approval is published, a rejection rolls the channel back)."
)
def record_registry_decision(
    context: OpExecutionContext,
    config: DecisionConfig,
    registry: ModelRegistry,
    artifacts: ArtifactStoreResource,
) -> None:
    changed, before, after = decide_version(
        registry, artifacts, config.model, config.version, config.decision, config.reason, config.by
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


@job(description="Approve or reject a model version, launched from the UI with config.")
def registry_decision():
    record_registry_decision()


class RollbackConfig(Config):
    model: str
    revoked_version: int = Field(
        ge=1, description="The version the channel named when it was revoked."
    )


@op(description="Point the stable channel at the newest version still approved and published.")
def roll_back_channel(
    context: OpExecutionContext,
    config: RollbackConfig,
    artifacts: ArtifactStoreResource,
    registry: ModelRegistry,
) -> None:
    before, after = update_channel(artifacts, registry, config.model)
    context.log.info(
        "%s stable channel: %s -> %s (v%d revoked)",
        config.model,
        before,
        after,
        config.revoked_version,
    )


@job(description="Move a model's stable channel off a revoked version.")
def channel_rollback():
    roll_back_channel()
