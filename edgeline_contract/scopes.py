"""What a token may do (``edgeline.scopes/1``). The gateway admits a call by its scope; a web
page's token carries some of them, a device token all of them for the devices it is bound to."""

from __future__ import annotations

SCOPES_SCHEMA = "edgeline.scopes/1"
MANIFEST_READ = "manifest:read"
TELEMETRY_WRITE = "telemetry:write"
IMAGES_WRITE = "images:write"
SCOPES = {
    MANIFEST_READ: "read a model channel's manifest",
    TELEMETRY_WRITE: "send telemetry events (a web token: its own browser's; a device token: its devices')",
    IMAGES_WRITE: "share an image for review (a web token only when the page asked to share)",
}
WEB_SCOPES = (MANIFEST_READ, TELEMETRY_WRITE, IMAGES_WRITE)
DEVICE_SCOPES = (MANIFEST_READ, TELEMETRY_WRITE, IMAGES_WRITE)
WEB_TOKEN_PREFIX = "ew1"  # a web token is ew1.<payload>.<signature>

DOCUMENT = {
    "schema": SCOPES_SCHEMA,
    "scopes": SCOPES,
    "web": list(WEB_SCOPES),
    "device": list(DEVICE_SCOPES),
    "web_token_prefix": WEB_TOKEN_PREFIX,
}
