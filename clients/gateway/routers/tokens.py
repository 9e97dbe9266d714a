"""Short-lived tokens for the web page: issued to new browsers, renewed for known ones."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from clients.gateway.auth import client_address
from clients.gateway.dependencies import Context
from clients.gateway.settings import GatewaySettings
from clients.gateway.web_tokens import (
    PREFIX,
    WEB_SCOPES,
    TokenError,
    WebToken,
    WebTokenSigner,
    new_browser_id,
)
from edgeline_contract.scopes import IMAGES_WRITE

router = APIRouter()


def renewed_browser_id(signer: WebTokenSigner, authorization: str | None) -> str:
    """The presented web token's browser id, so that a renewal keeps it (401 for one that
    cannot be renewed); a new anonymous id when none is presented."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.startswith(PREFIX + "."):
        return new_browser_id()
    try:
        return signer.renewable(presented).browser_id
    except TokenError as error:
        raise HTTPException(401, f"cannot renew: {error}") from None


def token_body(text: str, token: WebToken, settings: GatewaySettings) -> dict[str, Any]:
    """The token, when it expires, and what the page should load and how often to check."""
    return {
        "token": text,
        "browser_id": token.browser_id,
        "scopes": list(token.scopes),
        "expires_at": datetime.fromtimestamp(token.expires_at, UTC).isoformat(),
        "expires_in_s": token.expires_at - token.issued_at,
        "config": {
            "model": settings.web_model,  # the page at /; /m/<model> opens another served one
            "channel": settings.web_channel,
            "manifest_poll_s": settings.web_poll_s,
            "sharing": settings.web_sharing,
        },
    }


@router.post("/v1/web/tokens")
def web_token(
    request: Request, context: Context, authorization: str | None = Header(default=None)
) -> Any:
    """A short-lived token for the web page. Send the current (or recently expired) token
    to renew it for the same browser id; send none to start as a new anonymous browser."""
    signer = context.auth.signer
    if signer is None:
        raise HTTPException(503, "web tokens are not configured: set EDGELINE_GATEWAY_SECRET")
    context.auth.throttle("tokens", client_address(request))
    sharing = context.settings.web_sharing
    scopes = WEB_SCOPES if sharing else tuple(s for s in WEB_SCOPES if s != IMAGES_WRITE)
    text, token = signer.issue(renewed_browser_id(signer, authorization), scopes=scopes)
    body = token_body(text, token, context.settings)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
