"""Telemetry batches from devices and web pages: each event checked, the valid ones stored."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from clients.gateway.auth import Caller
from clients.gateway.bodies import field_errors, read_json_body
from clients.gateway.dependencies import Context, TelemetryWriter
from clients.gateway.schema import TelemetryEvent
from resources.errors import EdgelineError
from resources.telemetry import TelemetryStore

MAX_TELEMETRY_BYTES = 2 * 1024 * 1024  # 500 events of a few kB each
NESTED = {"field": "body", "message": "nests too deeply"}

router = APIRouter()


def batch_events(body: Any, max_batch: int) -> list[Any]:
    """The batch's events: 422 without any, 413 for more than one batch may hold."""
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        raise HTTPException(422, "body needs a non-empty list 'events'")
    if len(events) > max_batch:
        raise HTTPException(413, f"{len(events)} events in one batch; at most {max_batch}")
    return events


def check_writer(caller: Caller, events: list[Any]) -> None:
    """403 for the whole batch if any event speaks for a device the token does not."""
    for index, raw in enumerate(events):
        if isinstance(raw, dict) and not caller.may_write(
            raw.get("device_id"), raw.get("client_kind")
        ):
            whose = "its own browser's web events" if caller.kind == "web" else "its devices"
            raise HTTPException(
                403, f"event {index}: this token writes only {whose} (device_id refused)"
            )


def validate_events(events: list[Any]) -> tuple[list[dict], list[dict]]:
    """The events to store, and the rejected ones by index with their fields' problems."""
    valid, rejected = [], []
    for index, raw in enumerate(events):
        try:
            valid.append(TelemetryEvent.model_validate(raw).stored())
        except RecursionError:
            rejected.append({"index": index, "errors": [NESTED]})
        except ValidationError as error:
            rejected.append({"index": index, "errors": field_errors(error.errors())})
    return valid, rejected


async def store_events(telemetry: TelemetryStore, valid: list[dict]) -> int:
    """How many were new; the stores block (SQLite, boto3), so they run off the event loop."""
    if not valid:
        return 0
    try:
        return await run_in_threadpool(telemetry.append, valid)
    except EdgelineError as error:
        raise HTTPException(422, str(error)) from None


def outcome(received: int, accepted: int, stored: int, rejected: list[dict]) -> JSONResponse:
    """200 when all were accepted, 207 when some were, 422 when none were; counts in the body."""
    status = 200 if not rejected else (207 if accepted else 422)
    duplicates = accepted - stored
    detail = f"{stored} of {received} events stored"
    if duplicates:
        detail += f"; {duplicates} already stored (duplicate event_id)"
    if rejected:
        detail += f"; {len(rejected)} rejected (see 'rejected' for the fields)"
    content = {
        "detail": detail,
        "accepted": accepted,
        "stored": stored,
        "duplicates": duplicates,
        "rejected": rejected,
    }
    return JSONResponse(status_code=status, content=content)


@router.post("/v1/telemetry")
async def ingest_telemetry(
    request: Request, caller: TelemetryWriter, context: Context
) -> JSONResponse:
    body = await read_json_body(request, MAX_TELEMETRY_BYTES)
    events = batch_events(body, context.settings.max_batch)
    check_writer(caller, events)
    valid, rejected = validate_events(events)
    stored = await store_events(context.telemetry, valid)
    return outcome(len(events), len(valid), stored, rejected)
