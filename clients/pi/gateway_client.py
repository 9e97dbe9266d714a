"""The agent's side of HTTP: the gateway client (its token goes to the gateway's own origin
only), the errors it tells apart (in words a person can act on), and the backoff that keeps an
outage from being hammered."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field


class GatewayError(RuntimeError):
    """The gateway answered with something the agent cannot use."""


class GatewayUnreachable(GatewayError):
    """No answer at all: the network or the gateway is down."""


class ModelRefused(GatewayError):
    """A downloaded model that is not the file the manifest names."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def no_answer(error: OSError, timeout_s: float) -> str:
    """Why a request got no answer, in words ("connection refused"), not the exception's repr
    (``<urlopen error [Errno 111] Connection refused>``)."""
    reason = getattr(error, "reason", error)  # urllib wraps the socket's error in a URLError
    if isinstance(reason, (socket.timeout, TimeoutError)):  # distinct classes before 3.10
        return f"no answer within {timeout_s:g} s"
    text = (reason.strerror if isinstance(reason, OSError) else None) or str(reason)
    return text[:1].lower() + text[1:]


def answer_detail(response: HttpResponse, limit: int = 200) -> str:
    """What an error answer says: the gateway's ``detail``, else the body's text, shortened."""
    body = response.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is None:
        text = response.body.decode("utf-8", "replace")
    else:
        text = detail if isinstance(detail, str) else json.dumps(detail)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class GatewayClient:
    base_url: str
    token: str
    timeout_s: float = 10.0
    attempts: int = 0  # requests tried, answered or not (what an outage costs the network)
    # what an operator wants to know, shown in the agent's status: requests that got no answer
    # (refused, timed out, name not resolved), the times answers stopped (a run of failures is
    # one outage), and, during one, why and since when (time.time()); all stay 0/None while
    # the gateway answers, however often the agent polls and sends
    failures: int = 0
    outages: int = 0
    unreachable: str | None = None
    unreachable_since: float | None = None

    def _speaker(self, url: str, address: bool = False) -> str:
        """Who ``url`` is, for messages: the gateway (with its address when ``address``), or
        the host of a download URL (a presigned S3 URL)."""
        if _origin(url) == _origin(self.base_url):
            return f"the gateway at {self.base_url}" if address else "the gateway"
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def request(
        self, path_or_url: str, body: bytes | None = None, headers: dict | None = None
    ) -> HttpResponse:
        url = urllib.parse.urljoin(self.base_url.rstrip("/") + "/", path_or_url)
        headers = dict(headers or {})
        if _origin(url) == _origin(self.base_url):  # the token is for the gateway only
            headers["Authorization"] = f"Bearer {self.token}"
        self.attempts += 1
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            answer = HttpResponse(error.code, dict(error.headers), error.read())
        except OSError as error:  # URLError, timeouts, resets: no answer at all
            self.failures += 1
            if self.unreachable is None:
                self.outages += 1
                self.unreachable_since = time.time()
            self.unreachable = (
                f"cannot reach {self._speaker(url, address=True)}: "
                f"{no_answer(error, self.timeout_s)}"
            )
            raise GatewayUnreachable(self.unreachable) from None
        self.unreachable = self.unreachable_since = None
        return answer

    def refusal(self, response: HttpResponse, what: str, url: str = "") -> str:
        """An error answer in words: who refused ``what``, the status and what it said."""
        speaker = self._speaker(url or self.base_url)
        if response.status == 401:
            said = f"{speaker} refused the token"
        elif response.status == 404:
            said = f"{speaker} does not have {what}"
        elif response.status == 429:
            said = f"{speaker} is rate-limiting this device"
        elif response.status >= 500:
            said = f"{speaker} failed on {what}"
        else:
            said = f"{speaker} refused {what}"
        detail = answer_detail(response)
        return f"{said} (HTTP {response.status})" + (f": {detail}" if detail else "")

    def manifest(
        self, model: str, etag: str | None, device_id: str
    ) -> tuple[str, dict | None, str | None]:
        """("unchanged", None, etag), ("manifest", manifest, etag) or ("empty", answer, None)
        when the channel names no version (every version revoked). The device's id decides its
        side of a staged rollout (the gateway answers a canary device with the candidate)."""
        query = urllib.parse.urlencode({"client": device_id})
        response = self.request(
            f"/v1/models/{model}/channels/stable?{query}",
            headers={"If-None-Match": etag} if etag else {},
        )
        if response.status == 304:
            return "unchanged", None, etag
        body = response.json()
        if response.status == 404 and isinstance(body, dict) and body.get("version", 0) is None:
            return "empty", body, None
        if response.status != 200 or not isinstance(body, dict):
            raise GatewayError(self.refusal(response, f"the channel of {model}"))
        return "manifest", body, response.headers.get("ETag") or response.headers.get("etag")

    def download(self, url: str) -> bytes:
        response = self.request(url)
        if response.status != 200:
            file = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
            raise GatewayError(self.refusal(response, f"the model file {file}", url))
        return response.body

    def send(self, events: list[dict]) -> HttpResponse:
        body = json.dumps({"events": events}).encode()
        return self.request("/v1/telemetry", body, {"Content-Type": "application/json"})


@dataclass
class Backoff:
    """Exponential backoff with full jitter between ``base_s`` and ``cap_s``."""

    base_s: float = 1.0
    cap_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0
    next_at: float = 0.0

    def ready(self) -> bool:
        return self.clock() >= self.next_at

    def failed(self, retry_after_s: float = 0.0) -> float:
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2 ** (self.failures - 1))
        delay = max(retry_after_s, self.rng.uniform(ceiling / 2, ceiling))
        self.next_at = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.next_at = 0, 0.0


def retry_after(response: HttpResponse) -> float:
    value = response.headers.get("Retry-After") or response.headers.get("retry-after") or "0"
    return float(value) if value.replace(".", "", 1).isdigit() else 0.0
