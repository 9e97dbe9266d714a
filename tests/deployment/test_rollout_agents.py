"""Staged rollouts with the real Pi agent: a fleet of edge agents (each its own device id and
data directory, reading its own simulated turbine) polls the real gateway's channel, downloads
and runs the platform's trained turbine autoencoder with onnxruntime and reports its telemetry;
the guardrails then act on those events as the rollout sensor does. Only the canary's agents
ever run the candidate, a restarted one keeps its side, and a v2 that flags ten times the
baseline rate is aborted at the first step with every agent back on v1.

A good v2 promoted step by step is tested with scripted clients (test_rollout_fleet.py), not
here: with these agents a v2 identical to v1 needed 4,600 canary events (23 rounds, 90 s) to pass
the first step. Its canary's windows flagged 2.8 % against a bound of 4 % (twice the 2 %
validation rate), and the guardrails' one-sided test takes thousands of windows that come in
runs of five to show a rate that close to its bound within it."""

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from assets.conversion.export import export_onnx
from assets.deployment.canary import GUARDRAILS, guard_rollout
from assets.deployment.planning import decide_version, start_rollout
from assets.deployment.publish import read_channel
from assets.sensors.data import EPOCH_DAY, simulated_day
from assets.sensors.evaluation import error_baseline
from assets.sensors.features import make_windows
from assets.sensors.records import input_spec
from assets.sensors.training import AutoencoderSettings, reconstruction_error, train_autoencoder
from clients.pi.agent import EdgeAgent, run
from clients.pi.gateway_client import GatewayClient
from clients.pi.storage import ModelCache
from edgeline_contract.profile import WIND_TURBINE
from edgeline_contract.rollout import client_bucket
from edgeline_simulator.turbines import FleetSettings, simulate_turbine
from resources.registry import REJECTED
from tests.gateway.conftest import TOKEN
from tests.pi.test_agent import MODEL, SIGNALS, WINDOW, register_sensor_version

FLEET = 12
FIRST_STEP = 0.05  # the default steps' first share
FIELD_DAY, FIELD_SEED = 30, 7  # the agents' turbines: fault-free days no model trained on
PRE_SWITCH = 200  # readings each agent scores on v1 before the rollout starts
ROUND = 100  # readings each agent scores between two looks of the guardrails
NO_FAULTS = FleetSettings(turbines=3, fault_rate=0.0)


@dataclass(frozen=True)
class Detector:
    """The turbine autoencoder as the platform trains and exports it, and its validation
    windows' reconstruction errors (from which a threshold and a baseline are taken)."""

    model: bytes  # the ONNX file, its threshold at the 98th percentile of the validation errors
    errors: np.ndarray

    def threshold(self, percentile: float) -> float:
        return float(np.percentile(self.errors, percentile))

    def with_threshold(self, percentile: float) -> tuple[bytes, float]:
        """The same network with its anomaly threshold at ``percentile`` of the validation
        errors: the file and the threshold."""
        threshold = self.threshold(percentile)
        graph = onnx.load_from_string(self.model)
        (initializer,) = [i for i in graph.graph.initializer if i.name == "threshold"]
        initializer.CopyFrom(numpy_helper.from_array(np.array(threshold, np.float32), "threshold"))
        return graph.SerializeToString(), threshold

    def baseline(self, percentile: float) -> dict:
        """The validation baseline of the version thresholded at ``percentile``."""
        return error_baseline(self.errors, self.threshold(percentile))


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Detector:
    """A few epochs of the platform's training on fault-free simulated turbines (3 turbines,
    3 days; validation on 2 other days), exported by the platform's exporter (a few seconds)."""

    def windows(days: range, seed: int) -> np.ndarray:
        frames = (simulated_day(EPOCH_DAY + timedelta(n), NO_FAULTS, seed) for n in days)
        return np.concatenate([make_windows(frame, WIND_TURBINE).values for frame in frames])

    train, validation = windows(range(3), 3), windows(range(3, 5), 4)
    torch.set_num_threads(1)  # two threads on a busy two-core machine took ten times as long
    settings = AutoencoderSettings(epochs=6, threshold_percentile=98.0)
    trained = train_autoencoder(train, validation, WINDOW, len(SIGNALS), settings, lambda _: None)
    path = export_onnx(
        trained.model,
        torch.from_numpy(validation[:1]),
        tmp_path_factory.mktemp("detector") / "model.fp32.onnx",
        input_spec(WIND_TURBINE),
        ["reconstruction", "error", "anomaly"],
    )
    return Detector(path.read_bytes(), reconstruction_error(trained.model, validation))


def field_readings(turbine: int) -> Iterator[tuple[float, dict[str, float]]]:
    """One simulated turbine's fault-free readings from ``FIELD_DAY`` on, as the agent's
    simulated source yields them: (the reading's simulated time, {signal: value})."""
    for day_index in range(FIELD_DAY, FIELD_DAY + 10):
        day = simulate_turbine(turbine, day_index, NO_FAULTS, FIELD_SEED)
        for index in range(len(day["fault"])):
            position = day_index * 86400.0 + float(day["offset_s"][index])
            yield position, {name: float(day[name][index]) for name in SIGNALS}


class Agents:
    """Real edge agents in this process, one per device, each with its own data directory."""

    def __init__(self, url: str, root: Path, count: int = FLEET) -> None:
        self.url, self.root = url, root
        self.devices = [f"turbine-{n:03d}" for n in range(count)]
        self.readings: dict[str, Iterator] = {}
        self.agents = {device: self.start(device) for device in self.devices}

    def start(self, device: str) -> EdgeAgent:
        """An agent as the command starts it: its cache and outbox, its source read from the
        start (what it scored before a restart only fills its window again)."""
        agent = EdgeAgent(GatewayClient(self.url, TOKEN), ModelCache(self.root / device), device)
        agent.resume(f"simulate:{device}")
        self.readings[device] = field_readings(self.devices.index(device))
        return agent

    def restart(self, device: str) -> EdgeAgent:
        """The same device started again: a new agent on the same data directory."""
        self.agents[device] = self.start(device)
        return self.agents[device]

    def run(self, readings: int) -> None:
        """Each agent in turn runs its loop: poll the channel, score ``readings`` new readings,
        send every event."""
        for device, agent in self.agents.items():
            run(agent, self.readings[device], speed=0, poll_s=3600, limit=readings, paced=False)
            assert len(agent.outbox) == 0, agent.status()  # every event reached the gateway

    def versions(self) -> dict[str, int]:
        """The version each agent runs now."""
        return {device: agent.state["version"] for device, agent in self.agents.items()}


def canary_rollout_id(devices: list[str]) -> str:
    """The first rollout id whose first step holds 2 or 3 of these devices (the id seeds the
    draw): what 5 % of a fleet of forty to sixty holds, and the guardrails' 2 clients."""
    return next(
        f"agents-{n}"
        for n in range(10_000)
        if 2 <= sum(client_bucket(f"agents-{n}", d) < FIRST_STEP for d in devices) <= 3
    )


def events_of(telemetry, devices: set[str], since: datetime) -> dict[int, list[dict]]:
    """``devices``' stored events since ``since``, per version."""
    found: dict[int, list[dict]] = {}
    for event in telemetry.read("pi", since, datetime.now(UTC)):
        if event["device_id"] in devices:
            found.setdefault(event["model_version"], []).append(event)
    return found


def downloads(requests: list[tuple[str, dict]], version: int) -> int:
    """Downloads of ``version``'s model file (from the gateway, or S3's presigned URL)."""
    return sum(f"deploy/{MODEL}/{version}/" in url for url, _ in requests)


@pytest.fixture
def gateway_overrides() -> dict:
    """The agents share one device token here: its rate limit is not what is tested."""
    return {"device_rates": {}}


@pytest.mark.slow
def test_real_agents_abort_a_v2_that_flags_ten_times_the_baseline(
    gateway, model_registry, detector, sent_headers, tmp_path
):
    url, store, telemetry = gateway
    began = datetime.now(UTC)
    data, threshold = detector.with_threshold(98.0)
    v1 = register_sensor_version(store, model_registry, data, threshold, detector.baseline(98.0))
    decide_version(model_registry, store, MODEL, v1, "approve", "the first version", "qa")
    agents = Agents(url, tmp_path / "agents")
    agents.run(PRE_SWITCH)
    assert set(agents.versions().values()) == {v1}

    # v2: the same network with its threshold lowered after validation to the 75th percentile,
    # registered with the baseline it was validated at (2 % flagged): on the canary's readings
    # it flags about ten times that
    data, threshold = detector.with_threshold(75.0)
    v2 = register_sensor_version(store, model_registry, data, threshold, detector.baseline(98.0))
    rollout_id = canary_rollout_id(agents.devices)
    start_rollout(model_registry, store, MODEL, v2, "qa", "v2 to a canary", rollout_id=rollout_id)
    canary = {d for d in agents.devices if client_bucket(rollout_id, d) < FIRST_STEP}

    agents.run(ROUND // 2)
    assert {d for d, v in agents.versions().items() if v == v2} == canary
    _, verdict = guard_rollout(model_registry, store, telemetry, MODEL)  # as the sensor does
    assert verdict.decision == "wait" and verdict.candidate_clients == len(canary)
    assert "of 200 events" in verdict.waiting_for, verdict.waiting_for  # the minimum sample

    restarted = sorted(canary)[0]
    assert agents.restart(restarted).state["version"] == v2  # from its data directory
    agents.run(ROUND)  # past the minimum sample: the first look decides
    assert {d for d, v in agents.versions().items() if v == v2} == canary
    rollout, verdict = guard_rollout(model_registry, store, telemetry, MODEL)
    assert verdict.decision == "abort" and verdict.candidate_clients == len(canary)
    assert rollout.state == "aborted" and rollout.step == 0, rollout.history[-1]
    assert rollout.history[-1]["by"] == GUARDRAILS
    # the flag rate breached (the latency guardrail judges this busy machine's timings, not v2)
    figures = rollout.history[-1]["figures"]
    assert figures["flag_rate"]["verdict"] == "breach", figures
    baseline_rate = detector.baseline(98.0)["anomaly_rate"]
    assert figures["flag_rate"]["bound"] == pytest.approx(2 * baseline_rate)  # above v1's 1.6 %
    described = model_registry.describe_version(MODEL, v2)
    assert described.status == REJECTED and described.status_by == GUARDRAILS
    assert described.status_reason.startswith("rollout aborted: ")
    assert "flag rate" in described.status_reason, described.status_reason

    # the figures: v2 on the canary's windows against v1's threshold on the very same windows
    seen = events_of(telemetry, canary, began)
    flagged = np.mean([e["anomaly"] for e in seen[v2]])
    by_v1 = np.mean([e["reconstruction_error"] > detector.threshold(98.0) for e in seen[v2]])
    assert figures["flag_rate"]["value"] == pytest.approx(flagged)
    assert 8 <= flagged / baseline_rate <= 16, flagged  # 26 %, 13 times the baseline, here
    assert flagged >= 5 * by_v1, (flagged, by_v1)  # v1 flags 4 % of the same windows here
    assert 0.01 <= np.mean([e["anomaly"] for e in seen[v1]]) <= 0.08  # v1 before the switch
    assert len(seen[v2]) == (ROUND // 2 + ROUND) * len(canary)  # none lost or repeated

    switched = datetime.now(UTC)
    agents.run(ROUND // 2)  # the next poll: every agent back on v1, from its cache
    assert set(agents.versions().values()) == {v1}
    assert set(events_of(telemetry, canary, switched)) == {v1}
    assert downloads(sent_headers, v1) == FLEET  # the canary went back to v1 from its cache
    assert downloads(sent_headers, v2) == len(canary)  # and the restarted agent kept its file
    polled = [
        urllib.parse.parse_qs(urllib.parse.urlsplit(url_).query)
        for url_, _ in sent_headers
        if f"/v1/models/{MODEL}/channels/stable" in url_
    ]
    assert all(len(query["client"]) == 1 for query in polled)  # every poll names its device
    assert {query["client"][0] for query in polled} == set(agents.devices)
    assert read_channel(store, MODEL)["version"] == v1
