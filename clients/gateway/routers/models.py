"""Models for clients: a channel's manifest (with a token) and the published files it names."""

import hashlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from clients.gateway.auth import Caller
from clients.gateway.dependencies import Context, ManifestReader
from clients.gateway.manifests import ManifestMismatchError
from edgeline_contract.rollout import rollout_problems, serves_candidate
from edgeline_contract.telemetry import DEVICE_ID_PATTERN
from resources import layout
from resources.artifacts import ArtifactStore, LocalArtifactStore
from resources.errors import ArtifactNotFoundError, InvalidKeyError

log = logging.getLogger("edgeline.gateway")

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # a model or channel name in a path

router = APIRouter()


def download_url(request: Request, artifacts: ArtifactStore, key: str) -> str:
    """Where a client fetches ``key``: this gateway for a local store, else the store's URL."""
    if isinstance(artifacts, LocalArtifactStore):  # served by this gateway, at its own address
        return str(request.url_for("artifact", key=key))
    return artifacts.download_url(key)


def channel_pointer(artifacts: ArtifactStore, model: str, channel: str) -> dict[str, Any]:
    """The channel's pointer to its manifest; 404 for a channel that was never published."""
    try:
        return artifacts.get_json(layout.channel(model, channel))
    except (ArtifactNotFoundError, InvalidKeyError):
        raise HTTPException(404, f"no channel {channel!r} for model {model!r}") from None


def revoked(model: str, channel: str, pointer: dict[str, Any]) -> JSONResponse:
    """A 404 that names the revoked version, so that clients drop it rather than retry."""
    content = {
        "detail": f"channel {channel!r} of {model!r} names no version (all revoked)",
        "version": None,
        "revoked": pointer.get("previous_version"),
    }
    return JSONResponse(content, status_code=404, headers={"Cache-Control": "no-cache"})


@router.get("/v1/web/models")
def web_models(caller: ManifestReader, context: Context) -> dict[str, Any]:
    """The image models web pages may open, each with its published version, classes, download
    size and page (/m/<model>); ``default`` is the one / opens."""
    return {"default": context.settings.web_model, "models": context.web_models.listed()}


def current_rollout(artifacts: ArtifactStore, model: str) -> dict[str, Any] | None:
    """The model's staged rollout document, if one was ever started and it holds to the
    contract: a broken one (written by hand, or by a newer platform) serves every client the
    stable version, never a candidate by accident, and says why in the log."""
    key = layout.rollout_state(model)
    document = artifacts.find_json(key)
    found = rollout_problems(document) if document is not None else []
    if found:
        log.warning("%s is not a rollout document (%s %s): serving stable", key, *found[0])
        return None
    return document


def client_of(caller: Caller, client: str | None) -> str:
    """The id a staged rollout assigns by: a web page's browser id (from its signed token), or
    the device id a device names, which its token must be allowed to speak for."""
    if caller.kind == "web":
        return caller.browser_id or ""
    if client is None:
        return ""  # an agent from before rollouts: the stable version
    if not caller.may_write(client, "pi"):
        raise HTTPException(403, f"this token does not speak for device {client!r}")
    return client


@router.get("/v1/models/{model}/channels/{channel}")
def channel_manifest(
    model: Annotated[str, PathParam(pattern=NAME)],
    channel: Annotated[str, PathParam(pattern=NAME)],
    request: Request,
    response: Response,
    caller: ManifestReader,
    context: Context,
    client: Annotated[
        str | None,
        Query(
            pattern=DEVICE_ID_PATTERN,
            description="A device's id: during a staged rollout it decides the device's side.",
        ),
    ] = None,
) -> Any:
    if caller.kind == "web" and not context.web_models.serves(model):
        raise HTTPException(403, f"{model!r} is not a model this gateway serves to web pages")
    artifacts = context.artifacts
    pointer = channel_pointer(artifacts, model, channel)
    manifest_key, sha256 = pointer.get("manifest_key"), pointer.get("manifest_sha256")
    rollout = current_rollout(artifacts, model) if channel == "stable" else None
    if rollout is not None and serves_candidate(rollout, client_of(caller, client)):
        manifest_key, sha256 = (
            rollout["candidate_manifest_key"],
            rollout["candidate_manifest_sha256"],
        )
    elif not pointer.get("version"):
        return revoked(model, channel, pointer)
    etag = f'"{sha256}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    try:
        manifest = context.manifests.read(manifest_key, sha256)
    except ManifestMismatchError as refused:
        log.error("not serving %s's %s channel: %s", model, channel, refused)
        raise HTTPException(502, f"not serving {model}: {refused}") from None
    manifest.pop("lineage", None)  # manifests published before it stayed in the registry
    for variant in manifest["variants"]:
        variant["url"] = download_url(request, artifacts, variant["key"])
        for compact in variant.get("compact", []):
            compact["url"] = download_url(request, artifacts, compact["key"])
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    return manifest


@router.get("/v1/artifacts/{key:path}")
def artifact(key: str, context: Context) -> Response:
    """Published model files for local clients (on aws they get presigned S3 URLs instead).

    Public, like a CDN: each is immutable under its version and checked by the sha256 that
    the (authenticated) manifest names. Manifests, device jobs and channel pointers are not
    served here: clients read them through the channel endpoint, with a token.
    """
    if not layout.is_public_model_file(key):
        raise HTTPException(404, "only published model files are served here")
    try:
        data = context.artifacts.get_bytes(key)
    except InvalidKeyError as error:
        raise HTTPException(400, str(error)) from None
    except ArtifactNotFoundError:
        raise HTTPException(404, f"no artifact {key!r}") from None
    media = "application/json" if key.endswith(".json") else "application/octet-stream"
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    cache = "public, max-age=31536000, immutable"  # a version's files never change
    return Response(data, media_type=media, headers={"ETag": etag, "Cache-Control": cache})
