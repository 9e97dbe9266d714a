"""Gateway and roll-up benchmark.

    .venv/bin/python -m bench.gateway [--seconds 10] [--batch 100] [--clients 2] [--devices 100]
        [--rollup-events 200000]

1. Ingest: the gateway runs under uvicorn in its own process on 127.0.0.1 (local stores); client
   threads POST batches of valid events over loopback. Two gateways, measured in alternating
   rounds so that machine noise hits both: production settings (rate limits on, one bound token
   per device, --devices of them, each request from the next device) and limits off (one
   token, no rate limits: the raw capacity). Reports events/s stored, request p50/p99 and the
   answers' status counts (a 429 is a request whose events were not stored).
2. Roll-up: events are appended to the local TelemetryStore, then the hourly roll-up and the
   daily report run as the assets do; reports events/min from store to report.
Prints JSON (and writes bench/results/gateway.json).
"""

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from dagster import DagsterInstance, FilesystemIOManager, materialize

from assets.catalog import SINGLE_IMAGE_MODEL as MODEL  # the model web_event names
from assets.partitions import image_models
from assets.telemetry.assets import events_assets, report_assets, report_key
from bench.report import emit_report
from orchestration.demo import free_port
from resources import LocalArtifactStore, SqliteModelRegistry, SqliteTelemetryStore, layout
from tests.gateway.conftest import pi_event, web_event


@dataclass(frozen=True)
class IngestSetup:
    """How a gateway is configured and who sends to it: (token, device id) pairs, taken in turn."""

    environment: dict[str, str]
    senders: tuple[tuple[str, str], ...]
    rate_limits: bool


def production_setup(devices: int) -> IngestSetup:
    """The default rate limits (DEFAULT_DEVICE_RATES) and one token per device, bound to it."""
    senders = tuple((f"bench-token-{i:04d}", f"device-{i:04d}") for i in range(devices))
    tokens = ",".join(f"{token}:{device}" for token, device in senders)
    return IngestSetup({"EDGELINE_GATEWAY_TOKENS": tokens}, senders, rate_limits=True)


def limits_off_setup() -> IngestSetup:
    """One shared token and no device rate limits: what the gateway itself can take."""
    return IngestSetup(
        {"EDGELINE_GATEWAY_TOKENS": "bench-token", "EDGELINE_GATEWAY_DEVICE_LIMITS": "off"},
        (("bench-token", "device-0000"),),
        rate_limits=False,
    )


@contextmanager
def gateway_process(home: Path, environment: dict[str, str]) -> Iterator[str]:
    """``python -m clients.gateway`` over local stores under ``home``; its URL once healthy
    (the process's id is the URL's ``pid`` attribute)."""
    port = free_port()
    env = {**os.environ, "EDGELINE_HOME": str(home), "EDGELINE_ENV": "local", **environment}
    server = subprocess.Popen(
        [sys.executable, "-m", "clients.gateway", "--port", str(port)], env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield GatewayURL(url, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # connections it could not close: still the end
            server.kill()
            server.wait(timeout=30)


class GatewayURL(str):
    """A running gateway's URL that also knows its process."""

    def __new__(cls, url: str, pid: int) -> "GatewayURL":
        made = super().__new__(cls, url)
        made.pid = pid
        return made


@dataclass
class IngestTally:
    """What the clients saw: request latencies, answers, events the gateway stored."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    events_stored: int = 0
    seconds: float = 0.0


def send_for(
    url: str, setup: IngestSetup, seconds: float, batch: int, clients: int, tally: IngestTally
) -> None:
    """``clients`` threads POST batches for ``seconds``, each request from the next sender."""
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        senders = itertools.islice(itertools.cycle(setup.senders), offset, None)
        with httpx.Client(base_url=url) as http:
            while time.monotonic() < stop:
                token, device = next(senders)
                # a device token writes Pi events (a web page's come with its own token)
                events = [pi_event(device_id=device) for _ in range(batch)]
                started = time.perf_counter()
                response = http.post(
                    "/v1/telemetry",
                    json={"events": events},
                    headers={"Authorization": f"Bearer {token}"},
                )
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    tally.latencies_ms.append(elapsed)
                    tally.statuses[response.status_code] += 1
                    if response.status_code in (200, 207):
                        tally.events_stored += response.json()["accepted"]

    started = time.monotonic()
    threads = [
        threading.Thread(target=client, args=(i * len(setup.senders) // clients,))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.seconds += time.monotonic() - started


def ingest(
    setups: dict[str, IngestSetup], seconds: float, batch: int, clients: int, rounds: int = 2
) -> dict[str, dict]:
    """Each setup's gateway for ``seconds`` in all, the setups taking turns in ``rounds``."""
    tallies = {name: IngestTally() for name in setups}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls = {
            name: stack.enter_context(gateway_process(Path(tmp) / name, setup.environment))
            for name, setup in setups.items()
        }
        for _ in range(rounds):
            for name, setup in setups.items():
                send_for(urls[name], setup, seconds / rounds, batch, clients, tallies[name])
    return {
        name: {
            "batch": batch,
            "clients": clients,
            "device_tokens": len(setups[name].senders),
            "rate_limits": setups[name].rate_limits,
            "requests": len(tally.latencies_ms),
            "status_counts": {str(k): v for k, v in sorted(tally.statuses.items())},
            "events_stored": tally.events_stored,
            "events_per_s": round(tally.events_stored / tally.seconds),
            "request_p50_ms": round(float(np.percentile(tally.latencies_ms, 50)), 2),
            "request_p99_ms": round(float(np.percentile(tally.latencies_ms, 99)), 2),
        }
        for name, tally in tallies.items()
    }


def rollup(events: int) -> dict:
    hour = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = LocalArtifactStore(root=str(root / "artifacts"))
        telemetry = SqliteTelemetryStore(path=str(root / "telemetry.sqlite"))
        offsets = rng.integers(0, 3_600_000, events)
        batch = []
        for i, offset in enumerate(offsets):
            at = hour + timedelta(milliseconds=int(offset))
            batch.append(
                web_event(at=at, device_id=f"browser-{i % 50}", latency_ms=float(rng.gamma(4, 5)))
            )
            if len(batch) == 10_000:
                telemetry.append(batch)
                batch = []
        if batch:
            telemetry.append(batch)
        resources = {
            "artifacts": store,
            "telemetry": telemetry,
            "registry": SqliteModelRegistry(path=str(root / "registry.sqlite")),
            "io_manager": FilesystemIOManager(base_dir=str(root / "io")),
        }
        instance = DagsterInstance.ephemeral()
        started = time.perf_counter()
        rolled = materialize(
            [events_assets["web"]],
            partition_key=hour.strftime("%Y-%m-%d-%H:%M"),
            resources=resources,
            instance=instance,
        )
        rolled_s = time.perf_counter() - started
        instance.add_dynamic_partitions(image_models.name, [MODEL])
        reported = materialize(
            [report_assets["web"]],
            partition_key=report_key("web", MODEL, f"{hour:%Y-%m-%d}"),
            resources=resources,
            instance=instance,
        )
        total_s = time.perf_counter() - started
        assert rolled.success and reported.success
        counted = store.get_json(layout.report_json("web", f"{hour:%Y-%m-%d}", MODEL))["events"]
    return {
        "events": events,
        "events_in_report": counted,
        "rollup_seconds": round(rolled_s, 2),
        "store_to_report_seconds": round(total_s, 2),
        "events_per_minute": round(events / total_s * 60),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--devices", type=int, default=100, help="device tokens in production")
    parser.add_argument("--rollup-events", type=int, default=200_000)
    parser.add_argument("--output", default="bench/results/gateway.json")
    args = parser.parse_args()
    setups = {"production": production_setup(args.devices), "limits_off": limits_off_setup()}
    report = {
        "benchmark": "gateway",
        "ingest": ingest(setups, args.seconds, args.batch, args.clients),
        "rollup": rollup(args.rollup_events),
        "goals": {
            "events_per_s": ">= 5000",
            "request_p99_ms": "<= 50",
            "rollup_events_per_minute": ">= 500000",
        },
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
