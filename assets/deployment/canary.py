"""A running rollout judged by its own clients' telemetry: the guardrails over the current
step's events, the bake, and the decision the guardrails then take (abort or promote)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from assets.deployment.guardrails import (
    GuardrailResult,
    GuardrailSettings,
    evaluate_guardrails,
    rollout_decision,
)
from assets.deployment.planning import act_on_rollout
from assets.deployment.rollout import Rollout, baked_s, guardrail_settings, read_rollout
from edgeline_contract.rollout import CANARY
from edgeline_contract.telemetry import parse_timestamp
from resources.artifacts import ArtifactStore
from resources.registry import ModelRegistry
from resources.telemetry import TelemetryStore

GUARDRAILS = "rollout-guardrails"  # who the guardrails' decisions are recorded as
PRE_SWITCH_S = 3600.0  # how far before the rollout the stable side's events reach
CLIENT_KIND = {"image-classification": "web", "anomaly-detection": "pi"}


@dataclass(frozen=True)
class RolloutVerdict:
    decision: Literal["promote", "abort", "wait"]
    results: tuple[GuardrailResult, ...]
    waiting_for: str  # in words, when the decision is to wait
    candidate_clients: int
    stable_clients: int
    baked_s: float

    def figures(self) -> dict[str, Any]:
        """What the decision rests on, as the rollout's history and the registry keep it."""
        return {
            r.name: {"verdict": r.verdict, "value": r.value, "bound": r.bound, "detail": r.detail}
            for r in self.results
        }

    @property
    def breaches(self) -> str:
        """Each breached guardrail by name with its figures: what the registry keeps as why
        (two guardrails' details can read alike, as the class and confidence PSIs do)."""
        return "; ".join(f"{r.name}: {r.detail}" for r in self.results if r.verdict == "breach")


def judge_rollout(
    rollout: Rollout,
    registry: ModelRegistry,
    telemetry: TelemetryStore,
    settings: GuardrailSettings | None = None,
    now: datetime | None = None,
) -> RolloutVerdict:
    """The guardrails over the current step's events, the candidate's against every other
    version's (the stable one) from the same period; a promotion also waits for the bake."""
    now = now or datetime.now(UTC)
    settings = settings or guardrail_settings(rollout.guardrails)
    card = registry.get_model_card(rollout.model, rollout.candidate)
    kind = CLIENT_KIND[card["task"]["kind"]]
    began = datetime.fromisoformat(rollout.step_started)
    # the stable side reaches back to before the rollout began, so that it holds the canary
    # devices' own events on the stable version: the guardrails then compare like with like
    # (without them, two canary devices on fast hardware hid a three times slower v2 in 1 of
    # 200 simulated rollouts)
    since = min(began, datetime.fromisoformat(rollout.started) - timedelta(seconds=PRE_SWITCH_S))
    events = [e for e in telemetry.read(kind, since, now) if e.get("model") == rollout.model]
    candidate = [
        e
        for e in events
        if e.get("model_version") == rollout.candidate and parse_timestamp(e["timestamp"]) >= began
    ]
    stable = [e for e in events if e.get("model_version") != rollout.candidate]
    stable_baseline = (
        registry.get_model_card(rollout.model, rollout.stable).get("baseline")
        if rollout.stable is not None
        else None
    )
    results = evaluate_guardrails(
        candidate,
        stable,
        card["task"],
        card.get("baseline") or {},
        settings,
        stable_baseline=stable_baseline,
    )
    decision = rollout_decision(results)
    baked = baked_s(rollout, now)
    waiting = [f"{r.name}: {r.detail}" for r in results if r.verdict == "waiting"]
    if decision == "promote" and baked < rollout.baking_s:
        decision = "wait"
        waiting = [f"the bake: {baked / 60:.1f} of {rollout.baking_s / 60:.1f} min"]
    return RolloutVerdict(
        decision=decision,
        results=tuple(results),
        waiting_for="; ".join(waiting),
        candidate_clients=len({e.get("device_id") for e in candidate}),
        stable_clients=len({e.get("device_id") for e in stable}),
        baked_s=baked,
    )


def guard_rollout(
    registry: ModelRegistry,
    store: ArtifactStore,
    telemetry: TelemetryStore,
    model: str,
    settings: GuardrailSettings | None = None,
    now: datetime | None = None,
) -> tuple[Rollout | None, RolloutVerdict | None]:
    """Judge ``model``'s running rollout and act: a breach aborts it (even paused: a person's
    pause stops promotions, not the safety net); all within bounds after the bake promotes it
    one step. Returns the rollout as it is now and the verdict (None without a running one)."""
    rollout = read_rollout(store, model)
    if rollout is None or not rollout.running:
        return rollout, None
    verdict = judge_rollout(rollout, registry, telemetry, settings, now)
    if verdict.decision == "abort":
        rollout = act_on_rollout(
            registry, store, model, "abort", GUARDRAILS, verdict.breaches, verdict.figures()
        )
    elif verdict.decision == "promote" and rollout.state == CANARY:
        why = f"every guardrail within bounds after {verdict.baked_s / 60:.1f} min"
        rollout = act_on_rollout(
            registry, store, model, "promote", GUARDRAILS, why, verdict.figures()
        )
    return rollout, verdict
