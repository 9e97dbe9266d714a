"""The gateway served by uvicorn on 127.0.0.1 and a free port, over each environment's stores."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from clients.gateway.app import GatewaySettings, create_app
from clients.gateway.serving import server_config
from orchestration.demo import free_port
from resources import LocalArtifactStore

TOKEN = "device-token-1"
WEB_SECRET = "gateway-test-secret-" + "s" * 32


@pytest.fixture
def http():
    """One client for a test's requests: each ``httpx.post`` makes its own (30 ms here), and a test
    may send hundreds."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def gateway(artifact_store, telemetry_store, gateway_overrides):
    settings = GatewaySettings(
        tokens=frozenset({TOKEN, "shared-token", "bound-token:turbine-001|turbine-002"}),
        cors_origins=["http://127.0.0.1:9999"],
        web_secret=WEB_SECRET,
        **gateway_overrides,
    )
    port = free_port()
    if isinstance(artifact_store, LocalArtifactStore):  # a stale address: the gateway knows its own
        artifact_store = LocalArtifactStore(
            root=artifact_store.root, gateway_url="http://127.0.0.1:8000"
        )
    app = create_app(settings, artifact_store, telemetry_store)
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", artifact_store, telemetry_store
    server.should_exit = True
    thread.join(timeout=10)


def web_event(at: datetime | None = None, **overrides) -> dict:
    event = {
        "schema": "edgeline.telemetry/1",
        "event_id": str(uuid.uuid4()),
        "client_kind": "web",
        "device_id": "browser-1",
        "model": "image-classifier",
        "model_version": 1,
        "variant": "fp32",
        "timestamp": (at or datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "latency_ms": 21.5,
        "top_k": [{"label": "circle", "confidence": 0.9}, {"label": "star", "confidence": 0.05}],
    }
    event.update(overrides)
    return event


def pi_event(at: datetime | None = None, **overrides) -> dict:
    event = {
        "schema": "edgeline.telemetry/1",
        "event_id": str(uuid.uuid4()),
        "client_kind": "pi",
        "device_id": "turbine-007",
        "model": "turbine-autoencoder",
        "model_version": 1,
        "variant": "fp16",
        "timestamp": (at or datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "latency_ms": 0.4,
        "reconstruction_error": 0.12,
        "anomaly": False,
    }
    event.update(overrides)
    return event
