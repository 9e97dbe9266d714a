"""Vision lineage: raw images -> dataset -> MobileNetV2 -> ONNX -> fp16/int8 -> registered version.

Thin asset functions over the plain modules beside this one. torch is imported inside the
functions that train or export, so that loading the code location stays fast.
"""

import io
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    DataVersion,
    MetadataValue,
    Output,
    asset,
)
from PIL import Image
from pydantic import Field

from assets.conversion.assets import (
    PARITY_TOLERANCE,
    ExportPlan,
    GateInputs,
    Parity,
    build_export_asset,
    build_variant_asset,
    run_artifact_dir,
)
from assets.conversion.model_file import ModelFile
from assets.conversion.variants import (
    Calibration,
    Variant,
    classification_gate,
    convert_to_fp16,
    convert_to_int8,
)
from assets.deployment.registration_asset import RegistrationFacts, build_registration_asset
from assets.metadata import rounded
from assets.plots import confusion_plot, image_grid, line_plot, png_markdown
from assets.vision.dataset import (
    ImageDataset,
    build_image_dataset,
    inspect_image,
    load_pixels,
)
from assets.vision.demo_data import generate_demo_images
from assets.vision.records import MODEL_NAME, OUTPUT_NAMES, TrainedClassifier, input_spec
from assets.vision.review import (
    accept_images,
    count_pending,
    pending_images,
    reject_images,
    requeue_unreviewed,
    suggested_labels,
)
from resources import layout
from resources.artifacts import ArtifactStore

GROUP = "vision"
RAW_PREFIX = layout.RAW_IMAGES

VISION_VARIANTS: tuple[Variant, ...] = (
    Variant(
        "fp16",
        convert_to_fp16,
        classification_gate(min_top1_agreement=0.995, max_abs_diff=1e-2, max_size_ratio=0.51),
        "fp16 weights, fp32 inputs and outputs: half the download.",
    ),
    Variant(
        "int8",
        convert_to_int8,
        classification_gate(min_top1_agreement=0.985),
        "static QDQ int8, per-channel weights, calibrated on training images.",
        required=False,
    ),
)


def _run_dir(context: AssetExecutionContext) -> str:
    return run_artifact_dir(MODEL_NAME, context)


class RawImagesConfig(Config):
    generate_demo_if_empty: bool = Field(
        default=True, description="Write the built-in synthetic demo set when raw/images/ is empty."
    )
    demo_images_per_class: int = Field(default=160, ge=10)
    demo_image_size: int = Field(default=128, ge=32)
    demo_seed: int = 7
    demo_class_backgrounds: bool = Field(
        default=False,
        description="Draw each demo class on a background of its own colour: learnt "
        "confidently in a few epochs (`edgeline demo --quick`).",
    )


@asset(
    group_name=GROUP,
    kinds={"pillow", "s3"},
    description=(
        "An ImageFolder tree (<label>/<image>, jpg/png/webp) under raw/images/ in the artifact "
        "store: your own images (`edgeline ingest-images FOLDER`), shared images a person "
        "accepted from the review queue, or the synthetic demo set."
    ),
)
def raw_images(
    context: AssetExecutionContext, config: RawImagesConfig, artifacts: ArtifactStore
) -> Output[dict[str, int]]:
    requeued = requeue_unreviewed(artifacts)
    if requeued:
        context.log.warning(
            "%d images an earlier Edgeline adopted without review went back to the review queue",
            requeued,
        )
    waiting = count_pending(artifacts)
    if waiting:
        context.log.info(
            "%d shared images wait for review (`edgeline images review`); none of them trains "
            "until a person accepts it",
            waiting,
        )
    keys = artifacts.list_keys(RAW_PREFIX)
    if not keys and config.generate_demo_if_empty:
        context.log.info("raw/images/ is empty: writing the synthetic demo set")
        for key, data in generate_demo_images(
            config.demo_images_per_class,
            config.demo_image_size,
            config.demo_seed,
            class_backgrounds=config.demo_class_backgrounds,
        ):
            artifacts.put_bytes(RAW_PREFIX + key, data)
        keys = artifacts.list_keys(RAW_PREFIX)
    counts: dict[str, int] = {}
    for key in keys:
        label = key[len(RAW_PREFIX) :].split("/")[0]
        counts[label] = counts.get(label, 0) + 1
    samples = [k for k in keys if "/" in k[len(RAW_PREFIX) :]][:: max(1, len(keys) // 24)][:24]
    metadata: dict[str, Any] = {
        "files": len(keys),
        "shared_images_waiting_for_review": waiting,
        "unreviewed_images_requeued": requeued,
        "classes": len(counts),
        "count_per_class": MetadataValue.json(counts),
        **sample_grid(artifacts, [(k, k[len(RAW_PREFIX) :].split("/")[0]) for k in samples]),
    }
    return Output(counts, metadata=rounded(metadata))


def sample_grid(artifacts: ArtifactStore, captioned: list[tuple[str, str]]) -> dict[str, Any]:
    """``{"samples": a grid of the (key, caption) images}``, or nothing when none is readable
    (unreadable files, bombs included, are skipped: the dataset reports them)."""
    thumbs, captions = [], []
    for key, caption in captioned:
        data = artifacts.get_bytes(key)
        try:
            inspect_image(data)
        except ValueError:
            continue
        thumbs.append(Image.open(io.BytesIO(data)).convert("RGB"))
        captions.append(caption)
    if not thumbs:
        return {}
    return {"samples": MetadataValue.md(png_markdown(image_grid(thumbs, captions), "samples"))}


class ImageReviewConfig(Config):
    accept: list[str] = Field(
        default=[], description="Keys of shared images to add to raw/images/ (as listed below)."
    )
    reject: list[str] = Field(default=[], description="Keys of shared images to throw away.")
    label: str | None = Field(
        default=None,
        description="The class for the accepted images; empty: each one's suggested label.",
    )
    new_class: bool = Field(
        default=False, description="Allow a label that is not a class yet (starts a new class)."
    )
    reason: str = Field(default="", description="Why (required to reject).")
    by: str = Field(default="dagster-ui", min_length=1, max_length=100)


@asset(
    group_name=GROUP,
    kinds={"pillow", "s3"},
    description=(
        "The review queue of images that web pages and devices shared: nothing in it trains a "
        "model until a person accepts it (here, with config, or `edgeline images accept`). "
        "Materialise with no config to see what waits: counts by suggested label and samples."
    ),
)
def shared_image_queue(
    context: AssetExecutionContext, config: ImageReviewConfig, artifacts: ArtifactStore
) -> Output[dict[str, int]]:
    accepted = (
        accept_images(artifacts, config.accept, config.by, config.label, config.new_class)
        if config.accept
        else []
    )
    rejected = (
        reject_images(artifacts, config.reject, config.by, config.reason) if config.reject else 0
    )
    if accepted or rejected:
        context.log.info("accepted %d, rejected %d (by %s)", len(accepted), rejected, config.by)
    pending = pending_images(artifacts)
    rows = "\n".join(
        f"| {p.key} | {p.suggested_label or ''} | {p.uploader or ''} | {p.bytes / 1e3:.0f} kB |"
        for p in pending[:100]
    )
    metadata: dict[str, Any] = {
        "waiting": len(pending),
        "accepted_now": len(accepted),
        "rejected_now": rejected,
        "suggested_labels": MetadataValue.json(suggested_labels(pending)),
        "queue": MetadataValue.md(
            "| key | suggested label | uploader | size |\n| --- | --- | --- | --- |\n" + rows
            if rows
            else "nothing waits for review"
        ),
    }
    metadata |= sample_grid(artifacts, [(p.key, p.suggested_label or "?") for p in pending[:24]])
    return Output({"waiting": len(pending), "accepted": len(accepted)}, metadata=metadata)


class ImageDatasetConfig(Config):
    val_fraction: float = Field(default=0.15, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.15, gt=0, lt=0.5)


@asset(
    group_name=GROUP,
    kinds={"pillow"},
    deps=[raw_images],
    description=(
        "The checked image set with a train/val/test split fixed by each file's content hash "
        "(adding images never reshuffles the others). Unreadable, truncated, tiny and duplicate "
        "files are skipped and listed."
    ),
)
def image_dataset(
    context: AssetExecutionContext, config: ImageDatasetConfig, artifacts: ArtifactStore
) -> Output[ImageDataset]:
    dataset = build_image_dataset(artifacts, RAW_PREFIX, config.val_fraction, config.test_fraction)
    version = dataset.data_version
    artifacts.put_json(
        layout.dataset("images", version) + "dataset.json",
        {
            "labels": list(dataset.labels),
            "records": [r.__dict__ for r in dataset.records],
            "skipped": [{"key": k, "reason": r} for k, r in dataset.skipped],
        },
    )
    skipped_md = "\n".join(f"| {k} | {r} |" for k, r in dataset.skipped[:50])
    return Output(
        dataset,
        data_version=DataVersion(version),
        metadata=rounded(
            {
                "data_version": version,
                "images": len(dataset.records),
                "labels": MetadataValue.json(list(dataset.labels)),
                "split_counts": MetadataValue.json(dataset.counts()),
                "skipped": len(dataset.skipped),
                "skipped_files": MetadataValue.md(
                    "| file | reason |\n| --- | --- |\n" + skipped_md if skipped_md else "none"
                ),
            }
        ),
    )


# Sizes that fit the hardware: "fast" trains a folder of a few thousand images in minutes on
# 2 CPU cores; "accurate" is 224 px and width 1.0, for transfer learning from ImageNet weights on
# a GPU. Fields left empty take the preset's value.
TRAINING_PRESETS = {
    "fast": {"image_size": 96, "width_mult": 0.75, "epochs": 20},
    "accurate": {"image_size": 224, "width_mult": 1.0, "epochs": 15},
}


class ImageClassifierConfig(Config):
    weights: str | None = Field(
        default=None,
        description="Path or URI of a torchvision MobileNetV2 state dict (transfer learning); "
        "empty trains from scratch.",
    )
    trainable_blocks: int = Field(default=2, ge=0, description="With weights: blocks to fine-tune.")
    preset: Literal["fast", "accurate"] = Field(
        default="fast", description="fast: 96 px, width 0.75 (CPU); accurate: 224 px, width 1.0."
    )
    width_mult: float | None = Field(default=None, gt=0, description="MobileNetV2 width.")
    image_size: int | None = Field(default=None, ge=32)
    epochs: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=32, ge=2)
    learning_rate: float = Field(default=3e-3, gt=0, description="Peak of the one-cycle schedule.")
    augment: Literal["photo", "upright", "rotation-invariant", "none"] = Field(
        default="photo",
        description="photo: crops, horizontal flips, colour; upright: no flips or turns (text, "
        "digits, signs); rotation-invariant: quarter turns and both flips (shapes, microscopy).",
    )
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    patience: int = Field(default=5, ge=1, description="Epochs without a lower validation loss.")
    seed: int = 0
    threads: int = Field(default=0, ge=0, description="torch threads (0: torch's default).")

    def sized(self) -> tuple[int, float, int]:
        """(image_size, width_mult, epochs): what was set, else the preset's."""
        preset = TRAINING_PRESETS[self.preset]
        return (
            self.image_size or preset["image_size"],
            self.width_mult or preset["width_mult"],
            self.epochs or preset["epochs"],
        )


@asset(
    group_name=GROUP,
    kinds={"pytorch"},
    description=(
        "MobileNetV2 trained on image_dataset: from scratch, or transfer learning from a "
        "torchvision state dict with frozen features. Best validation epoch kept."
    ),
)
def image_classifier(
    context: AssetExecutionContext,
    config: ImageClassifierConfig,
    image_dataset: ImageDataset,
    artifacts: ArtifactStore,
) -> Output[TrainedClassifier]:
    import torch

    from assets.conversion.weights import save_weights
    from assets.vision.metrics import confusion_matrix
    from assets.vision.model import build_mobilenet_v2
    from assets.vision.training import (
        TrainingSettings,
        predict_probabilities,
        train_classifier,
    )

    if config.threads:
        torch.set_num_threads(config.threads)
    image_size, width_mult, epochs = config.sized()
    labels = image_dataset.labels
    splits = {
        name: load_pixels(artifacts, image_dataset.split(name), labels, image_size)
        for name in ("train", "val", "test")
    }
    context.log.info(
        "training on %d images, validating on %d, %d classes, %d px, augmentation %s",
        len(splits["train"][1]),
        len(splits["val"][1]),
        len(labels),
        image_size,
        config.augment,
    )
    torch.manual_seed(config.seed)  # the initial weights too: same config and data, same model
    model = build_mobilenet_v2(len(labels), config.weights, config.trainable_blocks, width_mult)
    settings = TrainingSettings(
        epochs=epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        augment=config.augment,
        label_smoothing=config.label_smoothing,
        patience=config.patience,
        seed=config.seed,
    )
    result = train_classifier(model, splits["train"], splits["val"], settings, context.log.info)
    test_pixels, test_targets = splits["test"]
    predictions = predict_probabilities(model, test_pixels).argmax(1)
    test_accuracy = float((predictions == test_targets).mean()) if len(test_targets) else 0.0
    matrix = confusion_matrix(test_targets, predictions, len(labels))
    best = result.history[result.best_epoch - 1]

    weights_key = _run_dir(context) + "model.pt"
    save_weights(model, artifacts, weights_key)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    metrics = {
        "val_accuracy": best["val_accuracy"],
        "test_accuracy": test_accuracy,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "train_images_per_second": round(result.images_per_second, 1),
        "train_seconds": round(result.seconds, 1),
        "trainable_parameters": trainable,
        "transfer_learning": bool(config.weights),
        "augmentation": config.augment,
        "preset": config.preset,
        "image_size": image_size,
        "width_mult": width_mult,
        "confusion_matrix": matrix.tolist(),
    }
    curves = line_plot(
        {
            "train loss": [h["train_loss"] for h in result.history],
            "val loss": [h["val_loss"] for h in result.history],
            "train acc": [h["train_accuracy"] for h in result.history],
            "val acc": [h["val_accuracy"] for h in result.history],
        },
        "loss and accuracy",
        "epoch",
        "value",
    )
    confusion = confusion_plot(matrix, labels, f"test set (accuracy {test_accuracy:.3f})")
    artifacts.put_bytes(_run_dir(context) + "training_curves.png", curves, "image/png")
    artifacts.put_bytes(_run_dir(context) + "confusion_matrix.png", confusion, "image/png")
    record = TrainedClassifier(weights_key, labels, image_size, width_mult, metrics, result.history)
    return Output(
        record,
        metadata=rounded(
            {
                "val_accuracy": best["val_accuracy"],
                "test_accuracy": test_accuracy,
                "epochs_run": len(result.history),
                "best_epoch": result.best_epoch,
                "train_images_per_second": round(result.images_per_second, 1),
                "trainable_parameters": trainable,
                "weights_key": weights_key,
                "training_curves": MetadataValue.md(png_markdown(curves, "training curves")),
                "confusion_matrix": MetadataValue.md(png_markdown(confusion, "confusion matrix")),
            }
        ),
    )


def _eval_inputs(
    artifacts: ArtifactStore, dataset: ImageDataset, trained: TrainedClassifier, split: str
) -> np.ndarray:
    pixels, _ = load_pixels(artifacts, dataset.split(split), trained.labels, trained.image_size)
    return pixels.astype(np.float32)


def _baseline(probabilities: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
    """What the validation set looked like to the model: the reference for drift reports."""
    predicted = probabilities.argmax(1)
    confidence = probabilities.max(1)
    counts, edges = np.histogram(confidence, bins=10, range=(0.0, 1.0))
    return {
        "split": "val",
        "samples": len(predicted),
        "class_distribution": {
            label: float(np.mean(predicted == i)) if len(predicted) else 0.0
            for i, label in enumerate(labels)
        },
        "confidence_histogram": {"edges": edges.round(2).tolist(), "counts": counts.tolist()},
        "mean_confidence": float(confidence.mean()) if len(confidence) else 0.0,
    }


def _export_plan(artifacts: ArtifactStore, upstream: dict[str, Any]) -> ExportPlan:
    """The classifier with its normalisation and softmax: probabilities within the parity
    tolerance of PyTorch's on the test images."""
    from assets.conversion.weights import load_weights
    from assets.vision.model import build_mobilenet_v2
    from assets.vision.training import predict_probabilities

    trained: TrainedClassifier = upstream["image_classifier"]
    dataset: ImageDataset = upstream["image_dataset"]
    module = build_mobilenet_v2(len(trained.labels), width_mult=trained.width_mult)
    module = load_weights(module, artifacts, trained.weights_key)
    test_inputs = _eval_inputs(artifacts, dataset, trained, "test")
    size = trained.image_size

    def parity(torch_out: list[np.ndarray], onnx_out: list[np.ndarray]) -> Parity:
        max_diff = float(np.abs(onnx_out[0] - torch_out[0]).max())
        top1 = float(np.mean(onnx_out[0].argmax(1) == torch_out[0].argmax(1)))
        metrics = {"max_abs_diff_vs_pytorch": max_diff, "top1_agreement_vs_pytorch": top1}
        passed = max_diff <= PARITY_TOLERANCE
        failures = (
            () if passed else (f"max abs diff vs PyTorch {max_diff:.3g} > {PARITY_TOLERANCE}",)
        )
        return Parity(passed, metrics, failures)

    return ExportPlan(
        model_name=MODEL_NAME,
        module=module,
        example=(np.random.default_rng(0).random((1, 3, size, size)) * 255).astype(np.float32),
        input=input_spec(size),
        outputs=OUTPUT_NAMES,
        onnx_metadata={"labels": ",".join(trained.labels), "model": MODEL_NAME},
        test_inputs=test_inputs,
        baseline_inputs=_eval_inputs(artifacts, dataset, trained, "val"),
        reference=lambda pixels: [predict_probabilities(module, pixels)],
        parity=parity,
        baseline=lambda outputs: _baseline(outputs[0], trained.labels),
        weights_key=trained.weights_key,
    )


image_classifier_onnx = build_export_asset(
    name="image_classifier_onnx",
    group=GROUP,
    inputs=("image_classifier", "image_dataset"),
    plan=_export_plan,
    parity_description="fp32 ONNX vs PyTorch on the test set: max abs probability diff <= 1e-4.",
    description=(
        "The classifier as one self-contained ONNX file (opset 18, dynamic batch): float32 RGB "
        "pixels 0-255 NCHW in, normalisation, MobileNetV2 and softmax inside, probabilities out."
    ),
)


def _variant_inputs(artifacts: ArtifactStore, inputs: dict[str, Any]) -> GateInputs:
    """Labelled test images to gate on; training and validation images to calibrate int8 with."""
    dataset, trained = inputs["image_dataset"], inputs["image_classifier"]
    pixels, targets = load_pixels(
        artifacts, dataset.split("test"), trained.labels, trained.image_size
    )
    return GateInputs(
        pixels.astype(np.float32), targets, calibration_inputs(artifacts, dataset, trained)
    )


def calibration_inputs(
    artifacts: ArtifactStore, dataset: ImageDataset, trained: TrainedClassifier, cap: int = 256
) -> Calibration:
    """int8 calibration: training images to fit on (all of them up to ``cap``, every class in an
    equal share) and validation images to choose the quantization by."""
    by_label: dict[str, list] = {}
    for record in dataset.split("train"):
        by_label.setdefault(record.label, []).append(record)
    share = max(1, cap // max(1, len(by_label)))
    chosen = [r for records in by_label.values() for r in records[:share]]
    fit, _ = load_pixels(artifacts, chosen, trained.labels, trained.image_size)
    return Calibration(fit.astype(np.float32), _eval_inputs(artifacts, dataset, trained, "val"))


def build_vision_variant_asset(variant: Variant) -> AssetsDefinition:
    return build_variant_asset(
        variant,
        asset_prefix="image_classifier",
        group=GROUP,
        data_inputs=("image_dataset", "image_classifier"),
        load_inputs=_variant_inputs,
    )


variant_assets = [build_vision_variant_asset(v) for v in VISION_VARIANTS]


def _registration_facts(upstream: dict[str, Any]) -> RegistrationFacts:
    trained: TrainedClassifier = upstream["image_classifier"]
    dataset: ImageDataset = upstream["image_dataset"]
    return RegistrationFacts(
        model=MODEL_NAME,
        description=f"MobileNetV2 image classifier, {len(trained.labels)} classes",
        task={
            "kind": "image-classification",
            "labels": list(trained.labels),
            "image_size": trained.image_size,
        },
        metrics=trained.metrics,
        data_version=dataset.data_version,
        weights_key=trained.weights_key,
        headline={"test_accuracy": trained.metrics["test_accuracy"]},
    )


def _evaluate_variants(
    artifacts: ArtifactStore, upstream: dict[str, Any], variants: list[ModelFile]
) -> dict[str, Any]:
    """Each registered variant on the test split: accuracy, per-class precision and recall,
    confusion matrix."""
    from assets.conversion.measure import open_session, run_batches
    from assets.vision.metrics import classification_report

    dataset: ImageDataset = upstream["image_dataset"]
    trained: TrainedClassifier = upstream["image_classifier"]
    pixels, targets = load_pixels(
        artifacts, dataset.split("test"), trained.labels, trained.image_size
    )
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            path = artifacts.get_file(variant.key, Path(tmp) / f"{variant.precision}.onnx")
            probabilities = run_batches(open_session(path), pixels.astype(np.float32))[0]
            reports[variant.precision] = classification_report(
                targets, probabilities.argmax(1), trained.labels
            )
    return reports


registered_image_classifier = build_registration_asset(
    name="registered_image_classifier",
    group=GROUP,
    asset_prefix="image_classifier",
    variants=VISION_VARIANTS,
    inputs=("image_classifier", "image_dataset"),
    facts=_registration_facts,
    evaluate_variants=_evaluate_variants,
    description=(
        "A new version of image-classifier in the model registry, PendingManualApproval: every "
        "variant that passed its gate (with its test accuracy, per-class precision and recall "
        "and confusion matrix), labels, metrics, validation baseline and lineage."
    ),
)


vision_assets = [
    shared_image_queue,
    raw_images,
    image_dataset,
    image_classifier,
    image_classifier_onnx,
    *variant_assets,
    registered_image_classifier,
]
