"""Telemetry batches from devices and web pages: each event checked, the valid ones stored."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from clients.gateway.auth import Caller
from clients.gateway.bodies import read_json_body
from clients.gateway.dependencies import Context, TelemetryWriter
from edgeline_contract.telemetry import (
    EVENT,
    MAX_BATCH,
    event_problems,
    parse_timestamp,
    stored_event,
)
from resources.errors import EdgelineError
from resources.telemetry import AppendResult, TelemetryStore, event_age_problem

MAX_TELEMETRY_BYTES = 2 * 1024 * 1024  # 500 events of a few kB each
# the contract's event schema, for /docs and for clients that generate requests from it
BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_BATCH,
                        "items": {k: v for k, v in EVENT.items() if not k.startswith("$")},
                    }
                },
            }
        }
    },
}

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
    """403 for the whole batch if any event speaks for a device the token does not (an event
    whose device_id is not even a string is validation's to reject, by itself)."""
    for index, raw in enumerate(events):
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("device_id"), str)
            and not caller.may_write(raw["device_id"], raw.get("client_kind"))
        ):
            whose = (
                "its own browser's web events"
                if caller.kind == "web"
                else "pi events of its devices (web events come with the page's own token)"
            )
            raise HTTPException(403, f"event {index}: this token writes only {whose}")


def validate_events(events: list[Any], now: datetime) -> tuple[list[tuple[int, dict]], list[dict]]:
    """The events to store by their index, and the rejected ones by index with their fields'
    problems: the contract's, then the store's window of time (by ``now``, the request's one
    clock, which the store is handed too: the two checks cannot disagree at the boundary)."""
    valid, rejected = [], []
    for index, raw in enumerate(events):
        found = event_problems(raw)
        if not found:
            moment = parse_timestamp(raw["timestamp"])  # once: for the window and the store
            problem = event_age_problem(moment, now)
            if problem:
                found = [("timestamp", f"{raw['timestamp']} {problem}")]
        if found:
            errors = [{"field": field, "message": message} for field, message in found]
            rejected.append({"index": index, "errors": errors})
        else:
            valid.append((index, stored_event(raw, moment)))
    return valid, rejected


async def store_events(
    telemetry: TelemetryStore, valid: list[tuple[int, dict]], now: datetime
) -> tuple[AppendResult, list[dict]]:
    """What the store made of them, and those it refused as rejections by the batch's index.
    The stores block (SQLite, boto3), so they run off the event loop."""
    if not valid:
        return AppendResult(), []
    try:
        result = await run_in_threadpool(telemetry.append, [e for _, e in valid], now)
    except EdgelineError as error:
        raise HTTPException(422, str(error)) from None
    refused = [
        {"index": valid[position][0], "errors": [{"field": field, "message": why}]}
        for position, field, why in result.refused
    ]
    return result, refused


def outcome(received: int, result: AppendResult, rejected: list[dict]) -> JSONResponse:
    """200 when all were accepted, 207 when some were, 422 when none were; counts in the body."""
    accepted = received - len(rejected)
    status = 200 if not rejected else (207 if accepted else 422)
    detail = f"{result.stored} of {received} events stored"
    if result.duplicates:
        detail += f"; {result.duplicates} already stored (duplicate event_id)"
    if result.conflicts:
        detail += (
            f"; {result.conflicts} dropped: their event_id is stored with other content "
            "(an event id names one event)"
        )
    if rejected:
        detail += f"; {len(rejected)} rejected (see 'rejected' for the fields)"
    content = {
        "detail": detail,
        "accepted": accepted,
        "stored": result.stored,
        "duplicates": result.duplicates,
        "conflicts": result.conflicts,
        "rejected": sorted(rejected, key=lambda r: r["index"]),
    }
    return JSONResponse(status_code=status, content=content)


@router.post("/v1/telemetry", openapi_extra={"requestBody": BATCH_BODY})
async def ingest_telemetry(
    request: Request, caller: TelemetryWriter, context: Context
) -> JSONResponse:
    now = datetime.now(UTC)  # one clock for the request: the schema's check and the store's
    budget = context.bodies
    async with budget.slot(caller.key):
        body = await read_json_body(request, MAX_TELEMETRY_BYTES, budget.timeout_s)
    events = batch_events(body, context.settings.max_batch)
    check_writer(caller, events)
    valid, rejected = validate_events(events, now)
    result, refused = await store_events(context.telemetry, valid, now)
    return outcome(len(events), result, rejected + refused)
