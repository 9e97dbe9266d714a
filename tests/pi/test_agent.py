"""The edge agent against the real gateway over HTTP: follow the channel, verify, run, report."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from assets.deployment.publish import publish_model_version, update_channel
from clients.pi.agent import EdgeAgent, GatewayClient, GatewayError, ModelCache
from clients.pi.simulator import SIGNALS, FleetSettings, simulate_turbine
from resources import SqliteModelRegistry
from tests.gateway.conftest import TOKEN

WINDOW = 10
MODEL = "turbine-autoencoder"


def zscore_model(center: np.ndarray, scale: np.ndarray, threshold: float) -> bytes:
    """The turbine contract (window in; reconstruction, error, anomaly out) as a z-score model."""
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
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def normal_readings() -> np.ndarray:
    day = simulate_turbine(1, 5, FleetSettings(turbines=1, fault_rate=0.0), seed=3)
    return np.stack([day[name] for name in SIGNALS], axis=1)


def register_and_publish(store, registry, threshold: float) -> int:
    readings = normal_readings()
    center = np.tile(readings.mean(0), WINDOW)
    scale = np.tile(readings.std(0) + 1e-3, WINDOW)
    data = zscore_model(center, scale, threshold)
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
    }
    registry.ensure_model(MODEL)
    version = registry.register_version(MODEL, {"task": task, "variants": [variant]}).version
    registry.approve(MODEL, version, "ok", "qa")
    publish_model_version(store, registry, MODEL, version)
    return version


@pytest.mark.slow
def test_agent_follows_channel_runs_model_and_reports(gateway, tmp_path):
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
    store.put_bytes(deployed, store.get_bytes(deployed) + b"\x00")  # altered after publication
    with pytest.raises(GatewayError, match="sha256 does not match"):
        agent.poll_model()
    assert agent.state["version"] == v1  # the running model did not change
    restarted = EdgeAgent(client, ModelCache(tmp_path / "cache"), "turbine-007")
    assert restarted.state["version"] == v1 and Path(restarted.state["path"]).is_file()


def test_outbox_is_bounded_and_counts_drops(tmp_path):
    offline = GatewayClient("http://127.0.0.1:9", TOKEN, timeout_s=0.5)
    agent = EdgeAgent(offline, ModelCache(tmp_path), "turbine-007", max_queue=3)
    for index in range(5):
        agent.enqueue({"n": index})
    assert [e["n"] for e in agent.outbox] == [2, 3, 4] and agent.dropped == 2
    with pytest.raises(GatewayError, match="unreachable"):
        agent.flush()
    assert len(agent.outbox) == 3  # kept for the next try
