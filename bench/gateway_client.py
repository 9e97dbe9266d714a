"""One client process of ``bench.gateway``'s ingest: POSTs batches of new Pi events over
keep-alive connections for a window of time, and prints what it saw as JSON.

    python -m bench.gateway_client URL --start-at EPOCH --seconds S --batch N --event JSON
        [--connections C] [--offset K]   (token:device pairs, one a line, on stdin)

Standard library only, and cheap per request (the events are filled into the JSON of one
event that ``bench.gateway`` hands it, each with a new event id and its own time), so that on a small machine the clients leave the
cores to the gateway they measure. Each request comes from the next sender in turn.
"""

import argparse
import http.client
import itertools
import json
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from string import Template
from urllib.parse import urlsplit


class Batches:
    """Request bodies of ``size`` events never sent before, timed as an agent's queued events
    are. Their ids are random, as the page's (``crypto.randomUUID``) and the agent's are: a
    store's index on them takes each at its own place (ids that counted up took 1.2-1.4x the
    events/s from the SQLite store: each batch's went to one page)."""

    def __init__(self, size: int, template: str) -> None:
        self.size = size
        self.event = Template(template)

    def body(self, device: str) -> bytes:
        """One batch: the events of the last ``size`` seconds up to five minutes ago, one a
        second (each its own time, as an agent's readings)."""
        newest = datetime.now(UTC) - timedelta(minutes=5)
        events = ",".join(
            self.event.substitute(
                event_id=str(uuid.uuid4()),
                device=device,
                timestamp=(newest - timedelta(seconds=self.size - i)).isoformat(),
            )
            for i in range(self.size)
        )
        return f'{{"events":[{events}]}}'.encode()


def send(
    url: str,
    senders: list[tuple[str, str]],
    batches: Batches,
    start_at: float,
    stop_at: float,
    tally: dict,
    lock: threading.Lock,
) -> None:
    """One connection's requests from ``start_at`` to ``stop_at`` (wall clock); a request that
    ends after ``stop_at`` is not counted."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    turn = itertools.cycle(senders)
    time.sleep(max(0.0, start_at - time.time()))
    while time.time() < stop_at:
        token, device = next(turn)
        body = batches.body(device)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            connection.request("POST", "/v1/telemetry", body, headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException):  # the server closed it: open another
            connection.close()
            with lock:
                tally["statuses"]["connection error"] += 1
            continue
        elapsed_ms = (time.perf_counter() - started) * 1000
        if time.time() > stop_at:
            break
        with lock:
            tally["latencies_ms"].append(round(elapsed_ms, 3))
            tally["statuses"][str(response.status)] += 1
            if response.status in (200, 207):
                tally["events_stored"] += json.loads(answer)["accepted"]
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--start-at", type=float, required=True, help="wall clock (epoch s)")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0, help="the sender to start from")
    parser.add_argument(
        "--event",
        required=True,
        help="an event's JSON with $event_id, $device and $timestamp where they go",
    )
    args = parser.parse_args()
    pairs = [line.strip().split(":", 1) for line in sys.stdin if line.strip()]
    senders = [(token, device) for token, device in pairs]
    tally = {"latencies_ms": [], "statuses": Counter(), "events_stored": 0}
    lock = threading.Lock()
    batches = Batches(args.batch, args.event)
    stop_at = args.start_at + args.seconds
    threads = []
    for i in range(args.connections):  # each connection starts at another sender
        first = (args.offset + i * len(senders) // args.connections) % len(senders)
        mine = senders[first:] + senders[:first]
        work = (args.url, mine, batches, args.start_at, stop_at, tally, lock)
        threads.append(threading.Thread(target=send, args=work))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    json.dump(tally, sys.stdout)


if __name__ == "__main__":
    main()
