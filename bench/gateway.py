"""Gateway and roll-up benchmark.

    .venv/bin/python -m bench.gateway [--seconds 10] [--batch 100] [--clients 2]
        [--connections 2] [--devices 100] [--rounds 2] [--against CHECKOUT]
        [--rollup-events 200000]

1. Ingest: the gateway runs as README says (``python -m clients.gateway``: one uvicorn
   process; its rate-limit buckets are in memory, so more processes would multiply each
   token's limits) on 127.0.0.1 over local stores. ``--clients`` client processes
   (``bench.gateway_client``), ``--connections`` keep-alive connections each, POST batches of
   new Pi events over loopback. Gateways measured in alternating rounds, so that machine noise
   hits each alike: production settings (the default rate limits, one bound token per device,
   --devices of them, each request from the next device), limits off (one token, no rate
   limits: the raw capacity) and, with --against, production settings served from another
   checkout (a git worktree of an older commit), with the ratios to it. Reports events/s
   stored, request p50/p99 and the answers' status counts (a 429 is a request whose events
   were not stored).
2. Roll-up: events are appended to the local TelemetryStore, then the hourly roll-up and the
   daily report run as the assets do; reports events/min from store to report.
Prints JSON (and writes bench/results/gateway.json).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
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
def gateway_process(
    home: Path, environment: dict[str, str], source: Path | None = None
) -> Iterator[str]:
    """``python -m clients.gateway`` (README's command: one process) over local stores under
    ``home``, run from the checkout ``source`` (default: this one); its URL once healthy (the
    process's id is the URL's ``pid`` attribute)."""
    port = free_port()
    env = {**os.environ, "EDGELINE_HOME": str(home), "EDGELINE_ENV": "local", **environment}
    server = subprocess.Popen(
        [sys.executable, "-m", "clients.gateway", "--port", str(port)], env=env, cwd=source
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


# what the clients send: the tests' Pi event, filled in by bench.gateway_client
EVENT_TEMPLATE = json.dumps(
    pi_event(event_id="$event_id", device_id="$device", timestamp="$timestamp"),
    separators=(",", ":"),
)


@dataclass
class IngestTally:
    """What the clients saw: request latencies, answers, events the gateway stored, and each
    client process's requests in each round (all of them must have sent)."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    events_stored: int = 0
    seconds: float = 0.0
    requests_by_client: list[list[int]] = field(default_factory=list)


def send_for(
    url: str,
    setup: IngestSetup,
    seconds: float,
    batch: int,
    clients: int,
    connections: int,
    tally: IngestTally,
) -> None:
    """``clients`` processes (``bench.gateway_client``), ``connections`` each, POST batches for
    ``seconds``, each request from the next sender; they start together a second after launch.
    Every process is handed its senders before any is waited for: handed them one after another,
    the second got them only after the first had ended, its window already over, and sent
    nothing (until 2026-12-04 this measured one client process, not ``clients``)."""
    start_at = time.time() + 1.0
    command = [sys.executable, "-m", "bench.gateway_client", url, "--start-at", str(start_at)]
    command += ["--seconds", str(seconds), "--batch", str(batch)]
    command += ["--connections", str(connections), "--event", EVENT_TEMPLATE]
    with tempfile.TemporaryDirectory() as tmp:  # every process reads its own copy at once
        senders = Path(tmp) / "senders"
        senders.write_text("".join(f"{token}:{device}\n" for token, device in setup.senders))
        processes: list[subprocess.Popen] = []
        sent = []
        try:
            for i in range(clients):
                offset = ["--offset", str(i * len(setup.senders) // clients)]
                with senders.open() as stdin:
                    processes.append(
                        subprocess.Popen(
                            [*command, *offset], stdin=stdin, stdout=subprocess.PIPE, text=True
                        )
                    )
            for process in processes:
                output, _ = process.communicate(timeout=seconds + 60)
                if process.returncode:
                    raise RuntimeError(f"a benchmark client failed (exit {process.returncode})")
                seen = json.loads(output)
                tally.latencies_ms += seen["latencies_ms"]
                tally.statuses.update(seen["statuses"])
                tally.events_stored += seen["events_stored"]
                sent.append(len(seen["latencies_ms"]))
        finally:  # one failed: the others stop loading the gateway
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
    if not all(sent):  # a figure from fewer clients than asked for is not this benchmark's
        raise RuntimeError(f"a benchmark client sent nothing (requests by client: {sent})")
    tally.requests_by_client.append(sent)
    tally.seconds += seconds


def ingest(
    setups: dict[str, IngestSetup],
    seconds: float,
    batch: int,
    clients: int,
    connections: int,
    rounds: int = 2,
    sources: dict[str, Path] | None = None,
) -> dict[str, dict]:
    """Each setup's gateway for ``seconds`` in all, the setups taking turns in ``rounds``; a
    setup named in ``sources`` runs the gateway from that checkout."""
    tallies = {name: IngestTally() for name in setups}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls = {
            name: stack.enter_context(
                gateway_process(Path(tmp) / name, setup.environment, (sources or {}).get(name))
            )
            for name, setup in setups.items()
        }
        for _ in range(rounds):
            for name, setup in setups.items():
                send_for(
                    urls[name], setup, seconds / rounds, batch, clients, connections, tallies[name]
                )
    return {
        name: {
            "batch": batch,
            "client_processes": clients,
            "connections_per_client": connections,
            "server_processes": 1,
            "device_tokens": len(setups[name].senders),
            "rate_limits": setups[name].rate_limits,
            "requests": len(tally.latencies_ms),
            "requests_by_client_and_round": tally.requests_by_client,
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
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=2, help="per client process")
    parser.add_argument("--devices", type=int, default=100, help="device tokens in production")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--against",
        type=Path,
        help="another checkout (a git worktree of an older commit): its gateway with production "
        "settings joins the alternating rounds, and the ratios to it are reported",
    )
    parser.add_argument("--rollup-events", type=int, default=200_000)
    parser.add_argument("--output", default="bench/results/gateway.json")
    args = parser.parse_args()
    setups = {"production": production_setup(args.devices), "limits_off": limits_off_setup()}
    sources = {}
    if args.against:
        setups["production_against"] = setups["production"]
        sources["production_against"] = args.against.resolve()
    measured = ingest(
        setups, args.seconds, args.batch, args.clients, args.connections, args.rounds, sources
    )
    report = {"benchmark": "gateway", "ingest": measured}
    if args.against:
        this, other = measured["production"], measured["production_against"]
        report["against"] = {
            "checkout": str(args.against),
            "events_per_s_ratio": round(this["events_per_s"] / other["events_per_s"], 2),
            "request_p99_ms_ratio": round(this["request_p99_ms"] / other["request_p99_ms"], 2),
        }
    report["rollup"] = rollup(args.rollup_events)
    report["goals"] = {
        "production events_per_s": ">= 25000",
        "production request_p99_ms": "<= 50",
        "rollup_events_per_minute": ">= 2500000",
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
