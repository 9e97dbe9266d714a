"""What the vision assets hand each other (small, torch-free, pickled by the IO manager)."""

from dataclasses import dataclass, field
from typing import Any

from assets.conversion.model_file import TensorSpec

INPUT_NAME = "pixels"
AUGMENTATIONS = ("photo", "upright", "rotation-invariant", "none")
OUTPUT_NAMES = ("probabilities",)


@dataclass(frozen=True)
class TrainedClassifier:
    weights_key: str
    labels: tuple[str, ...]
    image_size: int
    width_mult: float
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    model: str = "image-classifier"  # the image model (records pickled before models had names)


def input_spec(image_size: int) -> TensorSpec:
    return TensorSpec(
        INPUT_NAME,
        (None, 3, image_size, image_size),
        "float32",
        (
            "RGB pixels 0-255 as float32, NCHW; resize the shorter side to "
            f"{image_size} px and centre-crop to {image_size}x{image_size} (no stretching). "
            "Normalisation and softmax are inside the model."
        ),
    )
