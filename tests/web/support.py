"""What the browser tests stand on: a small real classifier (trained, exported, fp16), versions of
it registered and published as the lineage does (and one collapsed onto a class), a gateway that can be stopped and started on
the same port (a real outage), and Debian's Chromium driven by Playwright."""

import dataclasses
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from PIL import Image

from assets.catalog import SINGLE_IMAGE_MODEL as MODEL_NAME
from assets.conversion.compact import encode_fp16_weights, expand
from assets.conversion.model_file import ModelFile, store_model_file
from assets.deployment.publish import publish_model_version
from assets.deployment.registration import build_model_card, register_model_version
from assets.vision.records import OUTPUT_NAMES, input_spec
from orchestration.browser import MISSING, chromium_path
from resources import LocalArtifactStore, SqliteModelRegistry

# colours far apart, so the model is confident and top-1 does not hang on a near tie
COLOURS = {
    "red": (200, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 40, 210),
    "amber": (230, 170, 20),
}
IMAGE_SIZE = 32


def photo(
    rgb: tuple[int, int, int], rng: np.random.Generator, width: int, height: int, fmt: str
) -> bytes:
    """A noisy field of one colour with a grey box: a photo in miniature, of any shape."""
    pixels = np.clip(np.array(rgb) + rng.normal(0, 14, (height, width, 3)), 0, 255)
    x, y = rng.integers(0, width // 2), rng.integers(0, height // 2)
    pixels[y : y + height // 4, x : x + width // 4] = rng.integers(90, 170)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt, quality=92)
    return buffer.getvalue()


@dataclass(frozen=True)
class ClassifierFiles:
    """An exported classifier: fp32 and fp16 files, its labels, and photos of each class."""

    directory: Path
    labels: tuple[str, ...]
    image_size: int
    model: str = MODEL_NAME
    photos: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes

    def path(self, precision: str) -> Path:
        return self.directory / f"model.{precision}.onnx"

    def save(self) -> None:
        """Write the photos and the facts beside the model files, for ``load``."""
        (self.directory / "photos").mkdir(exist_ok=True)
        for name, data in self.photos.items():
            (self.directory / "photos" / name).write_bytes(data)
        facts = {"labels": self.labels, "image_size": self.image_size, "model": self.model}
        (self.directory / "files.json").write_text(json.dumps(facts))

    @classmethod
    def load(cls, directory: Path) -> "ClassifierFiles":
        facts = json.loads((directory / "files.json").read_text())
        photos = {path.name: path.read_bytes() for path in sorted((directory / "photos").iterdir())}
        return cls(directory, tuple(facts["labels"]), facts["image_size"], facts["model"], photos)


def export_classifier(
    module, labels: tuple[str, ...], image_size: int, directory: Path, model: str = MODEL_NAME
) -> ClassifierFiles:
    """Export a PixelClassifier as the lineage does (pixels in, probabilities out), and fp16."""
    import torch

    from assets.conversion.export import export_onnx
    from assets.conversion.variants import convert_to_fp16

    directory.mkdir(parents=True, exist_ok=True)
    export_onnx(
        module,
        torch.rand(1, 3, image_size, image_size) * 255,
        directory / "model.fp32.onnx",
        input_spec(image_size),
        list(OUTPUT_NAMES),
        metadata={"labels": ",".join(labels), "model": model},
    )
    convert_to_fp16(directory / "model.fp32.onnx", directory / "model.fp16.onnx")
    return ClassifierFiles(directory, labels, image_size, model)


def train_classifier_files(directory: Path, seed: int = 0) -> ClassifierFiles:
    """Train MobileNetV2 (width 0.35, 32 px) on colour photos for a few seconds and export it."""
    import torch

    from assets.vision.dataset import decode_pixels
    from assets.vision.model import build_mobilenet_v2
    from assets.vision.training import TrainingSettings, train_classifier

    rng = np.random.default_rng(seed)
    labels = tuple(sorted(COLOURS))
    pixels, targets = [], []
    for index, label in enumerate(labels):
        for _ in range(50):
            data = photo(
                COLOURS[label], rng, int(rng.integers(36, 64)), int(rng.integers(36, 64)), "PNG"
            )
            pixels.append(decode_pixels(data, IMAGE_SIZE))
            targets.append(index)
    pixels_array, targets_array = np.stack(pixels), np.array(targets, np.int64)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = build_mobilenet_v2(len(labels), width_mult=0.35)
    settings = TrainingSettings(
        epochs=10,
        batch_size=16,
        learning_rate=0.01,
        augment="none",
        label_smoothing=0.0,
        seed=seed,
    )
    train_classifier(
        model,
        (pixels_array, targets_array),
        (pixels_array[::4], targets_array[::4]),
        settings,
        lambda _: None,
    )
    files = export_classifier(model, labels, IMAGE_SIZE, directory)
    for label in labels:  # photos of other shapes and formats than the training set
        files.photos[f"{label}-wide.jpg"] = photo(COLOURS[label], rng, 120, 70, "JPEG")
        files.photos[f"{label}-tall.png"] = photo(COLOURS[label], rng, 45, 90, "PNG")
        files.photos[f"{label}-small.webp"] = photo(COLOURS[label], rng, 33, 33, "WEBP")
        files.photos[f"{label}-phone.jpg"] = with_orientation(
            photo(COLOURS[label], rng, 80, 48, "JPEG")
        )
    return files


def with_orientation(jpeg: bytes, orientation: int = 6) -> bytes:
    """The JPEG as a phone stores a portrait photo: pixels sideways, EXIF says how to turn them."""
    with Image.open(io.BytesIO(jpeg)) as image:
        exif = image.getexif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def retag(source: Path, target: Path, note: str) -> Path:
    """The same weights with a different metadata note: a distinct file (another sha256) that
    predicts exactly the same, standing for a retrained version."""
    model = onnx.load(str(source))
    onnx.helper.set_model_props(
        model, {**{p.key: p.value for p in model.metadata_props}, "note": note}
    )
    onnx.save_model(model, str(target))
    return target


def collapsed_onto(
    files: ClassifierFiles, label: str, directory: Path, bias: float = 40.0
) -> ClassifierFiles:
    """The same network with ``bias`` added to ``label``'s logit (its last layer's bias), and
    its fp16 variant made as the lineage makes it: a real model whose every answer is ``label``,
    standing for a version whose predictions collapsed onto one class."""
    from assets.conversion.variants import convert_to_fp16

    model = onnx.load(str(files.path("fp32")))
    (softmax,) = [node for node in model.graph.node if node.op_type == "Softmax"]
    (head,) = [node for node in model.graph.node if softmax.input[0] in node.output]
    assert head.op_type == "Gemm" and len(head.input) == 3, f"no biased head: {head.op_type}"
    (initializer,) = [t for t in model.graph.initializer if t.name == head.input[2]]
    biases = numpy_helper.to_array(initializer).copy()
    biases[files.labels.index(label)] += bias
    initializer.CopyFrom(numpy_helper.from_array(biases, initializer.name))
    collapsed = dataclasses.replace(files, directory=directory)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(collapsed.path("fp32")))
    convert_to_fp16(collapsed.path("fp32"), collapsed.path("fp16"))
    return collapsed


def validation_baseline(files: ClassifierFiles) -> dict:
    """The baseline the image lineage registers (``_baseline``), from the fp32 file's answers
    on the pipeline's pixels of ``files.photos`` (each named after its class)."""
    from assets.vision.assets import _baseline
    from assets.vision.dataset import decode_pixels

    pixels = [
        decode_pixels(data, files.image_size).astype(np.float32) for data in files.photos.values()
    ]
    session = ort.InferenceSession(str(files.path("fp32")), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {session.get_inputs()[0].name: np.stack(pixels)})
    targets = np.array([files.labels.index(name.split("-")[0]) for name in files.photos])
    return _baseline(probabilities, targets, files.labels)


def register_classifier(
    store: LocalArtifactStore,
    registry: SqliteModelRegistry,
    files: ClassifierFiles,
    note: str,
    latency_ms: dict[str, float] | None = None,
    baseline: dict | None = None,
    compact: bool = False,
) -> int:
    """Store the files (retagged with ``note``) and register a pending version, as the lineage
    does (with an empty validation baseline unless given); with ``compact``, fp32's compact
    weights too (assets/conversion/compact.py), which the page's wasm then downloads."""
    latency_ms = latency_ms or {"fp32": 0.5, "fp16": 0.9}
    model, size = files.model, files.image_size
    run = f"run-{note}"
    variants: list[ModelFile] = []

    def stored(path: Path, precision: str, **extra) -> ModelFile:
        latency = latency_ms.get(precision, latency_ms["fp32"])
        return store_model_file(
            store,
            path,
            key=f"models/{model}/{run}/{path.name}",
            precision=precision,
            input_spec=input_spec(size).as_dict(),
            outputs=OUTPUT_NAMES,
            latency={"threads_1": {"p50_ms": latency, "p95_ms": latency}},
            gate={"passed": True},
            **extra,
        )

    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "fp16"):
            path = retag(files.path(precision), Path(tmp) / f"model.{precision}.onnx", note)
            variants.append(stored(path, precision))
        if compact:
            fp32 = Path(tmp) / "model.fp32.onnx"
            weights = Path(tmp) / "model.fp16_weights.weights"
            encode_fp16_weights(fp32, weights)
            expanded = expand(weights.read_bytes())
            expands_to = {
                "precision": "fp32",
                "encoding": "fp16",
                "sha256": hashlib.sha256(expanded).hexdigest(),
                "bytes": len(expanded),
            }
            variants.append(stored(weights, "fp16_weights", expands_to=expands_to))
    task = {"kind": "image-classification", "labels": list(files.labels), "image_size": size}
    card = build_model_card(
        model, "test classifier", task, variants, {}, baseline or {}, {"run_id": run}
    )
    return register_model_version(registry, model, "test classifier", card).version


def approve_and_publish(store, registry, version: int, model: str = MODEL_NAME) -> None:
    registry.approve(model, version, reason="test", by="qa")
    publish_model_version(store, registry, model, version)


def chromium_or_skip() -> str:
    """Debian's Chromium; CI (EDGELINE_REQUIRE_BROWSER=1) fails instead of skipping without it."""
    executable = chromium_path()
    if executable:
        return executable
    if os.environ.get("EDGELINE_REQUIRE_BROWSER") == "1":
        pytest.fail(MISSING)
    pytest.skip(MISSING)
