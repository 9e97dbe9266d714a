"""Fuzz: over a thousand generated bad requests get a clear 4xx, never a 5xx; good events between
them are all stored."""

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.gateway.app import GatewaySettings, create_app
from clients.gateway.serving import server_config
from resources import LocalArtifactStore, SqliteTelemetryStore
from tests.gateway.conftest import TOKEN, WEB_SECRET, free_port, pi_event, web_event

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 1100


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    store = LocalArtifactStore(root=str(root / "artifacts"))
    telemetry = SqliteTelemetryStore(path=str(root / "telemetry.sqlite"))
    # no rate limits: the fuzz sends a thousand requests a minute on purpose; a web secret, so
    # that web-token shapes reach the token check
    settings = GatewaySettings(tokens=frozenset({TOKEN}), device_rates={}, web_secret=WEB_SECRET)
    app = create_app(settings, store, telemetry)
    port = free_port()
    uv = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client, telemetry
    uv.should_exit = True
    thread.join(timeout=10)


not_number = st.one_of(
    st.text(alphabet="abcxyz!?", min_size=1),
    st.lists(st.integers(), max_size=2),
    st.booleans().map(str),
)
INVALID_VALUES = {
    "schema": st.one_of(
        st.text(max_size=20).filter(lambda t: t != "edgeline.telemetry/1"), st.integers()
    ),
    "event_id": st.one_of(st.text(alphabet="xyz/.", max_size=40), st.integers()),
    "client_kind": st.text(max_size=10).filter(lambda t: t not in ("web", "pi")),
    "device_id": st.one_of(
        st.sampled_from(["../etc/passwd", "a/b", "/abs", "..", "a\\b", "", "x" * 65, "dev ice"]),
        st.text(min_size=1, max_size=20).map(lambda t: "dev/" + t),
        st.lists(st.text(max_size=3), max_size=2),  # once a 500 before validation
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
    "model": st.sampled_from(["", "-bad", "has space", "a/b", "x" * 64]),
    "model_version": st.one_of(st.integers(max_value=0), not_number, st.floats(0.1, 0.9)),
    "variant": st.text(max_size=8).filter(lambda t: t not in ("fp32", "fp16", "int8")),
    "timestamp": st.one_of(
        st.sampled_from(
            ["yesterday", "2026-13-45T00:00:00Z", "2026-11-01T00:00:00", "2020-01-01T00:00:00Z"]
        ),
        st.just((datetime.now(UTC) + timedelta(days=3)).isoformat()),
        st.integers(),
    ),
    "latency_ms": st.one_of(
        st.floats(max_value=-0.001, allow_infinity=False, allow_nan=False),
        st.floats(min_value=600_001, max_value=1e12),
        not_number,
    ),
    "top_k": st.one_of(
        st.just([]),
        st.just([{"label": "x", "confidence": 1.5}]),
        st.just([{"label": "", "confidence": 0.5}]),
        st.just([{"label": "x"}]),
        st.text(max_size=5),
    ),
    "reconstruction_error": st.one_of(
        st.floats(max_value=-0.001, allow_infinity=False, allow_nan=False), not_number
    ),
    "anomaly": st.one_of(st.text(alphabet="xyz", min_size=2), st.lists(st.booleans(), min_size=1)),
}


@st.composite
def bad_event(draw) -> dict:
    event = draw(st.sampled_from([web_event, pi_event]))()
    kind = draw(st.sampled_from(["wrong_value", "missing", "extra"]))
    if kind == "missing":
        field = draw(
            st.sampled_from(
                [
                    "schema",
                    "event_id",
                    "client_kind",
                    "device_id",
                    "model",
                    "timestamp",
                    "latency_ms",
                ]
            )
        )
        event.pop(field)
    elif kind == "extra":
        event[draw(st.sampled_from(["admin", "path", "__proto__"]))] = draw(st.text(max_size=5))
    else:
        field = draw(st.sampled_from(sorted(INVALID_VALUES)))
        if field in ("top_k",) and event["client_kind"] == "pi":
            event = web_event()
        if field in ("reconstruction_error", "anomaly") and event["client_kind"] == "web":
            event = pi_event()
        event[field] = draw(INVALID_VALUES[field])
    return event


@st.composite
def bad_request(draw) -> tuple[str, dict]:
    kind = draw(
        st.sampled_from(
            [
                "event",
                "event",
                "event",
                "batch",
                "body",
                "token",
                "image",
                "image_size",
                "query",
                "page",
            ]
        )
    )
    if kind == "event":
        events = draw(st.lists(bad_event(), min_size=1, max_size=3))
        return "POST", {"url": "/v1/telemetry", "json": {"events": events}, "headers": AUTH}
    if kind == "batch":
        return "POST", {
            "url": "/v1/telemetry",
            "json": {"events": [web_event()] * draw(st.integers(501, 700))},
            "headers": AUTH,
        }
    if kind == "body":
        body = draw(
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=10),
                st.lists(st.integers(), max_size=3),
                st.just({"events": "x"}),
                st.just({}),
            )
        )
        return "POST", {"url": "/v1/telemetry", "json": body, "headers": AUTH}
    if kind == "token":
        token = draw(
            st.one_of(
                st.just(b"x"),
                st.text(alphabet="abc123", min_size=1, max_size=20).map(str.encode),
                st.just(f"Basic {TOKEN}".encode()),
                # bytes no ASCII token has, in a web token and a device token: once 500s
                st.sampled_from([b"ew1.abc.\xe9", b"ew1.\xe9\xff.sig", b"\xe9\xe9", b"ew1..\x80"]),
                st.binary(min_size=1, max_size=12).filter(
                    lambda b: min(b) > 0x20 and 0x7F not in b
                ),
            )
        )
        return "POST", {
            "url": "/v1/telemetry",
            "json": {"events": [web_event()]},
            "headers": {
                "Authorization": token if token.startswith(b"Basic") else b"Bearer " + token
            },
        }
    if kind == "page":
        name = draw(
            st.one_of(
                st.sampled_from(["a%00b", "%00", "x" * 300, "a/" + "y" * 300, "..%2f..%2fetc"]),
                st.text(alphabet="ab%0-", min_size=1, max_size=40),
            )
        )
        return "GET", {"url": f"/app/{name}"}
    if kind == "image":
        data = draw(
            st.binary(min_size=0, max_size=200).filter(
                lambda b: not b.startswith((b"\xff\xd8\xff", b"\x89PNG", b"RIFF"))
            )
        )
        return "POST", {"url": "/v1/images", "content": data, "headers": AUTH}
    if kind == "image_size":
        return "POST", {
            "url": "/v1/images",
            "content": b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024 + draw(st.integers(1, 1000))),
            "headers": AUTH,
        }
    label = draw(st.sampled_from(["../up", "a/b", "", "x" * 80, "\\x"]))
    return "POST", {
        "url": "/v1/images",
        "params": {"label": label},
        "content": b"\x89PNG\r\n\x1a\n0000",
        "headers": AUTH,
    }


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(request=bad_request(), send_good=st.integers(0, 9))
def send_bad_requests(client, sent_good, request, send_good):
    """Each generated bad request gets a clear 4xx; about one in ten is followed by a good
    event, whose id goes into ``sent_good``."""
    method, kwargs = request
    response = client.request(method, **kwargs)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    assert body.get("detail"), body  # a message a person can read
    if response.status_code == 422 and "rejected" in body:
        for rejection in body["rejected"]:
            assert rejection["errors"] and all(
                e["field"] and e["message"] for e in rejection["errors"]
            )
    if send_good == 0:  # a good event between the bad ones
        good = pi_event()
        assert (
            client.post("/v1/telemetry", json={"events": [good]}, headers=AUTH).status_code == 200
        )
        sent_good.append(good["event_id"])


@pytest.mark.slow
def test_bad_requests_get_clear_4xx_and_good_events_between_them_are_all_stored(server):
    """One test, so that the check of what was stored never depends on another test having run
    first in the same worker."""
    client, telemetry = server
    sent_good: list[str] = []
    send_bad_requests(client, sent_good)
    assert len(sent_good) >= 50
    window = (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1))
    stored = {e["event_id"] for e in telemetry.read("pi", *window)}
    assert set(sent_good) <= stored
