"""`bench.gateway`'s ingest drives the gateway from every client process it starts, at once:
until 2026-12-04 the second process got its senders after the first had ended, sent nothing,
and the figure was one process's."""

import pytest

from bench.gateway import IngestTally, gateway_process, production_setup, send_for

pytestmark = pytest.mark.slow


def test_every_client_process_sends_in_the_same_window(tmp_path):
    setup = production_setup(devices=20)
    tally = IngestTally()
    with gateway_process(tmp_path, setup.environment) as url:
        send_for(url, setup, seconds=3.0, batch=10, clients=2, connections=1, tally=tally)
    (sent,) = tally.requests_by_client
    assert len(sent) == 2 and min(sent) > 0, sent
    assert sum(sent) == len(tally.latencies_ms) == sum(tally.statuses.values())
    assert tally.statuses["200"] == sum(sent)  # 20 devices: bursts of 300 each, not reached
    assert tally.events_stored == 10 * sum(sent)
