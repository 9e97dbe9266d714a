"""Short-lived signed tokens for the web page: no long-lived secret ever sits in a browser.

A token is ``ew1.<payload>.<signature>``: the payload is base64url JSON (browser id, scopes,
issued and expiry times), the signature HMAC-SHA256 of it with the gateway's secret. Anyone
can read a token; only the gateway can make one, and it checks signature and expiry on every
request. The browser id is anonymous and chosen by the gateway, so a page cannot claim another
browser's id; a page renews its token before it expires, and may renew an expired one (within
``renew_grace_s``) to keep the same id, so telemetry queued offline still belongs to it.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from edgeline_contract.scopes import WEB_SCOPES
from edgeline_contract.scopes import WEB_TOKEN_PREFIX as PREFIX

BROWSER_ID_PREFIX = "web-"  # every browser id starts so; no device may use such an id
MIN_SECRET_BYTES = 32


class TokenError(ValueError):
    """A token that is malformed, forged or expired; the message says which."""


@dataclass(frozen=True)
class WebToken:
    browser_id: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_browser_id() -> str:
    return f"{BROWSER_ID_PREFIX}{secrets.token_hex(12)}"


@dataclass(frozen=True)
class WebTokenSigner:
    """Issues and checks web tokens with one server secret."""

    secret: bytes
    ttl_s: int = 6 * 3600
    renew_grace_s: int = 14 * 86400

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the gateway secret has {len(self.secret)} bytes; at least {MIN_SECRET_BYTES} "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )

    def _signature(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def issue(
        self, browser_id: str, now: float | None = None, scopes: tuple[str, ...] = WEB_SCOPES
    ) -> tuple[str, WebToken]:
        issued = int(time.time() if now is None else now)
        token = WebToken(browser_id, scopes, issued, issued + self.ttl_s)
        body = {"sub": browser_id, "scp": list(scopes), "iat": issued, "exp": token.expires_at}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{PREFIX}.{payload}.{self._signature(payload)}", token

    def read(self, text: str) -> WebToken:
        """The token's content if the gateway signed it (expired or not); TokenError if not."""
        parts = text.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise TokenError("not an Edgeline web token")
        _, payload, signature = parts
        # as bytes: compare_digest raises on a str with non-ASCII characters (a forged header)
        expected = self._signature(payload).encode()
        if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape")):
            raise TokenError("token signature is not valid")
        try:
            body = json.loads(_unb64(payload))
            return WebToken(
                str(body["sub"]), tuple(body["scp"]), int(body["iat"]), int(body["exp"])
            )
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise TokenError("token payload is malformed") from None

    def verify(self, text: str, now: float | None = None) -> WebToken:
        """A signed token that has not expired; TokenError otherwise."""
        token = self.read(text)
        if token.expired(time.time() if now is None else now):
            raise TokenError("token has expired: renew it at POST /v1/web/tokens")
        return token

    def renewable(self, text: str, now: float | None = None) -> WebToken:
        """A signed token that expired no longer than ``renew_grace_s`` ago."""
        token = self.read(text)
        if (time.time() if now is None else now) >= token.expires_at + self.renew_grace_s:
            raise TokenError("token expired too long ago to renew: ask for a new one")
        return token
