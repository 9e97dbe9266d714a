"""A Pi fleet that runs two devices' models: one model's baseline judges only its own events."""

import numpy as np
import pyarrow as pa

from assets.telemetry.reports import build_report, events_frame, first_prediction
from tests.telemetry.rows import stored_table

BASELINE = {
    "log10_error_histogram": {
        "edges": np.linspace(-3, 1, 9).tolist(),
        "counts": [0, 0, 10, 80, 10, 0, 0, 0],
    },
    "anomaly_rate": 0.01,
}


def _events(model: str, errors: np.ndarray, anomaly: bool) -> list[dict]:
    return [
        {
            "event_id": f"{model}-{i}",
            "device_id": f"{model}-device",
            "model": model,
            "model_version": 1,
            "variant": "fp32",
            "backend": "cpu",
            "timestamp": f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}Z",
            "latency_ms": 0.1,
            "reconstruction_error": float(e),
            "anomaly": anomaly,
        }
        for i, e in enumerate(errors)
    ]


def test_quality_and_drift_cover_the_baselines_model_only():
    rng = np.random.default_rng(0)
    turbine = _events("turbine-autoencoder", 10 ** rng.normal(-1.25, 0.15, 300), False)
    pump = _events("pump-autoencoder", 10 ** rng.uniform(0.5, 1.0, 100), True)  # its own scale
    frame = events_frame([stored_table(turbine), stored_table(pump)])
    report = build_report("pi", "2026-11-20", frame, BASELINE, 1, "turbine-autoencoder")
    assert report["events"] == 400 and report["devices"] == 2
    assert report["events_per_model"] == {"turbine-autoencoder": 300, "pump-autoencoder": 100}
    anomaly_rate = report["figures"]["anomaly_rate"]
    assert (anomaly_rate["value"], anomaly_rate["events"]) == (0.0, 300)  # not the pump's flags
    assert report["drift_psi"] < 0.2
    mixed = build_report("pi", "2026-11-20", frame, BASELINE, 1)  # judged over every event
    assert mixed["figures"]["anomaly_rate"]["value"] == 0.25 and mixed["drift_psi"] > 1.0


def test_each_event_reads_as_its_first_prediction_whatever_its_hour_holds():
    """Hours with predictions, with none sent (top_k null throughout), and without the field
    (Pi events) read as one frame: the first entry's label and confidence, or nothing."""
    start = "2026-11-20T10:00:00+00:00"
    scored = {"event_id": "a", "model": "m", "timestamp": start, "latency_ms": 1.0}
    with_top_k = [
        {**scored, "top_k": [{"label": "star", "confidence": 1}, {"label": "sq", "confidence": 0}]},
        {**scored, "event_id": "b", "top_k": None, "outcome": "error"},
        {**scored, "event_id": "c", "top_k": [{"label": "circle", "confidence": 0.25}]},
    ]
    unscored = [{**scored, "event_id": "d", "top_k": None, "outcome": "unscored"}]
    pi = [{**scored, "event_id": "e", "reconstruction_error": 0.5, "anomaly": False}]
    frame = events_frame([stored_table(rows) for rows in (with_top_k, unscored, pi)])
    assert list(frame["event_id"]) == ["a", "b", "c", "d", "e"]
    assert [label if isinstance(label, str) else None for label in frame["label"]] == [
        "star",
        None,
        "circle",
        None,
        None,
    ]
    assert frame["confidence"].dtype == np.float64
    assert frame["confidence"].iloc[[0, 2]].tolist() == [1.0, 0.25]
    assert frame["confidence"].isna().tolist() == [False, True, False, True, True]
    assert list(frame["outcome"]) == ["scored", "error", "scored", "unscored", "scored"]
    assert "top_k" not in frame and str(frame["timestamp"].dt.tz) == "UTC"
    empty = pa.table({"event_id": ["f"], "top_k": pa.array([[]], pa.list_(pa.null()))})
    assert first_prediction(empty).to_pylist() == [
        {"event_id": "f", "label": None, "confidence": None}
    ]
