"""Classification metrics as plain numpy: what a variant costs, class by class."""

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are the true classes, columns the predicted ones."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (targets, predictions), 1)
    return matrix


def classification_report(
    targets: np.ndarray, predictions: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class precision and recall, and the confusion matrix."""
    matrix = confusion_matrix(targets, predictions, len(labels))
    predicted, actual = matrix.sum(0), matrix.sum(1)
    per_class = {
        label: {
            "precision": round(float(matrix[i, i] / predicted[i]), 4) if predicted[i] else 0.0,
            "recall": round(float(matrix[i, i] / actual[i]), 4) if actual[i] else 0.0,
            "support": int(actual[i]),
        }
        for i, label in enumerate(labels)
    }
    accuracy = float(np.trace(matrix) / max(1, matrix.sum()))
    return {
        "accuracy": round(accuracy, 4),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
