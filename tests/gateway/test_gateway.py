"""The gateway over real HTTP, on the local stores and on moto's S3 and CloudWatch Logs."""

import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
from PIL import Image

from assets.deployment.publish import publish_model_version
from resources import SqliteModelRegistry
from resources.telemetry import MAX_EVENT_AGE
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import TOKEN, pi_event, web_event
from tests.vision.conftest import declared_size_png

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_health_and_openapi(gateway):
    url, *_ = gateway
    assert httpx.get(f"{url}/v1/health").json() == {"status": "ok"}
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/v1/telemetry", "/v1/images", "/v1/models/{model}/channels/{channel}"} <= set(paths)


def test_without_a_valid_token_401(gateway):
    url, *_ = gateway
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.post(
            f"{url}/v1/telemetry", json={"events": [web_event()]}, headers=headers
        )
        assert response.status_code == 401 and "bearer token" in response.json()["detail"]


def test_telemetry_batch_keeps_good_events_and_names_bad_fields(gateway):
    url, _, telemetry = gateway
    good = [pi_event(), pi_event(device_id="turbine-008")]
    bad = [
        pi_event(latency_ms="fast"),
        pi_event(device_id="../../etc"),
        pi_event(reconstruction_error=None),
    ]
    response = httpx.post(
        f"{url}/v1/telemetry", json={"events": [good[0], *bad, good[1]]}, headers=AUTH
    )
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["errors"][0]["field"]) for r in body["rejected"]] == [
        (1, "latency_ms"),
        (2, "device_id"),
        (3, "reconstruction_error"),  # a pi event needs one: the rule names the field
    ]
    assert "must be number, not null" in body["rejected"][2]["errors"][0]["message"]
    window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))
    assert sorted(e["event_id"] for e in telemetry.read("pi", *window)) == sorted(
        e["event_id"] for e in good
    )
    # a client retrying the same batch stores nothing twice
    httpx.post(f"{url}/v1/telemetry", json={"events": good}, headers=AUTH)
    assert len(telemetry.read("pi", *window)) == 2
    # a device token writes Pi events only: a web event comes with the page's own token
    web = httpx.post(f"{url}/v1/telemetry", json={"events": [web_event()]}, headers=AUTH)
    assert web.status_code == 403 and "event 0" in web.json()["detail"]
    assert telemetry.read("web", *window) == []


def test_batch_limits(gateway):
    url, *_ = gateway
    too_many = httpx.post(f"{url}/v1/telemetry", json={"events": [web_event()] * 501}, headers=AUTH)
    assert too_many.status_code == 413 and "at most 500" in too_many.json()["detail"]
    assert httpx.post(f"{url}/v1/telemetry", json={"events": []}, headers=AUTH).status_code == 422
    not_json = httpx.post(f"{url}/v1/telemetry", content=b"{nope", headers=AUTH)
    assert not_json.status_code == 400


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_upload_server_chosen_key(gateway):
    url, artifacts, _ = gateway
    response = httpx.post(
        f"{url}/v1/images",
        params={"label": "circle", "device_id": "b1"},
        content=_png(),
        headers=AUTH,
    )
    assert response.status_code == 201
    key = response.json()["image_key"]
    assert key.startswith("incoming/images/") and key.endswith(".png")
    assert artifacts.get_bytes(key) == _png()
    assert artifacts.get_json(key + ".json")["label"] == "circle"
    fake = httpx.post(f"{url}/v1/images", content=b"GIF89a" + b"0" * 100, headers=AUTH)
    assert fake.status_code == 415 and "JPEG, PNG or WebP" in fake.json()["detail"]
    huge = httpx.post(
        f"{url}/v1/images", content=b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024), headers=AUTH
    )
    assert huge.status_code == 413
    for width in (20_000, 11_000):  # decompression bombs: refused from the header, undecoded
        bomb = httpx.post(f"{url}/v1/images", content=declared_size_png(width, width), headers=AUTH)
        assert bomb.status_code == 413 and "12,000,000 pixels" in bomb.json()["detail"]
    path_label = httpx.post(
        f"{url}/v1/images", params={"label": "../x"}, content=_png(), headers=AUTH
    )
    assert (
        path_label.status_code == 422 and path_label.json()["errors"][0]["field"] == "query.label"
    )


def test_manifest_with_etag_and_download_urls(gateway, tmp_path, environment):
    url, artifacts, _ = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "r.sqlite"))
    version = register_tiny_version(artifacts, registry, "turbine-autoencoder")
    registry.approve("turbine-autoencoder", version, "ok", "qa")
    publish_model_version(artifacts, registry, "turbine-autoencoder", version)
    response = httpx.get(f"{url}/v1/models/turbine-autoencoder/channels/stable", headers=AUTH)
    assert response.status_code == 200
    manifest, etag = response.json(), response.headers["ETag"]
    assert manifest["version"] == version
    again = httpx.get(
        f"{url}/v1/models/turbine-autoencoder/channels/stable",
        headers={**AUTH, "If-None-Match": etag},
    )
    assert again.status_code == 304
    variant = manifest["variants"][0]
    # what a client needs, not how it was made: lineage (run ids, weights keys, commits) stays
    # in the registry's card
    assert "lineage" not in manifest and "weights_key" not in json.dumps(manifest)
    if environment == "local":
        # the gateway's own address, whatever EDGELINE_GATEWAY_URL says
        assert variant["url"] == f"{url}/v1/artifacts/{variant['key']}"
        served = httpx.get(variant["url"])
        assert "immutable" in served.headers["cache-control"]  # versioned files never change
        # public like a CDN: immutable model files only; pointers, manifests and device jobs
        # go through the channel endpoint and its token
        prefix = f"{url}/v1/artifacts/deploy/turbine-autoencoder"
        for private in ("stable.json", f"{version}/manifest.json", f"{version}/iot-job.json"):
            assert httpx.get(f"{prefix}/{private}").status_code == 404, private
    else:
        served = httpx.get(variant["url"])  # presigned S3 GET
    assert served.status_code == 200 and len(served.content) == variant["bytes"]
    assert httpx.get(f"{url}/v1/artifacts/registry/x.json").status_code == 404  # only deploy/
    assert httpx.get(f"{url}/v1/models/nope/channels/stable", headers=AUTH).status_code == 404


def test_hostile_inputs_get_clear_4xx_and_store_nothing(gateway):
    """Each of these once broke something: a 200 for a 100 MB body, an Infinity that failed the
    hourly roll-up, a 500 for a long name or a deep nesting."""
    url, _, telemetry = gateway
    infinite = (
        json.dumps({"events": [pi_event()]})
        .replace('"reconstruction_error": 0.12', '"reconstruction_error": Infinity')
        .encode()
    )
    response = httpx.post(
        f"{url}/v1/telemetry",
        content=infinite,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["rejected"][0]["errors"][0]["field"] == "reconstruction_error"
    for event, field in (
        (pi_event(model_version=10**30), "model_version"),
        (pi_event(latency_ms=float("nan")), "latency_ms"),
        (pi_event(reconstruction_error=1e300), "reconstruction_error"),
        (pi_event(latency_ms=10**400), "latency_ms"),  # an int no float holds: once a 500
    ):
        body = json.dumps({"events": [event]}).encode()  # NaN travels as a JSON literal
        answer = httpx.post(
            f"{url}/v1/telemetry",
            content=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert (
            answer.status_code == 422
            and answer.json()["rejected"][0]["errors"][0]["field"] == field
        )
    declared = httpx.post(
        f"{url}/v1/telemetry",
        content=b"{" + b" " * (3 * 1024 * 1024) + b"}",
        headers=AUTH,
    )
    assert declared.status_code == 413 and "at most 2097152" in declared.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(40):
            yield b" " * 100_000

    streamed = httpx.post(f"{url}/v1/telemetry", content=chunks(), headers=AUTH)
    assert streamed.status_code == 413
    nested = httpx.post(
        f"{url}/v1/telemetry", content=b"[" * 100_000 + b"]" * 100_000, headers=AUTH
    )
    assert nested.status_code in (400, 413) and "detail" in nested.json()
    deep = b'{"events": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    assert httpx.post(f"{url}/v1/telemetry", content=deep, headers=AUTH).status_code in (400, 422)
    for name in ("m" * 300, "a" * 90 + "/..", "x" * 5000):
        answer = httpx.get(f"{url}/v1/models/{name}/channels/stable", headers=AUTH)
        assert 400 <= answer.status_code < 500, name
    assert httpx.get(f"{url}/v1/artifacts/deploy/{'m' * 300}/1/model.onnx").status_code == 400
    window = (datetime.now(UTC) - timedelta(days=15), datetime.now(UTC) + timedelta(hours=3))
    assert telemetry.read("pi", *window) == [] and telemetry.read("web", *window) == []


def test_duplicates_are_reported_as_duplicates(gateway):
    url, *_ = gateway
    event = pi_event()
    first = httpx.post(f"{url}/v1/telemetry", json={"events": [event]}, headers=AUTH).json()
    assert (first["stored"], first["duplicates"]) == (1, 0)
    again = httpx.post(f"{url}/v1/telemetry", json={"events": [event, event]}, headers=AUTH).json()
    assert again["accepted"] == 2 and again["duplicates"] >= 1  # twice in the batch at least
    assert "already stored" in again["detail"]


def test_events_at_the_age_boundary_never_cost_their_batch(gateway):
    """The schema and the store once took their own "now": an event a few milliseconds inside
    the 14 days passed the first, failed the second, and the whole batch was refused (422):
    25 batches of 500 lost 12,475 good events. Each event is now judged once, by the request's
    clock; a batch is never refused whole for one event."""
    url, _, telemetry = gateway
    good_ids, boundary_ids, statuses = [], [], []
    for _ in range(5):
        edge = datetime.now(UTC) - MAX_EVENT_AGE + timedelta(milliseconds=20)
        boundary = [pi_event(at=edge + timedelta(milliseconds=i)) for i in range(250)]
        good = [pi_event() for _ in range(250)]
        response = httpx.post(
            f"{url}/v1/telemetry", json={"events": boundary + good}, headers=AUTH, timeout=60
        )
        statuses.append(response.status_code)
        body = response.json()
        assert response.status_code in (200, 207), body["detail"]
        refused = {r["index"] for r in body["rejected"]}
        assert refused <= set(range(250))  # only boundary events, each by itself
        good_ids += [e["event_id"] for e in good]
        boundary_ids += [e["event_id"] for i, e in enumerate(boundary) if i not in refused]
    window = (datetime.now(UTC) - timedelta(days=15), datetime.now(UTC) + timedelta(hours=1))
    stored = {e["event_id"] for e in telemetry.read("pi", *window)}
    assert set(good_ids) <= stored  # 0 good events lost
    assert set(boundary_ids) <= stored  # and every boundary event accepted was stored


def test_an_event_id_sent_again_with_other_content_is_a_counted_conflict(gateway, environment):
    url, _, telemetry = gateway
    event = pi_event()
    first = httpx.post(f"{url}/v1/telemetry", json={"events": [event]}, headers=AUTH).json()
    assert (first["stored"], first["conflicts"]) == (1, 0)
    changed = {**event, "reconstruction_error": 9.0}
    again = httpx.post(f"{url}/v1/telemetry", json={"events": [event, changed]}, headers=AUTH)
    body = again.json()
    assert again.status_code == 200 and body["conflicts"] == 1
    assert body["stored"] == (0 if environment == "local" else 1)  # Logs sees its batch only
    assert "stored with other content" in body["detail"]
    window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
    (kept,) = [e for e in telemetry.read("pi", *window) if e["event_id"] == event["event_id"]]
    assert kept["reconstruction_error"] == event["reconstruction_error"]
