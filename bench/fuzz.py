"""Fuzz the gateway: thousands of generated bad requests across every endpoint, with good events
in between, over real HTTP.

    .venv/bin/python -m bench.fuzz [--requests 10000] [--seed 1]

Goals: no 5xx at all, every bad request a 4xx with a readable ``detail``, and no good event lost.
A good event is lost when the gateway does not answer 200 for it (a refusal, 4xx or 5xx, or no
answer at all) or when it is not in the store afterwards. Prints one JSON document (and writes
bench/results/fuzz.json): status counts per endpoint, 5xx, the answers the good events got and
how many were lost; exits 1 when a goal is missed. Rate limits are off (the fuzz sends thousands
a minute on purpose).
"""

import argparse
import json
import math
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.report import emit_report
from clients.gateway.web_tokens import WebTokenSigner
from edgeline_contract.telemetry import FIELDS as EVENT_FIELDS
from resources import layout
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import pi_event, web_event
from tests.gateway.server import SECRET, Gateway
from tests.vision.conftest import declared_size_png

TOKEN = "fuzz-device-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MODEL = "turbine-autoencoder"
HOSTILE_VALUES = [
    None,
    "",
    " ",
    "x" * 5000,
    "../../etc/passwd",
    "a/b",
    "\\x00",
    "\u202e",
    -1,
    0,
    10**30,
    -(10**30),
    1e308,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    [],
    {},
    [1, 2],
    {"$gt": ""},
    "2026-13-45T00:00:00Z",
    "1970-01-01T00:00:00Z",
]


class Cases:
    """Bad requests of every kind the gateway takes, from one seeded generator."""

    def __init__(self, rng: random.Random, signer: WebTokenSigner, version: int) -> None:
        self.rng, self.signer, self.version = rng, signer, version

    def pick(self, values: list):
        return values[self.rng.randrange(len(values))]

    def bad_event(self, make: Callable[..., dict]) -> dict:
        event = make()
        how = self.pick(["value", "value", "value", "missing", "extra"])
        if how == "missing":
            event.pop(self.pick([f for f in EVENT_FIELDS if f in event]))
        elif how == "extra":
            event[self.pick(["admin", "__proto__", "path", "x" * 300])] = self.pick(HOSTILE_VALUES)
        else:
            event[self.pick(EVENT_FIELDS)] = self.pick(HOSTILE_VALUES)
        return event

    def telemetry(self) -> tuple[str, str, dict]:
        """Bad Pi events with the device token, or bad web events with a page's own token
        (a device token may not write web events: that would only test the 403)."""
        kind = self.pick(["pi", "web"])
        browser = f"web-{self.rng.getrandbits(48):012x}"
        events = []
        for _ in range(self.rng.randint(1, 4)):
            event = self.bad_event(pi_event if kind == "pi" else web_event)
            if kind == "web" and event.get("device_id") == "browser-1":  # the default, unharmed
                event["device_id"] = browser
            events.append(event)
        body = json.dumps({"events": events}, allow_nan=True)  # NaN/Infinity as JSON literals
        headers = (
            AUTH if kind == "pi" else {"Authorization": f"Bearer {self.signer.issue(browser)[0]}"}
        )
        return "POST", "/v1/telemetry", {"content": body, "headers": headers}

    def body(self) -> tuple[str, str, dict]:
        depth = self.rng.randint(1000, 200_000)
        content = self.pick(
            [
                b"{not json",
                b"null",
                b"[]",
                b'{"events": "x"}',
                b'{"events": []}',
                b"[" * depth + b"]" * depth,
                b'{"events": [' + b"{" * 10 + b"}" * 10 + b"]}",
                b'{"events": [' + b",".join([json.dumps(web_event()).encode()] * 501) + b"]}",
                b" " * (2 * 1024 * 1024 + self.rng.randint(1, 50_000)),
                "\u00ff\u00fe".encode("utf-16"),
            ]
        )
        return "POST", "/v1/telemetry", {"content": content, "headers": AUTH}

    def auth(self) -> tuple[str, str, dict]:
        browser = f"web-{self.rng.getrandbits(48):012x}"
        good, _ = self.signer.issue(browser)
        expired, _ = self.signer.issue(browser, now=time.time() - 8 * 3600)
        forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        token = self.pick(["", "x", f"Basic {TOKEN}", expired, forged, "ew1.a.b", TOKEN + "x"])
        event = web_event(device_id=browser)
        if self.rng.random() < 0.3:  # a valid web token speaking for someone else
            token, event = good, self.pick([web_event(), pi_event(device_id=browser)])
        elif self.rng.random() < 0.2:  # a device_id no token can own: once a 500
            token, event = good, web_event(device_id=self.pick([[], {}, [browser], {"a": 1}]))
        header = token if token.startswith("Basic") else f"Bearer {token}"
        url = self.pick(["/v1/telemetry", "/v1/images", f"/v1/models/{MODEL}/channels/stable"])
        if url == "/v1/telemetry":
            return "POST", url, {"json": {"events": [event]}, "headers": {"Authorization": header}}
        if url == "/v1/images":
            return "POST", url, {"content": b"\x89PNG", "headers": {"Authorization": header}}
        return "GET", url, {"headers": {"Authorization": header}}

    def image(self) -> tuple[str, str, dict]:
        kind = self.pick(["bytes", "bomb", "large", "query", "big_body"])
        params = {}
        if kind == "bytes":
            content = self.rng.randbytes(self.rng.randint(0, 400))
        elif kind == "bomb":
            side = self.pick([20_000, 11_000, 8_000, 65_535])
            content = declared_size_png(side, side)
        elif kind == "big_body":
            content = b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024 + self.rng.randint(1, 1000))
        elif kind == "large":
            content = declared_size_png(10_000, 5_001)
        else:
            content = declared_size_png(64, 64)
            params = {self.pick(["label", "device_id"]): self.pick(["../up", "a/b", "x" * 80, ""])}
        return "POST", "/v1/images", {"content": content, "params": params, "headers": AUTH}

    def channel(self) -> tuple[str, str, dict]:
        name = self.pick(
            ["m" * 300, "..", "a%2F..%2F..", "x" * 5000, "ünïcode", "nope", "a.b", "-x", MODEL]
        )
        channel = self.pick(["stable", "s" * 300, "..%2Fstable", "beta", "a b"])
        headers = {**AUTH, "If-None-Match": self.pick(['"x"', "*", "", "\x7f" * 10])}
        return "GET", f"/v1/models/{name}/channels/{channel}", {"headers": headers}

    def artifact(self) -> tuple[str, str, dict]:
        key = self.pick(
            [
                layout.channel(MODEL),
                layout.manifest(MODEL, self.version),
                layout.device_job(MODEL, self.version),
                layout.deployed_file(MODEL, self.version, "model.fp32.onnx/x"),
                layout.deployed_file("m" * 300, 1, "model.onnx"),
                "registry/registry.sqlite",  # layout-exempt: a hostile key, no layout's
                "../../etc/passwd",
                "deploy/../models/x",  # layout-exempt: a hostile key, no layout's
                layout.deployed_file("m", 1, "a" * 1000),
                "%2e%2e/%2e%2e/etc/passwd",
            ]
        )
        return "GET", f"/v1/artifacts/{key}", {}

    def web(self) -> tuple[str, str, dict]:
        path = self.pick(
            [
                "/app/../../pyproject.toml",
                "/app/%2e%2e/%2e%2e/pyproject.toml",
                "/app/vendor/ort/../../../../pyproject.toml",
                "/app/vendor/ort/ort.min.js.map",
                "/app/vendor/ort/" + "x" * 3000 + ".mjs",
                "/docs/vendor/../../../etc/passwd",
                "/app/nope.js",
                "/app/a%00b",  # once a 500: a NUL in a file name
                "/app/" + "y" * 300,  # once a 500: longer than a file name may be
                "/app/%00",
            ]
        )
        return "GET", path, {"headers": {"Accept-Encoding": self.pick(["gzip", "br", "x" * 500])}}

    def token(self) -> tuple[str, str, dict]:
        browser = f"web-{self.rng.getrandbits(48):012x}"
        token = self.pick(
            [
                "ew1.a.b",
                self.signer.issue(browser, now=time.time() - 40 * 86400)[0],
                WebTokenSigner(b"z" * 40).issue(browser)[0],
                "ew1." + "A" * 5000 + ".x",
            ]
        ).encode()
        if self.rng.random() < 0.3:  # bytes no ASCII token has: once 500s
            token = self.pick([b"ew1.abc.\xe9", b"ew1.\xe9\xff.sig", b"\xe9\xe9", b"ew1..\x80"])
        url = self.pick(["/v1/web/tokens", "/v1/telemetry"])
        return (
            "POST",
            url,
            {"headers": {"Authorization": b"Bearer " + token}, "json": {"events": []}},
        )

    def kinds(self) -> dict[str, Callable[[], tuple[str, str, dict]]]:
        return {
            "telemetry event": self.telemetry,
            "telemetry body": self.body,
            "auth": self.auth,
            "image": self.image,
            "channel": self.channel,
            "artifact": self.artifact,
            "web files": self.web,
            "web token": self.token,
        }


def send_good_event(client: httpx.Client) -> tuple[str, int | str]:
    """A valid event between the bad ones: its id and the gateway's answer (the status, or why
    there was none), so that a refusal counts as a loss and not only a crash."""
    event = pi_event()
    try:
        answer = client.post("/v1/telemetry", json={"events": [event]}, headers=AUTH)
    except httpx.HTTPError as error:
        return event["event_id"], f"no answer: {error!r}"[:120]
    return event["event_id"], answer.status_code


def fuzz(requests: int, seed: int, workers: int = 4) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        gateway = Gateway(
            Path(tmp), tokens=frozenset({TOKEN}), device_rates={}, web_rates={}
        ).start()
        version = register_tiny_version(gateway.store, gateway.registry, MODEL)
        gateway.registry.approve(MODEL, version, "fuzz", "bench")
        from assets.deployment.publish import publish_model_version

        publish_model_version(gateway.store, gateway.registry, MODEL, version)
        signer = WebTokenSigner(SECRET.encode())
        statuses: Counter = Counter()
        by_kind: dict[str, Counter] = {}
        server_errors: list[str] = []
        unreadable: list[str] = []
        good_answers: dict[str, int | str] = {}  # event id -> status, or why none
        lock = threading.Lock()
        started = time.perf_counter()

        def worker(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            cases = Cases(rng, signer, version)
            kinds = cases.kinds()
            names = sorted(kinds)
            with httpx.Client(base_url=gateway.url, timeout=60) as client:
                answered = 0
                while answered < math.ceil(requests / workers):  # requests the server answered
                    n = answered
                    kind = names[rng.randrange(len(names))]
                    method, url, kwargs = kinds[kind]()
                    try:
                        response = client.request(method, url, **kwargs)
                    except httpx.LocalProtocolError:
                        continue  # a request the HTTP client itself will not send
                    except httpx.HTTPError as error:
                        with lock:
                            server_errors.append(f"{method} {url[:80]} -> {error!r}")
                        continue
                    status = response.status_code
                    answered += 1
                    try:
                        detail = response.json().get("detail")
                    except (ValueError, AttributeError):
                        detail = None
                    if status == 400 and response.text.startswith("Invalid HTTP request"):
                        status = "400 (refused by the HTTP server, before the app)"
                    with lock:
                        statuses[status] += 1
                        by_kind.setdefault(kind, Counter())[status] += 1
                        if isinstance(status, int) and status >= 500:
                            server_errors.append(f"{method} {url[:80]} -> {status}")
                        elif isinstance(status, int) and status >= 400 and not detail:
                            unreadable.append(
                                f"{method} {url[:80]} -> {status} {response.text[:80]}"
                            )
                    if n % 10 == 0:  # a good event between the bad ones
                        event_id, answer = send_good_event(client)
                        with lock:
                            good_answers[event_id] = answer

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        now = datetime.now(UTC)
        stored = {e["event_id"] for e in gateway.telemetry.read("pi", now - timedelta(days=1), now)}
        gateway.stop()
    refused = {e: a for e, a in good_answers.items() if a != 200}
    missing = [e for e, a in good_answers.items() if a == 200 and e not in stored]
    lost = len(refused) + len(missing)
    return {
        "benchmark": "fuzz",
        "requests": sum(statuses.values()),  # a few mutations stay valid (2xx), counted too
        "seconds": round(seconds, 1),
        "status_counts": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "by_endpoint": {
            k: {str(s): n for s, n in sorted(v.items(), key=str)}
            for k, v in sorted(by_kind.items())
        },
        "server_errors_5xx": len(server_errors),
        "server_error_examples": server_errors[:10],
        "4xx_without_detail": len(unreadable),
        "4xx_without_detail_examples": unreadable[:10],
        "good_events_sent": len(good_answers),
        "good_event_answers": dict(sorted(Counter(map(str, good_answers.values())).items())),
        "good_events_refused": len(refused),  # answered other than 200, or not at all
        "good_events_missing_from_store": len(missing),  # answered 200, not stored
        "good_events_lost": lost,
        "good_event_loss_examples": [
            f"{event_id}: {answer}" for event_id, answer in list(refused.items())[:10]
        ]
        + [f"{event_id}: 200, not stored" for event_id in missing[:10]],
        "goals": {"5xx": 0, "good_events_lost": 0, "4xx_without_detail": 0},
        "pass": not server_errors and not lost and not unreadable,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default="bench/results/fuzz.json")
    args = parser.parse_args()
    report = fuzz(args.requests, args.seed)
    emit_report(report, args.output)
    if not report["pass"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
