"""Gateway and roll-up benchmark.

    .venv/bin/python -m bench.gateway [--seconds 10] [--batch 100] [--clients 2] [--rollup-events 200000]

1. Ingest: the gateway runs under uvicorn in its own process on 127.0.0.1 (local stores); client
   threads POST batches of valid events over loopback. Reports events/s and request p50/p99.
2. Roll-up: events are appended to the local TelemetryStore, then the hourly roll-up and the
   daily report run as the assets do; reports events/min from store to report.
Prints JSON (and writes bench/results/gateway.json).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
from dagster import DagsterInstance, FilesystemIOManager, materialize

from assets.telemetry.assets import events_assets, report_assets
from bench.report import emit_report
from resources import LocalArtifactStore, SqliteModelRegistry, SqliteTelemetryStore
from tests.gateway.conftest import free_port, pi_event, web_event

TOKEN = "bench-token"


def ingest(seconds: float, batch: int, clients: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "EDGELINE_HOME": tmp,
            "EDGELINE_ENV": "local",
            "EDGELINE_GATEWAY_TOKENS": TOKEN,
            "EDGELINE_GATEWAY_DEVICE_LIMITS": "off",  # the raw capacity, not the rate limit
        }
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
            latencies: list[float] = []
            sent = [0]
            lock = threading.Lock()
            stop = time.monotonic() + seconds

            def client() -> None:
                with httpx.Client(
                    base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}
                ) as http:
                    while time.monotonic() < stop:
                        events = [web_event() if i % 2 else pi_event() for i in range(batch)]
                        started = time.perf_counter()
                        response = http.post("/v1/telemetry", json={"events": events})
                        elapsed = (time.perf_counter() - started) * 1000
                        assert response.status_code == 200, response.text
                        with lock:
                            latencies.append(elapsed)
                            sent[0] += batch

            started = time.monotonic()
            threads = [threading.Thread(target=client) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "batch": batch,
        "clients": clients,
        "requests": len(latencies),
        "events": sent[0],
        "events_per_s": round(sent[0] / wall),
        "request_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "request_p99_ms": round(float(np.percentile(latencies, 99)), 2),
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
        reported = materialize(
            [report_assets["web"]],
            partition_key=hour.strftime("%Y-%m-%d"),
            resources=resources,
            instance=instance,
        )
        total_s = time.perf_counter() - started
        assert rolled.success and reported.success
        counted = store.get_json(f"reports/web/{hour:%Y-%m-%d}/report.json")["events"]
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
    parser.add_argument("--rollup-events", type=int, default=200_000)
    parser.add_argument("--output", default="bench/results/gateway.json")
    args = parser.parse_args()
    report = {
        "benchmark": "gateway",
        "ingest": ingest(args.seconds, args.batch, args.clients),
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
