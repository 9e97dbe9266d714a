"""The model manifest (``edgeline.manifest/1``): what a client reads to pick, download and check
a published model file.

The platform validates every manifest before it publishes it, unknown fields included; the
page and the agent call ``client_refusal`` before they download: a manifest of a schema they do
not read, or that needs a newer client than they are, or whose known fields are broken, is
refused with a sentence saying why, and they keep the model they run. A field they do not know
is ignored: a newer platform adds optional fields (a weight encoding, a rollout's facts) without
cutting off clients already in the field; one they cannot do without raises
``MIN_CLIENT_VERSION``.
"""

from __future__ import annotations

import re
from typing import Any

from edgeline_contract import jsonschema
from edgeline_contract.jsonschema import UNKNOWN_FIELD
from edgeline_contract.profile import PROFILE
from edgeline_contract.telemetry import MAX_MODEL_VERSION

MANIFEST_SCHEMA = "edgeline.manifest/1"
# The oldest client that reads what the platform publishes today. Raise it (and the clients'
# own versions) when a manifest starts to need something older clients do not do.
MIN_CLIENT_VERSION = "1.0.0"
VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+$"
PRECISIONS = ("fp32", "fp16", "int8")
TASKS = ("image-classification", "anomaly-detection")
BACKENDS = ("web-wasm", "web-webgpu", "pi", "cpu")  # the keys of ``recommended``
# compact weights (edgeline.weights/1): a variant's model with its weights stored smaller for
# the wire, which a client expands back into that model before running it
ENCODINGS = ("fp16",)

_PRECISION = {"type": "string", "enum": list(PRECISIONS)}
_ENCODING = {"type": "string", "enum": list(ENCODINGS)}
_FILE = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"}
_KEY = {"type": "string", "pattern": "^deploy/[^/]+/[0-9]+/[^/]+$"}
_URL = {"type": "string", "minLength": 1, "description": "Added by the gateway."}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COMPACT = {
    "type": "object",
    "description": "The variant's model as compact weights: download this file (check its "
    "sha256 and bytes), expand it, and check the expansion's sha256 before running it.",
    "additionalProperties": False,
    "required": ["encoding", "file", "key", "sha256", "bytes", "expanded_sha256", "gate_passed"],
    "properties": {
        "encoding": _ENCODING,
        "file": _FILE,
        "key": _KEY,
        "url": _URL,
        "sha256": _SHA256,
        "bytes": {"type": "integer", "minimum": 1},
        "expanded_sha256": {
            **_SHA256,
            "description": "The model the file expands to, which the gate judged: fp32's "
            "graph, its weights rounded as the encoding stores them.",
        },
        "gate_passed": {"type": "boolean"},
    },
}
_VARIANT = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "precision",
        "file",
        "key",
        "sha256",
        "bytes",
        "input",
        "outputs",
        "latency_ms",
        "gate_passed",
    ],
    "properties": {
        "precision": _PRECISION,
        "file": _FILE,
        "key": _KEY,
        "url": _URL,
        "sha256": _SHA256,
        "bytes": {"type": "integer", "minimum": 1},
        "input": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "shape", "dtype"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "shape": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": ["integer", "null"], "minimum": 1},
                },
                "dtype": {"type": "string", "enum": ["float32"]},
            },
        },
        "outputs": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "latency_ms": {
            "type": "object",
            "description": "Measured p50 by thread count (threads_1, threads_2, ...).",
            "additionalProperties": {"type": "number", "minimum": 0},
        },
        "gate_passed": {"type": "boolean"},
        "compact": {"type": "array", "minItems": 1, "items": _COMPACT},
    },
}

MANIFEST: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://edgeline.dev/schemas/{MANIFEST_SCHEMA}",
    "title": "Edgeline model manifest",
    "description": "One published version of one model, as its clients read it.",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema",
        "model",
        "version",
        "created",
        "task",
        "variants",
        "recommended",
        "preprocessing",
        "min_client_version",
    ],
    "properties": {
        "schema": {"type": "string", "const": MANIFEST_SCHEMA},
        "model": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
        "version": {"type": "integer", "minimum": 1, "maximum": MAX_MODEL_VERSION},
        "created": {"type": "string", "format": "date-time"},
        "task": {"type": "string", "enum": list(TASKS)},
        "variants": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/variant"}},
        "recommended": {
            "type": "object",
            "description": "The variant each backend should download.",
            "additionalProperties": False,
            "properties": {backend: _PRECISION for backend in BACKENDS},
        },
        "recommended_encoding": {
            "type": "object",
            "description": "For a backend named here, download the recommended variant's "
            "compact weights of this encoding instead of its file (optional: a client that "
            "does not read it downloads the file, which stays published).",
            "additionalProperties": False,
            "properties": {backend: _ENCODING for backend in BACKENDS},
        },
        "preprocessing": {"type": "string"},
        "min_client_version": {"type": "string", "pattern": VERSION_PATTERN},
        "labels": {
            "type": "array",
            "minItems": 2,
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
        },
        "unsure_below": {
            "type": "number",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 1,
            "description": "An image classifier's top-1 confidence below which a client says "
            "'not sure' rather than name a class, chosen on the validation set. Without it a "
            "client uses min(0.5, 2 / number of labels).",
        },
        "threshold": {"type": "number", "minimum": 0},
        "signals": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "window": {"type": "integer", "minimum": 1},
        "profile": {"$ref": "#/$defs/profile"},
    },
    "allOf": [
        {  # an image classifier names its classes, in the order of its output
            "if": {"properties": {"task": {"const": "image-classification"}}},
            "then": {"required": ["labels"]},
        },
        {  # an autoencoder names its signals, window and anomaly threshold
            "if": {"properties": {"task": {"const": "anomaly-detection"}}},
            "then": {"required": ["threshold", "signals", "window"]},
        },
    ],
    "$defs": {"variant": _VARIANT, "profile": PROFILE},
}


_MANIFEST_PROBLEMS = jsonschema.validator(MANIFEST)


def manifest_problems(manifest: Any) -> list[tuple[str, str]]:
    """Every way ``manifest`` breaks the contract, as (field, message); empty when valid."""
    return _MANIFEST_PROBLEMS(manifest)


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.10.0"`` as (1, 10, 0), so that versions compare as numbers."""
    if not isinstance(version, str) or not re.match(VERSION_PATTERN, version):
        raise ValueError(f"{version!r} is not a version like 1.2.3")
    return tuple(int(part) for part in version.split("."))


def client_refusal(manifest: Any, client_version: str) -> str | None:
    """Why a client at ``client_version`` must not use ``manifest`` (None: it may).

    The schema and the minimum client version are checked before the fields, so that a
    manifest from a newer platform is refused for what it is, not for a field it added.
    """
    if not isinstance(manifest, dict):
        return "the manifest is not a JSON object"
    schema = manifest.get("schema")
    if schema != MANIFEST_SCHEMA:
        return f"the manifest's schema {schema!r} is not one this client reads ({MANIFEST_SCHEMA})"
    needed = manifest.get("min_client_version")
    try:
        too_old = version_tuple(needed) > version_tuple(client_version)
    except ValueError:
        too_old = False  # a malformed version is the field check's to name
    if too_old:
        return (
            f"{manifest.get('model')} v{manifest.get('version')} needs client version {needed} "
            f"or newer; this client is {client_version}"
        )
    found = [(f, m) for f, m in manifest_problems(manifest) if not m.startswith(UNKNOWN_FIELD)]
    if found:
        field, message = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return f"the manifest breaks {MANIFEST_SCHEMA}: {field} {message}{more}"
    return None
