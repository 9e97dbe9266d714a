"""Staged rollouts judged by a simulated fleet's own telemetry, over the real gateway: each
client polls its channel with its id (a Pi's device id, a browser's web token), runs whichever
version it was given and reports events as that version behaves; the guardrails then act as
the rollout sensor does. A bad v2 is aborted at the first step with every client back on v1 and
the registry saying why; a good one is promoted step by step to stable with no person acting."""

from dataclasses import dataclass

import numpy as np
import pytest

from assets.deployment.canary import guard_rollout
from assets.deployment.planning import decide_version, start_rollout
from assets.deployment.publish import read_channel
from assets.deployment.rollout import Rollout, read_rollout
from edgeline_contract.rollout import client_bucket
from resources.registry import REJECTED
from tests.deployment.conftest import register_tiny_version
from tests.deployment.fleet import LABELS, Behaviour, Fleet, image_event, sensor_event

SENSOR, IMAGE = "turbine-autoencoder", "image-classifier"


@pytest.fixture
def gateway_overrides() -> dict:
    """Forty clients from one address and one token: the per-client limits are not tested here."""
    return {"device_rates": {}, "web_rates": {}}


SENSOR_V1: Behaviour = lambda rng: sensor_event(rng, 0.02, 0.4)  # noqa: E731
SENSOR_BAD = {  # each case, and the guardrail that must catch it
    "flags ten times the baseline rate": (lambda rng: sensor_event(rng, 0.2, 0.4), "flag_rate"),
    "three times slower": (lambda rng: sensor_event(rng, 0.02, 1.2), "latency_p95"),
}
IMAGE_V1: Behaviour = lambda rng: image_event(rng, False, 20.0)  # noqa: E731
IMAGE_COLLAPSED: Behaviour = lambda rng: image_event(rng, True, 20.0)  # noqa: E731


def sensor_baseline(rng: np.random.Generator) -> dict:
    errors = np.array([sensor_event(rng, 0.02, 0.4)["reconstruction_error"] for _ in range(2000)])
    counts, edges = np.histogram(np.log10(errors + 1e-6), bins=20)
    return {
        "split": "val",
        "samples": len(errors),
        "threshold": 0.1,
        "anomaly_rate": 0.02,
        "log10_error_histogram": {"edges": edges.round(3).tolist(), "counts": counts.tolist()},
    }


def image_baseline(rng: np.random.Generator) -> dict:
    confidence = rng.beta(8, 1.5, 2000)
    counts, edges = np.histogram(confidence, bins=10, range=(0.0, 1.0))
    return {
        "split": "val",
        "samples": 2000,
        "class_distribution": dict.fromkeys(LABELS, 0.25),
        "confidence_histogram": {"edges": edges.round(2).tolist(), "counts": counts.tolist()},
        "unsure_below": 0.6,
    }


def prepare(store, registry, model: str, kind: str, seed: int) -> tuple[int, int]:
    """v1 live for everyone, v2 registered: the same tiny files, the cards' task and baseline."""
    rng = np.random.default_rng(seed)
    if kind == "pi":
        task = {"kind": "anomaly-detection", "signals": ["a", "b", "c", "d"], "window": 1}
        task["threshold"] = 0.1
        baseline = sensor_baseline(rng)
    else:
        task, baseline = {"kind": "image-classification", "labels": LABELS}, image_baseline(rng)
    v1 = register_tiny_version(store, registry, model, task=task, baseline=baseline)
    decide_version(registry, store, model, v1, "approve", "first", "qa")
    v2 = register_tiny_version(store, registry, model, task=task, baseline=baseline)
    return v1, v2


@dataclass
class Outcome:
    v1: int
    v2: int
    fleet: Fleet
    canary: set[str]
    rollout: Rollout
    shares: list[float]  # the share after each round
    verdicts: list


def roll_out(
    gateway, registry, model, kind, v2_behaviour, baking_s=0.0, seed=0, rounds=12
) -> Outcome:
    """Start v2's rollout and let the fleet run, the guardrails acting after every round."""
    base, store, telemetry = gateway
    v1, v2 = prepare(store, registry, model, kind, seed)
    fleet = Fleet(base, model, kind, seed)
    # the rollout id seeds the draw: take the first whose 5 % canary holds 2 to 4 of these 40
    # clients (what 5 % of 40 usually is), so that the test never rests on an empty canary
    rollout_id = next(
        f"fleet-{n}"
        for n in range(1000)
        if 2 <= sum(client_bucket(f"fleet-{n}", c) < 0.05 for c in fleet.clients) <= 4
    )
    start_rollout(
        registry, store, model, v2, "qa", "canary", baking_s=baking_s, rollout_id=rollout_id
    )
    canary = {c for c in fleet.clients if client_bucket(rollout_id, c) < 0.05}
    shares, verdicts = [], []
    for _ in range(rounds):
        fleet.round({v1: SENSOR_V1 if kind == "pi" else IMAGE_V1, v2: v2_behaviour})
        rollout, verdict = guard_rollout(registry, store, telemetry, model)
        shares.append(rollout.share)
        verdicts.append(verdict)
        if not rollout.running:
            break
    return Outcome(v1, v2, fleet, canary, read_rollout(store, model), shares, verdicts)


@pytest.mark.parametrize("case", sorted(SENSOR_BAD))
def test_a_bad_sensor_v2_is_aborted_at_the_first_step(gateway, model_registry, case):
    behaviour, guardrail = SENSOR_BAD[case]
    out = roll_out(gateway, model_registry, SENSOR, "pi", behaviour)
    assert out.rollout.state == "aborted", out.rollout.history[-1]
    assert set(out.shares) <= {0.05, 0.0}  # never past the first step
    assert out.fleet.ever_ran[out.v2] == out.canary  # only the canary ever ran it
    assert set(out.fleet.versions().values()) == {out.v1}  # every client back on v1
    described = model_registry.describe_version(SENSOR, out.v2)
    assert described.status == REJECTED and described.status_by == "rollout-guardrails"
    assert described.status_reason.startswith(f"rollout aborted: {guardrail}")  # named
    breached = [
        n for n, f in out.rollout.history[-1]["figures"].items() if f["verdict"] == "breach"
    ]
    assert breached and all(n.startswith(guardrail) for n in breached), breached


def test_an_image_v2_collapsed_onto_one_class_is_aborted(gateway, model_registry):
    out = roll_out(gateway, model_registry, IMAGE, "web", IMAGE_COLLAPSED)
    assert out.rollout.state == "aborted", out.rollout.history[-1]
    assert set(out.shares) <= {0.05, 0.0}
    assert out.fleet.ever_ran[out.v2] == out.canary
    assert set(out.fleet.versions().values()) == {out.v1}
    reason = model_registry.describe_version(IMAGE, out.v2).status_reason
    assert reason.startswith("rollout aborted: ") and "top1_class_psi: PSI " in reason
    breached = [
        n for n, f in out.rollout.history[-1]["figures"].items() if f["verdict"] == "breach"
    ]
    assert any("class" in n for n in breached), breached


def test_a_good_v2_is_promoted_step_by_step_to_stable(gateway, model_registry):
    out = roll_out(gateway, model_registry, SENSOR, "pi", SENSOR_V1, rounds=30)
    assert out.rollout.state == "promoted", out.rollout.history[-1]
    assert out.shares == sorted(out.shares) and out.shares[-1] == 1.0  # the share only grew
    assert {e["event"] for e in out.rollout.history} == {"started", "promote"}
    assert all(e["by"] == "rollout-guardrails" for e in out.rollout.history[1:])  # no person
    assert read_channel(gateway[1], SENSOR)["version"] == out.v2
    assert set(out.fleet.versions().values()) == {out.v2}


def test_too_few_events_decide_nothing_and_say_what_they_wait_for(gateway, model_registry):
    bad, _ = SENSOR_BAD["flags ten times the baseline rate"]
    out = roll_out(gateway, model_registry, SENSOR, "pi", bad, rounds=1)
    assert out.rollout.state == "canary" and out.shares == [0.05]
    (verdict,) = out.verdicts
    assert verdict.decision == "wait"
    assert "events" in verdict.waiting_for  # e.g. "20 of 200 events"
