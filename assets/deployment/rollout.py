"""Staged rollouts: a canary share of a model's fleet runs an approved version before all of it.

One JSON document per model (``layout.rollout_state``), beside its channel pointers and moved
the same way (compare-and-swap, a generation counting the moves), so that the sensor, the CLI
and a person's job can act on it at once without losing a decision. While a rollout is running
the stable channel keeps the previous version and the gateway answers each client by its side
(``edgeline_contract.rollout.on_candidate``); promoted past its last step, the candidate becomes
the stable channel's version; aborted, nobody is offered it.
"""

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from assets.deployment.guardrails import GuardrailSettings
from edgeline_contract.rollout import (
    CANARY,
    ROLLOUT_SCHEMA,
    RUNNING,
    rollout_problems,
    serves_candidate,
    share_of,
)
from resources import layout
from resources.artifacts import ArtifactStore, json_bytes
from resources.errors import ConcurrentWriteError, EdgelineError

# 5 %, then 25 %, then everyone: a bad version reaches a twentieth of the fleet first
DEFAULT_STEPS = (0.05, 0.25, 1.0)
DEFAULT_BAKING_S = 3600.0  # an hour at each step with every guardrail within bounds


class RolloutError(EdgelineError):
    """A rollout action that does not apply (no rollout, already finished, a bad share)."""


@dataclass(frozen=True)
class Rollout:
    rollout_id: str
    model: str
    candidate: int
    stable: int | None  # the version everyone else runs
    steps: tuple[float, ...]
    step: int  # index into steps
    state: str
    baking_s: float
    started: str
    step_started: str
    generation: int = 0
    candidate_manifest_key: str | None = None  # set once the candidate is published
    candidate_manifest_sha256: str | None = None
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    guardrails: dict[str, float] = field(default_factory=dict)  # GuardrailSettings' overrides

    @property
    def running(self) -> bool:
        """Canary or paused: the candidate is held off the stable channel."""
        return self.state in RUNNING

    @property
    def share(self) -> float:
        return share_of(asdict(self))

    def serves_candidate(self, client_id: str) -> bool:
        return serves_candidate(asdict(self), client_id)

    def as_dict(self) -> dict[str, Any]:
        return {"schema": ROLLOUT_SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, document: dict[str, Any], key: str = "the rollout") -> "Rollout":
        """The rollout ``document`` (read from ``key``) holds; a RolloutError naming the field
        when it breaks the contract (``edgeline_contract.rollout.ROLLOUT``)."""
        found = rollout_problems(document)
        if found:
            field_name, message = found[0]
            raise RolloutError(f"{key} is not a rollout document: {field_name} {message}")
        known = {k: document[k] for k in cls.__dataclass_fields__ if k in document}
        known["steps"] = tuple(known["steps"])
        known["history"] = tuple(known.get("history", ()))
        return cls(**known)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_steps(steps: tuple[float, ...]) -> tuple[float, ...]:
    """Shares that only grow, each in (0, 1], ending at 1 (everyone)."""
    if not steps or any(not 0 < s <= 1 for s in steps) or list(steps) != sorted(set(steps)):
        raise RolloutError(f"rollout steps {list(steps)} must grow strictly within (0, 1]")
    if steps[-1] != 1:
        raise RolloutError(f"rollout steps {list(steps)} must end at 1 (the whole fleet)")
    return tuple(float(s) for s in steps)


def new_rollout(
    model: str,
    candidate: int,
    stable: int | None,
    steps: tuple[float, ...] = DEFAULT_STEPS,
    baking_s: float = DEFAULT_BAKING_S,
    by: str = "",
    reason: str = "",
    rollout_id: str | None = None,
    guardrails: dict[str, float] | None = None,
) -> Rollout:
    """A rollout at its first step; ``rollout_id`` (default: random) seeds the assignment, so a
    test or a person who wants the same canary as before can name it; ``guardrails`` overrides
    the guardrails' defaults for this rollout (a fleet of 3 cannot show 2 canary clients at
    5 %)."""
    guardrail_settings(guardrails or {})  # refused now, by name, not at the first judgement
    started = now_text()
    return Rollout(
        rollout_id=rollout_id or uuid.uuid4().hex,
        model=model,
        candidate=candidate,
        stable=stable,
        steps=check_steps(tuple(steps)),
        step=0,
        state=CANARY,
        baking_s=float(baking_s),
        started=started,
        step_started=started,
        history=({"at": started, "event": "started", "share": steps[0], "by": by, "why": reason},),
        guardrails=dict(guardrails or {}),
    )


def guardrail_settings(overrides: dict[str, float]) -> GuardrailSettings:
    """The guardrails' settings with a rollout's ``overrides``; a RolloutError names an unknown
    setting or a bound that cannot decide."""
    known = {f.name for f in fields(GuardrailSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise RolloutError(f"no guardrail setting {unknown}: the settings are {sorted(known)}")
    try:
        return GuardrailSettings(**overrides)
    except (TypeError, ValueError) as error:
        raise RolloutError(f"guardrail settings {overrides}: {error}") from None


def read_rollout(store: ArtifactStore, model: str) -> Rollout | None:
    key = layout.rollout_state(model)
    document = store.find_json(key)
    return Rollout.from_dict(document, key) if document is not None else None


def held_candidate(store: ArtifactStore, model: str) -> int | None:
    """The version a running rollout keeps off the stable channel, if any."""
    rollout = read_rollout(store, model)
    return rollout.candidate if rollout is not None and rollout.running else None


ATTEMPTS = 50


def change_rollout(
    store: ArtifactStore, model: str, change: Callable[[Rollout | None], Rollout]
) -> Rollout:
    """Apply ``change`` to the stored rollout by compare-and-swap, reading again when another
    writer moved it first: no decision is lost between the sensor, the CLI and the UI."""
    key = layout.rollout_state(model)
    for attempt in range(ATTEMPTS):
        read = store.read_tagged(key)
        current = Rollout.from_dict(json.loads(read[0]), key) if read else None
        changed = change(current)
        changed = replace(changed, generation=(current.generation if current else 0) + 1)
        document = json_bytes(changed.as_dict())
        Rollout.from_dict(json.loads(document), key)  # what the gateway will read, checked
        try:
            store.compare_and_swap(key, document, read[1] if read else None, "application/json")
            return changed
        except ConcurrentWriteError:
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
    raise RolloutError(f"{model}: the rollout changed under every one of {ATTEMPTS} attempts")


def with_event(rollout: Rollout, event: str, by: str, why: str, **facts: Any) -> Rollout:
    entry = {"at": now_text(), "event": event, "share": rollout.share, "by": by, "why": why}
    return replace(rollout, history=(*rollout.history, {**entry, **facts}))


def baked_s(rollout: Rollout, at: datetime | None = None) -> float:
    """How long the current step has run."""
    began = datetime.fromisoformat(rollout.step_started)
    return ((at or datetime.now(UTC)) - began).total_seconds()
