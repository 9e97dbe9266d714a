"""Channel polls through the gateway over S3 (moto's standalone server on loopback): the
published manifest kept by its sha256 (clients/gateway/manifests.py) against the same gateway
made to read it on every poll, alternating rounds in one process.

    .venv/bin/python -m bench.channel_polls [--polls 200] [--rounds 6]

A poll reads the channel pointer and the rollout document either way; the store requests per
poll are counted, and the ratio of polls/s is the manifest cache's effect.
"""

import argparse
import collections
import statistics
import tempfile
import threading
import time
from typing import Any

import boto3
import botocore.client
import httpx
import uvicorn

from bench.report import emit_report
from clients.gateway.app import GatewaySettings, create_app
from clients.gateway.serving import server_config
from orchestration.demo import free_port
from resources import S3ArtifactStore, SqliteModelRegistry, SqliteTelemetryStore
from tests.conftest import aws_environment, moto_server
from tests.pi.test_agent import MODEL, register_and_publish

TOKEN = "bench-token"


def counted_requests() -> collections.Counter:
    """Every AWS API call this process makes from now on, by operation."""
    calls: collections.Counter = collections.Counter()
    real = botocore.client.BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict) -> Any:
        calls[operation] += 1
        return real(client, operation, params)

    botocore.client.BaseClient._make_api_call = counting
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polls", type=int, default=200, help="per round and setting")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--output", default="bench/results/channel_polls.json")
    args = parser.parse_args()
    with (
        moto_server() as endpoint,
        aws_environment(endpoint, credential="bench"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        boto3.client("s3").create_bucket(Bucket="edgeline-bench-polls")
        store = S3ArtifactStore(bucket="edgeline-bench-polls", prefix="edgeline")
        registry = SqliteModelRegistry(path=f"{tmp}/registry.sqlite")
        register_and_publish(store, registry, threshold=9.0)
        # one device polling as fast as it can: its rate limit would answer 429, not the store
        settings = GatewaySettings(tokens=frozenset({TOKEN}), device_rates={})
        app = create_app(settings, store, SqliteTelemetryStore(path=f"{tmp}/telemetry.sqlite"))
        manifests = app.state.gateway.manifests
        port = free_port()
        server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        calls = counted_requests()

        def polls_per_s(kept: bool) -> tuple[float, float]:
            manifests.resize(0)  # each round starts with nothing kept
            manifests.resize(256 if kept else 0)
            calls.clear()
            started = time.perf_counter()
            for _ in range(args.polls):
                answer = http.get(
                    f"/v1/models/{MODEL}/channels/stable",
                    params={"client": "turbine-001"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert answer.status_code == 200, answer.text
            return args.polls / (time.perf_counter() - started), sum(calls.values()) / args.polls

        polls_per_s(True)  # warm up
        rounds = [(polls_per_s(False), polls_per_s(True)) for _ in range(args.rounds)]
        server.should_exit = True
    read_each, kept = [r[0][0] for r in rounds], [r[1][0] for r in rounds]
    ratios = list(zip(kept, read_each, strict=True))
    emit_report(
        {
            "benchmark": "channel_polls",
            "store": "S3 (moto's server on loopback)",
            "polls_per_round": args.polls,
            "polls_per_s_manifest_read_each_poll": [round(x, 1) for x in read_each],
            "polls_per_s_manifest_kept": [round(x, 1) for x in kept],
            "s3_requests_per_poll": {
                "manifest_read_each_poll": round(rounds[-1][0][1], 2),
                "manifest_kept": round(rounds[-1][1][1], 2),
            },
            "ratio_per_round": [round(k / r, 2) for k, r in ratios],
            "ratio_median": round(statistics.median(k / r for k, r in ratios), 2),
        },
        args.output,
    )


if __name__ == "__main__":
    main()
