"""What the registry sensor decides, as a plain function of the registry, the store and a cursor."""

import json
from dataclasses import dataclass, field
from typing import Literal

from assets.deployment.publish import publish_model_version, read_channel, update_channel
from resources.artifacts import ArtifactStore
from resources.registry import APPROVED, REJECTED, ModelRegistry, ModelVersion


def partition_key(model: str, version: int) -> str:
    return f"{model}@{version}"


def parse_partition_key(key: str) -> tuple[str, int]:
    model, _, version = key.rpartition("@")
    if not model or not version.isdigit():
        raise ValueError(f"partition key {key!r} is not '<model>@<version>'")
    return model, int(version)


@dataclass
class DeploymentCursor:
    """Versions the sensor has already asked to publish, and revocations it has acted on."""

    published: dict[str, list[int]] = field(default_factory=dict)
    rolled_back: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> "DeploymentCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(data.get("published", {}), data.get("rolled_back", {}))

    def dump(self) -> str:
        return json.dumps(
            {"published": self.published, "rolled_back": self.rolled_back}, sort_keys=True
        )


@dataclass(frozen=True)
class DeploymentPlan:
    publish: list[tuple[str, int]]
    rollback: list[tuple[str, int]]  # (model, a published version since revoked)
    cursor: DeploymentCursor


def plan_deployments(
    registry: ModelRegistry, store: ArtifactStore, cursor: DeploymentCursor
) -> DeploymentPlan:
    """Every approved version not yet requested gets one publication; every version revoked
    after it was published (requested before, or named by the channel) gets one rollback run,
    which moves the channel off it if it names it and marks its partition revoked."""
    publish, rollback = [], []
    for model in registry.list_models():
        statuses = {v.version: v.status for v in registry.list_versions(model)}
        requested = set(cursor.published.get(model, []))
        pointer = read_channel(store, model)
        serving = pointer.get("version") if pointer else None
        handled = set(cursor.rolled_back.get(model, []))
        published = requested | ({serving} if serving is not None else set())
        for version in sorted(published - handled):
            if statuses.get(version) != APPROVED:
                rollback.append((model, version))
                handled.add(version)
        for version, status in sorted(statuses.items()):
            if status == APPROVED and version not in requested:
                publish.append((model, version))
                requested.add(version)
        cursor.published[model] = sorted(requested)
        cursor.rolled_back[model] = sorted(handled)
    return DeploymentPlan(publish, rollback, cursor)


def decide_version(
    registry: ModelRegistry,
    store: ArtifactStore,
    model: str,
    version: int,
    decision: Literal["approve", "reject"],
    reason: str,
    by: str,
) -> tuple[ModelVersion, int | None, int | None]:
    """Record a person's decision made through Edgeline (CLI, UI job) and move the channel at
    once, with the functions the sensor's runs use: an approval publishes the version, a
    rejection moves the channel off it. Returns the version and the channel's (from, to).

    A decision made in SageMaker instead moves the channel at the sensor's next tick; the sensor
    also sees this one and finds nothing left to write.
    """
    status = APPROVED if decision == "approve" else REJECTED
    changed = registry.set_status(model, version, status, reason, by)
    if decision == "approve":
        result = publish_model_version(store, registry, model, version)
        return changed, result.channel_from, result.channel_to
    before, after = update_channel(store, registry, model)
    return changed, before, after
