"""Images that clients share, kept under ``incoming/images/<day>/<uploader>/`` for a person
to review (nothing shared trains a model until it is accepted). Bounded a day per uploader and,
for web pages, in all; web sharing can be turned off."""

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from clients.gateway.auth import Caller
from clients.gateway.bodies import spool_body
from clients.gateway.dependencies import Context, GatewayContext, ImageWriter
from clients.gateway.web_tokens import BROWSER_ID_PREFIX
from resources import layout
from resources.artifacts import ArtifactStore, json_bytes
from resources.errors import ConcurrentWriteError
from resources.images import MAX_SHARED_IMAGE_PIXELS, ImageRefusedError, read_image_header

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


def image_extension(path: Path) -> str:
    """The image's file extension, from its header only: a small file declaring a big picture
    is refused (413) undecoded, and anything but an image is a 415."""
    if not path.stat().st_size:
        raise HTTPException(422, "empty body: send the image bytes")
    try:
        return read_image_header(path, MAX_SHARED_IMAGE_PIXELS).extension
    except ImageRefusedError as error:
        raise HTTPException(413 if error.too_large else 415, str(error)) from None


def _until_tomorrow(now: datetime) -> dict[str, str]:
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    return {"Retry-After": str(max(1, int((midnight - now).total_seconds())))}


QUOTA_ATTEMPTS = 20


def _count_one_more(store: ArtifactStore, key: str, limit: int) -> int | None:
    """Add one to the day's counter under ``key`` by compare-and-swap (concurrent uploads each
    get their own slot); None, adding nothing, once it holds ``limit``. Returns the count."""
    for _ in range(QUOTA_ATTEMPTS):
        read = store.read_tagged(key)
        used = int(json.loads(read[0])["uploads"]) if read else 0
        if used >= limit:
            return None
        try:
            store.compare_and_swap(
                key,
                json_bytes({"uploads": used + 1}),
                read[1] if read else None,
                "application/json",
            )
            return used + 1
        except ConcurrentWriteError:
            continue
    raise HTTPException(503, "too many uploads at this moment: retry", headers={"Retry-After": "1"})


def reserve_daily_upload(context: GatewayContext, caller: Caller, uploader: str, day: date) -> None:
    """Count this upload against ``uploader``'s allowance for the day and, for web pages, against
    all pages' (minting fresh browser ids does not get past it): 429 once it is spent. The
    counters live in the store, so they hold across gateway processes, and a person's review
    of the queue gives nothing back."""
    settings, store, now = context.settings, context.artifacts, datetime.now(UTC)
    web = caller.kind == "web"
    limit = settings.shares_per_browser_per_day if web else settings.shares_per_device_per_day
    if _count_one_more(store, layout.upload_count(f"{day}", uploader), limit) is None:
        raise HTTPException(
            429,
            f"{uploader} uploaded {limit} images today: at most {limit} a day",
            headers=_until_tomorrow(now),
        )
    all_pages = settings.web_shares_per_day
    if web and _count_one_more(store, layout.upload_count(f"{day}"), all_pages) is None:
        raise HTTPException(
            429,
            f"web pages shared {all_pages} images today: this gateway takes at most "
            f"{all_pages} a day",
            headers=_until_tomorrow(now),
        )


@router.post("/v1/images", status_code=201)
async def upload_image(
    request: Request,
    caller: ImageWriter,
    context: Context,
    label: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"),
    device_id: str | None = Query(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    model: str | None = Query(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$",
        description="The image model it was shared for (default: the page's default model).",
    ),
) -> dict[str, str]:
    device_id = uploader_device(caller, device_id)
    model = model or context.settings.web_model
    if caller.kind == "web" and not context.settings.web_sharing:
        raise HTTPException(403, "photo sharing is turned off on this gateway")
    if caller.kind == "web" and not await run_in_threadpool(context.web_models.serves, model):
        raise HTTPException(403, f"{model!r} is not a model this gateway serves to web pages")
    if caller.kind == "device" and device_id and device_id.startswith(BROWSER_ID_PREFIX):
        raise HTTPException(403, f"device ids starting {BROWSER_ID_PREFIX!r} are web pages'")
    uploader, day = device_id or "device", datetime.now(UTC).date()
    async with context.uploads.slot(caller.key):
        await run_in_threadpool(reserve_daily_upload, context, caller, uploader, day)
        path = await spool_body(request, MAX_IMAGE_BYTES, "image", context.uploads.timeout_s)
    try:
        extension = image_extension(path)
        key = layout.incoming_image(day, uploader, f"{uuid.uuid4()}.{extension}")
        content_type = f"image/{'jpeg' if extension == 'jpg' else extension}"
        await run_in_threadpool(context.artifacts.put_file, key, path, content_type)
        sidecar = {
            "label": label,  # a suggestion: a person decides the class
            "device_id": device_id,
            "bytes": path.stat().st_size,
            "received_at": datetime.now(UTC).isoformat(),
            "model": model,  # the model whose page shared it: a reviewer files it there
        }
    finally:
        path.unlink(missing_ok=True)
    await run_in_threadpool(context.artifacts.put_json, layout.image_sidecar(key), sidecar)
    return {"image_key": key}
