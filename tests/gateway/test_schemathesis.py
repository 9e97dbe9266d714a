"""Schemathesis (a fuzzer nobody here wrote, as the outside testers ran it) against the gateway
over HTTP, from its own /openapi.json: whatever it generates, as an anonymous caller, with a
device token and with a web token, gets an answer below 500. A short budget here;
EDGELINE_SCHEMATHESIS_EXAMPLES (per operation) raises it for a longer run."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.gateway.server import Gateway
from tests.pi.test_agent import register_and_publish

pytestmark = pytest.mark.slow
EXAMPLES = os.environ.get("EDGELINE_SCHEMATHESIS_EXAMPLES", "40")
TOKEN = "schemathesis-device-token"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    # no rate limits: a 429 would hide what the request would have done
    gateway = Gateway(
        tmp_path_factory.mktemp("schemathesis"),
        tokens=frozenset({TOKEN}),
        device_rates={},
        web_rates={},
    ).start()
    register_and_publish(gateway.store, gateway.registry, threshold=9.0)  # a real channel
    yield gateway
    gateway.stop()


@pytest.mark.parametrize("who", ["anonymous", "device", "web"])
def test_no_generated_request_gets_a_server_error(served, who, tmp_path):
    token = None
    if who == "device":
        token = TOKEN
    elif who == "web":
        token = httpx.post(f"{served.url}/v1/web/tokens").json()["token"]
    report = tmp_path / "report.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{served.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "2026",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            *(["--header", f"Authorization: Bearer {token}"] if token else []),
        ],
        cwd=tmp_path,  # its cache (.schemathesis/) replays earlier runs' cases: none here
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert report.stat().st_size > 0  # it ran and wrote what it sent
