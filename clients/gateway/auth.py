"""Who is calling: a device with a configured bearer token, or a web page with a signed token.

Device tokens come from configuration, one per Pi or shared by a fleet; ``TOKEN:dev-1|dev-2``
binds a token to the device ids it may speak for (plain ``TOKEN`` speaks for any). A web token
is bound to one anonymous browser id and carries scopes: reading manifests, writing that
browser's telemetry, uploading images. Every scope is rate-limited per token (per browser for
web tokens, per client address for issuing them), so that no caller can fill the disk.
"""

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import HTTPException, Request

from clients.gateway.rate_limit import Rate, RateLimiter
from clients.gateway.web_tokens import PREFIX, TokenError, WebTokenSigner

DEFAULT_WEB_RATES = {
    "tokens": Rate(per_minute=20, burst=10),  # per client address
    "manifest:read": Rate(per_minute=60, burst=20),
    "telemetry:write": Rate(per_minute=120, burst=30),
    "images:write": Rate(per_minute=30, burst=10),
}
# a device token may be shared by a fleet: room for many devices' batches (500 events each)
DEFAULT_DEVICE_RATES = {
    "manifest:read": Rate(per_minute=600, burst=200),
    "telemetry:write": Rate(per_minute=1200, burst=300),
    "images:write": Rate(per_minute=120, burst=30),
}


@dataclass(frozen=True)
class Caller:
    kind: Literal["device", "web"]
    device_ids: frozenset[str] | None = None  # the ids it may speak for; None: any device
    key: str = ""  # the token's identity for limits: a device token's digest, a browser id

    def may_write(self, device_id: object, client_kind: object) -> bool:
        """Web tokens write their own browser's web events; device tokens Pi events, for the
        devices they are bound to (any, unbound)."""
        if client_kind != ("web" if self.kind == "web" else "pi"):
            return False
        return self.device_ids is None or (
            isinstance(device_id, str) and device_id in self.device_ids
        )

    @property
    def browser_id(self) -> str | None:
        return next(iter(self.device_ids)) if self.kind == "web" and self.device_ids else None


def parse_device_tokens(entries: Iterable[str]) -> dict[str, frozenset[str] | None]:
    """``TOKEN`` or ``TOKEN:device-1|device-2`` -> {token: bound device ids or None}."""
    tokens: dict[str, frozenset[str] | None] = {}
    for entry in entries:
        token, _, devices = entry.partition(":")
        if not token:
            raise ValueError(f"device token entry {entry!r} has no token before ':'")
        bound = frozenset(d for d in devices.split("|") if d) if devices else None
        tokens[token] = bound
    return tokens


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _too_many(wait_s: float) -> HTTPException:
    retry = max(1, round(wait_s + 0.5))
    return HTTPException(
        429, f"rate limit reached: retry in {retry} s", headers={"Retry-After": str(retry)}
    )


@dataclass
class Authenticator:
    device_tokens: dict[str, frozenset[str] | None]
    signer: WebTokenSigner | None
    rates: dict[str, Rate] = field(default_factory=lambda: dict(DEFAULT_WEB_RATES))
    device_rates: dict[str, Rate] = field(default_factory=lambda: dict(DEFAULT_DEVICE_RATES))
    limiter: RateLimiter = field(default_factory=RateLimiter)

    def _device(self, token: str) -> tuple[str, frozenset[str] | None] | None:
        """The matching device token, compared in constant time (every entry is compared)."""
        found = None
        for candidate, devices in self.device_tokens.items():
            if hmac.compare_digest(candidate.encode(), token.encode()):
                found = (candidate, devices)
        return found

    def caller(self, authorization: str | None, scope: str) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorised("missing or invalid bearer token")
        device = self._device(token)
        if device is not None:
            key = f"device:{hashlib.sha256(device[0].encode()).hexdigest()[:16]}"
            self._throttle(self.device_rates, scope, key)
            return Caller("device", device[1], key)
        if not token.startswith(PREFIX + ".") or self.signer is None:
            raise _unauthorised("missing or invalid bearer token")
        try:
            web = self.signer.verify(token)
        except TokenError as error:
            raise _unauthorised(f"web token refused: {error}") from None
        if scope not in web.scopes:
            raise HTTPException(403, f"a web token may not use {scope!r}")
        self.throttle(scope, web.browser_id)
        return Caller("web", frozenset({web.browser_id}), f"web:{web.browser_id}")

    def throttle(self, scope: str, key: str) -> None:
        self._throttle(self.rates, scope, key)

    def _throttle(self, rates: dict[str, Rate], scope: str, key: str) -> None:
        rate = rates.get(scope)
        if rate is not None and (wait := self.limiter.acquire(scope, key, rate)):
            raise _too_many(wait)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
