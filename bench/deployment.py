"""Deployment benchmark: approval -> moved stable pointer -> a client's next poll, with the daemon.

    .venv/bin/python -m bench.deployment [--approvals 3] [--sensor-interval 1] [--client-poll 2]

Runs the real Dagster daemon over a temporary local home, registers tiny versions, approves
them one at a time and times (a) approval to moved pointer, (b) approval to the moment a client
polling every --client-poll seconds sees the new version. Prints JSON (and writes
bench/results/deployment.json).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from assets.deployment.publish import read_channel
from bench.report import emit_report
from orchestration.local_daemon import running_daemon, wait_for
from resources.environment import local_resources
from tests.deployment.conftest import register_tiny_version

MODEL = "turbine-autoencoder"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--approvals", type=int, default=3)
    parser.add_argument("--sensor-interval", type=int, default=1)
    parser.add_argument("--client-poll", type=float, default=2.0)
    parser.add_argument("--output", default="bench/results/deployment.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        resources = local_resources(home)
        store, registry = resources["artifacts"], resources["registry"]
        first = register_tiny_version(store, registry, MODEL)
        registry.approve(MODEL, first, "warm-up", "bench")
        to_pointer, to_client = [], []
        with running_daemon(home, args.sensor_interval):
            startup = wait_for(
                lambda: (read_channel(store, MODEL) or {}).get("version") == first, 180
            )
            for _ in range(args.approvals):
                version = register_tiny_version(store, registry, MODEL)
                registry.approve(MODEL, version, "bench", "bench")
                moved = wait_for(
                    lambda v=version: (read_channel(store, MODEL) or {}).get("version") == v,
                    60,
                    0.05,
                )
                if moved is None:
                    raise SystemExit(f"pointer did not move to v{version} within 60 s")
                to_pointer.append(moved)
                # a client polls every --client-poll s at a random phase: it sees the version at its next poll
                phase = np.random.default_rng(version).uniform(0, args.client_poll)
                polls = np.arange(phase, moved + args.client_poll + phase, args.client_poll)
                to_client.append(float(polls[polls >= moved][0]))
    report = {
        "benchmark": "deployment",
        "sensor_interval_s": args.sensor_interval,
        "client_poll_s": args.client_poll,
        "daemon_startup_to_first_publish_s": round(startup or -1, 1),
        "approval_to_pointer_s": [round(t, 2) for t in to_pointer],
        "approval_to_client_s": [round(t, 2) for t in to_client],
        "approval_to_client_max_s": round(max(to_client), 2),
        "goals": {"approval_to_client_s": "<= 15"},
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
