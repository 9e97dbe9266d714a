"""The gateway: an ASGI app (FastAPI). Locally: ``python -m clients.gateway`` (uvicorn); on AWS
Lambda behind API Gateway: ``clients.gateway.lambda_handler.handler`` (Mangum)."""

import hashlib
import json
import os
import re
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool

from clients.gateway.auth import (
    DEFAULT_DEVICE_RATES,
    DEFAULT_WEB_RATES,
    Authenticator,
    Caller,
    client_address,
    parse_device_tokens,
)
from clients.gateway.rate_limit import Rate
from clients.gateway.schema import MAX_BATCH, TelemetryEvent
from clients.gateway.web_files import WebFiles, web_router
from clients.gateway.web_tokens import PREFIX, TokenError, WebTokenSigner, new_browser_id
from resources.artifacts import ArtifactStore, LocalArtifactStore
from resources.errors import ArtifactNotFoundError, EdgelineError, InvalidKeyError
from resources.images import ImageRefusedError, read_image_header
from resources.telemetry import TelemetryStore

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_TELEMETRY_BYTES = 2 * 1024 * 1024  # 500 events of a few kB each
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # a model or channel name in a path
NESTED = {"field": "body", "message": "nests too deeply"}
PUBLIC_FILE = re.compile(r"^deploy/[^/]+/[0-9]+/[^/]+$")  # deploy/<model>/<version>/<file>
PRIVATE_FILES = ("/manifest.json", "/iot-job.json")
# the page may run threaded wasm only when cross-origin isolated; the page's own policy keeps
# every script, worker and model on this origin (presigned S3 downloads go over https)
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "X-Content-Type-Options": "nosniff",
}
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
    "connect-src 'self' https:{endpoint}; img-src 'self' blob: data:; style-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def page_policy() -> str:
    """The page's CSP: models come from this origin or over https (presigned S3), or from the
    AWS-compatible endpoint AWS_ENDPOINT_URL names (moto, LocalStack, MinIO)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    return PAGE_POLICY.format(endpoint=f" {endpoint}" if endpoint else "")


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
    web_model: str = "image-classifier"
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
    ..._DEVICE_LIMITS (off: no rate limits for device tokens), EDGELINE_WEB_MODEL,
    EDGELINE_WEB_POLL_S, EDGELINE_WEB_TOKEN_TTL_S."""
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
    return GatewaySettings(
        tokens=tokens,
        cors_origins=_split("EDGELINE_GATEWAY_CORS_ORIGINS"),
        web_secret=secret or None,
        **{k: v for k, v in optional.items() if v is not None and v != ""},
    )


async def read_body(request: Request, limit: int, what: str = "body") -> bytes:
    """The request's bytes, read no further than ``limit`` (413 on the declared length or past
    it while streaming, so that no client fills memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{what} of {declared} bytes; at most {limit}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"{what} larger than {limit} bytes")
    return bytes(data)


async def read_json_body(request: Request, limit: int) -> Any:
    """The request's JSON (see ``read_body``); clear 400s for bodies that are not JSON or nest
    too deeply to parse."""
    data = await read_body(request, limit)
    try:
        return json.loads(data)
    except RecursionError:
        raise HTTPException(400, "body nests too deeply to be an events batch") from None
    except ValueError:
        raise HTTPException(400, 'body is not JSON: send {"events": [...]}') from None


def _field(location: tuple) -> str:
    return ".".join(str(part) for part in location if part not in ("body",)) or "body"


def create_app(
    settings: GatewaySettings,
    artifacts: ArtifactStore,
    telemetry: TelemetryStore,
    web_files: WebFiles | None = None,
) -> FastAPI:
    app = FastAPI(
        title="Edgeline gateway",
        version="1.0.0",
        description="Manifests, models, telemetry, images, and the web client at /.",
        docs_url=None,
        redoc_url=None,
    )
    files = web_files or WebFiles()
    signer = (
        WebTokenSigner(settings.web_secret.get_secret_value().encode(), settings.web_token_ttl_s)
        if settings.web_secret
        else None
    )
    auth = Authenticator(
        parse_device_tokens(settings.tokens), signer, settings.web_rates, settings.device_rates
    )
    manifest_reader = Annotated[Caller, Depends(auth.requires("manifest:read"))]
    telemetry_writer = Annotated[Caller, Depends(auth.requires("telemetry:write"))]
    image_writer = Annotated[Caller, Depends(auth.requires("images:write"))]
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag"],
        )

    policy = page_policy()

    @app.middleware("http")
    async def isolation_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        public = request.url.path.startswith("/v1/artifacts/")
        response.headers["Cross-Origin-Resource-Policy"] = (
            "cross-origin" if public else "same-origin"
        )
        if request.url.path == "/":
            response.headers["Content-Security-Policy"] = policy
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
        return JSONResponse(
            status_code=422, content={"detail": "invalid request", "errors": problems}
        )

    app.include_router(web_router(files))

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Edgeline gateway",
            swagger_js_url="/docs/vendor/swagger-ui-bundle.js",
            swagger_css_url="/docs/vendor/swagger-ui.css",
            swagger_favicon_url="/app/icon.svg",
        )

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/web/tokens")
    def web_token(request: Request, authorization: str | None = Header(default=None)) -> Any:
        """A short-lived token for the web page. Send the current (or recently expired) token
        to renew it for the same browser id; send none to start as a new anonymous browser."""
        if signer is None:
            raise HTTPException(503, "web tokens are not configured: set EDGELINE_GATEWAY_SECRET")
        auth.throttle("tokens", client_address(request))
        browser_id = new_browser_id()
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and presented.startswith(PREFIX + "."):
            try:
                browser_id = signer.renewable(presented).browser_id
            except TokenError as error:
                raise HTTPException(401, f"cannot renew: {error}") from None
        text, token = signer.issue(browser_id)
        body = {
            "token": text,
            "browser_id": token.browser_id,
            "scopes": list(token.scopes),
            "expires_at": datetime.fromtimestamp(token.expires_at, UTC).isoformat(),
            "expires_in_s": token.expires_at - token.issued_at,
            "config": {
                "model": settings.web_model,
                "channel": settings.web_channel,
                "manifest_poll_s": settings.web_poll_s,
            },
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def download_url(request: Request, key: str) -> str:
        if isinstance(artifacts, LocalArtifactStore):  # served by this gateway, at its own address
            return str(request.url_for("artifact", key=key))
        return artifacts.download_url(key)

    @app.get("/v1/models/{model}/channels/{channel}")
    def channel_manifest(
        model: Annotated[str, PathParam(pattern=NAME)],
        channel: Annotated[str, PathParam(pattern=NAME)],
        request: Request,
        response: Response,
        _: manifest_reader,
    ) -> Any:
        try:
            pointer = artifacts.get_json(f"deploy/{model}/{channel}.json")
        except (ArtifactNotFoundError, InvalidKeyError):
            raise HTTPException(404, f"no channel {channel!r} for model {model!r}") from None
        if not pointer.get("version"):
            detail = f"channel {channel!r} of {model!r} names no version (all revoked)"
            content = {
                "detail": detail,
                "version": None,
                "revoked": pointer.get("previous_version"),
            }
            return JSONResponse(content, status_code=404, headers={"Cache-Control": "no-cache"})
        etag = f'"{pointer["manifest_sha256"]}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        manifest = artifacts.get_json(pointer["manifest_key"])
        manifest.pop("lineage", None)  # manifests published before it stayed in the registry
        for variant in manifest["variants"]:
            variant["url"] = download_url(request, variant["key"])
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "no-cache"
        return manifest

    @app.get("/v1/artifacts/{key:path}")
    def artifact(key: str) -> Response:
        """Published model files for local clients (on aws they get presigned S3 URLs instead).

        Public, like a CDN: each is immutable under its version and checked by the sha256 that
        the (authenticated) manifest names. Manifests, device jobs and channel pointers are not
        served here: clients read them through the channel endpoint, with a token.
        """
        if not PUBLIC_FILE.match(key) or key.endswith(PRIVATE_FILES):
            raise HTTPException(404, "only published model files are served here")
        try:
            data = artifacts.get_bytes(key)
        except InvalidKeyError as error:
            raise HTTPException(400, str(error)) from None
        except ArtifactNotFoundError:
            raise HTTPException(404, f"no artifact {key!r}") from None
        media = "application/json" if key.endswith(".json") else "application/octet-stream"
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        cache = "public, max-age=31536000, immutable"  # a version's files never change
        return Response(data, media_type=media, headers={"ETag": etag, "Cache-Control": cache})

    @app.post("/v1/telemetry")
    async def ingest_telemetry(request: Request, caller: telemetry_writer) -> JSONResponse:
        body = await read_json_body(request, MAX_TELEMETRY_BYTES)
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not events:
            raise HTTPException(422, "body needs a non-empty list 'events'")
        if len(events) > settings.max_batch:
            raise HTTPException(
                413, f"{len(events)} events in one batch; at most {settings.max_batch}"
            )
        for index, raw in enumerate(events):
            if isinstance(raw, dict) and not caller.may_write(
                raw.get("device_id"), raw.get("client_kind")
            ):
                whose = "its own browser's web events" if caller.kind == "web" else "its devices"
                raise HTTPException(
                    403, f"event {index}: this token writes only {whose} (device_id refused)"
                )
        valid, rejected = [], []
        for index, raw in enumerate(events):
            try:
                valid.append(TelemetryEvent.model_validate(raw).stored())
            except RecursionError:
                rejected.append({"index": index, "errors": [NESTED]})
                continue
            except ValidationError as error:
                problems = [
                    {"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()
                ]
                rejected.append({"index": index, "errors": problems})
        stored = 0
        if valid:
            try:  # the stores block (SQLite, boto3): keep them off the event loop
                stored = await run_in_threadpool(telemetry.append, valid)
            except EdgelineError as error:
                raise HTTPException(422, str(error)) from None
        status = 200 if not rejected else (207 if valid else 422)
        duplicates = len(valid) - stored
        detail = f"{stored} of {len(events)} events stored"
        if duplicates:
            detail += f"; {duplicates} already stored (duplicate event_id)"
        if rejected:
            detail += f"; {len(rejected)} rejected (see 'rejected' for the fields)"
        content = {
            "detail": detail,
            "accepted": len(valid),
            "stored": stored,
            "duplicates": duplicates,
            "rejected": rejected,
        }
        return JSONResponse(status_code=status, content=content)

    @app.post("/v1/images", status_code=201)
    async def upload_image(
        request: Request,
        caller: image_writer,
        label: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"),
        device_id: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    ) -> dict[str, str]:
        if caller.device_ids is not None:
            if device_id is None and len(caller.device_ids) == 1:
                device_id = next(iter(caller.device_ids))
            if device_id not in caller.device_ids:
                raise HTTPException(403, "this token uploads only for its own device ids")
        data = await read_body(request, MAX_IMAGE_BYTES, "image")
        if not data:
            raise HTTPException(422, "empty body: send the image bytes")
        try:  # the header only: a small file declaring a huge picture is refused undecoded
            header = read_image_header(data)
        except ImageRefusedError as error:
            raise HTTPException(413 if error.too_large else 415, str(error)) from None
        extension = header.extension
        key = f"incoming/images/{datetime.now(UTC):%Y-%m-%d}/{uuid.uuid4()}.{extension}"
        content_type = f"image/{'jpeg' if extension == 'jpg' else extension}"
        await run_in_threadpool(artifacts.put_bytes, key, data, content_type)
        sidecar = {"label": label, "device_id": device_id, "bytes": len(data)}
        await run_in_threadpool(artifacts.put_json, key + ".json", sidecar)
        return {"image_key": key}

    return app


def app_from_environment() -> FastAPI:
    """The app wired to the resources EDGELINE_ENV selects (uvicorn and Lambda entry point)."""
    from resources.environment import io_resources

    resources = io_resources()
    return create_app(settings_from_environment(), resources["artifacts"], resources["telemetry"])
