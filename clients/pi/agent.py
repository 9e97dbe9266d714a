"""The edge agent: keeps the newest approved model, runs it on live readings, reports back.

Runs on a Raspberry Pi with onnxruntime (>= 1.22: 1.21 dies with "Illegal instruction" on a
Pi 4), numpy and the standard library only. What it does, and what the seed got wrong:
- polls the gateway's channel with ETag/If-None-Match, downloads the recommended variant, checks
  its sha256 against the manifest, and switches atomically; a bad download keeps the old model;
- when the channel moves back (a revoked version), it switches back, from its cache if it can;
- keeps only the last ``window`` readings (a bounded deque), and a bounded queue of telemetry
  that is sent in batches and retried, dropping the oldest (and counting them) when offline.

    python -m clients.pi.agent --gateway http://127.0.0.1:8000 --token T --device-id turbine-007 --simulate 600
"""

import argparse
import hashlib
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort

log = logging.getLogger("edgeline.agent")
MODEL = "turbine-autoencoder"


class GatewayError(RuntimeError):
    pass


@dataclass
class GatewayClient:
    base_url: str
    token: str
    timeout_s: float = 10.0

    def _request(
        self, path_or_url: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict, bytes]:
        url = (
            path_or_url
            if path_or_url.startswith("http")
            else self.base_url.rstrip("/") + path_or_url
        )
        request = urllib.request.Request(
            url, data=body, headers={"Authorization": f"Bearer {self.token}", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise GatewayError(f"gateway unreachable: {error}") from None

    def manifest(self, model: str, etag: str | None) -> tuple[dict | None, str | None]:
        """The channel's manifest, or None when it has not changed since ``etag``."""
        status, headers, body = self._request(
            f"/v1/models/{model}/channels/stable", headers={"If-None-Match": etag} if etag else {}
        )
        if status == 304:
            return None, etag
        if status != 200:
            raise GatewayError(f"manifest: HTTP {status}: {body[:200]!r}")
        return json.loads(body), headers.get("ETag") or headers.get("etag")

    def download(self, url: str) -> bytes:
        status, _, body = self._request(url)
        if status != 200:
            raise GatewayError(f"download {url}: HTTP {status}")
        return body

    def send(self, events: list[dict]) -> int:
        status, _, body = self._request(
            "/v1/telemetry",
            json.dumps({"events": events}).encode(),
            {"Content-Type": "application/json"},
        )
        if status not in (200, 207):
            raise GatewayError(f"telemetry: HTTP {status}: {body[:200]!r}")
        return json.loads(body)["accepted"]


class ModelCache:
    """Verified model files on disk and a ``current.json`` that names the one in use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, model: str, version: int, precision: str) -> Path:
        return self.directory / f"{model}-v{version}-{precision}.onnx"

    def install(self, path: Path, data: bytes, sha256: str) -> Path:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise GatewayError(
                f"{path.name}: sha256 does not match the manifest; keeping the current model"
            )
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
        return path

    def cached(self, path: Path, sha256: str) -> bool:
        return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256

    def set_current(self, state: dict) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
        os.replace(tmp, self.directory / "current.json")

    def current(self) -> dict | None:
        path = self.directory / "current.json"
        return json.loads(path.read_text()) if path.is_file() else None


class EdgeAgent:
    def __init__(
        self, gateway: GatewayClient, cache: ModelCache, device_id: str, max_queue: int = 10_000
    ) -> None:
        self.gateway, self.cache, self.device_id = gateway, cache, device_id
        self.etag: str | None = None
        self.session: ort.InferenceSession | None = None
        self.state: dict | None = None
        self.readings: deque = deque(maxlen=1)
        self.outbox: deque = deque(maxlen=max_queue)
        self.dropped = 0
        state = cache.current()
        if state:
            self._load(state)

    def _load(self, state: dict) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            state["path"], options, providers=["CPUExecutionProvider"]
        )
        self.state = state
        window = state["window"]
        self.readings = deque(self.readings, maxlen=window)

    def poll_model(self) -> bool:
        """Follow the channel; True when the model in use changed."""
        manifest, etag = self.gateway.manifest(MODEL, self.etag)
        if manifest is None:
            return False
        precision = manifest["recommended"].get("pi") or manifest["variants"][0]["precision"]
        variant = next(v for v in manifest["variants"] if v["precision"] == precision)
        path = self.cache.path_for(manifest["model"], manifest["version"], precision)
        if not self.cache.cached(path, variant["sha256"]):
            self.cache.install(path, self.gateway.download(variant["url"]), variant["sha256"])
        state = {
            "model": manifest["model"],
            "version": manifest["version"],
            "variant": precision,
            "path": str(path),
            "window": manifest["window"],
        }
        changed = state != self.state
        if changed:
            self._load(state)
            self.cache.set_current(state)
            log.info("now running %s v%d (%s)", state["model"], state["version"], precision)
        self.etag = etag
        return changed

    def process(self, reading: Iterable[float]) -> dict | None:
        """Add one reading; once a window is full, score it and queue the telemetry event."""
        if self.session is None or self.state is None:
            return None
        self.readings.append(np.asarray(list(reading), dtype=np.float32))
        if len(self.readings) < self.state["window"]:
            return None
        window = np.concatenate(self.readings)[None, :]
        started = time.perf_counter()
        outputs = dict(
            zip(
                [o.name for o in self.session.get_outputs()],
                self.session.run(None, {"window": window}),
                strict=True,
            )
        )
        latency_ms = (time.perf_counter() - started) * 1000
        event = {
            "schema": "edgeline.telemetry/1",
            "event_id": str(uuid.uuid4()),
            "client_kind": "pi",
            "device_id": self.device_id,
            "model": self.state["model"],
            "model_version": self.state["version"],
            "variant": self.state["variant"],
            "timestamp": datetime.now(UTC).isoformat(),
            "backend": "cpu",
            "threads": 1,
            "latency_ms": latency_ms,
            "reconstruction_error": float(outputs["error"][0]),
            "anomaly": bool(outputs["anomaly"][0]),
        }
        self.enqueue(event)
        return event

    def enqueue(self, event: dict) -> None:
        """Queue an event for the gateway; when the queue is full the oldest goes (and is counted)."""
        if len(self.outbox) == self.outbox.maxlen:
            self.dropped += 1
        self.outbox.append(event)

    def flush(self, batch: int = 500) -> int:
        """Send queued events; what fails stays queued for the next try."""
        sent = 0
        while self.outbox:
            chunk = [self.outbox[i] for i in range(min(batch, len(self.outbox)))]
            self.gateway.send(chunk)
            for _ in chunk:
                self.outbox.popleft()
            sent += len(chunk)
        return sent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--device-id", required=True)
    parser.add_argument("--cache", default=str(Path.home() / ".edgeline-agent"))
    parser.add_argument("--simulate", type=int, default=600, help="simulated readings to process")
    parser.add_argument("--poll-s", type=float, default=30.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from clients.pi.simulator import SIGNALS, FleetSettings, simulate_turbine

    agent = EdgeAgent(
        GatewayClient(args.gateway, args.token), ModelCache(Path(args.cache)), args.device_id
    )
    day = simulate_turbine(7, int(time.time() // 86400), FleetSettings(turbines=1), seed=1)
    last_poll = 0.0
    for index in range(min(args.simulate, len(day["fault"]))):
        if time.monotonic() - last_poll > args.poll_s:
            try:
                agent.poll_model()
            except GatewayError as error:
                log.warning("%s", error)
            last_poll = time.monotonic()
        agent.process(day[name][index] for name in SIGNALS)
        if len(agent.outbox) >= 100:
            try:
                agent.flush()
            except GatewayError as error:
                log.warning(
                    "%s (%d events queued, %d dropped)", error, len(agent.outbox), agent.dropped
                )
    try:
        agent.flush()
    except GatewayError as error:
        log.warning("%s", error)


if __name__ == "__main__":
    main()
