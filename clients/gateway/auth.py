"""Who is calling: a device with a configured bearer token, or a web page with a signed token.

Device tokens (one per Pi, or shared) may do everything. A web token is bound to one anonymous
browser id and carries scopes: reading manifests, writing that browser's telemetry, uploading
images; each scope is rate-limited per browser.
"""

from dataclasses import dataclass, field
from typing import Literal

from fastapi import Header, HTTPException, Request

from clients.gateway.rate_limit import Rate, RateLimiter
from clients.gateway.web_tokens import PREFIX, TokenError, WebTokenSigner

DEFAULT_WEB_RATES = {
    "tokens": Rate(per_minute=20, burst=10),  # per client address
    "manifest:read": Rate(per_minute=60, burst=20),
    "telemetry:write": Rate(per_minute=120, burst=30),
    "images:write": Rate(per_minute=30, burst=10),
}


@dataclass(frozen=True)
class Caller:
    kind: Literal["device", "web"]
    browser_id: str | None = None  # web callers only: the id their token is bound to


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _too_many(wait_s: float) -> HTTPException:
    retry = max(1, round(wait_s + 0.5))
    return HTTPException(
        429, f"rate limit reached: retry in {retry} s", headers={"Retry-After": str(retry)}
    )


@dataclass
class Authenticator:
    device_tokens: frozenset[str]
    signer: WebTokenSigner | None
    rates: dict[str, Rate] = field(default_factory=lambda: dict(DEFAULT_WEB_RATES))
    limiter: RateLimiter = field(default_factory=RateLimiter)

    def caller(self, authorization: str | None, scope: str) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorised("missing or invalid bearer token")
        if token in self.device_tokens:
            return Caller("device")
        if not token.startswith(PREFIX + ".") or self.signer is None:
            raise _unauthorised("missing or invalid bearer token")
        try:
            web = self.signer.verify(token)
        except TokenError as error:
            raise _unauthorised(f"web token refused: {error}") from None
        if scope not in web.scopes:
            raise HTTPException(403, f"a web token may not use {scope!r}")
        self.throttle(scope, web.browser_id)
        return Caller("web", web.browser_id)

    def throttle(self, scope: str, key: str) -> None:
        rate = self.rates.get(scope)
        if rate is not None and (wait := self.limiter.acquire(scope, key, rate)):
            raise _too_many(wait)

    def requires(self, scope: str):
        """A FastAPI dependency that admits callers allowed ``scope``."""

        def dependency(authorization: str | None = Header(default=None)) -> Caller:
            return self.caller(authorization, scope)

        return dependency


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
