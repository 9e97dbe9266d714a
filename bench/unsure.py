"""What the page's "not sure" rule catches: the threshold the demo's image lineage chooses on its
validation split (``unsure_below``), and the share of answers below it on the test split and on
inputs that are none of the classes.

    .venv/bin/python -m bench.unsure [--quick]

Trains the demo's image model as ``edgeline demo`` declares it (``--quick``: as ``edgeline demo
--quick`` does) through the real assets, up to the exported ONNX file and its baseline, and a
second one on the same shapes less "cross". Out of distribution: uniform noise images for both,
and crosses for the second, a class it never saw. A top-1 threshold flags an out-of-distribution
input only when the model happens to be unsure of it: the shares say how often that is.
"""

import argparse
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from dagster import DagsterInstance, materialize
from PIL import Image

from assets.catalog import ModelSpec, declare_model
from assets.conversion.measure import open_session, run_batches
from assets.vision.assets import image_classifier, image_classifier_onnx, image_dataset, raw_images
from assets.vision.dataset import fit_square, load_pixels
from assets.vision.demo_data import SHAPES, generate_demo_images
from bench.report import emit_report
from orchestration.demo import QUICK, DemoSettings
from orchestration.models import add_model_partitions
from resources import layout
from resources.environment import local_resources

HELD_OUT = "cross"
OOD_IMAGES = 200


def decoded(images: list[bytes], size: int) -> np.ndarray:
    """Encoded images as the lineage feeds them: float32 NCHW pixels of ``size``."""
    pixels = []
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            pixels.append(np.asarray(fit_square(image, size)).transpose(2, 0, 1))
    return np.stack(pixels).astype(np.float32)


def noise_images(count: int, size: int, seed: int = 5) -> list[bytes]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        buffer = io.BytesIO()
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def flagged(probabilities: np.ndarray, threshold: float) -> dict[str, Any]:
    """How many answers fall below ``threshold`` and how sure the model was of them."""
    confidence = probabilities.max(1)
    return {
        "images": len(confidence),
        "share_flagged": round(float(np.mean(confidence < threshold)), 4),
        "confidence_median": round(float(np.median(confidence)), 4),
        "confidence_max": round(float(confidence.max()), 4),
    }


def train_and_score(
    root: Path, settings: DemoSettings, name: str, shapes: tuple[str, ...], ood: dict[str, list]
) -> dict[str, Any]:
    """Train ``name`` on the demo images of ``shapes`` up to its ONNX file and baseline; score
    its test split and each out-of-distribution set against its unsure_below."""
    resources = local_resources(root)
    store = resources["artifacts"]
    spec = settings.image_model()
    declare_model(store, ModelSpec(name, "image", training=spec.training))
    config = settings.image_run_config()["ops"]["raw_images"]["config"]
    for relative, data in generate_demo_images(
        config["demo_images_per_class"],
        config["demo_image_size"],
        class_backgrounds=config["demo_class_backgrounds"],
        shapes=shapes,
    ):
        label, file = relative.split("/")
        store.put_bytes(layout.model_image(name, label, file), data)
    instance = DagsterInstance.ephemeral()
    add_model_partitions(instance, store)
    started = time.monotonic()
    result = materialize(
        [raw_images, image_dataset, image_classifier, image_classifier_onnx],
        resources=resources,
        instance=instance,
        partition_key=name,
    )
    trained = result.output_for_node("image_classifier")
    dataset = result.output_for_node("image_dataset")
    exported = result.output_for_node("image_classifier_onnx")
    threshold = exported["baseline"]["unsure_below"]
    with tempfile.TemporaryDirectory() as tmp:
        session = open_session(store.get_file(exported["file"].key, Path(tmp) / "m.onnx"))
        pixels, targets = load_pixels(
            store, dataset.split("test"), trained.labels, trained.image_size
        )
        test = run_batches(session, pixels.astype(np.float32))[0]
        right = test.argmax(1) == targets
        scores = {
            "test_right": flagged(test[right], threshold),
            "test_wrong": flagged(test[~right], threshold) if (~right).any() else None,
            **{
                kind: flagged(
                    run_batches(session, decoded(images, trained.image_size))[0], threshold
                )
                for kind, images in ood.items()
            },
        }
    return {
        "classes": list(trained.labels),
        "val_accuracy": round(trained.metrics["val_accuracy"], 4),
        "test_accuracy": round(float(right.mean()), 4),
        "val_images": exported["baseline"]["samples"],
        "unsure_below": threshold,
        "train_seconds": round(time.monotonic() - started, 1),
        **scores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the quick demo's model")
    parser.add_argument("--output", default="bench/results/unsure.json")
    args = parser.parse_args()
    settings = QUICK if args.quick else DemoSettings()
    size = settings.image_run_config()["ops"]["raw_images"]["config"]["demo_image_size"]
    noise = noise_images(OOD_IMAGES, size)
    crosses = [
        data
        for _, data in generate_demo_images(
            OOD_IMAGES,
            size,
            seed=99,
            shapes=(HELD_OUT,),
            class_backgrounds=settings.class_backgrounds,
        )
    ]
    without = tuple(s for s in SHAPES if s != HELD_OUT)
    with tempfile.TemporaryDirectory() as tmp:
        report = {
            "benchmark": "unsure",
            "settings": "quick" if args.quick else "demo",
            "rule": "unsure_below: the 5th percentile of the right validation answers' top-1 "
            "confidence, within [min(0.5, 2/classes), 0.9] (assets/vision/metrics.py)",
            "demo_model": train_and_score(
                Path(tmp, "all"), settings, "demo-shapes", SHAPES, {"noise": noise}
            ),
            f"model_without_{HELD_OUT}": train_and_score(
                Path(tmp, "held-out"),
                settings,
                f"shapes-no-{HELD_OUT}",
                without,
                {"noise": noise, f"{HELD_OUT}_never_seen": crosses},
            ),
        }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
