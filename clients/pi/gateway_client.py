"""The agent's side of HTTP: the gateway client (its token goes to the gateway's own origin
only), the errors it tells apart, and the backoff that keeps an outage from being hammered."""

from __future__ import annotations

import json
import random
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


@dataclass
class GatewayClient:
    base_url: str
    token: str
    timeout_s: float = 10.0
    attempts: int = 0  # requests tried, answered or not (what an outage costs the network)

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
                return HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers), error.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            raise GatewayUnreachable(f"gateway unreachable: {error}") from None

    def manifest(self, model: str, etag: str | None) -> tuple[str, dict | None, str | None]:
        """("unchanged", None, etag), ("manifest", manifest, etag) or ("empty", answer, None)
        when the channel names no version (every version revoked)."""
        response = self.request(
            f"/v1/models/{model}/channels/stable", headers={"If-None-Match": etag} if etag else {}
        )
        if response.status == 304:
            return "unchanged", None, etag
        body = response.json()
        if response.status == 404 and isinstance(body, dict) and body.get("version", 0) is None:
            return "empty", body, None
        if response.status != 200 or not isinstance(body, dict):
            raise GatewayError(f"manifest: HTTP {response.status}: {response.body[:200]!r}")
        return "manifest", body, response.headers.get("ETag") or response.headers.get("etag")

    def download(self, url: str) -> bytes:
        response = self.request(url)
        if response.status != 200:
            raise GatewayError(f"download {url.split('?')[0]}: HTTP {response.status}")
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
