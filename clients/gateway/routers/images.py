"""Images that clients share for labelling, kept under ``incoming/images/<day>/``."""

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from clients.gateway.auth import Caller
from clients.gateway.bodies import read_body
from clients.gateway.dependencies import Context, ImageWriter
from resources import layout
from resources.images import ImageRefusedError, read_image_header

MAX_IMAGE_BYTES = 5 * 1024 * 1024

router = APIRouter()


def uploader_device(caller: Caller, device_id: str | None) -> str | None:
    """The device the image is filed under: a bound token's only device by default, and 403
    for one that the token does not speak for."""
    if caller.device_ids is None:
        return device_id
    if device_id is None and len(caller.device_ids) == 1:
        device_id = next(iter(caller.device_ids))
    if device_id not in caller.device_ids:
        raise HTTPException(403, "this token uploads only for its own device ids")
    return device_id


def image_extension(data: bytes) -> str:
    """The image's file extension, from its header only: a small file declaring a huge picture
    is refused (413) undecoded, and anything but an image is a 415."""
    if not data:
        raise HTTPException(422, "empty body: send the image bytes")
    try:
        return read_image_header(data).extension
    except ImageRefusedError as error:
        raise HTTPException(413 if error.too_large else 415, str(error)) from None


@router.post("/v1/images", status_code=201)
async def upload_image(
    request: Request,
    caller: ImageWriter,
    context: Context,
    label: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"),
    device_id: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
) -> dict[str, str]:
    device_id = uploader_device(caller, device_id)
    data = await read_body(request, MAX_IMAGE_BYTES, "image")
    extension = image_extension(data)
    key = layout.incoming_image(datetime.now(UTC), f"{uuid.uuid4()}.{extension}")
    content_type = f"image/{'jpeg' if extension == 'jpg' else extension}"
    await run_in_threadpool(context.artifacts.put_bytes, key, data, content_type)
    sidecar = {"label": label, "device_id": device_id, "bytes": len(data)}
    await run_in_threadpool(context.artifacts.put_json, key + ".json", sidecar)
    return {"image_key": key}
