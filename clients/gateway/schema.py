"""The telemetry event contract (``edgeline.telemetry/1``), validated for every event."""

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from resources.telemetry import event_age_problem

TELEMETRY_SCHEMA = "edgeline.telemetry/1"
MAX_BATCH = 500
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# every number is finite (NaN and Infinity are refused: they are not JSON) and bounded, so that
# no single event can break a roll-up
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
MAX_MODEL_VERSION = 1_000_000
MAX_RECONSTRUCTION_ERROR = 1e12


class LabelScore(BaseModel):
    model_config = STRICT
    label: str = Field(min_length=1, max_length=100)
    confidence: float = Field(ge=0.0, le=1.0)


class TelemetryEvent(BaseModel):
    """One inference on a client. ``event_id`` de-duplicates retries."""

    model_config = STRICT
    schema_version: Literal["edgeline.telemetry/1"] = Field(alias="schema")
    event_id: str = Field(pattern=r"^[0-9a-fA-F-]{32,36}$")
    client_kind: Literal["web", "pi"]
    device_id: str = Field(min_length=1, max_length=64)
    model: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    model_version: int = Field(ge=1, le=MAX_MODEL_VERSION)
    variant: Literal["fp32", "fp16", "int8"]
    backend: Literal["wasm", "webgpu", "cpu"] | None = Field(
        default=None, description="Where the model ran: the web page's backend, or cpu on a Pi."
    )
    threads: int | None = Field(default=None, ge=1, le=256)
    timestamp: datetime
    latency_ms: float = Field(ge=0.0, le=600_000.0)
    top_k: list[LabelScore] | None = Field(default=None, min_length=1, max_length=10)
    reconstruction_error: float | None = Field(default=None, ge=0.0, le=MAX_RECONSTRUCTION_ERROR)
    anomaly: bool | None = None
    image_key: str | None = Field(
        default=None,
        # <uploader>/ since the review queue; events queued by older pages may lack it
        pattern=r"^incoming/images/\d{4}-\d{2}-\d{2}/([A-Za-z0-9][A-Za-z0-9._-]{0,63}/)?"
        r"[0-9a-f-]{36}\.(jpg|png|webp)$",
    )

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if not DEVICE_ID.match(value):
            raise ValueError("device_id may use letters, digits and ._- only (no paths)")
        return value

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: datetime, info: ValidationInfo) -> datetime:
        """Within what the store keeps, by the request's one clock (``context["now"]``, which
        the gateway hands the store too: the two checks cannot disagree at the boundary)."""
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone (use UTC, e.g. 2026-11-23T10:00:00Z)")
        now = (info.context or {}).get("now") or datetime.now(UTC)
        problem = event_age_problem(value, now)
        if problem:
            raise ValueError(f"timestamp {problem}")
        return value

    @model_validator(mode="after")
    def _prediction_fits_client(self) -> "TelemetryEvent":
        if self.client_kind == "web" and self.top_k is None:
            raise ValueError("a web event needs top_k (labels with confidences)")
        if self.client_kind == "pi" and (self.reconstruction_error is None or self.anomaly is None):
            raise ValueError("a pi event needs reconstruction_error and anomaly")
        return self

    def stored(self) -> dict:
        """The JSON object the TelemetryStore keeps."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        document["timestamp"] = self.timestamp.astimezone(UTC).isoformat()
        return document
