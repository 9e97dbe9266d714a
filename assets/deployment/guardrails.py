"""The guardrails of a staged rollout: the canary's telemetry against the stable version's.

Plain functions of event dicts (``edgeline_contract.telemetry.EVENT``), the model card's task
and the validation baseline; the rollout state, the channel and the sensor call them.

Every guardrail waits until both sides hold ``min_events`` and the candidate ``min_clients``
distinct devices: a handful of events, or one client's inputs and hardware, is not a fleet.
Past that, each one decides with a one-sided test at ``confidence``: it passes only when the
candidate is shown within its bound, breaches only when it is shown past it, and waits in
between, so that neither a promotion nor an abort rests on sampling noise. Events of one
device are not independent: the stable side is the candidate's own devices when it holds
enough of theirs (``paired``), and a Pi's flags are counted by the runs they come in.

Every kind also has the failure rate: the share of the candidate's inferences that gave no
prediction (telemetry ``outcome`` error or unscored), which the quality guardrails, counting
answers only, cannot see.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from assets.telemetry.reports import (
    DRIFT_PSI_THRESHOLD,
    MIN_EVENTS_FOR_SHARE,
    percentile_needs,
    population_stability_index,
    psi_needs,
)
from edgeline_contract.telemetry import is_scored

Verdict = Literal["pass", "breach", "waiting"]
Decision = Literal["promote", "abort", "wait"]
Event = dict[str, Any]


@dataclass(frozen=True)
class GuardrailSettings:
    """The bounds and minimum samples of every guardrail; each default says why it is that.

    - ``min_events`` 200, per side and per guardrail: what the reports' PSI needs on the
      10 confidence bins (``psi_needs``: 20 a bin); a p95 then rests on about 10 events
      above it, and a flag rate's one-sided bound is within about 1.5 points of a 1 % rate.
    - ``min_clients`` 2 distinct candidate devices: one client is its own inputs and
      hardware, not the fleet's; 2 is what a first step of 5 % of a 40-client fleet holds
      on average, so a bad version can be aborted at that step.
    - ``max_latency_ratio`` 1.5: the candidate's p95 over the stable p95 on the same backend
      (the same devices when the stable events hold theirs). The issue's bad cases are twice
      and three times as slow; 1.5 leaves room for the noise of a p95 on 200 events (the
      interval carries the candidate's) and, when the canary's devices cannot be compared
      with themselves, for two devices' hardware against the fleet's.
    - ``max_psi_increase`` 0.2 (the reports' drift threshold): the candidate's PSI against its
      validation baseline minus the stable version's against its own, so that a fleet-wide
      input shift, seen by both, does not abort a canary.
    - ``max_flag_ratio`` 2: a sensor model that flags twice as many windows as the stable
      version (or as its validation) doubles the alarms a person chases.
    - ``min_flag_rate`` 0.004: the flag rate reference never goes below it. A validation flag
      rate is about 0.2 % (a threshold at the 99.8th percentile), and showing a candidate
      within 2 x 0.2 % takes about 4,000 independent events (a one-sided bound is at least
      z^2 / n). With the floor the bound is 0.8 %: on independent events a good candidate is
      shown within it in about 700 (median; 90 % by 1,400) and one flagging ten times 0.2 %
      shown past it in about 250 (median; 90 % by 650). Flags that come in runs (sliding
      windows) need about the run length times more.
    - ``min_latency_ms`` 0.1: the stable p95 never counts below it, so a model whose latency
      is at a timer's resolution (a browser coarsens performance.now() to 0.1 ms without
      cross-origin isolation) does not divide by nothing.
    - ``max_failure_ratio`` 2 and ``min_failure_rate`` 0.01: the candidate's share of
      inferences without a prediction (errors and unscored inputs) against twice the stable
      version's on the same period (or devices), and never against less than twice 1 %. A
      v2 that cannot read a signal some devices lack, or whose outputs are NaN on some
      inputs, fails on far more than 2 %; a good one with no failure is shown within 2 % by
      its first 200 events (the one-sided bound of 0 failures in 200 is 1.8 %), so the floor
      does not hold a rollout back, where a bound of twice a stable rate of 0 would.
    - ``confidence`` 0.95, one-sided, for every test: with the margins above, a good candidate
      is far from every bound, so its chance of a breach at one look is far below 5 %, and
      the looks a sensor makes as a bake goes on add little (20 good rollouts of each kind
      looked at every 50 events: no abort, tests/deployment/test_guardrails.py).
    - ``paired`` True: compare with the candidate's own devices' stable events when the
      stable events hold ``min_events`` of theirs (their recent events before the switch:
      the rollout should pass them), else with the whole stable side. A device compared with
      itself removes what differs between devices (hardware, a turbine's condition, one
      user's photos): two canary devices on fast hardware can hide a v2 three times slower
      against the fleet (1 rollout in 200 in the tests' fleet), never against themselves.
      The price: an input shift that starts at the very switch reads as the candidate's
      until the same devices' stable events cover it.
    """

    min_events: int = 200
    min_clients: int = 2
    max_latency_ratio: float = 1.5
    max_psi_increase: float = DRIFT_PSI_THRESHOLD
    max_flag_ratio: float = 2.0
    min_flag_rate: float = 0.004
    min_latency_ms: float = 0.1
    max_failure_ratio: float = 2.0
    min_failure_rate: float = 0.01
    confidence: float = 0.95
    paired: bool = True

    def __post_init__(self) -> None:
        if self.min_events < 1 or self.min_clients < 1:
            raise ValueError("min_events and min_clients must be 1 or more")
        ratios = ("max_latency_ratio", "max_flag_ratio", "max_failure_ratio")
        if any(getattr(self, name) <= 1 for name in ratios):
            raise ValueError(f"{', '.join(ratios)} must be above 1")
        floors = ("max_psi_increase", "min_flag_rate", "min_latency_ms", "min_failure_rate")
        if any(getattr(self, name) <= 0 for name in floors):
            raise ValueError(f"{', '.join(floors)} must be above 0")
        if not 0.5 < self.confidence < 1:
            raise ValueError("confidence must be between 0.5 and 1")

    @property
    def z(self) -> float:
        """The one-sided normal quantile of ``confidence`` (1.645 at 95 %)."""
        return NormalDist().inv_cdf(self.confidence)


@dataclass(frozen=True)
class GuardrailResult:
    """One guardrail's verdict. ``value`` and ``bound`` are in the same unit (a ratio of p95s,
    a PSI increase, a flag rate); ``value`` is None while a minimum sample is not reached, and
    the measured figure once it is (also when the test cannot tell yet: "waiting").
    ``needs_events``: what each side needs before the guardrail may decide."""

    name: str
    verdict: Verdict
    value: float | None
    bound: float
    candidate_events: int
    stable_events: int
    candidate_clients: int
    detail: str
    needs_events: int = 0


def rollout_decision(results: list[GuardrailResult]) -> Decision:
    """Abort if any guardrail breaches; promote only if there are guardrails and every one
    passes; otherwise wait (no verdict on nothing)."""
    if any(result.verdict == "breach" for result in results):
        return "abort"
    if results and all(result.verdict == "pass" for result in results):
        return "promote"
    return "wait"


def evaluate_guardrails(
    candidate: list[Event],
    stable: list[Event],
    task: dict[str, Any],
    baseline: dict[str, Any],
    settings: GuardrailSettings = GuardrailSettings(),
    *,
    stable_baseline: dict[str, Any] | None = None,
) -> list[GuardrailResult]:
    """Every guardrail of ``task``'s kind, candidate against stable over the same period.

    ``candidate`` and ``stable``: contract-valid events of the one model; ``stable`` should
    also hold the canary devices' own recent events from before their switch (see
    ``paired``), and a Pi's ``timestamp`` orders its windows (runs of flags).
    ``baseline`` is the candidate version's validation baseline; ``stable_baseline`` the stable
    version's (default: the same), against which the stable side's own drift is measured, so
    that a new model's different validation distribution is not read as an input shift.
    Latency: one guardrail per backend the candidate ran on. Image models: PSI of the top-1
    class and of the top-1 confidence. Sensor models: the flag rate. Every kind: the failure
    rate; the other guardrails judge the events that carry a prediction."""
    guardrails = [_failure_rate(candidate, stable, settings)]
    candidate = [event for event in candidate if is_scored(event)]
    stable = [event for event in stable if is_scored(event)]
    guardrails += _latency(candidate, stable, settings)
    kind = task.get("kind")
    if kind == "image-classification":
        reference = stable_baseline or baseline
        for name, histogram in (
            ("top1_class_psi", _classes),
            ("top1_confidence_psi", _confidences),
        ):
            sides, baselines = (candidate, stable), (baseline, reference)
            guardrails.append(_psi(name, histogram, sides, baselines, settings))
    elif kind == "anomaly-detection":
        reference = stable_baseline or baseline
        guardrails.append(_flag_rate(candidate, stable, task, reference, settings))
    else:
        raise ValueError(f"no guardrails for task kind {kind!r}")
    return guardrails


def _devices(events: list[Event]) -> set[str]:
    return {event["device_id"] for event in events}


def _reference(
    candidate: list[Event], stable: list[Event], needs: int, settings: GuardrailSettings
) -> tuple[list[Event], str]:
    """The stable events a guardrail compares with, and how a person reads them: the
    candidate's own devices when ``paired`` and they have enough, else the stable side."""
    if settings.paired:
        own = _devices(candidate)
        same = [event for event in stable if event["device_id"] in own]
        if len(same) >= needs:
            return same, f"the same {len(own)} devices' stable events"
    return stable, f"the stable version's {len(_devices(stable))} devices"


def _waiting_for_data(
    name: str,
    bound: float,
    candidate: list[Event],
    stable: list[Event],
    needs: int,
    settings: GuardrailSettings,
    against: str = "",
) -> GuardrailResult | None:
    """A "waiting" result saying what is missing, or None when both sides have enough."""
    clients = len(_devices(candidate))
    if len(candidate) >= needs and len(stable) >= needs and clients >= settings.min_clients:
        return None
    return GuardrailResult(
        name,
        "waiting",
        None,
        bound,
        len(candidate),
        len(stable),
        clients,
        f"Waiting for data: the candidate has {len(candidate):,} of {needs:,} events, "
        f"{clients} of {settings.min_clients} clients; the stable side {len(stable):,} of "
        f"{needs:,} events{f' ({against})' if against else ''}.",
        needs,
    )


def _verdict(low: float, high: float, bound: float) -> Verdict:
    """Breach when even the low end is past the bound, pass when even the high end is within."""
    if low > bound:
        return "breach"
    return "pass" if high <= bound else "waiting"


WHY = {
    "pass": "shown within the bound",
    "breach": "shown past the bound",
    "waiting": "neither shown within nor past the bound yet",
}


def _result(
    name: str,
    verdict: Verdict,
    value: float,
    bound: float,
    candidate: list[Event],
    stable: list[Event],
    needs: int,
    detail: str,
) -> GuardrailResult:
    return GuardrailResult(
        name,
        verdict,
        value,
        bound,
        len(candidate),
        len(stable),
        len(_devices(candidate)),
        f"{detail}: {WHY[verdict]}.",
        needs,
    )


# latency


def _p95_bounds(latencies: np.ndarray, z: float) -> tuple[float, float, float]:
    """The p95 and its one-sided bounds, distribution-free: the number of events below the
    true p95 is Binomial(n, 0.95), so the order statistic z standard deviations above n * 0.95
    lies above it with the chosen confidence (normal approximation, n * 0.05 >= 10 at 200
    events). No assumption on the shape of a latency distribution, which has long tails."""
    ordered = np.sort(latencies)
    n = len(ordered)
    spread = z * math.sqrt(n * 0.95 * 0.05)
    high = ordered[min(n, math.ceil(n * 0.95 + spread)) - 1]
    low = ordered[max(1, math.floor(n * 0.95 - spread)) - 1]
    return float(np.percentile(ordered, 95)), float(low), float(high)


def _by_backend(events: list[Event]) -> dict[str, list[Event]]:
    """Events per backend (wasm, webgpu; cpu on a Pi; "unreported" from older clients)."""
    groups: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        groups[event.get("backend") or "unreported"].append(event)
    return groups


def _latency(
    candidate: list[Event], stable: list[Event], settings: GuardrailSettings
) -> list[GuardrailResult]:
    """Latency p95 per backend the candidate ran on (wasm, webgpu; cpu on a Pi), against the
    stable p95 on the same backend: a ratio, because backends and devices differ by more than
    any version does. The candidate's p95 gets a distribution-free interval; the stable one,
    on many more events (or its own devices' windows), is taken as measured and the margin
    ``max_latency_ratio`` carries its noise."""
    bound = settings.max_latency_ratio
    needs = max(settings.min_events, percentile_needs(95))
    if not candidate:
        return [_waiting_for_data("latency_p95", bound, [], stable, needs, settings)]
    ours, others = _by_backend(candidate), _by_backend(stable)
    results = []
    for backend, mine in sorted(ours.items()):
        name = f"latency_p95[{backend}]"
        theirs, reference = _reference(mine, others.get(backend, []), needs, settings)
        waiting = _waiting_for_data(name, bound, mine, theirs, needs, settings, reference)
        if waiting:
            results.append(waiting)
            continue
        latencies = np.array([event["latency_ms"] for event in mine], float)
        p95, low, high = _p95_bounds(latencies, settings.z)
        stable_p95 = float(np.percentile([event["latency_ms"] for event in theirs], 95))
        against = max(stable_p95, settings.min_latency_ms)
        verdict = _verdict(low / against, high / against, bound)
        results.append(
            _result(
                name,
                verdict,
                p95 / against,
                bound,
                mine,
                theirs,
                needs,
                f"p95 {p95:.3g} ms on {backend} against {stable_p95:.3g} ms on {reference}, "
                f"ratio {p95 / against:.2f} ({settings.confidence:.0%} one-sided bounds "
                f"{low / against:.2f}-{high / against:.2f}, bound {bound:g})",
            )
        )
    return results


# image models: the top-1 class and confidence against the validation baseline


def _top1(events: list[Event]) -> list[tuple[str, float]]:
    """(label, confidence) of every event with a prediction."""
    return [
        (event["top_k"][0]["label"], float(event["top_k"][0]["confidence"]))
        for event in events
        if event.get("top_k")
    ]


def _classes(predictions: list[tuple[str, float]], baseline: dict[str, Any]) -> tuple[list, list]:
    """Baseline shares and counts per class, over the baseline's classes and any other seen."""
    expected = baseline["class_distribution"]
    counts = Counter(label for label, _ in predictions)
    labels = sorted(set(expected) | set(counts))
    return [expected.get(label, 0.0) for label in labels], [counts[label] for label in labels]


def _confidences(
    predictions: list[tuple[str, float]], baseline: dict[str, Any]
) -> tuple[list, list]:
    """Baseline and observed counts of the top-1 confidence, on the baseline's bins."""
    histogram = baseline["confidence_histogram"]
    edges = np.asarray(histogram["edges"], float)
    confidence = np.clip([c for _, c in predictions], edges[0], edges[-1])
    return list(histogram["counts"]), np.histogram(confidence, bins=edges)[0].tolist()


def _chi_square_quantile(degrees: int, z: float) -> float:
    """The chi-square quantile at the normal quantile z (Wilson-Hilferty, within 1 % from 3
    degrees up): what n * PSI of an unchanged distribution stays below."""
    k = max(degrees, 1)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def _psi(
    name: str,
    histogram: Any,
    sides: tuple[list[Event], list[Event]],
    baselines: tuple[dict[str, Any], dict[str, Any]],
    settings: GuardrailSettings,
) -> GuardrailResult:
    """The candidate's PSI against its validation baseline minus the stable version's against
    its own, with the reports' PSI and its minimum sample (``psi_needs``).

    A PSI has no simple interval, and its sampling noise is upward: for an unchanged
    distribution n * PSI is about chi-square with bins - 1 degrees of freedom. So the increase
    passes on the measured figure (noise only makes it look larger), and breaches only when it
    stays past the bound after taking off the PSI that noise alone reaches at ``confidence``."""
    (candidate, stable), (baseline, stable_baseline) = sides, baselines
    bound = settings.max_psi_increase
    scored = [event for event in candidate if event.get("top_k")]
    bins = len(histogram([], baseline)[0])
    needs = max(settings.min_events, psi_needs(bins))
    reference = [event for event in stable if event.get("top_k")]
    reference, against = _reference(scored, reference, needs, settings)
    waiting = _waiting_for_data(name, bound, scored, reference, needs, settings, against)
    if waiting:
        return waiting
    ours = population_stability_index(*map(np.array, histogram(_top1(scored), baseline)))
    theirs = population_stability_index(
        *map(np.array, histogram(_top1(reference), stable_baseline))
    )
    increase = ours - theirs
    noise = _chi_square_quantile(bins - 1, settings.z) / len(scored)
    verdict = _verdict(increase - noise, increase, bound)
    return _result(
        name,
        verdict,
        increase,
        bound,
        scored,
        reference,
        needs,
        f"PSI {ours:.3f} against the candidate's validation baseline, {theirs:.3f} for "
        f"{against} against the stable one's ({bins} bins): an increase of {increase:.3f} "
        f"(sampling alone reaches {noise:.3f}; bound {bound:g})",
    )


# sensor models: the flag rate


def _wilson(flagged: float, n: float, z: float) -> tuple[float, float]:
    """The Wilson score interval with continuity correction (Newcombe 1998), each end a
    one-sided bound at z. Unlike p +- z * se it stays within [0, 1] and is not zero-width at
    0 flags; unlike plain Wilson it is not too high at a handful of flags (1 of 20: plain
    Wilson's lower end is 1.1 %, the exact binomial one 0.26 %, this one 0.34 %), where a
    small rate's aborts are decided."""
    p, zz = flagged / n, z * z
    low = (2 * n * p + zz - 1 - z * math.sqrt(zz - 2 - 1 / n + 4 * p * (n * (1 - p) + 1))) / (
        2 * (n + zz)
    )
    root = zz + 2 - 1 / n + 4 * p * (n * (1 - p) - 1)
    high = (2 * n * p + zz + 1 + z * math.sqrt(max(root, 0.0))) / (2 * (n + zz))
    return (0.0 if flagged <= 0 else max(low, 0.0)), (1.0 if p >= 1 else min(high, 1.0))


def _flagged(event: Event) -> bool:
    return bool(event["anomaly"])


def _failed(event: Event) -> bool:
    return not is_scored(event)


def _run_inflation(events: list[Event], hit: Callable[[Event], bool]) -> float | None:
    """How much runs of hits (flags, failures) inflate their count's variance: E[L^2] / E[L]
    over the runs of consecutive hits of each device in time order (1 when every hit is
    alone; None without a hit, which shows nothing).

    A Pi scores a sliding window at every reading, so one odd reading flags up to a window's
    worth of events in a row, and a fault that lasts an hour flags an hour of them. A count
    made of runs of length L varies E[L^2] / E[L] times as much as one of independent events
    (a compound Poisson count), so the bounds take the count and the events divided by it:
    a burst on one canary turbine is one piece of evidence, not a hundred."""
    if not any(hit(event) for event in events):
        return None
    moments = {text: datetime.fromisoformat(text) for text in {e["timestamp"] for e in events}}
    flags: dict[str, list[bool]] = defaultdict(list)
    for event in sorted(events, key=lambda event: moments[event["timestamp"]]):
        flags[event["device_id"]].append(hit(event))
    runs = [
        len(list(run)) for device in flags.values() for flagged, run in groupby(device) if flagged
    ]
    return sum(length * length for length in runs) / sum(runs)


@dataclass(frozen=True)
class _Rates:
    """A rate guardrail's figures: the candidate's rate and its one-sided bounds, the stable
    side's measured and shown (lower bound) rate, the bound, and the run length counted."""

    rate: float
    low: float
    high: float
    bound: float
    stable_rate: float
    stable_shown: float
    runs: float
    hits: int

    def counted(self, events: int) -> str:
        clustered = f", counted as runs of {self.runs:.1f}" if self.runs > 1.05 else ""
        return f"{self.hits:,} of {events:,}{clustered}"


def _compare_rates(
    hit: Callable[[Event], bool],
    candidate: list[Event],
    reference: list[Event],
    clusters: tuple[list[Event], ...],
    ratio: float,
    floor: float,
    lone_run: float,
    settings: GuardrailSettings,
) -> _Rates:
    """The candidate's rate of ``hit`` against ``ratio`` times the largest of the stable rate
    (on ``reference``, counted by its lower one-sided bound: it raises the reference only as
    far as it is shown to, never by the chance 2 hits of a couple of hundred events) and
    ``floor``. One-sided Wilson bounds on the count and the events divided by the largest run
    inflation of ``clusters`` (the event sets that show how hits cluster); while none has a
    hit, by ``lone_run``."""
    seen = [r for r in (_run_inflation(events, hit) for events in clusters) if r]
    runs = max(seen) if seen else lone_run
    hits = sum(hit(event) for event in candidate)
    stable_hits = sum(hit(event) for event in reference)
    shown, _ = _wilson(stable_hits / runs, len(reference) / runs, settings.z)
    low, high = _wilson(hits / runs, len(candidate) / runs, settings.z)
    return _Rates(
        rate=hits / len(candidate),
        low=low,
        high=high,
        bound=ratio * max(shown, floor),
        stable_rate=stable_hits / len(reference),
        stable_shown=shown,
        runs=runs,
        hits=hits,
    )


def _flag_rate(
    candidate: list[Event],
    stable: list[Event],
    task: dict[str, Any],
    stable_baseline: dict[str, Any],
    settings: GuardrailSettings,
) -> GuardrailResult:
    """The candidate's flag rate against ``max_flag_ratio`` times the largest of the stable
    version's rate (over the same period, or the same devices' recent windows), the stable
    version's validation rate and ``min_flag_rate``: higher than all is the model, not the
    turbines. Never the candidate's own validation rate: a v2 whose card admits flagging a
    quarter of its windows would pass at half of them, however few the stable version flags
    on the same devices (a threshold moved after validation reads the same); an alarm volume
    that changes that much is a person's decision (approve without a rollout), not a canary's.
    Flags come in runs; while no side has flagged anything, a run is the task's
    window (the run one odd reading makes), so that a few hundred overlapping windows with no
    flag yet are not taken for a few hundred independent ones."""
    scored = [event for event in candidate if event.get("anomaly") is not None]
    needs = max(settings.min_events, MIN_EVENTS_FOR_SHARE)
    stable = [event for event in stable if event.get("anomaly") is not None]
    reference, against = _reference(scored, stable, needs, settings)
    validation = float(stable_baseline.get("anomaly_rate") or 0.0)
    floor = max(validation, settings.min_flag_rate)
    waiting = _waiting_for_data(
        "flag_rate", settings.max_flag_ratio * floor, scored, reference, needs, settings, against
    )
    if waiting:
        return waiting
    window = float(task.get("window") or 1)
    rates = _compare_rates(  # the whole stable side: the most events show how flags cluster
        _flagged,
        scored,
        reference,
        (scored, stable),
        settings.max_flag_ratio,
        floor,
        window,
        settings,
    )
    return _result(
        "flag_rate",
        _verdict(rates.low, rates.high, rates.bound),
        rates.rate,
        rates.bound,
        scored,
        reference,
        needs,
        f"flag rate {rates.rate:.2%} ({rates.counted(len(scored))}; "
        f"{settings.confidence:.0%} one-sided bounds {rates.low:.2%}-{rates.high:.2%}) against "
        f"the bound {rates.bound:.2%}, {settings.max_flag_ratio:g} x the largest of "
        f"{rates.stable_rate:.2%} on {against} (shown above {rates.stable_shown:.2%}), "
        f"{validation:.2%} on the stable version's validation and the floor "
        f"{settings.min_flag_rate:.2%}",
    )


def _failure_rate(
    candidate: list[Event], stable: list[Event], settings: GuardrailSettings
) -> GuardrailResult:
    """The share of the candidate's inferences that gave no prediction (outcome error or
    unscored) against ``max_failure_ratio`` times the largest of the stable version's share
    and ``min_failure_rate``. A device that cannot feed a version fails on every reading, so
    the candidate's failures, like flags, are counted by their runs; the stable side's runs do
    not count here: one device of the fleet that can feed no version (a sensor missing since
    last month) would otherwise leave every candidate's clean record unable to pass."""
    needs = max(settings.min_events, MIN_EVENTS_FOR_SHARE)
    reference, against = _reference(candidate, stable, needs, settings)
    floor = settings.min_failure_rate
    bound = settings.max_failure_ratio * floor
    waiting = _waiting_for_data(
        "failure_rate", bound, candidate, reference, needs, settings, against
    )
    if waiting:
        return waiting
    rates = _compare_rates(
        _failed,
        candidate,
        reference,
        (candidate,),
        settings.max_failure_ratio,
        floor,
        1.0,
        settings,
    )
    kinds = Counter(event["outcome"] for event in candidate if _failed(event))
    return _result(
        "failure_rate",
        _verdict(rates.low, rates.high, rates.bound),
        rates.rate,
        rates.bound,
        candidate,
        reference,
        needs,
        f"failure rate {rates.rate:.2%} ({rates.counted(len(candidate))}: "
        f"{kinds['error']:,} errors, {kinds['unscored']:,} unscored; {settings.confidence:.0%} "
        f"one-sided bounds {rates.low:.2%}-{rates.high:.2%}) against the bound "
        f"{rates.bound:.2%}, {settings.max_failure_ratio:g} x the largest of "
        f"{rates.stable_rate:.2%} on {against} (shown above {rates.stable_shown:.2%}) and the "
        f"floor {floor:.2%}",
    )
