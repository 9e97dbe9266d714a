"""What the registry sensor decides, as a plain function of the registry, the store and a cursor."""

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from assets.deployment.publish import publish_model_version, read_channel, update_channel
from assets.deployment.rollout import (
    DEFAULT_BAKING_S,
    DEFAULT_STEPS,
    Rollout,
    RolloutError,
    change_rollout,
    new_rollout,
    now_text,
    with_event,
)
from edgeline_contract.rollout import ABORTED, CANARY, PAUSED, PROMOTED
from resources.artifacts import ArtifactStore
from resources.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    ModelRegistry,
    ModelVersion,
    check_decision,
)


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


def start_rollout(
    registry: ModelRegistry,
    store: ArtifactStore,
    model: str,
    version: int,
    by: str,
    reason: str,
    steps: tuple[float, ...] = DEFAULT_STEPS,
    baking_s: float = DEFAULT_BAKING_S,
    rollout_id: str | None = None,
    guardrails: dict[str, float] | None = None,
) -> Rollout:
    """Start a canary of ``version`` (``guardrails``: this rollout's overrides of the
    guardrails' settings): the rollout is written first (so the stable channel never
    moves to it), then a pending version is approved (a person's decision, with why) and the
    version published; the gateway then serves it to the first step's share of clients."""
    check_decision(reason, by)
    described = registry.describe_version(model, version)
    stable = (read_channel(store, model) or {}).get("version")
    if described.status not in (PENDING, APPROVED) or version == stable:
        why = "it is live on the whole fleet" if version == stable else described.status
        raise RolloutError(f"cannot roll out {model} v{version}: {why}")

    def begin(current: Rollout | None) -> Rollout:
        if current is not None and current.running:
            raise RolloutError(
                f"{model} already rolls out v{current.candidate} ({current.state}, "
                f"{current.share:.0%}): promote or abort it first"
            )
        return new_rollout(
            model, version, stable, steps, baking_s, by, reason, rollout_id, guardrails
        )

    rollout = change_rollout(store, model, begin)
    if described.status == PENDING:
        registry.set_status(model, version, APPROVED, reason, by)
    result = publish_model_version(store, registry, model, version)

    def published(current: Rollout | None) -> Rollout:
        if current is None or current.rollout_id != rollout.rollout_id:
            raise RolloutError(f"{model}: the rollout was replaced while v{version} published")
        manifest = store.get_bytes(result.manifest_key)
        return replace(
            current,
            candidate_manifest_key=result.manifest_key,
            candidate_manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        )

    return change_rollout(store, model, published)


def _running(current: Rollout | None, model: str) -> Rollout:
    if current is None or not current.running:
        state = current.state if current else "none"
        raise RolloutError(f"{model} has no running rollout (the last one: {state})")
    return current


RolloutAction = Literal["promote", "abort", "pause", "resume"]


def act_on_rollout(
    registry: ModelRegistry,
    store: ArtifactStore,
    model: str,
    action: RolloutAction,
    by: str,
    why: str,
    figures: dict[str, Any] | None = None,
) -> Rollout:
    """A person's or the guardrails' decision on the running rollout, with why (and the
    guardrails' figures), recorded in its history:
    - promote: the next step's share; the last step (the whole fleet) is the stable channel
      itself, so the candidate becomes its version and the rollout is done;
    - abort: every client back on the stable version, and the candidate rejected in the
      registry with why, so it is never offered again (a person who disagrees registers it
      again);
    - pause / resume: hold the share where it is (no automatic promotion), or go on.
    """

    def decide(current: Rollout | None) -> Rollout:
        rollout = _running(current, model)
        if action == "promote" and rollout.step + 2 < len(rollout.steps):
            changed = replace(rollout, step=rollout.step + 1, state=CANARY, step_started=now_text())
        else:
            state = {"promote": PROMOTED, "abort": ABORTED, "pause": PAUSED, "resume": CANARY}
            changed = replace(rollout, state=state[action])
        return with_event(changed, action, by, why, figures=figures or {})

    rollout = change_rollout(store, model, decide)
    if action == "abort":
        reason = f"rollout aborted: {why}"[:500]
        registry.set_status(model, rollout.candidate, REJECTED, reason, by)
    if rollout.state in (PROMOTED, ABORTED):
        update_channel(store, registry, model)
    return rollout
