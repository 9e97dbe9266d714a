"""A manifest the agent cannot use (one that needs a newer agent, or of a schema it does not
read), served by a real gateway: the agent keeps its model, goes on scoring with it, says why
once and shows it in its status; a manifest it can use afterwards is taken as usual."""

import json
import logging

from clients.pi import __version__
from clients.pi.agent import EdgeAgent
from clients.pi.gateway_client import GatewayClient
from clients.pi.storage import ModelCache
from resources import SqliteModelRegistry
from resources.artifacts import json_bytes
from tests.gateway.conftest import TOKEN
from tests.helpers import alter_published_manifest
from tests.pi.test_agent import MODEL, WINDOW, normal_readings, register_and_publish


def edit_published_manifest(store, **changes) -> None:
    """Change the manifest the stable channel names, as a newer platform publishing would."""
    alter_published_manifest(store, MODEL, lambda data: json_bytes({**json.loads(data), **changes}))


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "not using" in r.getMessage()]


def test_a_manifest_for_a_newer_agent_or_schema_keeps_the_running_model(gateway, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edgeline.agent")
    url, store, _ = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    v1 = register_and_publish(store, registry, threshold=9.0)
    agent = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache"), "turbine-011")
    assert agent.poll_model() and agent.state["version"] == v1
    readings = normal_readings()[: 3 * WINDOW]

    v2 = register_and_publish(store, registry, threshold=9.0)
    edit_published_manifest(store, min_client_version="99.0.0")
    assert not agent.poll_model()  # nothing changed for the agent
    assert agent.state["version"] == v1
    scored = [e for e in (agent.process(r) for r in readings) if e]
    assert scored and {e["model_version"] for e in scored} == {v1}  # still scoring with v1
    status = agent.status()
    assert status["state"] == "running" and status["model"]["version"] == v1
    assert status["manifest_refused"] == (
        f"{MODEL} v{v2} needs client version 99.0.0 or newer; this client is {__version__}"
    )
    assert status["manifests_refused"] == 1
    assert refusals(caplog) == [
        f"not using {MODEL} v{v2} from the channel: {status['manifest_refused']}; "
        f"keeping {MODEL} v{v1}"
    ]
    attempts = agent.gateway.attempts
    for _ in range(3):  # the same manifest: a 304 each time, and no second warning
        assert not agent.poll_model()
    assert agent.gateway.attempts == attempts + 3 and len(refusals(caplog)) == 1
    assert not list((tmp_path / "cache").glob(f"*-v{v2}-*.onnx"))  # never downloaded

    edit_published_manifest(store, min_client_version="1.0.0", schema="edgeline.manifest/99")
    assert not agent.poll_model() and agent.state["version"] == v1
    assert (
        "schema 'edgeline.manifest/99' is not one this client reads"
        in (agent.status()["manifest_refused"])
    )
    assert agent.status()["manifests_refused"] == 2 and len(refusals(caplog)) == 2

    # a fresh agent (no model yet) has nothing to keep: it is paused and says why
    fresh = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "fresh"), "turbine-012")
    assert not fresh.poll_model()
    assert fresh.status()["state"] == "paused"
    assert "manifest is refused" in fresh.status()["paused_because"]
    assert "no model to run" in refusals(caplog)[-1]
    assert [fresh.process(r) for r in readings[:WINDOW]] == [None] * WINDOW

    # the channel moves on to a manifest this agent reads: taken, the refusal cleared
    edit_published_manifest(store, schema="edgeline.manifest/1")
    assert agent.poll_model() and agent.state["version"] == v2
    assert agent.status()["manifest_refused"] is None
    assert json.dumps(agent.status())  # still plain JSON for the status line


def test_a_model_this_onnxruntime_cannot_load_keeps_the_running_one(gateway, tmp_path, caplog):
    """A verified file that onnxruntime refuses (here an IR version from the future; on Python
    3.9, onnxruntime 1.19 reads IR 10 at most) used to end the agent with a traceback."""
    caplog.set_level(logging.INFO, logger="edgeline.agent")
    url, store, _ = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    v1 = register_and_publish(store, registry, threshold=9.0)
    agent = EdgeAgent(GatewayClient(url, TOKEN), ModelCache(tmp_path / "cache"), "turbine-013")
    assert agent.poll_model()
    v2 = register_and_publish(store, registry, threshold=9.0, ir_version=99)
    assert not agent.poll_model() and agent.state["version"] == v1
    refused = agent.status()["manifest_refused"]
    assert f"cannot load {MODEL}-v{v2}-fp32.onnx" in refused and "IR version" in refused
    assert [e for e in (agent.process(r) for r in normal_readings()[:WINDOW]) if e]
    assert not agent.poll_model() and len(refusals(caplog)) == 1  # said once
    # a restart with a file on disk that does not load starts without it, and says why
    agent.cache.set_current(
        {**agent.state, "path": str(next((tmp_path / "cache").glob(f"*-v{v2}-*")))}
    )
    restarted = EdgeAgent(agent.gateway, ModelCache(tmp_path / "cache"), "turbine-013")
    assert restarted.session is None and "does not load" in restarted.paused
