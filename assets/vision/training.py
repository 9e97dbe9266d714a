"""Training and evaluation of a pixel classifier: augmentation, early stopping, metrics."""

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from assets.vision.model import PixelClassifier, frozen_batchnorm_to_eval
from assets.vision.records import AUGMENTATIONS

log = logging.getLogger(__name__)


# What augmentation may change without changing the answer, by kind of data:
#   photo              random resized crop, horizontal flip, colour jitter (users' photos)
#   upright            a small shift and light jitter only: text, digits, signs have an up
#   rotation-invariant adds quarter turns and both flips: shapes, microscopy, satellite tiles
#   none               the images as they are


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 12
    batch_size: int = 32
    learning_rate: float = 2e-3  # the peak of a one-cycle schedule (warm-up, then cosine down)
    weight_decay: float = 1e-4
    augment: str = "photo"
    label_smoothing: float = 0.1
    patience: int = 4  # epochs without a lower validation loss before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTATIONS:
            raise ValueError(
                f"augmentation {self.augment!r} is unknown; choose one of {', '.join(AUGMENTATIONS)}"
            )


@dataclass
class TrainingResult:
    model: PixelClassifier
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    images_per_second: float = 0.0
    seconds: float = 0.0


def _shift(pixels: torch.Tensor, generator: torch.Generator, fraction: float) -> torch.Tensor:
    height, width = pixels.shape[2:]
    pad = max(1, int(height * fraction))
    padded = nn.functional.pad(pixels, (pad, pad, pad, pad), mode="reflect")
    dx, dy = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    return padded[:, :, dy : dy + height, dx : dx + width]


def _jitter(pixels: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
    """Brightness, contrast and (per channel) colour balance, each up to ``strength``."""
    n = len(pixels)
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 2 * strength
    brightness = (torch.rand(n, 1, 1, 1, generator=generator) - 0.5) * 250 * strength
    colour = 1 + (torch.rand(n, 3, 1, 1, generator=generator) - 0.5) * strength
    mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
    return (((pixels - mean) * contrast + mean) * colour + brightness).clamp(0, 255)


def _resized_crop(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random crop (60-100 % of the area, aspect 3:4 to 4:3) resized back, for the batch."""
    height, width = pixels.shape[2:]
    area = float(torch.empty(1).uniform_(0.6, 1.0, generator=generator))
    aspect = float(torch.empty(1).uniform_(0.75, 1.333, generator=generator))
    crop_w = min(width, max(8, round(width * (area * aspect) ** 0.5)))
    crop_h = min(height, max(8, round(height * (area / aspect) ** 0.5)))
    x = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
    y = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
    crop = pixels[:, :, y : y + crop_h, x : x + crop_w]
    return nn.functional.interpolate(
        crop, size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )


def augment_batch(pixels: torch.Tensor, generator: torch.Generator, preset: str) -> torch.Tensor:
    """A float batch changed only in ways that keep its labels true for ``preset``'s kind of data."""
    n = len(pixels)

    def flip(batch: torch.Tensor, dim: int) -> torch.Tensor:
        chosen = torch.rand(n, generator=generator) < 0.5
        return torch.where(chosen.view(n, 1, 1, 1), batch.flip(dim), batch)

    if preset == "none":
        return pixels
    if preset == "photo":
        return _jitter(flip(_resized_crop(pixels, generator), 3), generator, 0.2)
    if preset == "upright":
        return _jitter(_shift(pixels, generator, 0.06), generator, 0.15)
    turns = int(torch.randint(0, 4, (1,), generator=generator))
    pixels = torch.rot90(flip(flip(pixels, 3), 2), turns, dims=(2, 3))
    return _jitter(_shift(pixels, generator, 0.1), generator, 0.2)


@torch.no_grad()
def predict_probabilities(
    model: PixelClassifier, pixels: np.ndarray, batch_size: int = 128
) -> np.ndarray:
    model.eval()
    outputs = [
        model(torch.from_numpy(pixels[i : i + batch_size]).float()).numpy()
        for i in range(0, len(pixels), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


@torch.no_grad()
def recalibrate_batchnorm(
    model: PixelClassifier, pixels: torch.Tensor, batch_size: int = 64
) -> None:
    """Re-estimate trainable BatchNorm statistics as plain averages over ``pixels``.

    The running averages that training keeps lag behind fast-moving weights, and with small
    inputs MobileNetV2's last feature maps are 1x1 or 2x2, so per-batch statistics are noisy:
    evaluation then looked like chance while training accuracy climbed.
    """
    layers = [
        m
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d) and any(p.requires_grad for p in m.parameters())
    ]
    if not layers or len(pixels) < 2:
        return
    saved = [(layer, layer.momentum) for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
        layer.train()
    for start in range(0, len(pixels), batch_size):
        batch = pixels[start : start + batch_size]
        if len(batch) >= 2:
            model.logits(batch.float())
    for layer, momentum in saved:
        layer.momentum = momentum
    model.eval()


def _evaluate(
    model: PixelClassifier, pixels: np.ndarray, targets: np.ndarray
) -> tuple[float, float]:
    probabilities = predict_probabilities(model, pixels)
    picked = probabilities[np.arange(len(targets)), targets]
    loss = float(-np.log(np.clip(picked, 1e-7, 1)).mean())
    return loss, float((probabilities.argmax(1) == targets).mean())


def train_classifier(
    model: PixelClassifier,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    settings: TrainingSettings,
    progress: Callable[[str], None] = log.info,
) -> TrainingResult:
    """Train on uint8 pixels; keep the weights of the best validation epoch."""
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    train_pixels = torch.from_numpy(train[0])
    train_targets = torch.from_numpy(train[1])
    # channels-last activations take oneDNN's convolutions (1.35x the images/s of the demo's
    # MobileNetV2 on 2 cores) and the fused AdamW one kernel per step (another 1.1x)
    model.to(memory_format=torch.channels_last)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay, fused=True
    )
    steps_per_epoch = max(1, -(-len(train_pixels) // settings.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.learning_rate, total_steps=settings.epochs * steps_per_epoch
    )
    result = TrainingResult(model=model)
    best_score, best_state = (-1.0, float("-inf")), copy.deepcopy(model.state_dict())
    lowest_loss, lowest_epoch = float("inf"), 0
    train_seconds, seen = 0.0, 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        frozen_batchnorm_to_eval(model)
        order = torch.randperm(len(train_pixels), generator=generator)
        started = time.perf_counter()
        total_loss, correct = 0.0, 0
        for start in range(0, len(order), settings.batch_size):
            index = order[start : start + settings.batch_size]
            if len(index) < 2:  # BatchNorm needs two samples
                continue
            batch = train_pixels[index].float()
            batch = augment_batch(batch, generator, settings.augment)
            batch = batch.contiguous(memory_format=torch.channels_last)
            logits = model.logits(batch)
            loss = nn.functional.cross_entropy(
                logits, train_targets[index], label_smoothing=settings.label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == train_targets[index]).sum())
            seen += len(index)
        train_seconds += time.perf_counter() - started
        recalibrate_batchnorm(model, train_pixels[order[:512]])
        val_loss, val_accuracy = _evaluate(model, *val)
        row = {
            "epoch": epoch,
            "train_loss": total_loss / len(order),
            "train_accuracy": correct / len(order),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
        result.history.append(row)
        progress(
            f"epoch {epoch}/{settings.epochs}: train loss {row['train_loss']:.3f} "
            f"acc {row['train_accuracy']:.3f} | val loss {val_loss:.3f} acc {val_accuracy:.3f} "
            f"| {seen / train_seconds:.0f} images/s"
        )
        if (val_accuracy, -val_loss) > best_score:  # kept: accuracy first, then the lower loss
            best_score, result.best_epoch = (val_accuracy, -val_loss), epoch
            best_state = copy.deepcopy(model.state_dict())
        if val_loss < lowest_loss:
            lowest_loss, lowest_epoch = val_loss, epoch
        elif epoch - lowest_epoch >= settings.patience:  # stopped: the loss no longer falls
            result.stopped_early = True
            progress(f"early stop: validation loss not lower for {settings.patience} epochs")
            break
    model.load_state_dict(best_state)
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    result.images_per_second = seen / train_seconds if train_seconds else 0.0
    result.seconds = train_seconds
    return result
