"""The gateway: an ASGI app (FastAPI). Locally: ``uvicorn clients.gateway.app:app``; on AWS
Lambda behind API Gateway: ``clients.gateway.lambda_handler.handler`` (Mangum)."""

import hashlib
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from clients.gateway.schema import MAX_BATCH, TelemetryEvent
from resources.artifacts import ArtifactStore
from resources.errors import ArtifactNotFoundError, EdgelineError, InvalidKeyError
from resources.telemetry import TelemetryStore

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
PUBLIC_PREFIXES = ("deploy/",)


class GatewaySettings(BaseModel):
    tokens: frozenset[str] = Field(description="Bearer tokens accepted (one per device or shared).")
    cors_origins: list[str] = Field(default_factory=list)
    max_batch: int = MAX_BATCH


def settings_from_environment() -> GatewaySettings:
    tokens = frozenset(
        t.strip() for t in os.environ.get("EDGELINE_GATEWAY_TOKENS", "").split(",") if t.strip()
    )
    if not tokens:
        raise ValueError("EDGELINE_GATEWAY_TOKENS is empty: set at least one bearer token")
    origins = [
        o.strip()
        for o in os.environ.get("EDGELINE_GATEWAY_CORS_ORIGINS", "").split(",")
        if o.strip()
    ]
    return GatewaySettings(tokens=tokens, cors_origins=origins)


def sniff_image(data: bytes) -> str | None:
    for magic, extension in IMAGE_TYPES.items():
        if data.startswith(magic):
            return extension
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _field(location: tuple) -> str:
    return ".".join(str(part) for part in location if part not in ("body",)) or "body"


def create_app(
    settings: GatewaySettings, artifacts: ArtifactStore, telemetry: TelemetryStore
) -> FastAPI:
    app = FastAPI(
        title="Edgeline gateway",
        version="1.0.0",
        description="Manifests, models, telemetry, images.",
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag"],
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = [{"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()]
        return JSONResponse(
            status_code=422, content={"detail": "invalid request", "errors": problems}
        )

    def authorised(authorization: str | None = Header(default=None)) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or token not in settings.tokens:
            raise HTTPException(
                401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return token

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models/{model}/channels/{channel}", dependencies=[Depends(authorised)])
    def channel_manifest(model: str, channel: str, request: Request, response: Response) -> Any:
        try:
            pointer = artifacts.get_json(f"deploy/{model}/{channel}.json")
        except (ArtifactNotFoundError, InvalidKeyError):
            raise HTTPException(404, f"no channel {channel!r} for model {model!r}") from None
        if not pointer.get("version"):
            raise HTTPException(
                404, f"channel {channel!r} of {model!r} names no version (all revoked)"
            )
        etag = f'"{pointer["manifest_sha256"]}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        manifest = artifacts.get_json(pointer["manifest_key"])
        for variant in manifest["variants"]:
            variant["url"] = artifacts.download_url(variant["key"])
        response.headers["ETag"] = etag
        response.headers["Cache-Control"] = "no-cache"
        return manifest

    @app.get("/v1/artifacts/{key:path}")
    def artifact(key: str) -> Response:
        """Published files for local clients (on aws clients get presigned S3 URLs instead)."""
        if not key.startswith(PUBLIC_PREFIXES):
            raise HTTPException(404, "only published files (deploy/...) are served")
        try:
            data = artifacts.get_bytes(key)
        except InvalidKeyError as error:
            raise HTTPException(400, str(error)) from None
        except ArtifactNotFoundError:
            raise HTTPException(404, f"no artifact {key!r}") from None
        media = "application/json" if key.endswith(".json") else "application/octet-stream"
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        # deploy/<model>/<version>/<file> never changes once written; a channel pointer does
        immutable = key.count("/") >= 3
        cache = "max-age=31536000, immutable" if immutable else "no-cache"
        return Response(data, media_type=media, headers={"ETag": etag, "Cache-Control": cache})

    @app.post("/v1/telemetry", dependencies=[Depends(authorised)])
    async def ingest_telemetry(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, 'body is not JSON: send {"events": [...]}') from None
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not events:
            raise HTTPException(422, "body needs a non-empty list 'events'")
        if len(events) > settings.max_batch:
            raise HTTPException(
                413, f"{len(events)} events in one batch; at most {settings.max_batch}"
            )
        valid, rejected = [], []
        for index, raw in enumerate(events):
            try:
                valid.append(TelemetryEvent.model_validate(raw).stored())
            except ValidationError as error:
                problems = [
                    {"field": _field(e["loc"]), "message": e["msg"]} for e in error.errors()
                ]
                rejected.append({"index": index, "errors": problems})
        if valid:
            try:  # the stores block (SQLite, boto3): keep them off the event loop
                await run_in_threadpool(telemetry.append, valid)
            except EdgelineError as error:
                raise HTTPException(422, str(error)) from None
        status = 200 if not rejected else (207 if valid else 422)
        detail = f"{len(valid)} of {len(events)} events stored"
        if rejected:
            detail += f"; {len(rejected)} rejected (see 'rejected' for the fields)"
        content = {"detail": detail, "accepted": len(valid), "rejected": rejected}
        return JSONResponse(status_code=status, content=content)

    @app.post("/v1/images", dependencies=[Depends(authorised)], status_code=201)
    async def upload_image(
        request: Request,
        label: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"),
        device_id: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    ) -> dict[str, str]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
            raise HTTPException(413, f"image larger than {MAX_IMAGE_BYTES} bytes")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_IMAGE_BYTES:
                raise HTTPException(413, f"image larger than {MAX_IMAGE_BYTES} bytes")
        if not data:
            raise HTTPException(422, "empty body: send the image bytes")
        extension = sniff_image(bytes(data))
        if extension is None:
            raise HTTPException(415, "not a JPEG, PNG or WebP image (checked from the bytes)")
        key = f"incoming/images/{datetime.now(UTC):%Y-%m-%d}/{uuid.uuid4()}.{extension}"
        content_type = f"image/{'jpeg' if extension == 'jpg' else extension}"
        await run_in_threadpool(artifacts.put_bytes, key, bytes(data), content_type)
        sidecar = {"label": label, "device_id": device_id, "bytes": len(data)}
        await run_in_threadpool(artifacts.put_json, key + ".json", sidecar)
        return {"image_key": key}

    return app


def app_from_environment() -> FastAPI:
    """The app wired to the resources EDGELINE_ENV selects (uvicorn and Lambda entry point)."""
    from resources.environment import io_resources

    resources = io_resources()
    return create_app(settings_from_environment(), resources["artifacts"], resources["telemetry"])
