"""What the sensor assets hand each other (small, torch-free)."""

from dataclasses import dataclass, field
from typing import Any

from assets.conversion.model_file import TensorSpec
from edgeline_contract.profile import SensorProfile

INPUT_NAME = "window"
OUTPUT_NAMES = ("reconstruction", "error", "anomaly")


@dataclass(frozen=True)
class SensorFeatures:
    key: str  # .npz with values, state, label, labels, split
    data_version: str
    profile: dict[str, Any]  # SensorProfile.to_dict()
    counts: dict[str, int]
    unlabelled_as_normal: bool = True
    split: str = ""
    cleaning: dict[str, Any] = field(default_factory=dict)

    @property
    def sensor_profile(self) -> SensorProfile:
        return SensorProfile.from_dict(self.profile)


@dataclass(frozen=True)
class TrainedAutoencoder:
    weights_key: str
    window: int
    signals: int
    hidden: tuple[int, ...]
    threshold: float
    metrics: dict[str, Any]


def input_spec(profile: SensorProfile) -> TensorSpec:
    units = ", ".join(f"{s.name} ({s.unit})" if s.unit else s.name for s in profile.signals)
    return TensorSpec(
        INPUT_NAME,
        (None, profile.window * len(profile.signals)),
        "float32",
        (
            f"The last {profile.window} readings (oldest first, {profile.interval_s:g} s apart) of "
            f"{len(profile.signals)} signals, flattened time-major, in the device's units: {units}. "
            "Smoothing, scaling, the reconstruction error and the anomaly threshold are inside "
            "the model."
        ),
        extra={"signals": list(profile.signal_names), "window": profile.window},
    )
