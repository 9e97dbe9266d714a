"""Classification metrics as plain numpy: what a variant costs, class by class, and when an
answer is too unsure to give as one of the classes."""

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


# The page says "not sure" when an answer's top-1 confidence is below the version's
# ``unsure_below`` (``unsure_threshold``): at most this share of the right validation answers
# fall below it, and it stays within [unsure_floor(classes), UNSURE_CEILING].
UNSURE_SHARE = 0.05
UNSURE_CEILING = 0.9


def unsure_floor(classes: int) -> float:
    """min(0.5, 2 / classes): an answer below it is less likely than not, or (many classes) less
    than twice as likely as a uniform guess (a flat distribution). The page uses the same rule
    for a manifest without ``unsure_below``."""
    return min(0.5, 2 / classes)


def unsure_threshold(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """The top-1 confidence below which an answer is "not sure", chosen on the validation set.

    The confidence of the right answers that has 5 % of them (rounded down) below it, the
    lowest when fewer than 20 are right: the threshold hedges at most 1 in 20 of the answers
    the model gets right on data like its own. Clamped to [unsure_floor, 0.9]: never
    below a flat distribution's odds (a weak or small validation set), never above 0.9 (a model
    right and saturated on all of validation would otherwise hedge ordinary photos, which sit a
    little off that set). With no right answer, the floor. Deterministic (an order statistic, no
    sampling), and it moves no more than the confidences do.
    """
    floor = unsure_floor(probabilities.shape[1])
    right = np.sort(probabilities.max(1)[probabilities.argmax(1) == targets])
    chosen = float(right[int(UNSURE_SHARE * len(right))]) if len(right) else floor
    return min(UNSURE_CEILING, max(floor, chosen))
