"""`edgeline dev` (make dev): the UI and daemon, the gateway with the page and a simulated fleet
start together, telemetry flows, and Ctrl-C stops every process it started."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.dev import answers_ok
from resources.environment import local_io_resources
from tests.gateway.conftest import free_port
from tests.pi.test_agent import register_and_publish

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def processes_under(home: Path) -> list[int]:
    """Every live process started with EDGELINE_HOME=``home`` (the dev processes all are)."""
    marker = f"EDGELINE_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split(") ")[-1][0]
        except OSError:
            continue
        if marker in environment and state != "Z":
            found.append(int(entry.name))
    return found


def test_dev_starts_everything_and_ctrl_c_stops_it_all(tmp_path):
    home = tmp_path / "home"
    resources = local_io_resources(home)
    register_and_publish(resources["artifacts"], resources["registry"], threshold=9.0)
    ui, gateway = free_port(), free_port()
    dev = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("edgeline")),
            "dev",
            "--port",
            str(ui),
            "--gateway-port",
            str(gateway),
            "--fleet",
            "2",
        ],
        cwd=REPO,
        env={**os.environ, "EDGELINE_ENV": "local", "EDGELINE_HOME": str(home), "DAGSTER_HOME": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        telemetry = resources["telemetry"]
        window = lambda: (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))  # noqa: E731
        while not (
            answers_ok(f"http://127.0.0.1:{ui}/server_info")
            and answers_ok(f"http://127.0.0.1:{gateway}/")
            and {e["device_id"] for e in telemetry.read("pi", *window())}
            >= {"dev-turbine-000", "dev-turbine-001"}
        ):
            assert dev.poll() is None, dev.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "edgeline dev did not come up"
            time.sleep(1)
        assert len(processes_under(home)) >= 5  # dev, dagster, the gateway, two agents
    finally:
        dev.send_signal(signal.SIGINT)  # Ctrl-C
        dev.wait(timeout=90)
    deadline = time.monotonic() + 30
    while processes_under(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_under(home) == [], processes_under(home)
    assert not answers_ok(f"http://127.0.0.1:{gateway}/v1/health")
    assert not answers_ok(f"http://127.0.0.1:{ui}/server_info")
