"""A Pi fleet that runs two devices' models: one model's baseline judges only its own events."""

import numpy as np
import pandas as pd

from assets.telemetry.reports import build_report, events_frame

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
    frame = events_frame(pd.DataFrame(turbine + pump))
    report = build_report("pi", "2026-11-20", frame, BASELINE, 1, "turbine-autoencoder")
    assert report["events"] == 400 and report["devices"] == 2
    assert report["events_per_model"] == {"turbine-autoencoder": 300, "pump-autoencoder": 100}
    anomaly_rate = report["figures"]["anomaly_rate"]
    assert (anomaly_rate["value"], anomaly_rate["events"]) == (0.0, 300)  # not the pump's flags
    assert report["drift_psi"] < 0.2
    mixed = build_report("pi", "2026-11-20", frame, BASELINE, 1)  # judged over every event
    assert mixed["figures"]["anomaly_rate"]["value"] == 0.25 and mixed["drift_psi"] > 1.0
