"""The gateway's settings, from code or from the environment."""

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from clients.gateway.auth import DEFAULT_DEVICE_RATES, DEFAULT_WEB_RATES
from clients.gateway.rate_limit import Rate
from edgeline_contract.telemetry import MAX_BATCH


class GatewaySettings(BaseModel):
    tokens: frozenset[str] = Field(
        default=frozenset(),
        description="Device bearer tokens (one per device or shared); 'TOKEN:dev-1|dev-2' binds "
        "a token to the device ids it may write for.",
    )
    cors_origins: list[str] = Field(default_factory=list)
    max_batch: int = MAX_BATCH
    web_secret: SecretStr | None = Field(
        default=None, description="HMAC secret that signs the web page's short-lived tokens."
    )
    web_token_ttl_s: int = Field(default=6 * 3600, ge=60, le=7 * 86400)
    web_model: str = Field(
        default="image-classifier", description="The model the page opens at / (the default)."
    )
    web_models: tuple[str, ...] = Field(
        default=(),
        description="The image models pages may open (/m/<model>); empty: every image model "
        "published on the web channel, and the default.",
    )
    web_channel: str = "stable"
    web_poll_s: float = Field(
        default=300.0, gt=0, description="How often the page checks the channel."
    )
    web_rates: dict[str, Rate] = Field(
        default_factory=lambda: dict(DEFAULT_WEB_RATES),
        description="Per browser (per address for 'tokens'): requests a minute and burst.",
    )
    device_rates: dict[str, Rate] = Field(
        default_factory=lambda: dict(DEFAULT_DEVICE_RATES),
        description="Per device token: requests a minute and burst.",
    )
    web_sharing: bool = Field(
        default=True,
        description="Whether web pages may share photos (for review before any trains a model).",
    )
    shares_per_browser_per_day: int = Field(
        default=20, ge=0, description="Photos one browser id may share a day."
    )
    web_shares_per_day: int = Field(
        default=1000, ge=0, description="Photos all web pages together may share a day."
    )
    shares_per_device_per_day: int = Field(
        default=1000, ge=0, description="Images one device id may upload a day."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="A request's line and headers must arrive within this."
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, description="A telemetry body must arrive within this (408 after)."
    )
    upload_timeout_s: float = Field(
        default=30.0, gt=0, description="An image must arrive within this (408 after)."
    )
    bodies_in_flight: int = Field(
        default=64, ge=1, description="Telemetry bodies received at once, in all (503 past)."
    )
    uploads_in_flight: int = Field(
        default=16, ge=1, description="Image uploads received at once, in all (503 past)."
    )
    bodies_per_token: int = Field(
        default=8, ge=1, description="Bodies one token may send at once (429 past)."
    )
    uploads_per_token: int = Field(
        default=2, ge=1, description="Image uploads one token may send at once (429 past)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of the reverse proxies whose X-Forwarded-For is believed; none by "
        "default, so a caller's address is its connection's and cannot be forged.",
    )


def _split(variable: str) -> list[str]:
    return [item.strip() for item in os.environ.get(variable, "").split(",") if item.strip()]


def local_gateway_secret(home: Path) -> str:
    """The local default's web-token secret: made once, kept (0600) under EDGELINE_HOME."""
    path = home / "gateway-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()


def settings_from_environment() -> GatewaySettings:
    """EDGELINE_GATEWAY_TOKENS, EDGELINE_GATEWAY_SECRET (made for you locally), ..._CORS_ORIGINS,
    ..._DEVICE_LIMITS (off: no rate limits for device tokens), ..._TRUSTED_PROXIES,
    EDGELINE_WEB_MODEL, EDGELINE_WEB_MODELS (comma-separated), EDGELINE_WEB_POLL_S, EDGELINE_WEB_TOKEN_TTL_S, EDGELINE_WEB_SHARING
    (off: pages may not share photos)."""
    from resources.environment import edgeline_env, edgeline_home

    secret = os.environ.get("EDGELINE_GATEWAY_SECRET", "").strip()
    if not secret and edgeline_env() == "local":
        secret = local_gateway_secret(edgeline_home())
    tokens = frozenset(_split("EDGELINE_GATEWAY_TOKENS"))
    if not tokens and not secret:
        raise ValueError(
            "the gateway has no way to admit anyone: set EDGELINE_GATEWAY_TOKENS (device tokens) "
            "and/or EDGELINE_GATEWAY_SECRET (signs the web page's tokens)"
        )
    optional = {
        "web_model": os.environ.get("EDGELINE_WEB_MODEL"),
        "web_poll_s": os.environ.get("EDGELINE_WEB_POLL_S"),
        "web_token_ttl_s": os.environ.get("EDGELINE_WEB_TOKEN_TTL_S"),
    }
    if os.environ.get("EDGELINE_GATEWAY_DEVICE_LIMITS", "").strip().lower() == "off":
        optional["device_rates"] = {}  # a fleet behind its own throttling, or a benchmark
    sharing = os.environ.get("EDGELINE_WEB_SHARING", "on").strip().lower()
    if sharing not in ("on", "off"):
        raise ValueError(f"EDGELINE_WEB_SHARING is {sharing!r}: use on or off")
    return GatewaySettings(
        tokens=tokens,
        cors_origins=_split("EDGELINE_GATEWAY_CORS_ORIGINS"),
        trusted_proxies=_split("EDGELINE_GATEWAY_TRUSTED_PROXIES"),
        web_models=tuple(_split("EDGELINE_WEB_MODELS")),
        web_sharing=sharing == "on",
        web_secret=secret or None,
        **{k: v for k, v in optional.items() if v is not None and v != ""},
    )
