"""What the agent tells a person (and a machine): a status line in words a minute, the same
fields as JSON with --json, errors in words, a last line that says it stopped, a --help that
shows the defaults and names the fields as the status does. Over real HTTP to a real gateway."""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clients.pi import agent as agent_module
from clients.pi.agent import EdgeAgent, run, status_line
from clients.pi.gateway_client import GatewayClient, GatewayError, GatewayUnreachable
from clients.pi.storage import ModelCache
from edgeline_simulator.turbines import SIGNALS
from tests.gateway.server import Gateway
from tests.pi.test_agent import MODEL, WINDOW, normal_readings, register_and_publish

REPO = Path(__file__).resolve().parents[2]
TOKEN = "status-token"
COUNTS = ("sent", "queued", "rejected", "refused", "overflowed")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A gateway with v1 of the turbine model published, and that version."""
    gateway = Gateway(tmp_path_factory.mktemp("gateway"), tokens=frozenset({TOKEN})).start()
    version = register_and_publish(gateway.store, gateway.registry, threshold=9.0)
    yield gateway, version
    gateway.stop()


def closed_port() -> int:
    """A port nothing listens on (bound, then closed): a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_status_line_says_in_words_what_the_json_says(served, tmp_path):
    gateway, version = served
    agent = EdgeAgent(GatewayClient(gateway.url, TOKEN), ModelCache(tmp_path), "status-001")
    readings = list(normal_readings()[:30])
    stuck = readings[-1].copy()
    stuck[SIGNALS.index("voltage_v")] *= 0.5  # a sag the z-score model flags
    readings += [stuck] * WINDOW
    sent = 0
    for start in range(0, len(readings), 4):  # a busy agent: polls and sends, all answered
        agent.poll_model()
        for reading in readings[start : start + 4]:
            agent.process(reading)
        sent += agent.flush()
    status = agent.status()
    scored, flagged = status["scored"], status["anomalies"]
    assert (scored, sent) == (30 - WINDOW + 1 + WINDOW, scored) and flagged >= 1
    line = status_line(status)
    assert line == (
        f"running {MODEL} v{version} (fp32); {scored} windows scored, {flagged} flagged as "
        f"anomalies; events: {sent} sent, 0 queued, 0 rejected, 0 refused, 0 overflowed; "
        "the gateway answers"
    )
    assert str(tmp_path) not in line  # no data path in the line a person reads
    # every request was answered: none is a failure and there was no outage (the old
    # connection_attempts counted each one: 12 a minute under `make dev`)
    assert agent.gateway.attempts >= 15
    assert (status["connection_failures"], status["outages"]) == (0, 0)
    assert json.loads(json.dumps(status)) == status  # plain JSON for --json


def test_a_refused_token_is_said_in_words(served, tmp_path, caplog):
    gateway, _ = served
    caplog.set_level(logging.INFO, logger="edgeline.agent")
    agent = EdgeAgent(GatewayClient(gateway.url, "not-a-token"), ModelCache(tmp_path), "status-2")
    said = "the gateway refused the token (HTTP 401): missing or invalid bearer token"
    with pytest.raises(GatewayError) as refused:
        agent.poll_model()
    assert str(refused.value) == said
    run(agent, [(None, reading) for reading in normal_readings()[:3]], 0, 30.0)
    assert agent.status()["paused_because"] == f"no model: {said}"
    agent.outbox.put({"event_id": "kept"})
    assert agent.flush() == 0 and len(agent.outbox) == 1  # kept for when the token is fixed
    assert f"telemetry kept for later: {said}; retrying in" in caplog.text
    status = agent.status()
    assert status["gateway"] == said
    assert "b'" not in caplog.text and "{'detail'" not in caplog.text  # no Python reprs
    assert status_line(status).endswith(
        f"events: 0 sent, 1 queued, 0 rejected, 0 refused, 0 overflowed; {said}"
    )
    assert (status["connection_failures"], status["outages"]) == (0, 0)  # it answered


def test_a_refused_connection_is_said_in_words_and_counted_once_per_outage(served, tmp_path):
    gateway, version = served
    url = f"http://127.0.0.1:{closed_port()}"
    client = GatewayClient(url, TOKEN)
    agent = EdgeAgent(client, ModelCache(tmp_path), "status-003")
    for _ in range(3):
        agent.backoff.next_at = 0.0  # not waiting out the backoff here
        with pytest.raises(GatewayUnreachable) as unreachable:
            agent.poll_model()
        assert str(unreachable.value) == f"cannot reach the gateway at {url}: connection refused"
    status = agent.status()
    assert (status["connection_failures"], status["outages"]) == (3, 1)
    assert status["gateway"] == f"cannot reach the gateway at {url}: connection refused (for 0 s)"
    client.base_url = gateway.url  # back: the outage is over, its counts stay
    agent.backoff.next_at = 0.0
    assert agent.poll_model() and agent.state["version"] == version
    status = agent.status()
    assert (status["gateway"], status["connection_failures"], status["outages"]) == (
        "the gateway answers",
        3,
        1,
    )


def agent_command(gateway: Gateway, data: Path, *more: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "clients.pi.agent",
        "--gateway",
        gateway.url,
        "--device-id",
        data.name,
        "--data-dir",
        str(data),
        *more,
    ]


@pytest.mark.slow
def test_the_command_line_ends_with_a_stopped_line_in_words_or_json(served, tmp_path):
    gateway, version = served
    environment = {**os.environ, "EDGELINE_AGENT_TOKEN": TOKEN}
    done = subprocess.run(
        agent_command(gateway, tmp_path / "json-1", "--speed", "0", "--limit", "30", "--json"),
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    first = json.loads(next(ln for ln in lines if " status: " in ln).split(" status: ", 1)[1])
    last = json.loads(lines[-1].split(" stopped: ", 1)[1])
    assert set(first) == set(last)  # the same fields every time
    assert (last["state"], last["stopped_because"]) == ("stopped", "after 30 readings")
    assert last["model"]["version"] == version and last["scored"] == 30 - WINDOW + 1
    assert (last["sent"], last["queued"], last["connection_failures"]) == (30 - WINDOW + 1, 0, 0)

    # in words, and stopped by SIGTERM (systemctl stop) while it runs
    agent = subprocess.Popen(
        agent_command(gateway, tmp_path / "words-1", "--speed", "600"),  # 10 readings a second
        cwd=REPO,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        deadline = time.monotonic() + 60
        for line in agent.stderr:
            seen.append(line)
            if "first window scored" in line or time.monotonic() > deadline:
                break
        agent.send_signal(signal.SIGTERM)
        _, rest = agent.communicate(timeout=30)
    finally:
        agent.kill()
    lines = "".join([*seen, rest]).strip().splitlines()
    assert agent.returncode == 0, lines[-20:]
    status = next(ln for ln in lines if " status: " in ln).split(" status: ", 1)[1]
    assert status.startswith(f"running {MODEL} v{version} (fp32); 0 windows scored")
    assert status.endswith("; the gateway answers")
    stopped = lines[-1].split(" stopped: ", 1)[1]
    assert stopped.startswith(f"by SIGTERM, with {MODEL} v{version} (fp32); ")
    assert " windows scored, 0 flagged as anomalies; events: " in stopped
    assert "{" not in stopped and str(tmp_path) not in stopped


def test_help_shows_the_defaults_and_the_status_fields_by_name(tmp_path, served):
    text = agent_module.parser().format_help()
    for default in (
        "(default: turbine-autoencoder)",
        "(default: simulate)",
        "(default: 1.0)",
        "(default: 0)",
        "(default: 30.0)",
        "(default: 10000)",
        "(default: in words)",
    ):
        assert default in " ".join(text.split()), default
    gateway, _ = served
    status = EdgeAgent(GatewayClient(gateway.url, TOKEN), ModelCache(tmp_path), "s-4").status()
    fields = (*COUNTS, "scored", "anomalies", "unscored", "gateway", "connection_failures")
    for field in (*fields, "outages", "manifest_refused"):
        assert field in status and re.search(rf"\b{field}\b", text), field
    assert "connection_attempts" not in text and "connection_attempts" not in status
