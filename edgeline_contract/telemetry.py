"""The telemetry event (``edgeline.telemetry/1``): one inference on a client, sent in batches.

The gateway validates every event with ``event_problems``; the reports read stored events
through ``readable_event``; the page and the agent build events with ``TELEMETRY_SCHEMA``.
Every number is bounded and finite (NaN and Infinity are not JSON), so no single event can
break a roll-up.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from edgeline_contract import jsonschema

TELEMETRY_SCHEMA = "edgeline.telemetry/1"
CLIENT_KINDS = ("web", "pi")
MAX_BATCH = 500  # events in one request
MAX_MODEL_VERSION = 1_000_000
MAX_LATENCY_MS = 600_000.0
MAX_RECONSTRUCTION_ERROR = 1e12
MAX_TOP_K = 10
MAX_FAILURE = 200  # characters of a failure's text
OUTCOMES = ("scored", "unscored", "error")
NOT_SCORED = ("unscored", "error")
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # no paths: it names files and streams
MODEL_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
IMAGE_KEY_PATTERN = (  # <uploader>/ since the review queue; events queued by older pages lack it
    r"^incoming/images/[0-9]{4}-[0-9]{2}-[0-9]{2}/([A-Za-z0-9][A-Za-z0-9._-]{0,63}/)?"
    r"[0-9a-f-]{36}\.(jpg|png|webp)$"
)


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    """A field a client may leave out or send as null."""
    return {**schema, "type": [schema["type"], "null"]}


_SCORED = {"outcome": {"enum": ["scored", None]}}  # left out, null or "scored"
_WEB_SCORED = {"client_kind": {"const": "web"}, **_SCORED}
_PI_SCORED = {"client_kind": {"const": "pi"}, **_SCORED}

EVENT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://edgeline.dev/schemas/{TELEMETRY_SCHEMA}",
    "title": "Edgeline telemetry event",
    "description": "One inference on a client. event_id de-duplicates retries.",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema",
        "event_id",
        "client_kind",
        "device_id",
        "model",
        "model_version",
        "variant",
        "timestamp",
        "latency_ms",
    ],
    "properties": {
        "schema": {"type": "string", "const": TELEMETRY_SCHEMA},
        "event_id": {"type": "string", "pattern": "^[0-9a-fA-F-]{32,36}$"},
        "client_kind": {"type": "string", "enum": list(CLIENT_KINDS)},
        "device_id": {"type": "string", "pattern": DEVICE_ID_PATTERN},
        "model": {"type": "string", "pattern": MODEL_PATTERN},
        "model_version": {"type": "integer", "minimum": 1, "maximum": MAX_MODEL_VERSION},
        "variant": {"type": "string", "enum": ["fp32", "fp16", "int8"]},
        "backend": _optional(
            {
                "type": "string",
                "enum": ["wasm", "webgpu", "cpu", None],
                "description": "Where the model ran: the web page's backend, or cpu on a Pi.",
            }
        ),
        "threads": _optional({"type": "integer", "minimum": 1, "maximum": 256}),
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 with a time zone, e.g. 2026-11-23T10:00:00Z.",
        },
        "latency_ms": {"type": "number", "minimum": 0, "maximum": MAX_LATENCY_MS},
        "top_k": _optional(
            {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_TOP_K,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["label", "confidence"],
                    "properties": {
                        "label": {"type": "string", "minLength": 1, "maxLength": 100},
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            }
        ),
        "reconstruction_error": _optional(
            {"type": "number", "minimum": 0, "maximum": MAX_RECONSTRUCTION_ERROR}
        ),
        "anomaly": _optional({"type": "boolean"}),
        "image_key": _optional({"type": "string", "pattern": IMAGE_KEY_PATTERN}),
        "outcome": _optional(
            {
                "type": "string",
                "enum": [*OUTCOMES, None],
                "description": (
                    "scored (the default when left out): the model answered. unscored: the "
                    "input could not be scored (a reading lacks a signal the model reads, the "
                    "model's output is not a finite number). error: the inference failed (a "
                    "photo that would not decode, a model that failed to run). An event that is "
                    "not scored carries no prediction."
                ),
            }
        ),
        "failure": _optional(
            {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_FAILURE,
                "description": "Why an unscored or error event has no prediction, in words.",
            }
        ),
    },
    "allOf": [
        {  # a scored web event carries its prediction as labels with confidences
            "if": {"required": ["client_kind"], "properties": _WEB_SCORED},
            "then": {"required": ["top_k"], "properties": {"top_k": {"type": "array"}}},
        },
        {  # a scored Pi event carries the window's reconstruction error and the verdict
            "if": {"required": ["client_kind"], "properties": _PI_SCORED},
            "then": {
                "required": ["reconstruction_error", "anomaly"],
                "properties": {
                    "reconstruction_error": {"type": "number"},
                    "anomaly": {"type": "boolean"},
                },
            },
        },
    ],
}
FIELDS = tuple(EVENT["properties"])


parse_timestamp = jsonschema.parse_date_time  # an event's time, as the validator reads it


_EVENT_PROBLEMS = jsonschema.validator(EVENT)


def event_problems(event: Any) -> list[tuple[str, str]]:
    """Every way ``event`` breaks the contract, as (field, message); empty for a valid event."""
    return _EVENT_PROBLEMS(event)


def stored_event(event: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """The JSON object a store keeps of a valid event: nulls left out, the time (``moment``,
    its parsed timestamp) in UTC."""
    document = {k: v for k, v in event.items() if v is not None}
    document["timestamp"] = moment.astimezone(timezone.utc).isoformat()
    return document


def is_scored(event: dict[str, Any]) -> bool:
    """Whether a valid event carries a prediction (its outcome is left out, null or scored)."""
    return event.get("outcome") in (None, "scored")


def readable_event(event: Any, client_kind: str) -> str | None:
    """Why a stored event of ``client_kind`` cannot be rolled up (None: it can). Stored events
    passed the gateway, but a store may also hold rows an older client or a person wrote."""
    found = event_problems(event)
    if found:
        field, message = found[0]
        return f"{field} {message}"
    if event["client_kind"] != client_kind:
        return f"client_kind {event['client_kind']!r} in the {client_kind} events"
    return None
