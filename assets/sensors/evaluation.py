"""How well a detector separates normal from anomalous windows, and what its errors look like
(numpy only: testable without training)."""

from typing import Any

import numpy as np

from assets.sensors.data import ANOMALY, NORMAL, UNLABELLED


def evaluate_detector(
    errors: np.ndarray,
    threshold: float,
    state: np.ndarray,
    label: np.ndarray,
    labels: tuple[str, ...],
) -> dict[str, Any]:
    """Held-out quality: precision, recall and F1 against the labels where the held-out days
    have both normal and anomalous ones; otherwise only what can be known without labels (the
    threshold and how often it flags), and the card says so."""
    flags = errors > threshold
    metrics: dict[str, Any] = {
        "threshold": threshold,
        "windows": len(flags),
        "flag_rate": float(flags.mean()) if len(flags) else 0.0,
    }
    labelled = state != UNLABELLED
    anomalous = state == ANOMALY
    if not (anomalous.any() and (state == NORMAL).any()):
        metrics["evaluation"] = "unlabelled"
        metrics["evaluation_note"] = (
            "no held-out window is labelled both ways (normal and anomalous): precision, recall "
            "and F1 cannot be measured; the threshold and the flag rate are what is known"
        )
        return metrics
    true_positive = int((flags & anomalous).sum())
    precision = true_positive / max(1, int((flags & labelled).sum()))
    recall = true_positive / int(anomalous.sum())
    metrics.update(
        evaluation="labelled",
        precision=precision,
        recall=recall,
        f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        flagged=int((flags & labelled).sum()),
        anomalous=int(anomalous.sum()),
        labelled_windows=int(labelled.sum()),
        recall_by_label={
            labels[code]: round(float(flags[anomalous & (label == code)].mean()), 4)
            for code in np.unique(label[anomalous])
        },
    )
    return metrics


def error_baseline(errors: np.ndarray, threshold: float) -> dict[str, Any]:
    """The validation windows' error distribution, for drift reports against live telemetry."""
    counts, edges = np.histogram(np.log10(errors + 1e-6), bins=20)
    return {
        "split": "val",
        "samples": len(errors),
        "threshold": threshold,
        "anomaly_rate": float(np.mean(errors > threshold)),
        "error_percentiles": {str(p): float(np.percentile(errors, p)) for p in (50, 90, 99, 99.8)},
        "log10_error_histogram": {"edges": edges.round(3).tolist(), "counts": counts.tolist()},
    }
