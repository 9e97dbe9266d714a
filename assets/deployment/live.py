"""What is live: a model's stable channel and each version's registry decision, in one record,
so that the Dagster UI can say what clients run now, whoever decided (UI, CLI or SageMaker)."""

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from assets.deployment.publish import read_channel
from resources.artifacts import ArtifactStore
from resources.registry import APPROVED, PENDING, REJECTED, ModelRegistry

# how each registry status reads to a person
STATUS_WORDS = {APPROVED: "approved", REJECTED: "rejected", PENDING: "pending approval"}


def when(moment: datetime | str | None) -> str:
    """A moment to the second, in UTC, saying so (no microseconds, no offset noise)."""
    if moment is None:
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class VersionDecision:
    version: int
    status: str  # the registry's word (Approved, Rejected, PendingManualApproval)
    decided_by: str | None
    reason: str | None
    decided_at: str  # when its status last changed, to the second
    live: bool  # the stable channel names it

    def state(self, published: bool) -> str:
        """One phrase: live, approved but not live, revoked (published once, rejected now), ..."""
        if self.live:
            return "live"
        if self.status == APPROVED:
            return "approved, not live"
        if self.status == REJECTED and published:
            return "revoked"
        return STATUS_WORDS.get(self.status, self.status)

    @property
    def decision_text(self) -> str:
        if self.status == PENDING:
            return f"v{self.version} is waiting for a decision"
        who = self.decided_by or "unknown"
        why = f": {self.reason}" if self.reason else ""
        word = STATUS_WORDS.get(self.status, self.status)
        return f"v{self.version} {word} by {who} at {self.decided_at}{why}"


@dataclass(frozen=True)
class ModelDeployment:
    model: str
    live_version: int | None
    channel_updated: str  # when the stable channel last moved ("never" before it did)
    versions: tuple[VersionDecision, ...]

    def version(self, number: int) -> VersionDecision | None:
        return next((v for v in self.versions if v.version == number), None)

    @property
    def latest_decision(self) -> VersionDecision | None:
        decided = [v for v in self.versions if v.status != PENDING]
        return max(decided, key=lambda v: (v.decided_at, v.version), default=None)

    def digest(self, version: int | None = None) -> str:
        """A fingerprint of what a person would see change: the whole model's, or one version's
        (its decision and whether it is live). Recording only on a new digest keeps the UI's
        history to real changes."""
        facts = asdict(self.version(version)) if version is not None else asdict(self)
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def model_deployment(registry: ModelRegistry, store: ArtifactStore, model: str) -> ModelDeployment:
    """The registry's decisions on ``model`` and the version its stable channel names."""
    pointer = read_channel(store, model)
    live = pointer.get("version") if pointer else None
    versions = tuple(
        VersionDecision(
            version=v.version,
            status=v.status,
            decided_by=v.status_by,
            reason=v.status_reason,
            decided_at=when(v.updated_at),
            live=v.version == live,
        )
        for v in sorted(registry.list_versions(model), key=lambda v: v.version)
    )
    updated = when(pointer["updated"]) if pointer and pointer.get("updated") else "never"
    return ModelDeployment(model, live, updated, versions)
