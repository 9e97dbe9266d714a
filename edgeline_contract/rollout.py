"""A staged rollout as its clients see it: which side of a canary a client is on.

Standard library only: the gateway reads the platform's rollout document with it and answers
each client's channel request. A client's side is a pure function of the rollout's id, its own
id and the share: the same client lands on the same side after every restart, and a client on
the candidate stays there as the share grows.
"""

import hashlib
from typing import Any

from edgeline_contract import jsonschema
from edgeline_contract.telemetry import MAX_MODEL_VERSION, MODEL_PATTERN

ROLLOUT_SCHEMA = "edgeline.rollout/1"
CANARY, PAUSED, PROMOTED, ABORTED = "canary", "paused", "promoted", "aborted"
RUNNING = (CANARY, PAUSED)  # the candidate is held off the stable channel

_VERSION = {"type": "integer", "minimum": 1, "maximum": MAX_MODEL_VERSION}
_MOMENT = {"type": "string", "format": "date-time"}
ROLLOUT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://edgeline.dev/schemas/{ROLLOUT_SCHEMA}",
    "title": "Edgeline staged rollout",
    "description": (
        "deploy/<model>/rollout/state.json: the platform writes it by compare-and-swap; the "
        "gateway reads it to answer each client's stable channel by the client's side. Fields "
        "this version does not know are kept and ignored."
    ),
    "type": "object",
    "required": [
        "schema",
        "rollout_id",
        "model",
        "candidate",
        "stable",
        "steps",
        "step",
        "state",
        "baking_s",
        "started",
        "step_started",
    ],
    "properties": {
        "schema": {"type": "string", "const": ROLLOUT_SCHEMA},
        "rollout_id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            "description": "Seeds every client's side: a new rollout draws a new canary.",
        },
        "model": {"type": "string", "pattern": MODEL_PATTERN},
        "candidate": {**_VERSION, "description": "The version the canary share runs."},
        "stable": {
            **_VERSION,
            "type": ["integer", "null"],
            "description": "The version everyone else runs (null: none was published).",
        },
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "description": "The shares on the candidate at each step, growing, ending at 1.",
        },
        "step": {"type": "integer", "minimum": 0, "description": "The index into steps."},
        "state": {"type": "string", "enum": [CANARY, PAUSED, PROMOTED, ABORTED]},
        "baking_s": {"type": "number", "minimum": 0},
        "started": _MOMENT,
        "step_started": _MOMENT,
        "generation": {"type": "integer", "minimum": 0},
        "candidate_manifest_key": {
            "type": ["string", "null"],
            "minLength": 1,
            "description": "The candidate's published manifest (null until it is published).",
        },
        "candidate_manifest_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "guardrails": {
            "type": "object",
            "additionalProperties": {"type": ["number", "boolean"]},
            "description": "This rollout's overrides of the guardrails' settings (min_clients...).",
        },
        "history": {
            "type": "array",
            "items": {"type": "object", "required": ["at", "event"]},
            "description": "Every start, step, pause, promotion and abort: who, why, the figures.",
        },
    },
}


def rollout_problems(document: Any) -> list[tuple[str, str]]:
    """Every way ``document`` breaks the rollout contract, as (field, message); beyond the
    schema, a step that indexes no share."""
    found = jsonschema.problems(document, ROLLOUT)
    if not found and document["step"] >= len(document["steps"]):
        found.append(("step", f"{document['step']} is past the {len(document['steps'])} steps"))
    return found


def client_bucket(rollout_id: str, client_id: str) -> float:
    """Where a client falls in [0, 1) for this rollout: uniform over clients, fixed per pair,
    and independent between rollouts (a new rollout draws a new canary)."""
    digest = hashlib.sha256(f"{rollout_id}\0{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def share_of(rollout: dict[str, Any]) -> float:
    """The share of clients on the candidate now."""
    if rollout["state"] == PROMOTED:
        return 1.0
    return float(rollout["steps"][rollout["step"]]) if rollout["state"] in RUNNING else 0.0


def serves_candidate(rollout: dict[str, Any], client_id: str) -> bool:
    """Whether ``client_id`` gets the candidate's manifest now: the rollout runs, the candidate
    is published, and the client's bucket is below the share (monotone in the share)."""
    return (
        rollout["state"] in RUNNING
        and rollout.get("candidate_manifest_key") is not None
        and bool(client_id)
        and client_bucket(rollout["rollout_id"], client_id) < share_of(rollout)
    )
