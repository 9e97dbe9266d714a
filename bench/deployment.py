"""Deployment benchmark: approval -> moved stable pointer -> real Pi agents running the version.

    .venv/bin/python -m bench.deployment [--approvals 5] [--sensor-intervals 10,1]
        [--client-poll 2] [--clients 3]

For each registry sensor interval (10 s, the default of EDGELINE_SENSOR_INTERVAL_S, and 1 s, what
the daemon tests run with), runs the real Dagster daemon over a temporary local home and the
gateway over the same stores. The clients are the Pi agent's own code (``EdgeAgent.poll_model``:
the channel over HTTP with If-None-Match, the sha256-checked download, the session switch), each
polling every --client-poll seconds from its own random phase, as a fleet does. Registers tiny
versions and approves them one at a time, each at a random moment of the sensor's interval (a
person does not approve just after a tick), and times (a) approval to the moved pointer and (b)
approval to the moment each agent runs the new version. Prints JSON (and writes
bench/results/deployment.json).
"""

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from assets.deployment.publish import read_channel
from bench.report import emit_report
from clients.pi.agent import EdgeAgent
from clients.pi.gateway_client import GatewayClient, GatewayError
from clients.pi.storage import ModelCache
from orchestration.demo import DEMO_TOKEN, running_gateway
from orchestration.local_daemon import running_daemon, wait_for
from resources.environment import local_resources
from tests.deployment.conftest import register_tiny_version

MODEL = "turbine-autoencoder"
GOAL_S = 15.0


class PollingAgent:
    """A Pi agent that follows the channel every ``poll_s`` from its own phase, in a thread, and
    notes when it first runs each version."""

    def __init__(self, url: str, directory: Path, name: str, poll_s: float, phase_s: float):
        self.agent = EdgeAgent(
            GatewayClient(url, DEMO_TOKEN), ModelCache(directory), name, model=MODEL
        )
        self.poll_s, self.phase_s = poll_s, phase_s
        self.running_since: dict[int, float] = {}  # version -> time.monotonic() of the switch
        self.polls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name=name, daemon=True)

    def _follow(self) -> None:
        next_poll = time.monotonic() + self.phase_s
        while not self._stop.wait(max(0.0, next_poll - time.monotonic())):
            next_poll += self.poll_s
            self.polls += 1
            try:
                changed = self.agent.poll_model()
            except GatewayError as error:
                self.errors.append(str(error)[:200])
                continue
            if changed and self.agent.state:
                self.running_since.setdefault(self.agent.state["version"], time.monotonic())

    def start(self) -> "PollingAgent":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def measure(sensor_interval_s: int, approvals: int, clients: int, poll_s: float, seed: int) -> dict:
    """One daemon at ``sensor_interval_s``: approvals one at a time, timed to pointer and agents."""
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        resources = local_resources(home)
        store, registry = resources["artifacts"], resources["registry"]
        first = register_tiny_version(store, registry, MODEL)
        registry.approve(MODEL, first, "warm-up", "bench")
        approvals_seen = []
        with (
            running_daemon(home, sensor_interval_s),
            running_gateway(store, resources["telemetry"]) as url,
        ):
            startup = wait_for(
                lambda: (read_channel(store, MODEL) or {}).get("version") == first, 180
            )
            agents = [
                PollingAgent(
                    url, home / f"agent-{i}", f"bench-pi-{i}", poll_s, rng.uniform(0, poll_s)
                ).start()
                for i in range(clients)
            ]
            try:
                if wait_for(lambda: all(first in a.running_since for a in agents), 60) is None:
                    raise SystemExit(f"the agents did not all run v{first} within 60 s")
                for _ in range(approvals):
                    version = register_tiny_version(store, registry, MODEL)
                    time.sleep(rng.uniform(0, sensor_interval_s))
                    registry.approve(MODEL, version, "bench", "bench")
                    approved = time.monotonic()
                    moved = wait_for(
                        lambda v=version: (read_channel(store, MODEL) or {}).get("version") == v,
                        90,
                        0.05,
                    )
                    if moved is None:
                        raise SystemExit(f"pointer did not move to v{version} within 90 s")
                    if (
                        wait_for(lambda v=version: all(v in a.running_since for a in agents), 60)
                        is None
                    ):
                        raise SystemExit(f"the agents did not all run v{version} within 60 s")
                    to_agents = [a.running_since[version] - approved for a in agents]
                    approvals_seen.append(
                        {
                            "version": version,
                            "to_pointer_s": round(moved, 2),
                            "to_agents_s": [round(t, 2) for t in to_agents],
                        }
                    )
            finally:
                for agent in agents:
                    agent.stop()
    to_clients = [t for seen in approvals_seen for t in seen["to_agents_s"]]
    return {
        "sensor_interval_s": sensor_interval_s,
        "daemon_startup_to_first_publish_s": round(startup or -1, 1),
        "approvals": approvals_seen,
        "approval_to_pointer_max_s": max(seen["to_pointer_s"] for seen in approvals_seen),
        "approval_to_client_p50_s": round(statistics.median(to_clients), 2),
        "approval_to_client_max_s": max(to_clients),
        "client_polls": sum(a.polls for a in agents),
        "client_requests": sum(a.agent.gateway.attempts for a in agents),
        "client_errors": [e for a in agents for e in a.errors][:10],
        "pass": max(to_clients) <= GOAL_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--approvals", type=int, default=5, help="per sensor interval")
    parser.add_argument(
        "--sensor-intervals", default="10,1", help="comma-separated seconds, one daemon each"
    )
    parser.add_argument("--client-poll", type=float, default=2.0, help="seconds between polls")
    parser.add_argument("--clients", type=int, default=3, help="Pi agents polling")
    parser.add_argument("--seed", type=int, default=1, help="polling phases, approval moments")
    parser.add_argument("--output", default="bench/results/deployment.json")
    args = parser.parse_args()
    intervals = [int(s) for s in args.sensor_intervals.split(",")]
    report = {
        "benchmark": "deployment",
        "client": "clients/pi EdgeAgent.poll_model over HTTP (If-None-Match, download, sha256)",
        "client_poll_s": args.client_poll,
        "clients": args.clients,
        "by_sensor_interval": {
            f"{interval}s": measure(
                interval, args.approvals, args.clients, args.client_poll, args.seed
            )
            for interval in intervals
        },
        "goals": {"approval_to_client_max_s": f"<= {GOAL_S:g}"},
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
