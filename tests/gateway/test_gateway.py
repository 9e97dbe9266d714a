"""The gateway over real HTTP, on the local stores and on moto's S3 and CloudWatch Logs."""

import io
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
from PIL import Image

from assets.deployment.publish import publish_model_version
from resources import SqliteModelRegistry
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import TOKEN, pi_event, web_event

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
    good = [web_event(), pi_event()]
    bad = [web_event(latency_ms="fast"), pi_event(device_id="../../etc"), web_event(top_k=None)]
    response = httpx.post(
        f"{url}/v1/telemetry", json={"events": [good[0], *bad, good[1]]}, headers=AUTH
    )
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["errors"][0]["field"]) for r in body["rejected"]] == [
        (1, "latency_ms"),
        (2, "device_id"),
        (3, "body"),  # a rule across fields: the message names them
    ]
    assert "top_k" in body["rejected"][2]["errors"][0]["message"]
    window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))
    assert [e["event_id"] for e in telemetry.read("web", *window)] == [good[0]["event_id"]]
    assert [e["event_id"] for e in telemetry.read("pi", *window)] == [good[1]["event_id"]]
    # a client retrying the same batch stores nothing twice
    httpx.post(f"{url}/v1/telemetry", json={"events": good}, headers=AUTH)
    assert len(telemetry.read("web", *window)) == 1


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
    if environment == "local":
        assert variant["url"].endswith(f"/v1/artifacts/{variant['key']}")
        served = httpx.get(f"{url}/v1/artifacts/{variant['key']}")
        assert "immutable" in served.headers["cache-control"]  # versioned files never change
        pointer = httpx.get(f"{url}/v1/artifacts/deploy/turbine-autoencoder/stable.json")
        assert (
            pointer.headers["cache-control"] == "no-cache" and pointer.json()["version"] == version
        )
    else:
        served = httpx.get(variant["url"])  # presigned S3 GET
    assert served.status_code == 200 and len(served.content) == variant["bytes"]
    assert httpx.get(f"{url}/v1/artifacts/registry/x.json").status_code == 404  # only deploy/
    assert httpx.get(f"{url}/v1/models/nope/channels/stable", headers=AUTH).status_code == 404
