"""Event rows built directly (no gateway, no training) and the validation baselines they are
judged against, for the report tests: a day of web and Pi telemetry of any size."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from assets.sensors.evaluation import error_baseline
from assets.telemetry.reports import CONFIDENCE_EDGES, build_report, events_frame
from resources.artifacts import frame_bytes

DAY = "2026-11-20"
START = datetime(2026, 11, 20, tzinfo=UTC)
LABELS = ("circle", "square", "star", "triangle")
WEB_MODEL, PI_MODEL = "image-classifier", "turbine-autoencoder"
ANOMALY_THRESHOLD = 0.12
# how confident a model that learnt its classes is: the validation set's and a normal day's
CONFIDENT = (8.0, 1.5)
LOG_ERROR = (-1.3, 0.2)  # log10 of a healthy turbine's reconstruction error (mean, sd)


def _at(index: int, count: int) -> str:
    """Events spread over the day, with microseconds (the report shows them to the second)."""
    return (START + timedelta(seconds=index * 86_400 / count + 0.123456)).isoformat()


def web_rows(
    confidences: Sequence[float], labels: Sequence[str] | None = None, version: int = 2
) -> list[dict[str, Any]]:
    """One web event per top-1 confidence, from 7 browsers, a quarter of them fp16 on WebGPU
    (and slower)."""
    labels = labels or [LABELS[i % len(LABELS)] for i in range(len(confidences))]
    return [
        {
            "event_id": f"web-{i}",
            "device_id": f"browser-{i % 7}",
            "model": WEB_MODEL,
            "model_version": version,
            "variant": "fp16" if i % 4 == 0 else "fp32",
            "backend": "webgpu" if i % 4 == 0 else "wasm",
            "timestamp": _at(i, len(confidences)),
            "latency_ms": (30.0 if i % 4 == 0 else 15.0) + (i * 7) % 11,
            "top_k": [{"label": label, "confidence": float(confidence)}],
        }
        for i, (confidence, label) in enumerate(zip(confidences, labels, strict=True))
    ]


def pi_rows(errors: Sequence[float], model: str = PI_MODEL) -> list[dict[str, Any]]:
    """One Pi event per reconstruction error from 3 devices (turbine-0, ...), flagged above the
    threshold."""
    return [
        {
            "event_id": f"{model}-{i}",
            "device_id": f"{model.split('-')[0]}-{i % 3}",
            "model": model,
            "model_version": 1,
            "variant": "fp32",
            "backend": "cpu",
            "timestamp": _at(i, len(errors)),
            "latency_ms": 0.3 + (i % 5) * 0.02,
            "reconstruction_error": float(error),
            "anomaly": bool(error > ANOMALY_THRESHOLD),
        }
        for i, error in enumerate(errors)
    ]


def web_day(events: int, drifted: bool = False, seed: int = 1) -> list[dict[str, Any]]:
    """A day of web events; ``drifted``: over half of them one class (the baseline: a quarter)."""
    rng = np.random.default_rng(seed)
    shares = [0.55, 0.15, 0.15, 0.15] if drifted else [0.25] * 4
    labels = [LABELS[i] for i in rng.choice(len(LABELS), size=events, p=shares)]
    return web_rows(rng.beta(*CONFIDENT, size=events), labels)


def pi_day(events: int, seed: int = 1) -> list[dict[str, Any]]:
    """A day of a healthy fleet's Pi events (the validation set's error distribution)."""
    return pi_rows(10 ** np.random.default_rng(seed).normal(*LOG_ERROR, size=events))


def web_baseline(**extra: Any) -> dict[str, Any]:
    """A validation baseline shaped as the image lineage registers it: classes balanced,
    confidences from the same distribution as a normal day's; ``extra`` adds keys."""
    confidence = np.random.default_rng(0).beta(*CONFIDENT, size=400)
    counts, _ = np.histogram(confidence, bins=CONFIDENCE_EDGES)
    return {
        "split": "val",
        "samples": 400,
        "class_distribution": dict.fromkeys(LABELS, 0.25),
        "confidence_histogram": {
            "edges": CONFIDENCE_EDGES.round(2).tolist(),
            "counts": counts.tolist(),
        },
        "mean_confidence": float(confidence.mean()),
        **extra,
    }


def pi_baseline() -> dict[str, Any]:
    """The sensor lineage's own baseline over 500 healthy validation windows."""
    errors = 10 ** np.random.default_rng(0).normal(*LOG_ERROR, size=500)
    return error_baseline(errors, ANOMALY_THRESHOLD)


def stored_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as the events asset writes an hour (Parquet) and the report reads it back."""
    return pq.read_table(pa.BufferReader(frame_bytes(pd.DataFrame(rows))))


def report_of(
    kind: str, rows: list[dict[str, Any]], baseline: dict[str, Any] | None
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The report the asset writes for these rows: judged against ``baseline`` (v2's for the
    web model, v1's for the Pi's); with no rows, as before any client reported (no version)."""
    frame = events_frame([stored_table(rows)])
    model, version = (WEB_MODEL, 2) if kind == "web" else (PI_MODEL, 1)
    waiting = 0 if kind == "web" else None
    if not rows:
        baseline, version = None, None
    return build_report(kind, DAY, frame, baseline, version, model, waiting), frame


def day_of(kind: str, events: int) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """A day of ``events`` with its report, frame and baseline: on the web a drifted day (over
    half the predictions one class) of a version whose baseline says "not sure" below 0.55;
    on the Pi a healthy one."""
    if kind == "web":
        baseline = web_baseline(unsure_below=0.55)
        return (*report_of("web", web_day(events, drifted=True), baseline), baseline)
    baseline = pi_baseline()
    return (*report_of("pi", pi_day(events), baseline), baseline)
