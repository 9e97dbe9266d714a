"""What the turbine assets hand each other (small, torch-free)."""

from dataclasses import dataclass, field
from typing import Any

from clients.pi.simulator import SIGNALS

MODEL_NAME = "turbine-autoencoder"
INPUT_NAME = "window"
OUTPUT_NAMES = ("reconstruction", "error", "anomaly")


@dataclass(frozen=True)
class SensorFeatures:
    key: str  # .npz with values, fault, day, split
    data_version: str
    window: int
    signals: tuple[str, ...]
    counts: dict[str, int]
    cleaning: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainedAutoencoder:
    weights_key: str
    window: int
    hidden: tuple[int, ...]
    threshold: float
    metrics: dict[str, Any]


def input_spec(window: int) -> dict[str, Any]:
    return {
        "name": INPUT_NAME,
        "shape": [None, window * len(SIGNALS)],
        "dtype": "float32",
        "description": (
            f"The last {window} readings (oldest first) of {len(SIGNALS)} signals, flattened "
            f"time-major, in the device's units: {', '.join(SIGNALS)}. Smoothing, scaling, the "
            "reconstruction error and the anomaly threshold are inside the model."
        ),
        "signals": list(SIGNALS),
        "window": window,
    }
