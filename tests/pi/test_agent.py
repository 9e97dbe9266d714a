"""The edge agent against the real gateway over HTTP: follow the channel, verify, run, report."""

import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx import load_from_string as onnx_load

from assets.deployment.publish import publish_model_version, update_channel
from clients.pi import gateway_client
from clients.pi.agent import EdgeAgent, status_line
from clients.pi.gateway_client import Backoff, GatewayClient, ModelRefused
from clients.pi.storage import ModelCache, Outbox
from edgeline_contract.profile import WIND_TURBINE
from edgeline_contract.telemetry import event_problems
from edgeline_simulator.turbines import SIGNALS, FleetSettings, simulate_turbine
from resources import SqliteModelRegistry
from tests.gateway.conftest import TOKEN, pi_event
from tests.helpers import alter_behind_the_store

WINDOW = 10
MODEL = "turbine-autoencoder"


def zscore_model(
    center: np.ndarray, scale: np.ndarray, threshold: float, ir_version: int | None = None
) -> bytes:
    """The turbine contract (window in; reconstruction, error, anomaly out) as a z-score model,
    of the lowest IR version its opset needs (onnx would write its own newest, which an older
    onnxruntime, such as 1.19 on Python 3.9, cannot load) unless ``ir_version`` says another."""
    n = WINDOW * len(SIGNALS)
    nodes = [
        helper.make_node("Sub", ["window", "center"], ["centred"]),
        helper.make_node("Div", ["centred", "scale"], ["z"]),
        helper.make_node("Mul", ["z", "z"], ["squared"]),
        helper.make_node("ReduceMean", ["squared", "axes"], ["error"], keepdims=0),
        helper.make_node("Greater", ["error", "threshold"], ["anomaly"]),
        helper.make_node("Identity", ["window"], ["reconstruction"]),
    ]
    initializers = [
        numpy_helper.from_array(center.astype(np.float32), "center"),
        numpy_helper.from_array(scale.astype(np.float32), "scale"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array(threshold, np.float32), "threshold"),
    ]
    graph = helper.make_graph(
        nodes,
        "zscore",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, [None, n])],
        [
            helper.make_tensor_value_info("reconstruction", TensorProto.FLOAT, [None, n]),
            helper.make_tensor_value_info("error", TensorProto.FLOAT, [None]),
            helper.make_tensor_value_info("anomaly", TensorProto.BOOL, [None]),
        ],
        initializers,
    )
    opsets = [helper.make_opsetid("", 18)]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=ir_version or helper.find_min_ir_version_for(opsets),
    )
    return model.SerializeToString()


def normal_readings() -> np.ndarray:
    day = simulate_turbine(1, 5, FleetSettings(turbines=1, fault_rate=0.0), seed=3)
    return np.stack([day[name] for name in SIGNALS], axis=1)


def register_sensor_version(
    store, registry, data: bytes, threshold: float, baseline: dict | None = None
) -> int:
    """Store ``data`` (an ONNX model of the turbine contract: a raw window in; reconstruction,
    error and anomaly out) and register it as a pending version of the turbine model, with the
    card the agent's manifest is built from (and ``baseline``, its validation baseline)."""
    key = f"models/{MODEL}/{uuid.uuid4().hex}/model.fp32.onnx"
    store.put_bytes(key, data)
    variant = {
        "precision": "fp32",
        "key": key,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "input_spec": {
            "name": "window",
            "shape": [None, WINDOW * len(SIGNALS)],
            "dtype": "float32",
        },
        "outputs": ["reconstruction", "error", "anomaly"],
        "latency": {"threads_1": {"p50_ms": 0.02}},
        "gate": {"passed": True},
    }
    task = {
        "kind": "anomaly-detection",
        "signals": list(SIGNALS),
        "window": WINDOW,
        "threshold": threshold,
        "profile": WIND_TURBINE.to_dict(),
    }
    registry.ensure_model(MODEL)
    card = {"task": task, "variants": [variant], "baseline": baseline or {}}
    return registry.register_version(MODEL, card).version


def register_and_publish(
    store, registry, threshold: float, ir_version: int | None = None, spread: float = 1.0
) -> int:
    """A z-score model of normal readings, approved and published; ``spread`` 0 divides by
    zero (an output that is not a finite number)."""
    readings = normal_readings()
    center = np.tile(readings.mean(0), WINDOW)
    scale = np.tile(readings.std(0) + 1e-3, WINDOW) * spread
    data = zscore_model(center, scale, threshold, ir_version)
    version = register_sensor_version(store, registry, data, threshold)
    registry.approve(MODEL, version, "ok", "qa")
    publish_model_version(store, registry, MODEL, version)
    return version


@pytest.fixture
def sent_headers(monkeypatch) -> list[tuple[str, dict]]:
    """Every request the agent makes: its URL and headers."""
    seen: list[tuple[str, dict]] = []
    real = gateway_client.urllib.request.urlopen

    def recording(request, timeout):
        seen.append((request.full_url, dict(request.header_items())))
        return real(request, timeout=timeout)

    monkeypatch.setattr(gateway_client.urllib.request, "urlopen", recording)
    return seen


@pytest.mark.slow
def test_agent_follows_channel_runs_model_and_reports(gateway, tmp_path, sent_headers):
    url, store, telemetry = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    v1 = register_and_publish(store, registry, threshold=9.0)
    client = GatewayClient(url, TOKEN)
    downloads = []
    original_download = client.download
    client.download = lambda u: downloads.append(u) or original_download(u)
    agent = EdgeAgent(client, ModelCache(tmp_path / "cache"), "turbine-007", max_queue=50)

    assert agent.poll_model() and agent.state["version"] == v1
    assert not agent.poll_model()  # 304: nothing changed, nothing downloaded
    assert len(downloads) == 1
    # the bearer token went to the gateway only; on aws the download is moto's presigned S3 URL,
    # which carries its own signature (S3 refuses a request with two kinds of authorisation)
    for request_url, headers in sent_headers:
        to_gateway = request_url.startswith(url)
        assert ("Authorization" in headers) == to_gateway, request_url
    assert any(not u.startswith(url) for u, _ in sent_headers) == (
        store.__class__.__name__ == "S3ArtifactStore"
    )
    readings = normal_readings()[:40]
    events = [agent.process(r) for r in readings]
    scored = [e for e in events if e]
    assert len(scored) == 40 - WINDOW + 1 and not any(e["anomaly"] for e in scored)
    stuck = readings[-1].copy()
    stuck[SIGNALS.index("voltage_v")] *= 0.5  # a sag the z-score model must flag
    flagged = [agent.process(stuck) for _ in range(WINDOW)]
    assert flagged[-1]["anomaly"]
    assert agent.flush() == len(scored) + WINDOW
    window = (datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC) + timedelta(minutes=5))
    stored = telemetry.read("pi", *window)
    assert len(stored) == len(scored) + WINDOW and {e["model_version"] for e in stored} == {v1}

    v2 = register_and_publish(store, registry, threshold=12.0)
    assert agent.poll_model() and agent.state["version"] == v2
    registry.reject(MODEL, v2, "field reports", "qa")
    update_channel(store, registry, MODEL)
    assert agent.poll_model() and agent.state["version"] == v1
    assert len(downloads) == 2  # v1 came back from the cache

    v3 = register_and_publish(store, registry, threshold=15.0)
    deployed = f"deploy/{MODEL}/{v3}/model.fp32.onnx"
    alter_behind_the_store(
        store, deployed, store.get_bytes(deployed) + b"\x00"
    )  # after publication
    with pytest.raises(ModelRefused, match="sha256 does not match"):
        agent.poll_model()
    assert agent.state["version"] == v1  # the running model did not change
    restarted = EdgeAgent(client, ModelCache(tmp_path / "cache"), "turbine-007")
    assert restarted.state["version"] == v1 and Path(restarted.state["path"]).is_file()


def test_agent_stops_using_a_revoked_model_and_resumes(gateway, tmp_path):
    """All versions revoked: the agent used to log and carry on scoring with the revoked model."""
    url, store, _ = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    v1 = register_and_publish(store, registry, threshold=9.0)
    agent = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache"), "turbine-007")
    agent.poll_model()
    readings = normal_readings()[:30]
    assert [agent.process(r) for r in readings][-1]["model_version"] == v1
    registry.reject(MODEL, v1, "unsafe", "qa")
    update_channel(store, registry, MODEL)
    assert agent.poll_model()
    assert [agent.process(r) for r in readings] == [None] * 30  # nothing scored with v1
    status = agent.status()
    assert status["state"] == "paused" and "v1 was revoked" in status["paused_because"]
    restarted = EdgeAgent(agent.gateway, ModelCache(tmp_path / "cache"), "turbine-007")
    assert restarted.session is None  # a restart does not bring the revoked model back
    v2 = register_and_publish(store, registry, threshold=9.0)
    assert agent.poll_model() and agent.state["version"] == v2
    assert [agent.process(r) for r in readings][-1]["model_version"] == v2
    assert agent.status()["state"] == "running"


def test_refused_events_are_dropped_and_counted_not_retried(gateway, tmp_path):
    """A batch with one bad event (NaN readings give a NaN error) used to block every good event
    behind it, retried forever as if the network had failed."""
    url, _, telemetry = gateway
    agent = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache"), "turbine-007")
    good = [pi_event(), pi_event()]
    bad = pi_event(reconstruction_error=float("nan"))
    for event in (good[0], bad, good[1]):
        agent.outbox.put(event)
    assert agent.flush() == 2
    assert len(agent.outbox) == 0 and agent.backoff.failures == 0
    counters = agent.outbox.counters()
    assert (counters["sent"], counters["rejected"]) == (2, 1)
    attempts = agent.gateway.attempts
    assert agent.flush() == 0 and agent.gateway.attempts == attempts  # nothing resent
    window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=5))
    assert {e["event_id"] for e in telemetry.read("pi", *window)} == {e["event_id"] for e in good}
    # a token that may not write for this device: the batch is refused whole, dropped, counted
    bound = EdgeAgent(
        GatewayClient(url, "bound-token"), ModelCache(tmp_path / "other"), "turbine-999"
    )
    bound.outbox.put(pi_event(device_id="turbine-999"))
    assert bound.flush() == 0 and len(bound.outbox) == 0
    assert bound.outbox.counters()["refused"] == 1


def test_outbox_is_durable_bounded_and_waits_out_outages(tmp_path):
    clock = [0.0]
    offline = GatewayClient("http://127.0.0.1:9", TOKEN, timeout_s=0.5)
    backoff = Backoff(base_s=1.0, cap_s=8.0, clock=lambda: clock[0], rng=random.Random(0))
    agent = EdgeAgent(offline, ModelCache(tmp_path), "turbine-007", max_queue=3, backoff=backoff)
    for index in range(5):
        agent.outbox.put({"n": index})
    assert [e["n"] for _, e in agent.outbox.peek(10)] == [2, 3, 4]
    assert agent.outbox.counters()["overflowed"] == 2
    delays = []
    for _ in range(6):  # the gateway is down: each try waits longer, with jitter
        clock[0] = backoff.next_at
        assert agent.flush() == 0
        delays.append(backoff.next_at - clock[0])
    assert offline.attempts == 6 and len(agent.outbox) == 3  # kept for later
    assert all(1.0 * 2**i / 2 <= d <= 1.0 * 2**i for i, d in enumerate(delays[:4]))
    assert 4.0 <= delays[-1] <= 8.0  # capped
    assert agent.flush() == 0 and offline.attempts == 6  # not due yet: no connection attempt
    reopened = Outbox(tmp_path / "outbox.sqlite", max_events=3)  # as after a crash
    assert [e["n"] for _, e in reopened.peek(10)] == [2, 3, 4]


def test_readings_by_name_from_json_lines_in_the_manifests_order(gateway, tmp_path, caplog):
    """A reading source knows signal names, not the model: the agent orders them as the
    manifest says, and counts (and says once why) what it cannot score."""
    import io
    import json

    from clients.pi.sources import JsonLines

    url, store, _ = gateway
    register_and_publish(store, SqliteModelRegistry(path=str(tmp_path / "r.sqlite")), 9.0)
    agent = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache"), "turbine-008")
    assert agent.poll_model() and agent.state["signals"] == list(SIGNALS)
    rows = normal_readings()[: 2 * WINDOW]
    lines = [
        json.dumps(dict(reversed(list(zip(SIGNALS, map(float, r), strict=True))))) for r in rows
    ]
    lines[3] = "not json"  # skipped by the source
    lines[4] = json.dumps({"wind_speed_ms": 7.0})  # lacks the other signals: not scored
    source = JsonLines(io.StringIO("\n".join(lines) + "\n"))
    positioned = list(source)
    assert len(positioned) == 2 * WINDOW - 1 and not source.paced
    assert {position for position, _ in positioned} == {None}  # no timestamps to resume by
    readings = [reading for _, reading in positioned]
    queued = [e for e in (agent.process(r) for r in readings) if e]
    # the unreadable reading (the 4th) breaks the run: windows start again after it
    scored = 2 * WINDOW - 1 - 4 - WINDOW + 1
    assert agent.counts == {
        "read": 2 * WINDOW - 1,
        "scored": scored,
        "anomalies": 0,
        "unscored": 1,
        "failed": 0,
        "resumed_past": 0,
    }
    assert sum("readings lack" in r.message for r in caplog.records) == 1
    # it is reported as an event without a prediction, which the gateway takes
    (unscored,) = [e for e in queued if e.get("outcome")]
    assert unscored["outcome"] == "unscored" and unscored["failure"].startswith("readings lack")
    assert "reconstruction_error" not in unscored and event_problems(unscored) == []
    events = [e for e in queued if not e.get("outcome")]
    assert len(events) == scored and agent.flush() == scored + 1
    # the same readings as lists in the manifest's order score the same
    ordered = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache2"), "turbine-009")
    ordered.poll_model()
    after_gap = [[r[name] for name in SIGNALS] for r in readings[4:]]
    expected = [e for e in (ordered.process(r) for r in after_gap) if e]
    errors = [e["reconstruction_error"] for e in events]
    assert errors == [e["reconstruction_error"] for e in expected]


def test_a_state_cached_by_an_older_agent_still_runs_offline(gateway, tmp_path):
    url, store, _ = gateway
    register_and_publish(store, SqliteModelRegistry(path=str(tmp_path / "r.sqlite")), 9.0)
    cache = ModelCache(tmp_path / "cache")
    assert EdgeAgent(GatewayClient(url, TOKEN), cache, "turbine-010").poll_model()
    older = {k: v for k, v in cache.current().items() if k not in ("signals", "interval_s")}
    cache.set_current(older)
    offline = EdgeAgent(GatewayClient("http://127.0.0.1:9", TOKEN), cache, "turbine-010")
    events = [offline.process(r) for r in normal_readings()[:WINDOW]]
    assert events[-1] is not None and offline.interval_s == 1.0  # lists need no names
    by_name = offline.process(dict(zip(SIGNALS, normal_readings()[0], strict=True)))
    assert by_name["failure"] == "the model's manifest names no signals to read by name"
    assert offline.counts["unscored"] == 1


def test_failed_inferences_are_reported_without_a_prediction(gateway, tmp_path, caplog):
    """An output that is not a finite number is an unscored event, a model that fails to run an
    error event (said once in the log): each with why, no prediction, and taken by the
    gateway, so that the fleet's failure rate counts them; the agent goes on."""
    import onnxruntime as ort

    url, store, _ = gateway
    register_and_publish(store, SqliteModelRegistry(path=str(tmp_path / "r.sqlite")), 9.0, spread=0)
    agent = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache"), "turbine-011")
    assert agent.poll_model()
    events = [agent.process(r) for r in normal_readings()[: WINDOW + 2]][WINDOW - 1 :]
    assert [e["outcome"] for e in events] == ["unscored"] * 3
    assert {e["failure"] for e in events} == {"the model's output is not a finite number"}
    # the same window through a model that cannot take it (its input has another name)
    renamed = onnx_load(
        zscore_model(np.zeros(WINDOW * len(SIGNALS)), np.ones(WINDOW * len(SIGNALS)), 9.0)
    )
    renamed.graph.input[0].name = "readings"
    for node in renamed.graph.node:
        node.input[:] = ["readings" if name == "window" else name for name in node.input]
    agent.session = ort.InferenceSession(renamed.SerializeToString())
    failed = [agent.process(r) for r in normal_readings()[WINDOW + 2 : WINDOW + 4]]
    assert [e["outcome"] for e in failed] == ["error"] * 2
    assert failed[0]["failure"].startswith("the model failed to run: ")
    assert "window" in failed[0]["failure"] and len(failed[0]["failure"]) <= 200
    assert sum("the model failed to run" in r.message for r in caplog.records) == 1
    assert all(event_problems(e) == [] for e in events + failed)
    assert "reconstruction_error" not in failed[0] and "anomaly" not in failed[0]
    assert agent.counts | {"read": 0} == {
        "read": 0,
        "scored": 0,
        "anomalies": 0,
        "unscored": 3,
        "failed": 2,
        "resumed_past": 0,
    }
    assert agent.flush() == 5
    assert "3 readings not scored, 2 failed to run" in status_line(agent.status())
