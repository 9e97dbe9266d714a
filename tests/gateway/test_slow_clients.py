"""Slow clients cannot hold the gateway: a request's head and body each have a deadline, and a
token may send only so many bodies at once. Once 100 slow 5 MB uploads grew the gateway by
486 MB for good and 200 slowloris connections were never closed (bench/slow_clients.py runs the
whole attack and measures memory)."""

import re
import socket
import time

import httpx
import pytest

from tests.gateway.server import Gateway
from tests.gateway.test_image_sharing import fresh_token
from tests.vision.conftest import declared_size_png


@pytest.fixture
def gateway(tmp_path):
    running = Gateway(
        tmp_path,
        tokens=frozenset({"device-token"}),
        header_timeout_s=1.0,
        upload_timeout_s=1.0,
        body_timeout_s=1.0,
    ).start()
    yield running
    running.stop()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(5.0)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response: its head, and its body up to its Content-Length (the gateway
    writes them apart, and they may come in separate reads)."""
    sock.settimeout(5.0)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed before the end of the head: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    declared = re.search(rb"(?im)^content-length: *(\d+)", head)
    while declared and len(body) < int(declared.group(1)):
        chunk = sock.recv(4096)
        assert chunk, f"closed before the end of the body: {data[:200]!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def closed_within(sock: socket.socket, seconds: float, trickle: bytes) -> float | None:
    """Send ``trickle`` every 0.2 s until the gateway closes the connection (or answers): how
    long that took, or None if it did not within ``seconds``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            sock.recv(4096)  # b"" once closed
            return time.monotonic() - started
        except TimeoutError:
            pass
        try:
            sock.sendall(trickle)
        except OSError:
            return time.monotonic() - started
    return None


def test_a_head_that_never_ends_is_closed(gateway):
    sock = connect(gateway.url)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
    took = closed_within(sock, 5.0, b"X-Slow: 1\r\n")
    assert took is not None and took < 3.0  # the 1 s deadline, and some slack
    sock.close()
    # a connection that finished a request and then dawdles over the next head: closed too
    sock = connect(gateway.url)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in read_response(sock)  # all of it: what is left would read as an answer
    sock.sendall(b"GET /v1/health HTTP/1.1\r\n")
    took = closed_within(sock, 5.0, b"X-Slow: 1\r\n")
    assert took is not None and took < 3.0
    sock.close()
    assert httpx.get(f"{gateway.url}/v1/health").status_code == 200  # and the rest is served


def test_a_body_that_trickles_gets_408_and_holds_nothing(gateway, http):
    token = fresh_token(http, gateway.url)["token"]
    sock = connect(gateway.url)
    sock.sendall(
        f"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {5 * 1024 * 1024}\r\n\r\n\x89PNG\r\n\x1a\n".encode()
    )
    deadline = time.monotonic() + 5
    sock.settimeout(0.2)
    while time.monotonic() < deadline:  # a KB every 0.2 s until the answer begins
        try:
            if sock.recv(1, socket.MSG_PEEK):
                break
        except TimeoutError:
            sock.sendall(b"\0" * 1024)
    answer = read_response(sock)  # its head and body can come apart (once only the head was read)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 1 s" in answer
    sock.close()
    assert gateway.store.list_keys("incoming/images/") == []


@pytest.fixture
def patient_gateway(tmp_path):
    """The gateway with a minute for an image to arrive: uploads held open stay held
    for as long as a test needs them."""
    running = Gateway(tmp_path, tokens=frozenset({"device-token"}), upload_timeout_s=60).start()
    yield running
    running.stop()


def test_a_token_sends_two_images_at_once_at_most(patient_gateway, http):
    """Two uploads held open, then a third: refused before a byte of it is read. The gateway's
    own count says when the two hold their slots (a sleep guessed it: too short on a loaded
    machine, and a 1 s deadline could free a slot before the third came)."""
    gateway = patient_gateway
    token = fresh_token(http, gateway.url)["token"]
    held = []
    try:
        for _ in range(2):  # two uploads in progress
            sock = connect(gateway.url)
            sock.sendall(
                f"POST /v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Length: 1000\r\n\r\n\x89PNG".encode()
            )
            held.append(sock)
        uploads = gateway.app.state.gateway.uploads
        deadline = time.monotonic() + 30
        while uploads.in_flight < 2:
            assert time.monotonic() < deadline, "the gateway never took the two uploads"
            time.sleep(0.01)
        third = httpx.post(
            f"{gateway.url}/v1/images",
            content=b"\x89PNG\r\n\x1a\n",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert third.status_code == 429 and "at most 2 requests" in third.json()["detail"]
    finally:
        for sock in held:
            sock.close()


def test_a_shared_image_declaring_49_megapixels_is_refused_undecoded(gateway, http):
    token = fresh_token(http, gateway.url)["token"]
    bomb = declared_size_png(7000, 7000)  # a few hundred bytes
    answer = httpx.post(
        f"{gateway.url}/v1/images", content=bomb, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 413
    assert "at most 12,000,000 pixels" in answer.json()["detail"]
