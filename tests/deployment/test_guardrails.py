"""The rollout guardrails on simulated fleets: the issue's bad versions abort at the first step,
good ones are promoted and never aborted, and too little data waits and says for what."""

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pytest

from assets.deployment.guardrails import (
    GuardrailResult,
    GuardrailSettings,
    evaluate_guardrails,
    rollout_decision,
)
from assets.sensors.evaluation import error_baseline
from edgeline_contract.telemetry import TELEMETRY_SCHEMA, event_problems

LABELS = ("cat", "dog", "bird", "fish", "horse")
SHARES = np.array([0.35, 0.25, 0.2, 0.12, 0.08])
CONFIDENCE = (6.0, 2.0)  # top-1 confidence ~ Beta(6, 2), as on the validation set
ERROR = (-2.0, 0.35)  # log10 reconstruction error ~ N(-2, 0.35) on normal windows
LATENCY_MS = {"web": 25.0, "pi": 4.0}
FLEET, CANARY = 40, 2  # the first step: 5 % of a 40-client fleet
STABLE_STRIDE = 4  # the stable events of every 4th stable client are enough (and fast)
LOOK_EVERY = 25  # ticks between two evaluations (50 candidate events), as a sensor would
HISTORY = 100  # ticks before the switch: the canary's own 200 recent events on stable
VALIDATION_ERRORS = 10 ** np.random.default_rng(0).normal(*ERROR, 5000)
THRESHOLD = float(np.percentile(VALIDATION_ERRORS, 99.8))  # as training chooses it
TASKS = {
    "web": {"kind": "image-classification", "labels": list(LABELS)},
    "pi": {"kind": "anomaly-detection", "threshold": THRESHOLD, "window": 10},
}


def image_baseline() -> dict:
    """What the validation set looked like (assets/vision/assets.py's _baseline's keys)."""
    confidence = np.random.default_rng(0).beta(*CONFIDENCE, 5000)
    counts, edges = np.histogram(confidence, bins=10, range=(0.0, 1.0))
    return {
        "class_distribution": dict(zip(LABELS, SHARES.tolist(), strict=True)),
        "confidence_histogram": {"edges": edges.round(2).tolist(), "counts": counts.tolist()},
        "unsure_below": 0.5,
    }


BASELINES = {"web": image_baseline(), "pi": error_baseline(VALIDATION_ERRORS, THRESHOLD)}


@dataclass(frozen=True)
class Version:
    """How a model version behaves on the clients."""

    slower: float = 1.0
    shares: tuple[float, ...] = tuple(SHARES)
    confidence: tuple[float, float] = CONFIDENCE
    flag_rate: float = 0.002
    run: int = 1  # flags come in runs this long (a Pi scores sliding windows): 1, independent
    fails: float = 0.0  # the share of inferences with no prediction (NaN outputs, errors)


def events(
    rng: np.random.Generator,
    kind: str,
    version: Version,
    devices: list[str],
    speed: np.ndarray,
    flagged: np.ndarray | None = None,
) -> list[dict]:
    """One event per device (in order) as the page or the agent sends it; a Pi's flags drawn
    independently unless given."""
    n = len(devices)
    latency = LATENCY_MS[kind] * version.slower * speed * rng.lognormal(0.0, 0.25, n)
    common = [
        {
            "schema": TELEMETRY_SCHEMA,
            "event_id": f"{rng.integers(2**63):032x}",
            "client_kind": kind,
            "device_id": device,
            "model": "flowers" if kind == "web" else "turbine-autoencoder",
            "model_version": 1,
            "variant": "fp32",
            "backend": "wasm" if kind == "web" else "cpu",
            "timestamp": "2026-12-01T10:00:00Z",
            "latency_ms": float(ms),
        }
        for device, ms in zip(devices, latency, strict=True)
    ]
    if kind == "web":
        labels = rng.choice(len(LABELS), n, p=np.array(version.shares) / sum(version.shares))
        confidence = rng.beta(*version.confidence, n)
        answered = [
            {**event, "top_k": [{"label": LABELS[label], "confidence": float(c)}]}
            for event, label, c in zip(common, labels, confidence, strict=True)
        ]
    else:
        flagged = rng.random(n) < version.flag_rate if flagged is None else flagged
        error = np.where(flagged, THRESHOLD * 2, np.minimum(10 ** rng.normal(*ERROR, n), THRESHOLD))
        answered = [
            {**event, "reconstruction_error": float(e), "anomaly": bool(f)}
            for event, e, f in zip(common, error, flagged, strict=True)
        ]
    if not version.fails:  # no draw: the other fleets' random streams stay as they were
        return answered
    failed = rng.random(n) < version.fails
    return [
        unscored(event) if fail else event for event, fail in zip(answered, failed, strict=True)
    ]


def unscored(event: dict) -> dict:
    """The event of an inference whose output was not a finite number: no prediction."""
    kept = {k: v for k, v in event.items() if k not in ("top_k", "reconstruction_error", "anomaly")}
    return {**kept, "outcome": "unscored", "failure": "the model's output is not a finite number"}


def bake(
    seed: int,
    kind: str,
    candidate: Version,
    ticks: int,
    stable: Version = Version(),
    history: int = HISTORY,
) -> Iterator[tuple[list[dict], list[dict]]]:
    """A fleet of 40 clients, 2 switched to the candidate after ``history`` ticks on stable,
    looked at every LOOK_EVERY ticks after the switch: the (candidate events, stable events)
    seen so far at each look. Each client has its own speed (hardware), so the canary's two
    are not the fleet's average; their events before the switch let the guardrails compare
    them with themselves, as the rollout passes them."""
    rng = np.random.default_rng(seed)
    devices = [f"{kind}-{i:02d}" for i in range(FLEET)]
    speed = rng.lognormal(0.0, 0.2, FLEET)
    heard = np.arange(FLEET)[CANARY::STABLE_STRIDE]
    left = np.zeros(FLEET, int)  # each device's flags still to come in its current run
    ours, theirs = [], []
    on = {  # (flag rate, run length) of each device, before and after the switch
        after: np.array(
            [(v.flag_rate, v.run)] * CANARY + [(stable.flag_rate, stable.run)] * (FLEET - CANARY)
        )
        for after, v in ((False, stable), (True, candidate))
    }
    for tick in range(1 - history, ticks + 1):
        mine = candidate if tick > 0 else stable  # what the canary's two run now
        rate, run = on[tick > 0].T
        left = np.where((left == 0) & (rng.random(FLEET) < rate / run), run, left)
        flagged, left = left > 0, np.maximum(left - 1, 0)
        canary = events(rng, kind, mine, devices[:CANARY], speed[:CANARY], flagged[:CANARY])
        (ours if tick > 0 else theirs).extend(canary)
        theirs += events(
            rng, kind, stable, devices[CANARY::STABLE_STRIDE], speed[heard], flagged[heard]
        )
        if tick > 0 and tick % LOOK_EVERY == 0:
            yield ours, theirs


def last_look(seed: int, kind: str, candidate: Version, ticks: int, stable: Version = Version()):
    """The events at the end of a bake of ``ticks``."""
    return list(bake(seed, kind, candidate, ticks, stable))[-1]


def first_decision(kind: str, looks) -> tuple[str, int, list]:
    """The first look that promotes or aborts: the decision, the candidate events it took and
    the results (("wait", events, results) when the bake ends first)."""
    settings = GuardrailSettings()
    for candidate, stable in looks:
        results = evaluate_guardrails(candidate, stable, TASKS[kind], BASELINES[kind], settings)
        decision = rollout_decision(results)
        if decision != "wait":
            return decision, len(candidate), results
    return "wait", len(candidate), results


def by_name(results: list[GuardrailResult]) -> dict[str, GuardrailResult]:
    return {result.name: result for result in results}


def test_the_generated_events_follow_the_telemetry_contract():
    for kind in ("web", "pi"):
        candidate, stable = last_look(0, kind, Version(), LOOK_EVERY)
        assert [event_problems(e) for e in candidate[:3] + stable[:3]] == [[]] * 6


@pytest.mark.parametrize(
    ("kind", "bad", "guardrail"),
    [
        ("pi", Version(flag_rate=0.02), "flag_rate"),  # ten times the baseline's 0.2 %
        ("web", Version(shares=(1.0, 0, 0, 0, 0)), "top1_class_psi"),  # collapsed on one class
        ("web", Version(slower=3.0), "latency_p95[wasm]"),
        ("pi", Version(slower=3.0), "latency_p95[cpu]"),
        ("web", Version(fails=0.1), "failure_rate"),  # NaN outputs on one photo in ten
        ("pi", Version(fails=0.1), "failure_rate"),
    ],
    ids=[
        "sensor-flags-10x",
        "image-one-class",
        "web-3x-slower",
        "pi-3x-slower",
        "web-fails-10pc",
        "pi-fails-10pc",
    ],
)
def test_a_bad_version_is_aborted_at_the_first_step_within_a_short_bake(kind, bad, guardrail):
    """10 fleets each: every one aborts (none is promoted) on the guardrail the fault is in,
    after a few hundred events of its 2 clients (latency, PSI and failures: at the minimum,
    200; the 10x flag rate of a 0.2 % baseline: 4 flags in 200 events against 0.4 is not yet
    proof)."""
    took = []
    for seed in range(10):
        decision, count, results = first_decision(kind, bake(seed, kind, bad, 1000))
        assert decision == "abort", [r.detail for r in results]
        breached = by_name(results)[guardrail]
        assert breached.verdict == "breach"
        assert breached.value > breached.bound
        assert breached.candidate_clients == CANARY
        took.append(count)
    assert np.median(took) <= 400


@pytest.mark.parametrize("kind", ["web", "pi"])
def test_twenty_good_versions_are_promoted_and_none_is_aborted(kind):
    """A good v2 (the same distributions with small differences), 20 seeds, looked at every 50
    candidate events as a sensor would: every look that decides, promotes."""
    outcomes = []
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        good = Version(
            slower=rng.uniform(0.9, 1.1),
            shares=tuple(rng.dirichlet(SHARES * 400)),
            confidence=(CONFIDENCE[0] * rng.uniform(0.95, 1.05), CONFIDENCE[1]),
            flag_rate=0.002 * rng.uniform(0.5, 1.5),
        )
        outcomes.append(first_decision(kind, bake(seed, kind, good, 1500))[:2])
    decisions = [decision for decision, _ in outcomes]
    assert decisions.count("abort") == 0
    assert decisions == ["promote"] * 20  # within 3,000 events of the canary's 2 clients
    took = np.median([count for _, count in outcomes])
    assert took <= (200 if kind == "web" else 1000)  # a flag rate near 0.2 % takes longer


def test_failures_count_apart_from_the_answers_and_one_stuck_device_blocks_nothing():
    """A good v2 while one stable device of the fleet can feed no version (it lacks a signal:
    every reading unscored, one long run): the candidate's clean record passes the failure
    rate at the first look, and the other guardrails judge answers only (the stuck device's
    events carry none)."""
    candidate, stable = last_look(5, "pi", Version(), 5 * LOOK_EVERY)
    stuck = [unscored({**e, "device_id": "pi-stuck"}) for e in stable[:300]]
    results = by_name(evaluate_guardrails(candidate, stable + stuck, TASKS["pi"], BASELINES["pi"]))
    failure = results["failure_rate"]
    assert (failure.verdict, failure.value, failure.bound) == ("pass", 0.0, 0.02)
    assert failure.candidate_events == len(candidate) == 250
    assert results["flag_rate"].stable_events == 200  # the canary devices' own, before
    fails = [unscored(e) if i % 5 == 0 else e for i, e in enumerate(candidate)]
    results = by_name(evaluate_guardrails(fails, stable, TASKS["pi"], BASELINES["pi"]))
    assert results["failure_rate"].verdict == "breach" and results["failure_rate"].value == 0.2
    assert "50 of 250: 0 errors, 50 unscored" in results["failure_rate"].detail
    assert results["flag_rate"].candidate_events == 200


def test_a_v2_whose_card_admits_flagging_a_lot_is_judged_against_the_stable_version():
    """The candidate's baseline says a quarter of its validation windows flag (its threshold
    moved): it still flags 25 % against the stable version's 0.2 %, and aborts."""
    candidate, stable = last_look(6, "pi", Version(flag_rate=0.25), 5 * LOOK_EVERY)
    admits = {**BASELINES["pi"], "anomaly_rate": 0.25}
    results = evaluate_guardrails(
        candidate, stable, TASKS["pi"], admits, stable_baseline=BASELINES["pi"]
    )
    flags = by_name(results)["flag_rate"]
    assert flags.verdict == "breach" and flags.bound == pytest.approx(0.008)
    assert "on the stable version's validation" in flags.detail


def test_too_few_events_or_clients_waits_and_says_for_what():
    candidate, stable = last_look(0, "web", Version(), LOOK_EVERY)  # 25 ticks: 50 events
    results = evaluate_guardrails(candidate, stable, TASKS["web"], BASELINES["web"])
    assert rollout_decision(results) == "wait"
    assert all(r.verdict == "waiting" and r.value is None for r in results)
    assert "50 of 200 events, 2 of 2 clients" in results[0].detail

    candidate, stable = last_look(0, "pi", Version(), 3 * LOOK_EVERY)  # 150 events
    three = GuardrailSettings(min_clients=3)
    results = evaluate_guardrails(candidate[:120], stable, TASKS["pi"], BASELINES["pi"], three)
    assert rollout_decision(results) == "wait"
    assert {r.detail for r in results} == {
        "Waiting for data: the candidate has 120 of 200 events, 2 of 3 clients; the stable side "
        "200 of 200 events (the same 2 devices' stable events)."
    }


def test_a_fleet_wide_input_shift_does_not_abort_the_canary():
    """Everybody photographs birds this week: the stable version drifts as much as the
    candidate, so the increase is about zero."""
    shifted = Version(shares=(0.15, 0.15, 0.5, 0.12, 0.08))
    candidate, stable = last_look(4, "web", shifted, 150, stable=shifted)
    results = by_name(evaluate_guardrails(candidate, stable, TASKS["web"], BASELINES["web"]))
    psi = results["top1_class_psi"]
    assert psi.verdict == "pass"
    assert abs(psi.value) < 0.05
    assert "0.2" in psi.detail  # the bound, with both PSIs
    alone = evaluate_guardrails(
        candidate, last_look(4, "web", Version(), 150)[1], TASKS["web"], BASELINES["web"]
    )
    assert by_name(alone)["top1_class_psi"].verdict == "breach"  # the shift on the canary only


def test_a_canary_on_slow_hardware_is_compared_with_its_own_devices():
    """The canary's two Pis are twice as slow as the fleet: against the fleet over the same
    period an unchanged v2 reads as a latency breach; against the same devices' recent
    windows on v1 it passes."""
    rng = np.random.default_rng(7)
    canary, slow = ["pi-00", "pi-01"], np.full(300, 2.0)
    before = events(rng, "pi", Version(), canary * 150, slow)
    fleet = events(rng, "pi", Version(), [f"pi-{i:02d}" for i in range(2, 40)] * 10, np.ones(380))
    candidate = events(rng, "pi", Version(), canary * 150, slow)
    task, baseline = TASKS["pi"], BASELINES["pi"]
    paired = by_name(evaluate_guardrails(candidate, before + fleet, task, baseline))
    assert paired["latency_p95[cpu]"].verdict == "pass"
    assert "on the same 2 devices' stable events" in paired["latency_p95[cpu]"].detail
    same_period = by_name(evaluate_guardrails(candidate, fleet, task, baseline))
    assert same_period["latency_p95[cpu]"].verdict == "breach"
    assert "the stable version's 38 devices" in same_period["latency_p95[cpu]"].detail


def test_a_fault_burst_on_one_canary_turbine_is_one_piece_of_evidence():
    """A 30-minute fault on one of the canary's turbines flags 30 windows in a row: 5 % of
    the canary's events, but one run, so the flag rate waits instead of aborting a good
    version (counted one by one, its lower bound would be 3.7 %, past the bound 0.8 %)."""
    rng = np.random.default_rng(3)
    fault = np.zeros(600, bool)
    fault[200:260:2] = True  # pi-00's events 100 to 129
    candidate = events(rng, "pi", Version(), ["pi-00", "pi-01"] * 300, np.ones(600), fault)
    stable = events(rng, "pi", Version(), [f"pi-{i:02d}" for i in range(2, 40)] * 30, np.ones(1140))
    results = evaluate_guardrails(candidate, stable, TASKS["pi"], BASELINES["pi"])
    flag_rate = by_name(results)["flag_rate"]
    assert flag_rate.verdict == "waiting"
    assert flag_rate.value == pytest.approx(0.05)
    assert "counted as runs of 30.0" in flag_rate.detail


@pytest.mark.parametrize(("window", "verdict"), [(1, "pass"), (10, "waiting")])
def test_overlapping_windows_without_a_flag_yet_are_not_taken_for_independent_ones(window, verdict):
    """500 windows without a flag on either side: proof of a rate below 0.8 % if each is its
    own, not if each reading is in 10 of them (the task's window)."""
    rng = np.random.default_rng(5)
    none = np.zeros(500, bool)
    candidate = events(rng, "pi", Version(), ["pi-00", "pi-01"] * 250, np.ones(500), none)
    stable = events(rng, "pi", Version(), ["pi-02", "pi-03"] * 250, np.ones(500), none)
    task = {**TASKS["pi"], "window": window}
    flag_rate = by_name(evaluate_guardrails(candidate, stable, task, BASELINES["pi"]))["flag_rate"]
    assert flag_rate.verdict == verdict


def test_a_new_model_is_measured_against_its_own_validation_baseline():
    """v2 predicts more dogs than v1 did on validation, and on the fleet too: measured against
    v2's baseline and v1's drift against v1's baseline, it has not drifted."""
    v2_shares = (0.25, 0.35, 0.2, 0.12, 0.08)
    v2_baseline = {
        **BASELINES["web"],
        "class_distribution": dict(zip(LABELS, v2_shares, strict=True)),
    }
    candidate, stable = last_look(5, "web", Version(shares=v2_shares), 150)
    task = TASKS["web"]
    own = evaluate_guardrails(
        candidate, stable, task, v2_baseline, stable_baseline=BASELINES["web"]
    )
    assert by_name(own)["top1_class_psi"].verdict == "pass"


def test_the_decision_needs_every_guardrail_to_pass_and_any_breach_aborts():
    def result(verdict: str) -> GuardrailResult:
        return GuardrailResult("flag_rate", verdict, 0.01, 0.02, 300, 3000, 2, "")

    assert rollout_decision([result("pass"), result("pass")]) == "promote"
    assert rollout_decision([result("pass"), result("waiting")]) == "wait"
    assert rollout_decision([result("waiting"), result("breach")]) == "abort"
    assert rollout_decision([]) == "wait"


def test_settings_refuse_bounds_that_cannot_decide():
    with pytest.raises(ValueError, match="above 1"):
        GuardrailSettings(max_flag_ratio=1.0)
    with pytest.raises(ValueError, match="confidence"):
        replace(GuardrailSettings(), confidence=0.3)
    with pytest.raises(ValueError, match="task kind"):
        evaluate_guardrails([], [], {"kind": "translation"}, {})
