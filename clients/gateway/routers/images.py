"""Images that clients share, kept under ``incoming/images/<day>/<uploader>/`` for a person
to review (nothing shared trains a model until it is accepted). Bounded a day per uploader and,
for web pages, in all; web sharing can be turned off."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from clients.gateway.auth import Caller
from clients.gateway.bodies import read_body
from clients.gateway.dependencies import Context, GatewayContext, ImageWriter
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


def _images(keys: list[str]) -> list[str]:
    return [k for k in keys if not k.endswith(".json")]  # not the sidecars


def _until_tomorrow(now: datetime) -> dict[str, str]:
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    return {"Retry-After": str(max(1, int((midnight - now).total_seconds())))}


def check_daily_quota(context: GatewayContext, caller: Caller, uploader: str, day: date) -> None:
    """429 once ``uploader`` (or, for web pages, everyone) shared the day's allowance: minting
    fresh browser ids does not get past the total. Counted in the store, so it holds across
    gateway processes."""
    settings, store, now = context.settings, context.artifacts, datetime.now(UTC)
    mine = len(_images(store.list_keys(layout.incoming_images(f"{day}", uploader))))
    limit = (
        settings.shares_per_browser_per_day
        if caller.kind == "web"
        else settings.shares_per_device_per_day
    )
    if mine >= limit:
        raise HTTPException(
            429,
            f"{uploader} shared {mine} images today: at most {limit} a day",
            headers=_until_tomorrow(now),
        )
    if caller.kind == "web":
        today = layout.incoming_images(f"{day}")
        web = [k for k in _images(store.list_keys(today)) if k[len(today) :].startswith("web-")]
        if len(web) >= settings.web_shares_per_day:
            raise HTTPException(
                429,
                f"web pages shared {len(web)} images today: this gateway takes at most "
                f"{settings.web_shares_per_day} a day",
                headers=_until_tomorrow(now),
            )


@router.post("/v1/images", status_code=201)
async def upload_image(
    request: Request,
    caller: ImageWriter,
    context: Context,
    label: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"),
    device_id: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
) -> dict[str, str]:
    device_id = uploader_device(caller, device_id)
    if caller.kind == "web" and not context.settings.web_sharing:
        raise HTTPException(403, "photo sharing is turned off on this gateway")
    uploader, day = device_id or "device", datetime.now(UTC).date()
    await run_in_threadpool(check_daily_quota, context, caller, uploader, day)
    data = await read_body(request, MAX_IMAGE_BYTES, "image")
    extension = image_extension(data)
    key = layout.incoming_image(day, uploader, f"{uuid.uuid4()}.{extension}")
    content_type = f"image/{'jpeg' if extension == 'jpg' else extension}"
    await run_in_threadpool(context.artifacts.put_bytes, key, data, content_type)
    sidecar = {
        "label": label,  # a suggestion: a person decides the class
        "device_id": device_id,
        "bytes": len(data),
        "received_at": datetime.now(UTC).isoformat(),
    }
    await run_in_threadpool(context.artifacts.put_json, key + ".json", sidecar)
    return {"image_key": key}
