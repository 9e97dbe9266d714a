"""Vision lineage: raw images -> dataset -> MobileNetV2 -> ONNX -> fp16/int8 -> registered version.

One partition per declared image model (``assets/catalog.py``): its own images, training
settings, files and versions. Thin asset functions over the plain modules beside this one. torch is imported inside the
functions that train or export, so that loading the code location stays fast.
"""

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from pydantic import Field, ValidationError

from assets.catalog import ModelSpec, adopt_single_model_home, read_model
from assets.conversion.assets import (
    PARITY_TOLERANCE,
    ExportPlan,
    GateInputs,
    Parity,
    build_export_asset,
    build_variant_asset,
)
from assets.conversion.compact import ENCODING, encode_fp16_weights, expand_file
from assets.conversion.model_file import ModelFile
from assets.conversion.variants import (
    Calibration,
    Variant,
    WireEncoding,
    classification_gate,
    convert_to_fp16,
    convert_to_int8,
)
from assets.deployment.registration_asset import RegistrationFacts, build_registration_asset
from assets.metadata import rounded
from assets.partitions import image_models
from assets.plots import confusion_plot, image_grid, line_plot, png_markdown
from assets.vision.dataset import (
    ImageDataset,
    build_image_dataset,
    inspect_image,
    load_pixels,
)
from assets.vision.demo_data import generate_demo_images
from assets.vision.metrics import unsure_threshold
from assets.vision.records import AUGMENTATIONS, OUTPUT_NAMES, TrainedClassifier, input_spec
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
from resources.store_resources import ArtifactStoreResource

GROUP = "vision"

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
    Variant(
        "fp16_weights",
        encode_fp16_weights,
        classification_gate(min_top1_agreement=0.995, max_abs_diff=1e-2, max_size_ratio=0.55),
        "the fp32 model with its weights stored as fp16 and deflated (compact weights, "
        "assets/conversion/compact.py), which the page expands back into the fp32 graph: "
        "fp32's speed in wasm from a third of its bytes.",
        required=False,
        encoding=WireEncoding(ENCODING, expand_file),
    ),
)


class RawImagesConfig(Config):
    generate_demo_if_empty: bool = Field(
        default=True,
        description="Write the built-in synthetic demo set when a model declared with demo "
        "images has none.",
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
    partitions_def=image_models,
    description=(
        "A model's ImageFolder tree (<label>/<image>, jpg/png/webp) under raw/images/<model>/ in "
        "the artifact store: your own images (`edgeline ingest-images FOLDER --model NAME`), "
        "shared images a person accepted from the review queue, or the synthetic demo set."
    ),
)
def raw_images(
    context: AssetExecutionContext, config: RawImagesConfig, artifacts: ArtifactStoreResource
) -> Output[dict[str, int]]:
    moved = adopt_single_model_home(artifacts)
    if moved:
        context.log.info("%d images of a single-model home moved under their model", moved)
    spec = read_model(artifacts, context.partition_key, "image")
    prefix = layout.model_images(spec.name)
    requeued = requeue_unreviewed(artifacts, spec.name)
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
    keys = artifacts.list_keys(prefix)
    if not keys and spec.demo_images and config.generate_demo_if_empty:
        context.log.info("%s has no images: writing the synthetic demo set", spec.name)
        artifacts.put_many(
            (layout.model_image(spec.name, *relative.split("/")), data)
            for relative, data in generate_demo_images(
                config.demo_images_per_class,
                config.demo_image_size,
                config.demo_seed,
                class_backgrounds=config.demo_class_backgrounds,
            )
        )
        keys = artifacts.list_keys(prefix)
    if not keys:
        raise ValueError(
            f"model {spec.name} has no images under {prefix}: add a folder with one sub-folder "
            f"of images per class (`edgeline ingest-images FOLDER --model {spec.name}`)"
        )
    labelled = [(k, found[0]) for k in keys if (found := layout.parse_labelled_image(prefix, k))]
    counts: dict[str, int] = {}
    for _, label in labelled:
        counts[label] = counts.get(label, 0) + 1
    samples = labelled[:: max(1, len(labelled) // 24)][:24]
    metadata: dict[str, Any] = {
        "model": spec.name,
        "files": len(keys),
        "shared_images_waiting_for_review": waiting,
        "unreviewed_images_requeued": requeued,
        "classes": len(counts),
        "count_per_class": MetadataValue.json(counts),
        **sample_grid(artifacts, samples),
    }
    return Output(counts, metadata=rounded(metadata))


def sample_grid(artifacts: ArtifactStore, captioned: list[tuple[str, str]]) -> dict[str, Any]:
    """``{"samples": a grid of the (key, caption) images}``, or nothing when none is readable
    (unreadable files, bombs included, are skipped: the dataset reports them)."""
    thumbs, captions = [], []
    keys = [key for key, _ in captioned]
    for (_, caption), data in zip(captioned, artifacts.get_many(keys), strict=True):
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
        default=[],
        description="Keys of shared images to add to the images of the model each was shared "
        "for (as listed below).",
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
    context: AssetExecutionContext, config: ImageReviewConfig, artifacts: ArtifactStoreResource
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
        f"| {p.key} | {p.model} | {p.suggested_label or ''} | {p.uploader or ''} | "
        f"{p.bytes / 1e3:.0f} kB |"
        for p in pending[:100]
    )
    metadata: dict[str, Any] = {
        "waiting": len(pending),
        "accepted_now": len(accepted),
        "rejected_now": rejected,
        "suggested_labels": MetadataValue.json(suggested_labels(pending)),
        "queue": MetadataValue.md(
            "| key | model | suggested label | uploader | size |\n"
            "| --- | --- | --- | --- | --- |\n" + rows
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
    partitions_def=image_models,
    deps=[raw_images],
    description=(
        "The checked image set with a train/val/test split fixed by each file's content hash "
        "(adding images never reshuffles the others). Unreadable, truncated, tiny and duplicate "
        "files are skipped and listed."
    ),
)
def image_dataset(
    context: AssetExecutionContext, config: ImageDatasetConfig, artifacts: ArtifactStoreResource
) -> Output[ImageDataset]:
    model = context.partition_key
    dataset = build_image_dataset(
        artifacts, layout.model_images(model), config.val_fraction, config.test_fraction
    )
    version = dataset.data_version
    artifacts.put_json(
        layout.image_dataset_index(model, version),
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


@dataclass(frozen=True)
class ImageTraining:
    """How an image model trains: Edgeline's defaults, under the model's declared settings,
    under what one run's config sets."""

    weights: str | None = None
    trainable_blocks: int = 2
    preset: str = "fast"
    width_mult: float | None = None
    image_size: int | None = None
    epochs: int | None = None
    batch_size: int = 32
    learning_rate: float = 3e-3
    augment: str = "photo"
    label_smoothing: float = 0.1
    patience: int = 5
    seed: int = 0
    threads: int = 0

    def sized(self) -> tuple[int, float, int]:
        """(image_size, width_mult, epochs): what was set, else the preset's."""
        preset = TRAINING_PRESETS[self.preset]
        return (
            self.image_size or preset["image_size"],
            self.width_mult or preset["width_mult"],
            self.epochs or preset["epochs"],
        )


class ImageClassifierConfig(Config):
    """A model's training settings, declared with the model (``edgeline models add NAME --set
    KEY=VALUE``); a field set here overrides the declaration for one run. Empty fields take
    the declared value, else the default named."""

    weights: str | None = Field(
        default=None,
        description="Path or URI of a torchvision MobileNetV2 state dict (transfer learning); "
        "empty trains from scratch.",
    )
    trainable_blocks: int | None = Field(
        default=None, ge=0, description="With weights: blocks to fine-tune (default 2)."
    )
    preset: str | None = Field(
        default=None,
        description="fast (default): 96 px, width 0.75 (CPU); accurate: 224 px, width 1.0.",
    )
    width_mult: float | None = Field(default=None, gt=0, description="MobileNetV2 width.")
    image_size: int | None = Field(default=None, ge=32)
    epochs: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=2, description="Default 32.")
    learning_rate: float | None = Field(
        default=None, gt=0, description="Peak of the one-cycle schedule (default 0.003)."
    )
    augment: str | None = Field(
        default=None,
        description="photo (default): crops, horizontal flips, colour; upright: no flips or "
        "turns (text, digits, signs); rotation-invariant: quarter turns and both flips "
        "(shapes, microscopy).",
    )
    label_smoothing: float | None = Field(default=None, ge=0, lt=1, description="Default 0.1.")
    patience: int | None = Field(
        default=None, ge=1, description="Epochs without a lower validation loss (default 5)."
    )
    seed: int | None = Field(default=None, description="Default 0.")
    threads: int | None = Field(
        default=None, ge=0, description="torch threads (default 0: torch's default)."
    )


def training_settings(spec: ModelSpec, overrides: dict[str, Any] | None = None) -> ImageTraining:
    """``spec``'s declared training settings with ``overrides`` (a run's config) on top; an
    unknown or invalid setting is an error that names it."""
    unknown = set(spec.training) - set(ImageClassifierConfig.model_fields)
    if unknown:
        raise ValueError(
            f"model {spec.name}: unknown training settings {sorted(unknown)} (known: "
            f"{', '.join(ImageClassifierConfig.model_fields)})"
        )
    try:
        declared = ImageClassifierConfig(**spec.training)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in error.errors()
        )
        raise ValueError(f"model {spec.name}: training settings {problems}") from None
    chosen = ImageTraining(
        **{
            **declared.model_dump(exclude_none=True),
            **{k: v for k, v in (overrides or {}).items() if v is not None},
        }
    )
    for name, allowed in (("preset", tuple(TRAINING_PRESETS)), ("augment", AUGMENTATIONS)):
        if getattr(chosen, name) not in allowed:
            raise ValueError(
                f"model {spec.name}: training settings {name}={getattr(chosen, name)!r}: "
                f"use one of {', '.join(allowed)}"
            )
    return chosen


@asset(
    group_name=GROUP,
    kinds={"pytorch"},
    partitions_def=image_models,
    description=(
        "MobileNetV2 trained on the model's image_dataset with its declared settings (a run's "
        "config overrides them): from scratch, or transfer learning from a torchvision state "
        "dict with frozen features. Best validation epoch kept."
    ),
)
def image_classifier(
    context: AssetExecutionContext,
    config: ImageClassifierConfig,
    image_dataset: ImageDataset,
    artifacts: ArtifactStoreResource,
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

    spec = read_model(artifacts, context.partition_key, "image")
    settings = training_settings(spec, config.model_dump())
    if settings.threads:
        torch.set_num_threads(settings.threads)
    image_size, width_mult, epochs = settings.sized()
    labels = image_dataset.labels
    splits = {
        name: load_pixels(artifacts, image_dataset.split(name), labels, image_size)
        for name in ("train", "val", "test")
    }
    context.log.info(
        "%s: training on %d images, validating on %d, %d classes, %d px, augmentation %s",
        spec.name,
        len(splits["train"][1]),
        len(splits["val"][1]),
        len(labels),
        image_size,
        settings.augment,
    )
    torch.manual_seed(settings.seed)  # the initial weights too: same config and data, same model
    model = build_mobilenet_v2(len(labels), settings.weights, settings.trainable_blocks, width_mult)
    loop = TrainingSettings(
        epochs=epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        augment=settings.augment,
        label_smoothing=settings.label_smoothing,
        patience=settings.patience,
        seed=settings.seed,
    )
    result = train_classifier(model, splits["train"], splits["val"], loop, context.log.info)
    test_pixels, test_targets = splits["test"]
    predictions = predict_probabilities(model, test_pixels).argmax(1)
    test_accuracy = float((predictions == test_targets).mean()) if len(test_targets) else 0.0
    matrix = confusion_matrix(test_targets, predictions, len(labels))
    best = result.history[result.best_epoch - 1]

    run_id = context.run.run_id
    weights_key = layout.run_weights(spec.name, run_id)
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
        "transfer_learning": bool(settings.weights),
        "augmentation": settings.augment,
        "preset": settings.preset,
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
    artifacts.put_bytes(layout.run_plot(spec.name, run_id, "training curves"), curves, "image/png")
    artifacts.put_bytes(
        layout.run_plot(spec.name, run_id, "confusion matrix"), confusion, "image/png"
    )
    record = TrainedClassifier(
        weights_key, labels, image_size, width_mult, metrics, result.history, spec.name
    )
    return Output(
        record,
        metadata=rounded(
            {
                "model": spec.name,
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


def _baseline(
    probabilities: np.ndarray, targets: np.ndarray, labels: tuple[str, ...]
) -> dict[str, Any]:
    """What the validation set looked like to the model: the reference for drift reports, and
    the confidence below which an answer is "not sure" (``unsure_threshold``)."""
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
        "unsure_below": unsure_threshold(probabilities, targets),
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
    val_pixels, val_targets = load_pixels(
        artifacts, dataset.split("val"), trained.labels, trained.image_size
    )
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
        model_name=trained.model,
        module=module,
        example=(np.random.default_rng(0).random((1, 3, size, size)) * 255).astype(np.float32),
        input=input_spec(size),
        outputs=OUTPUT_NAMES,
        onnx_metadata={"labels": ",".join(trained.labels), "model": trained.model},
        test_inputs=test_inputs,
        baseline_inputs=val_pixels.astype(np.float32),
        reference=lambda pixels: [predict_probabilities(module, pixels)],
        parity=parity,
        baseline=lambda outputs: _baseline(outputs[0], val_targets, trained.labels),
        weights_key=trained.weights_key,
    )


image_classifier_onnx = build_export_asset(
    name="image_classifier_onnx",
    group=GROUP,
    partitions_def=image_models,
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
        partitions_def=image_models,
        data_inputs=("image_dataset", "image_classifier"),
        load_inputs=_variant_inputs,
    )


variant_assets = [build_vision_variant_asset(v) for v in VISION_VARIANTS]


def _registration_facts(upstream: dict[str, Any]) -> RegistrationFacts:
    trained: TrainedClassifier = upstream["image_classifier"]
    dataset: ImageDataset = upstream["image_dataset"]
    return RegistrationFacts(
        model=trained.model,
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
            if variant.expands_to:  # compact weights: the model a client expands them to
                expand_file(path, path := Path(tmp) / f"{variant.precision}.expanded.onnx")
            probabilities = run_batches(open_session(path), pixels.astype(np.float32))[0]
            reports[variant.precision] = classification_report(
                targets, probabilities.argmax(1), trained.labels
            )
    return reports


registered_image_classifier = build_registration_asset(
    name="registered_image_classifier",
    group=GROUP,
    partitions_def=image_models,
    asset_prefix="image_classifier",
    variants=VISION_VARIANTS,
    inputs=("image_classifier", "image_dataset"),
    facts=_registration_facts,
    evaluate_variants=_evaluate_variants,
    description=(
        "A new version of the image model in the model registry, PendingManualApproval: every "
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
