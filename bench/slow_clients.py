"""Slow clients against the gateway: what they can hold, and for how long.

    .venv/bin/python -m bench.slow_clients [--uploads 100] [--tokens 10] [--slowloris 200]
        [--rate-kb 90] [--seconds 60]

The attack as it was reported: ``--uploads`` image uploads of 5 MB each, from ``--tokens`` web
tokens, each sent at ``--rate-kb`` kB a second (5 MB take about a minute), and ``--slowloris``
connections that send a header line now and then and never finish. The gateway runs as `python -m clients.gateway` does (its own process,
production settings). Sampled every second for ``--seconds``: the gateway's resident memory
over its idle start, and how many attack connections are still open. At the end: how each
upload ended (408, 429, 503, closed) and whether a good request still got through. Prints JSON
(and writes bench/results/slow_clients.json). Before the fix: +486 MB, every connection still
open after 60 s.
"""

import argparse
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.gateway import gateway_process
from bench.report import emit_report
from tests.gateway.conftest import pi_event

IMAGE_BYTES = 5 * 1024 * 1024
TOKEN = "bench-slow-token"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slow_upload(
    url: str, token: str, rate_kb: float, outcome: Counter, lock: threading.Lock, open_now: list
) -> None:
    """Headers, then a 5 MB PNG body at ``rate_kb`` kB/s, until the gateway answers or closes."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    with lock:
        open_now[0] += 1
    try:
        sock.sendall(
            (
                f"POST /v1/images HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: image/png\r\nContent-Length: {IMAGE_BYTES}\r\n\r\n"
            ).encode()
            + b"\x89PNG\r\n\x1a\n"
        )
        sock.settimeout(0.1)
        chunk = b"\0" * int(rate_kb * 1024 / 10)  # ten times a second
        sent = 8
        while sent < IMAGE_BYTES:
            try:
                answer = sock.recv(200)
            except TimeoutError:
                answer = None
            if answer is not None:  # an answer (or b"": closed) before the body was sent
                status = answer.split(b" ")[1].decode() if answer else "closed"
                with lock:
                    outcome[status] += 1
                return
            sock.sendall(chunk[: IMAGE_BYTES - sent])
            sent += len(chunk)
        with lock:
            outcome["sent whole"] += 1
    except OSError:
        with lock:
            outcome["closed"] += 1
    finally:
        sock.close()
        with lock:
            open_now[0] -= 1


def slowloris(url: str, open_now: list, lock: threading.Lock, stop: threading.Event) -> None:
    host, port = url.removeprefix("http://").split(":")
    try:
        sock = socket.create_connection((host, int(port)))
    except OSError:
        return
    with lock:
        open_now[0] += 1
    try:
        sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}\r\n".encode())
        sock.settimeout(2.0)
        line = 0
        while not stop.is_set():
            try:
                if sock.recv(1) == b"":
                    return  # closed by the gateway
            except TimeoutError:
                pass
            sock.sendall(f"X-Slow-{line}: 1\r\n".encode())
            line += 1
    except OSError:
        return
    finally:
        sock.close()
        with lock:
            open_now[0] -= 1


def attack(uploads: int, tokens: int, loris: int, rate_kb: float, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        environment = {"EDGELINE_GATEWAY_TOKENS": TOKEN, "EDGELINE_GATEWAY_SECRET": "s" * 64}
        with gateway_process(Path(tmp), environment) as url:
            idle = rss_mb(url.pid)
            web = [httpx.post(f"{url}/v1/web/tokens").json()["token"] for _ in range(tokens)]
            outcome: Counter = Counter()
            lock, stop = threading.Lock(), threading.Event()
            uploads_open, loris_open = [0], [0]
            threads = [
                threading.Thread(
                    target=slow_upload,
                    args=(url, web[i % tokens], rate_kb, outcome, lock, uploads_open),
                    daemon=True,
                )
                for i in range(uploads)
            ] + [
                threading.Thread(target=slowloris, args=(url, loris_open, lock, stop), daemon=True)
                for _ in range(loris)
            ]
            for thread in threads:
                thread.start()
            samples = []
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                time.sleep(1)
                samples.append(
                    {
                        "t_s": round(time.monotonic() - started),
                        "rss_growth_mb": round(rss_mb(url.pid) - idle, 1),
                        "uploads_open": uploads_open[0],
                        "slowloris_open": loris_open[0],
                    }
                )
            good = httpx.post(
                f"{url}/v1/telemetry",
                json={"events": [pi_event()]},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            ).status_code
            stop.set()
    return {
        "attack": {
            "uploads": uploads,
            "web_tokens": tokens,
            "slowloris": loris,
            "upload_rate_kb_s": rate_kb,
        },
        "idle_rss_mb": round(idle, 1),
        "peak_rss_growth_mb": max(s["rss_growth_mb"] for s in samples),
        "rss_growth_at_end_mb": samples[-1]["rss_growth_mb"],
        "uploads_open_at_end": samples[-1]["uploads_open"],
        "slowloris_open_at_end": samples[-1]["slowloris_open"],
        "upload_outcomes": dict(outcome),
        "good_request_during_attack": good,
        "samples": samples[:: max(1, len(samples) // 12)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--slowloris", type=int, default=200)
    parser.add_argument("--rate-kb", type=float, default=90)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--output", default="bench/results/slow_clients.json")
    args = parser.parse_args()
    report = attack(args.uploads, args.tokens, args.slowloris, args.rate_kb, args.seconds)
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
