"""The web page's side of the gateway: short-lived signed tokens, their scopes and limits, and
the page's files (cross-origin isolated, compressed, nothing from outside)."""

import base64
import gzip
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from clients.gateway.app import GatewaySettings, create_app
from clients.gateway.rate_limit import Rate, RateLimiter
from clients.gateway.web_files import ORT_SHELL_FILES, WebFiles
from clients.gateway.web_tokens import TokenError, WebTokenSigner
from resources import LocalArtifactStore, SqliteTelemetryStore
from tests.gateway.conftest import TOKEN, WEB_SECRET, pi_event, web_event

SIGNER = WebTokenSigner(WEB_SECRET.encode())


def web_token(url: str, previous: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {previous}"} if previous else {}
    response = httpx.post(f"{url}/v1/web/tokens", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_web_token_writes_its_own_browsers_telemetry(gateway):
    url, _, telemetry = gateway
    issued = web_token(url)
    assert issued["browser_id"].startswith("web-") and issued["expires_in_s"] == 6 * 3600
    assert issued["config"]["model"] == "image-classifier"
    event = web_event(device_id=issued["browser_id"], backend="wasm", threads=2)
    response = httpx.post(
        f"{url}/v1/telemetry", json={"events": [event]}, headers=bearer(issued["token"])
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1))
    (stored,) = telemetry.read("web", *window)
    assert (stored["backend"], stored["threads"]) == ("wasm", 2)
    bad = web_event(device_id=issued["browser_id"], backend="gpu", threads=0)
    refused = httpx.post(
        f"{url}/v1/telemetry", json={"events": [bad]}, headers=bearer(issued["token"])
    )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["rejected"][0]["errors"]} == {"backend", "threads"}
    # the manifest scope: the image models pages may open (a 404 while it has no channel)
    auth = bearer(issued["token"])
    missing = httpx.get(f"{url}/v1/models/image-classifier/channels/stable", headers=auth)
    assert missing.status_code == 404
    other = httpx.get(f"{url}/v1/models/turbine-autoencoder/channels/stable", headers=auth)
    assert (
        other.status_code == 403
        and "not a model this gateway serves to web" in other.json()["detail"]
    )


def test_web_token_cannot_speak_for_another_device(gateway):
    url, artifacts, _ = gateway
    issued = web_token(url)
    other = web_token(url)["browser_id"]
    auth = bearer(issued["token"])
    for foreign in (web_event(device_id=other), pi_event(device_id=issued["browser_id"])):
        batch = [web_event(device_id=issued["browser_id"]), foreign]
        response = httpx.post(f"{url}/v1/telemetry", json={"events": batch}, headers=auth)
        assert response.status_code == 403 and "event 1" in response.json()["detail"]
    upload = httpx.post(
        f"{url}/v1/images", params={"device_id": other}, content=b"\x89PNG\r\n\x1a\n", headers=auth
    )
    assert upload.status_code == 403
    assert artifacts.list_keys("incoming/") == []
    # device tokens keep writing any device's events, as before
    device = httpx.post(f"{url}/v1/telemetry", json={"events": [pi_event()]}, headers=bearer(TOKEN))
    assert device.status_code == 200


def _forge(token: str, **changes) -> str:
    prefix, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{prefix}.{encoded}.{signature}"


def test_expired_forged_and_foreign_tokens_are_refused(gateway):
    url, *_ = gateway
    issued = web_token(url)
    expired, _ = SIGNER.issue(issued["browser_id"], now=time.time() - 7 * 3600)
    other_secret, _ = WebTokenSigner(b"another-server-secret-" + b"z" * 16).issue("web-abc")
    refused = {
        "expired": expired,
        "forged browser id": _forge(issued["token"], sub="web-someone-else"),
        "forged expiry": _forge(issued["token"], exp=int(time.time()) + 10**8),
        "another server's": other_secret,
        "garbage": "ew1.not.valid",
    }
    event = web_event(device_id=issued["browser_id"])
    for name, token in refused.items():
        response = httpx.post(
            f"{url}/v1/telemetry", json={"events": [event]}, headers=bearer(token)
        )
        assert response.status_code == 401, name
        assert "web token refused" in response.json()["detail"], name
    assert (
        "expired"
        in httpx.get(f"{url}/v1/models/x/channels/stable", headers=bearer(expired)).json()["detail"]
    )


def test_renewal_keeps_the_browser_id_within_its_grace(gateway):
    url, *_ = gateway
    issued = web_token(url)
    assert web_token(url, issued["token"])["browser_id"] == issued["browser_id"]
    lately, _ = SIGNER.issue(issued["browser_id"], now=time.time() - 3 * 86400)  # offline 3 days
    assert web_token(url, lately)["browser_id"] == issued["browser_id"]
    long_ago, _ = SIGNER.issue(issued["browser_id"], now=time.time() - 30 * 86400)
    response = httpx.post(f"{url}/v1/web/tokens", headers=bearer(long_ago))
    assert response.status_code == 401 and "too long ago" in response.json()["detail"]
    assert web_token(url)["browser_id"] != issued["browser_id"]  # no token: a new browser


def test_token_issuing_and_web_telemetry_are_rate_limited(tmp_path):
    from fastapi.testclient import TestClient

    rates = {"tokens": Rate(per_minute=0.01, burst=3), "telemetry:write": Rate(0.01, burst=4)}
    app = create_app(
        GatewaySettings(web_secret=WEB_SECRET, web_rates=rates),
        LocalArtifactStore(root=str(tmp_path / "a")),
        SqliteTelemetryStore(path=str(tmp_path / "t.sqlite")),
    )
    with TestClient(app) as client:
        codes = [client.post("/v1/web/tokens").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.post("/v1/web/tokens")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 60
        renewed = client.post("/v1/web/tokens", headers={"Authorization": "Bearer x"})
        assert renewed.status_code == 429  # renewing counts too: per address, before anything else
        issued = SIGNER.issue("web-limited")[0]
        batch = {"events": [web_event(device_id="web-limited")]}
        codes = [
            client.post("/v1/telemetry", json=batch, headers=bearer(issued)).status_code
            for _ in range(5)
        ]
        assert codes == [200, 200, 200, 200, 429]  # per browser id
        other = SIGNER.issue("web-other")[0]
        batch = {"events": [web_event(device_id="web-other")]}
        assert client.post("/v1/telemetry", json=batch, headers=bearer(other)).status_code == 200
        device = client.post("/v1/telemetry", json={"events": [pi_event()]}, headers=bearer(TOKEN))
        assert device.status_code == 401  # this app has no device tokens at all


def test_rate_limiter_refills_at_its_rate():
    limiter, rate = RateLimiter(), Rate(per_minute=60, burst=2)
    assert [limiter.acquire("s", "k", rate, now=0.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.acquire("s", "k", rate, now=1.0) == 0.0  # one token back after a second
    assert limiter.acquire("s", "other", rate, now=1.0) == 0.0  # buckets are per caller


def test_signer_wants_a_real_secret():
    with pytest.raises(ValueError, match="at least 32"):
        WebTokenSigner(b"short")
    with pytest.raises(TokenError, match="signature"):
        SIGNER.verify(_forge(SIGNER.issue("web-1")[0], scp=["admin"]))


def test_page_files_are_isolated_compressed_and_local(gateway, environment, request):
    url, *_ = gateway
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    assert page.headers["cross-origin-embedder-policy"] == "require-corp"
    policy = dict(
        p.strip().split(" ", 1) for p in page.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"
    # requests go to this gateway and the store's downloads, nowhere else (once: any https site)
    store = f" {request.getfixturevalue('moto_endpoint')}" if environment == "aws" else ""
    assert policy["connect-src"] == f"'self'{store}"
    assert "http" not in page.text.replace('content="width', "")  # nothing from another site

    wasm_url = f"{url}/app/vendor/ort/{ORT_SHELL_FILES[-1]}"
    wasm = httpx.get(wasm_url, headers={"Accept-Encoding": "gzip"})
    assert wasm.headers["content-type"] == "application/wasm"
    assert wasm.headers["content-encoding"] == "gzip"
    assert wasm.headers["cross-origin-resource-policy"] == "same-origin"
    compressed = int(wasm.headers["content-length"])
    assert wasm.content[:4] == b"\0asm" and compressed < len(wasm.content) / 3
    again = httpx.get(wasm_url, headers={"If-None-Match": wasm.headers["etag"]})
    assert again.status_code == 304

    worker = httpx.get(f"{url}/sw.js")
    assert "text/javascript" in worker.headers["content-type"]
    shell = json.loads(worker.text.split("const SHELL = ", 1)[1].split(";\n", 1)[0])
    assert "/" in shell["urls"] and "/app/main.js" in shell["urls"]
    assert all(httpx.get(url + path).status_code == 200 for path in shell["urls"])

    for bad in ("/app/../../pyproject.toml", "/app/vendor/ort/ort.min.js.map", "/app/nope.js"):
        assert httpx.get(url + bad).status_code == 404, bad

    docs = httpx.get(f"{url}/docs")
    assert "/docs/vendor/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text
    assert httpx.get(f"{url}/docs/vendor/swagger-ui-bundle.js").status_code == 200


def test_gzip_bodies_decode_to_the_files(tmp_path):
    files = WebFiles()
    encoded = files.encoded(files.root / "index.html")
    assert gzip.decompress(encoded.gzipped) == (files.root / "index.html").read_bytes()


def test_without_npm_install_the_page_says_what_to_run(tmp_path):
    app = create_app(
        GatewaySettings(tokens=frozenset({TOKEN})),
        LocalArtifactStore(root=str(tmp_path / "a")),
        SqliteTelemetryStore(path=str(tmp_path / "t.sqlite")),
        web_files=WebFiles(root=tmp_path / "web"),
    )
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        response = client.get("/")
        assert response.status_code == 503 and "npm ci" in response.json()["detail"]
        assert client.post("/v1/web/tokens").status_code == 503  # no secret configured
