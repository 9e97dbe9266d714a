"""Staged rollouts, judged by the guardrails on a simulated fleet's telemetry.

    .venv/bin/python -m bench.rollout [--output bench/results/rollout.json]

A fleet of 40 clients reports one minute at a time (``EVENTS_PER_MINUTE`` predictions each) as
the version it runs behaves; the canary is drawn as the gateway draws it (``client_bucket``);
the guardrails (``assets.deployment.guardrails``, default settings) judge the step's events
each minute, the stable side holding the hour before the switch as ``judge_rollout`` reads it.
For each bad v2: the share of the fleet that ever ran it and the events until the abort; for a
good v2: the minutes from approval to 100 % with the default bake (an hour a step) and with a
demo's (a minute); and a good v2 rolled out 20 times per kind, counting false aborts.
"""

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from assets.deployment.guardrails import evaluate_guardrails, rollout_decision
from bench.report import emit_report
from edgeline_contract.rollout import client_bucket

FLEET = 40
EVENTS_PER_MINUTE = 6  # a Pi scoring a window every 10 s; a page in steady use
STEPS = (0.05, 0.25, 1.0)
LABELS = ["circle", "square", "star", "triangle"]
Behaviour = Callable[[np.random.Generator], dict[str, Any]]


def sensor(flag_rate: float, latency_ms: float) -> Behaviour:
    def event(rng: np.random.Generator) -> dict[str, Any]:
        anomaly = bool(rng.random() < flag_rate)
        return {
            "client_kind": "pi",
            "reconstruction_error": float(rng.lognormal(-3.0, 0.3)) * (4 if anomaly else 1),
            "anomaly": anomaly,
            "latency_ms": float(latency_ms * rng.lognormal(0, 0.1)),
            "variant": "fp32",
        }

    return event


def image(collapse: bool, latency_ms: float) -> Behaviour:
    def event(rng: np.random.Generator) -> dict[str, Any]:
        label = "circle" if collapse else LABELS[int(rng.integers(4))]
        confidence = 0.99 if collapse else float(rng.beta(8, 1.5))
        top_k = [{"label": label, "confidence": confidence}] + [
            {"label": other, "confidence": (1 - confidence) / 3}
            for other in LABELS
            if other != label
        ]
        return {
            "client_kind": "web",
            "top_k": top_k,
            "latency_ms": float(latency_ms * rng.lognormal(0, 0.1)),
        }

    return event


TASKS = {
    "pi": {"kind": "anomaly-detection", "threshold": 0.1, "window": 1},
    "web": {"kind": "image-classification", "labels": LABELS},
}
GOOD = {"pi": sensor(0.02, 0.4), "web": image(False, 20.0)}
BAD = {
    "sensor v2 flagging ten times the baseline rate": ("pi", sensor(0.2, 0.4)),
    "image v2 collapsed onto one class": ("web", image(True, 20.0)),
    "sensor v2 three times slower": ("pi", sensor(0.02, 1.2)),
}


def baseline(kind: str, rng: np.random.Generator) -> dict[str, Any]:
    """The validation baseline of a version that behaves as ``GOOD[kind]``."""
    if kind == "pi":
        errors = np.array([GOOD["pi"](rng)["reconstruction_error"] for _ in range(2000)])
        counts, edges = np.histogram(np.log10(errors + 1e-6), bins=20)
        histogram = {"edges": edges.round(3).tolist(), "counts": counts.tolist()}
        return {"threshold": 0.1, "anomaly_rate": 0.02, "log10_error_histogram": histogram}
    counts, edges = np.histogram(rng.beta(8, 1.5, 2000), bins=10, range=(0.0, 1.0))
    return {
        "class_distribution": dict.fromkeys(LABELS, 0.25),
        "confidence_histogram": {"edges": edges.round(2).tolist(), "counts": counts.tolist()},
        "unsure_below": 0.6,
    }


START = datetime(2026, 12, 1, tzinfo=UTC)


def minute(rng, clients, canary: set[str], behaviours, at: int) -> list[dict[str, Any]]:
    """Minute ``at``'s events: the canary's on v2, everyone else's on v1, evenly spaced."""
    spacing = 60 / EVENTS_PER_MINUTE
    return [
        {
            "device_id": c,
            "model_version": v,
            "timestamp": (START + timedelta(minutes=at, seconds=i * spacing)).isoformat(),
            **behaviours[v](rng),
        }
        for c in clients
        for v in [2 if c in canary else 1]
        for i in range(EVENTS_PER_MINUTE)
    ]


def roll_out(kind: str, candidate: Behaviour, seed: int, bake_min: int, limit_min: int = 600):
    """One rollout minute by minute: (outcome, minutes, candidate events, share that ran it)."""
    rng = np.random.default_rng(seed)
    clients = [f"{kind}-client-{n:03d}" for n in range(FLEET)]
    # a canary of 2 to 4 of the 40 (what 5 % of 40 usually is): with one client the guardrails
    # wait for a second one for ever (min_clients), which this benchmark does not measure
    rollout_id = next(
        f"bench-{kind}-{seed}-{n}"
        for n in range(1000)
        if 2 <= sum(client_bucket(f"bench-{kind}-{seed}-{n}", c) < STEPS[0] for c in clients) <= 4
    )
    behaviours = {1: GOOD[kind], 2: candidate}
    before = [e for m in range(-60, 0) for e in minute(rng, clients, set(), behaviours, m)]
    base = baseline(kind, rng)
    step, step_minutes, ran, candidate_events = 0, 0, set(), 0
    stable, events = list(before), []
    for elapsed in range(1, limit_min + 1):
        on = {c for c in clients if client_bucket(rollout_id, c) < STEPS[step]}
        ran |= on
        now = minute(rng, clients, on, behaviours, elapsed)
        events += [e for e in now if e["model_version"] == 2]
        stable += [e for e in now if e["model_version"] == 1]
        candidate_events += sum(e["model_version"] == 2 for e in now)
        step_minutes += 1
        results = evaluate_guardrails(
            events, stable[-20000:], TASKS[kind], base, stable_baseline=base
        )
        decision = rollout_decision(results)
        if decision == "abort":
            return "aborted", elapsed, candidate_events, len(ran) / FLEET
        if decision == "promote" and step_minutes >= bake_min:
            step, step_minutes, events = step + 1, 0, []
            if step == len(STEPS) - 1:
                return "promoted", elapsed, candidate_events, len(ran) / FLEET
    return "undecided", limit_min, candidate_events, len(ran) / FLEET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="bench/results/rollout.json")
    parser.add_argument("--seeds", type=int, default=20, help="good rollouts per kind")
    args = parser.parse_args()
    began = time.perf_counter()
    bad = {}
    for name, (kind, behaviour) in BAD.items():
        outcome, minutes, events, share = roll_out(kind, behaviour, seed=1, bake_min=60)
        bad[name] = {
            "outcome": outcome,
            "minutes_until_the_abort": minutes,
            "candidate_events_until_the_abort": events,
            "share_of_the_fleet_that_ever_ran_it": share,
        }
    good = {}
    for kind in ("pi", "web"):
        for label, bake in (("default_bake_60_min", 60), ("demo_bake_1_min", 1)):
            outcome, minutes, events, _ = roll_out(kind, GOOD[kind], seed=1, bake_min=bake)
            good[f"{kind}_{label}"] = {"outcome": outcome, "minutes_to_100_percent": minutes}
    false_aborts = {}
    for kind in ("pi", "web"):
        outcomes = [roll_out(kind, GOOD[kind], seed, bake_min=1)[0] for seed in range(args.seeds)]
        false_aborts[kind] = {
            "rollouts": len(outcomes),
            "aborted": outcomes.count("aborted"),
            "promoted": outcomes.count("promoted"),
        }
    emit_report(
        {
            "fleet": FLEET,
            "events_per_client_minute": EVENTS_PER_MINUTE,
            "steps": list(STEPS),
            "bad_v2": bad,
            "good_v2": good,
            "false_aborts": false_aborts,
            "took_s": round(time.perf_counter() - began, 1),
        },
        args.output,
    )


if __name__ == "__main__":
    main()
