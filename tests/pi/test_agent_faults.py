"""The fleet under faults, over real HTTP: the gateway restarted while agents send, down for a
while, and an agent SIGKILLed and started again. No event an agent acknowledged (put in its
durable outbox) is lost, none is sent again unless the agent had no answer for it, and an
outage costs a handful of connection attempts, not hundreds.

"Sent again" is counted where the gateway hands events to its store (``CountingTelemetry``):
the store de-duplicates by event id, so what it holds cannot show a resend."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clients.pi.agent import SEND_BATCH, EdgeAgent, run
from clients.pi.gateway_client import Backoff, GatewayClient, GatewayUnreachable, HttpResponse
from clients.pi.storage import ModelCache
from edgeline_contract.profile import WIND_TURBINE
from tests.gateway.server import Gateway
from tests.pi.test_agent import normal_readings, register_and_publish

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TOKEN = "fleet-token"


def created(cache: Path) -> int:
    """Events the agent ever put in its outbox (the highest sequence number it handed out)."""
    with sqlite3.connect(cache / "outbox.sqlite") as db:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return row[0] if row else 0


def queued_head(cache: Path) -> list[str]:
    """The ids of the next batch in the agent's outbox: what it sends next, or was sending."""
    with closing(sqlite3.connect(cache / "outbox.sqlite")) as db:
        rows = db.execute("SELECT body FROM events ORDER BY seq LIMIT ?", (SEND_BATCH,)).fetchall()
    return [json.loads(body)["event_id"] for (body,) in rows]


def stored_for(gateway: Gateway, device: str) -> set[str]:
    """The ids the gateway's store holds for ``device`` (each once: the store de-duplicates)."""
    now = datetime.now(UTC)
    events = gateway.telemetry.read("pi", now - timedelta(hours=1), now + timedelta(minutes=5))
    return {e["event_id"] for e in events if e["device_id"] == device}


def refused(error: GatewayUnreachable) -> bool:
    """Whether the request never left: the connection was refused (nothing listened)."""
    cause = error.__context__  # what GatewayClient.request turned into GatewayUnreachable
    return isinstance(getattr(cause, "reason", cause), ConnectionRefusedError)


@dataclass
class UnackedCountingClient(GatewayClient):
    """The agent's gateway client, counting per event the telemetry sends that reached the
    gateway, or may have, without being acknowledged (no answer, or an answer other than
    200/207): the gateway may have stored their batch, so the agent may send it again."""

    unacknowledged: Counter = field(default_factory=Counter)

    def send(self, events: list[dict]) -> HttpResponse:
        try:
            response = super().send(events)
        except GatewayUnreachable as error:
            if not refused(error):
                self.unacknowledged.update(event["event_id"] for event in events)
            raise
        if response.status not in (200, 207):
            self.unacknowledged.update(event["event_id"] for event in events)
        return response


def drain(agent: EdgeAgent, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(agent.outbox) and time.monotonic() < deadline:
        agent.flush()
        time.sleep(0.1)
    assert len(agent.outbox) == 0, "the outbox did not drain"


@pytest.fixture
def fleet_gateway(tmp_path):
    gateway = Gateway(tmp_path / "gateway", tokens=frozenset({TOKEN})).start()
    register_and_publish(gateway.store, gateway.registry, threshold=9.0)
    yield gateway
    gateway.stop()


def test_restart_and_outage_under_load_lose_and_repeat_nothing(fleet_gateway, tmp_path):
    """Nothing is killed here and the gateway stops gracefully (uvicorn finishes the requests
    in progress), so every batch it stored was answered. An event reaches the gateway once, plus
    at most once per send of it that may have arrived unacknowledged (one that timed out after
    2 s, say; a refused connection carries nothing): with every send answered, no event twice."""
    outage_s = float(os.environ.get("EDGELINE_OUTAGE_S", "6"))
    agents = [
        EdgeAgent(
            UnackedCountingClient(fleet_gateway.url, TOKEN, timeout_s=2),
            ModelCache(tmp_path / f"agent-{n}"),
            f"turbine-{n:03d}",
            backoff=Backoff(base_s=0.5, cap_s=8.0),
        )
        for n in range(3)
    ]
    readings = list(enumerate(normal_readings()[:1200]))  # (position, reading)
    failures: list[BaseException] = []

    def drive(agent: EdgeAgent) -> None:
        try:  # the agents keep running through the whole outage
            # paced so that the readings last the outage and some: the model's 60 s interval,
            # sped up to one reading every (outage_s + 8) / 1200 seconds
            pause_s = max(0.01, (outage_s + 8) / len(readings))
            run(agent, readings, WIND_TURBINE.interval_s / pause_s, 1.0, 50)
        except BaseException as error:  # a dead thread must fail the test, not pass it
            failures.append(error)

    threads = [threading.Thread(target=drive, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    time.sleep(2)
    fleet_gateway.stop()  # a restart while the agents send
    fleet_gateway.start()
    time.sleep(1)
    before = [agent.gateway.attempts for agent in agents]
    fleet_gateway.stop()  # an outage
    time.sleep(outage_s)
    during = [agent.gateway.attempts - b for agent, b in zip(agents, before, strict=True)]
    fleet_gateway.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    for agent in agents:
        drain(agent)
        assert created(agent.cache.directory) == len(readings) - 10 + 1  # every window scored
    print(f"connection attempts per agent during a {outage_s:.0f} s outage: {during}")
    received = Counter(fleet_gateway.telemetry.appended)
    for agent in agents:
        stored = stored_for(fleet_gateway, agent.device_id)
        assert len(stored) == created(agent.cache.directory)  # none lost
        unacknowledged = agent.gateway.unacknowledged
        repeated = {i: received[i] - 1 for i in stored if received[i] > 1}
        print(
            f"{agent.device_id}: {len(repeated)} events received again, {len(unacknowledged)} "
            "were in sends that may have arrived unacknowledged"
        )
        beyond = {i: n for i, n in repeated.items() if n > unacknowledged[i]}
        assert beyond == {}, f"{len(beyond)} events sent again after the gateway acknowledged them"
        assert agent.outbox.counters()["overflowed"] == 0
    # without backoff every reading (100 a second) would have tried the network
    assert max(during) <= 2 + 2 * outage_s / 2


def test_an_agent_killed_and_restarted_loses_nothing_and_repeats_one_batch_at_most(
    fleet_gateway, tmp_path
):
    """At-least-once: the batch in flight when the agent dies (the head of its outbox, at most
    SEND_BATCH events) may have been stored without the agent seeing the answer, so the restarted
    agent sends it again. Those events may reach the gateway twice; every other event exactly
    once, so not one event twice when the kill did not fall between a store and its answer."""
    cache = tmp_path / "agent"
    command = [
        sys.executable,
        "-m",
        "clients.pi.agent",
        "--gateway",
        fleet_gateway.url,
        "--device-id",
        "turbine-042",
        "--data-dir",
        str(cache),
        "--speed",
        "30000",  # a reading every 2 ms
        "--poll-s",
        "1",
    ]
    environment = {**os.environ, "EDGELINE_AGENT_TOKEN": TOKEN}  # never on a command line
    agent = subprocess.Popen(
        [*command, "--limit", "5000"], cwd=REPO, env=environment, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    # mid-stream, with more acknowledged than one batch holds: a repeat beyond the batch in
    # flight cannot hide inside it
    while len(stored_for(fleet_gateway, "turbine-042")) < 2 * SEND_BATCH:
        assert agent.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=30)
    killed_at = created(cache)
    in_flight = set(queued_head(cache))  # all that can have been sent and not taken off
    subprocess.run(
        [*command, "--limit", "300"],
        cwd=REPO,
        env=environment,
        check=True,
        timeout=120,
        stderr=subprocess.DEVNULL,
    )
    assert created(cache) > killed_at  # the restarted agent went on from its durable outbox
    restarted = EdgeAgent(GatewayClient(fleet_gateway.url, TOKEN), ModelCache(cache), "turbine-042")
    drain(restarted)
    stored = stored_for(fleet_gateway, "turbine-042")
    assert len(stored) == created(cache)  # none lost
    received = Counter(fleet_gateway.telemetry.appended)
    repeated = {i for i in stored if received[i] > 1}
    print(f"{len(repeated)} events received twice; {len(in_flight)} could have been in flight")
    assert max(received[i] for i in stored) <= 2
    assert repeated <= in_flight, f"{len(repeated - in_flight)} acknowledged events sent again"
