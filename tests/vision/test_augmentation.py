"""Augmentation that fits the data: on images whose class depends on direction (arrows, as text,
digits and signs do), the `upright` preset learns them and `rotation-invariant` cannot, because
a quarter turn makes one class look like another."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from assets.vision.dataset import fit_square
from assets.vision.metrics import classification_report
from assets.vision.model import build_mobilenet_v2
from assets.vision.training import (
    AUGMENTATIONS,
    TrainingSettings,
    augment_batch,
    predict_probabilities,
    train_classifier,
)

pytestmark = pytest.mark.slow
DIRECTIONS = ("down", "left", "right", "up")
SIZE = 32


def arrow(direction: str, rng: np.random.Generator, side: int = 44) -> Image.Image:
    """An arrow on a noisy background, pointing up, then turned to ``direction``."""
    background = rng.integers(0, 90, 3)
    pixels = np.clip(background + rng.normal(0, 12, (side, side, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(v) for v in rng.integers(150, 256, 3))
    cx, cy = side / 2 + rng.uniform(-4, 4), side / 2 + rng.uniform(-4, 4)
    size = rng.uniform(0.55, 0.75) * side / 2
    draw.polygon([(cx, cy - size), (cx - size * 0.7, cy), (cx + size * 0.7, cy)], fill=colour)
    draw.rectangle([cx - size * 0.22, cy, cx + size * 0.22, cy + size], fill=colour)
    turns = {"up": 0, "left": 1, "down": 2, "right": 3}[direction]
    return image.rotate(90 * turns)


def arrows(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pixels, targets = [], []
    for index, direction in enumerate(DIRECTIONS):
        for _ in range(per_class):
            square = fit_square(arrow(direction, rng), SIZE)
            pixels.append(np.asarray(square).transpose(2, 0, 1))
            targets.append(index)
    return np.stack(pixels), np.array(targets, np.int64)


def accuracy_with(preset: str, train, val, test) -> float:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_mobilenet_v2(len(DIRECTIONS), width_mult=0.35)
    settings = TrainingSettings(epochs=15, batch_size=16, learning_rate=0.01, augment=preset)
    train_classifier(model, train, val, settings, lambda _: None)
    predictions = predict_probabilities(model, test[0]).argmax(1)
    return classification_report(test[1], predictions, DIRECTIONS)["accuracy"]


def test_upright_beats_rotation_invariant_where_direction_is_the_class():
    train, val, test = arrows(100, 1), arrows(20, 2), arrows(25, 3)
    upright = accuracy_with("upright", train, val, test)
    turned = accuracy_with("rotation-invariant", train, val, test)
    print(f"arrows: upright {upright:.3f}, rotation-invariant {turned:.3f}")
    assert upright >= 0.9
    assert upright - turned >= 0.3  # turning an "up" arrow teaches the model it is "right"


def test_presets_keep_shape_and_range_and_none_changes_nothing():
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(6, 3, 24, 24) * 255
    for preset in AUGMENTATIONS:
        changed = augment_batch(batch, generator, preset)
        assert changed.shape == batch.shape and changed.min() >= 0 and changed.max() <= 255
    assert torch.equal(augment_batch(batch, generator, "none"), batch)
    with pytest.raises(ValueError, match="augmentation 'flip-everything' is unknown"):
        TrainingSettings(augment="flip-everything")
