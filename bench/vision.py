"""Vision benchmark: training throughput and published-model latency, as ratios from one run.

    .venv/bin/python -m bench.vision [--image-size 224] [--train-images 600] [--threads 1]

Prints one JSON document (and writes bench/results/vision.json). Ratios compare Edgeline's
code with a bare baseline measured in the same process, alternating, so machine noise hits both.
Training starts from the demo's encoded images in an artifact store (PNG, JPEG and WebP, as
``raw_images`` holds them) and is measured with no augmentation and with the default one
(``photo``, what the lineage trains with), each against a bare loop that does the same work:
decode the files, then per batch the same augmentation, forward, backward and step, with the
same batch size and threads. Both are timed over decoding and the training steps; the lineage's
per-epoch BatchNorm recalibration and validation (work the bare loop does not do) are reported
beside, as the share of the whole call they take.
"""

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from PIL import Image
from torch import nn

from assets.conversion.export import TensorSpec, export_onnx
from assets.conversion.measure import open_session
from assets.conversion.variants import convert_to_fp16, convert_to_int8
from assets.vision.dataset import DecodedImages, build_image_dataset, fit_square, load_pixels
from assets.vision.demo_data import SHAPES, generate_demo_images, render_shape_image
from assets.vision.model import build_mobilenet_v2
from assets.vision.training import TrainingSettings, augment_batch, train_classifier
from bench.report import emit_report
from resources import layout
from resources.artifacts import LocalArtifactStore

AUGMENTS = ("none", "photo")
BENCH_MODEL = "bench-shapes"  # the demo images' model in the benchmark's own store


def demo_pixels(count: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(SHAPES)
    pixels = np.stack(
        [
            np.asarray(fit_square(render_shape_image(SHAPES[k], rng, 128), size)).transpose(2, 0, 1)
            for k in labels
        ]
    )
    return pixels.astype(np.uint8), labels.astype(np.int64)


def decode_folder(folder: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """What a person writes to read a ``<label>/<image>`` folder: every file decoded, made
    ``size`` px square (the same resize as the lineage's), labels in sorted folder order."""
    paths = sorted(path for path in folder.rglob("*") if path.is_file())
    labels = sorted({path.parent.name for path in paths})
    pixels = []
    for path in paths:
        with Image.open(path) as image:
            pixels.append(np.asarray(fit_square(image, size)).transpose(2, 0, 1))
    targets = [labels.index(path.parent.name) for path in paths]
    return np.stack(pixels), np.asarray(targets, dtype=np.int64)


def bare_training_loop(
    model: nn.Module, pixels: np.ndarray, targets: np.ndarray, batch: int, augment: str = "none"
) -> float:
    """The loop a person would write by hand, with the lineage's augmentation: seconds for one
    epoch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.from_numpy(pixels), torch.from_numpy(targets)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    model.train()
    order = torch.randperm(len(x), generator=generator)
    started = time.perf_counter()
    for start in range(0, len(x), batch):
        index = order[start : start + batch]
        images = augment_batch(x[index].float(), generator, augment)
        loss = nn.functional.cross_entropy(model((images - mean) / std), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def training_ratios(
    store: LocalArtifactStore, prefix: str, size: int, rounds: int
) -> dict[str, object]:
    """Images/s from encoded files to one trained epoch: the lineage (``load_pixels`` then
    ``train_classifier``) against the bare loop, each augmentation, in alternating rounds.

    Three scopes, each the median over rounds: decoding and the training steps (the goal's
    figure: the same work on both sides), the steps alone, and the lineage's whole call (which
    adds its per-epoch BatchNorm recalibration, validation and best-weights copy)."""
    dataset = build_image_dataset(store, prefix)
    records, labels = dataset.records, dataset.labels
    folder = Path(store.root) / prefix

    def edgeline_epoch(augment: str) -> dict[str, float]:
        model = build_mobilenet_v2(len(labels), width_mult=0.5)
        started = time.perf_counter()
        # decoded each round, as the bare loop does: nothing kept from the round before
        pixels, targets = load_pixels(store, records, labels, size, DecodedImages(max_bytes=0))
        decoded = time.perf_counter() - started
        result = train_classifier(
            model,
            (pixels, targets),
            (pixels[:64], targets[:64]),
            TrainingSettings(epochs=1, batch_size=32, augment=augment),
            progress=lambda _: None,
        )
        whole = time.perf_counter() - started
        return {"decode_s": decoded, "steps_s": result.seconds, "whole_s": whole}

    def bare_epoch(augment: str) -> dict[str, float]:
        model = torchvision.models.mobilenet_v2(num_classes=len(labels), width_mult=0.5)
        started = time.perf_counter()
        pixels, targets = decode_folder(folder, size)
        decoded = time.perf_counter() - started
        steps = bare_training_loop(model, pixels, targets, 32, augment)
        return {"decode_s": decoded, "steps_s": steps, "whole_s": decoded + steps}

    epochs = {"edgeline": edgeline_epoch, "bare": bare_epoch}
    contenders = {
        f"{who}_{augment}": functools.partial(epoch, augment)
        for augment in AUGMENTS
        for who, epoch in epochs.items()
    }
    for run in contenders.values():  # warm-up: the first epoch in a process pays kernel set-up
        run()
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for round_ in range(rounds):  # pairs back to back, who goes first taking turns
        for augment in AUGMENTS[round_ % 2 :] + AUGMENTS[: round_ % 2]:
            for who in ("edgeline", "bare")[:: 1 if round_ % 2 == 0 else -1]:
                name = f"{who}_{augment}"
                timings[name].append(contenders[name]())
    scopes = {
        "decode_and_steps": lambda t: t["decode_s"] + t["steps_s"],
        "steps": lambda t: t["steps_s"],
        "whole_call": lambda t: t["whole_s"],
    }

    def rates(name: str, scope: str) -> list[float]:
        return [len(records) / scopes[scope](t) for t in timings[name]]

    def compared(augment: str, scope: str) -> dict[str, object]:
        edgeline, bare = rates(f"edgeline_{augment}", scope), rates(f"bare_{augment}", scope)
        # a round's two contenders run one after the other, so their ratio shares the machine's
        # state; the median of those ratios is steadier than a ratio of medians
        ratios = [e / b for e, b in zip(edgeline, bare, strict=True)]
        return {
            "edgeline_images_per_s": round(float(np.median(edgeline)), 1),
            "bare_loop_images_per_s": round(float(np.median(bare)), 1),
            "ratio": round(float(np.median(ratios)), 3),
            "round_ratios": [round(r, 3) for r in ratios],
        }

    return {
        "image_size": size,
        "images": len(records),
        "rounds": rounds,
        "threads": torch.get_num_threads(),
        "decode_s": round(float(np.median([t["decode_s"] for t in timings["bare_none"]])), 3),
        "by_augment": {
            augment: {scope: compared(augment, scope) for scope in scopes} for augment in AUGMENTS
        },
        "default_augment": TrainingSettings().augment,
    }


def p50_ms(session: ort.InferenceSession, sample: np.ndarray, runs: int) -> float:
    name = session.get_inputs()[0].name
    for _ in range(5):
        session.run(None, {name: sample})
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, {name: sample})
        timings.append(time.perf_counter() - started)
    return float(np.median(timings) * 1000)


def alternating_p50(
    sessions: dict[str, ort.InferenceSession], sample: np.ndarray, rounds: int = 5, runs: int = 40
) -> dict[str, float]:
    """Median over rounds of each session's p50, the sessions taking turns within a round."""
    results: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            results[name].append(p50_ms(session, sample, runs))
    return {name: round(float(np.median(values)), 3) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--train-size", type=int, default=64, help="image size for the training ratio"
    )
    parser.add_argument("--train-images", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=4, help="alternating training rounds")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default 0: torch's default)"
    )
    parser.add_argument("--skip-latency", action="store_true", help="training figures only")
    parser.add_argument("--output", default="bench/results/vision.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    # 1. training throughput from the same encoded images, same model shape, same batch, same
    # augmentation: Edgeline's lineage against the loop a person writes by hand
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalArtifactStore(root=tmp)
        per_class = max(1, args.train_images // len(SHAPES))
        for relative, data in generate_demo_images(per_class=per_class):
            label, name = relative.split("/")
            store.put_bytes(layout.model_image(BENCH_MODEL, label, name), data)
        images = layout.model_images(BENCH_MODEL)
        training = training_ratios(store, images, args.train_size, args.rounds)
    report: dict[str, object] = {
        "benchmark": "vision",
        "training": training,
        "ratios": {
            f"training_images_per_s_vs_bare_loop_augment_{augment}{suffix}": figures[scope]["ratio"]
            for augment, figures in training["by_augment"].items()
            for scope, suffix in (("decode_and_steps", ""), ("whole_call", "_whole_call"))
        },
        "goals": {
            "training_images_per_s_vs_bare_loop_augment_none": ">= 0.85",
            "training_images_per_s_vs_bare_loop_augment_photo": ">= 0.95",
            "published_fp32_p50_vs_bare_export_ort_defaults": "<= 1.05",
            "int8_p50_vs_fp32": "<= 0.8",
        },
    }
    if args.skip_latency:
        emit_report(report, args.output)
        return

    # 2. published latency: Edgeline's fp32/fp16/int8 vs a bare torchvision export with ORT defaults
    size = args.image_size
    sample = (np.random.default_rng(1).random((1, 3, size, size)) * 255).astype(np.float32)
    calibration, _ = demo_pixels(64, size, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model = build_mobilenet_v2(len(SHAPES)).eval()
        spec = TensorSpec("pixels", (None, 3, size, size), "float32")
        fp32 = export_onnx(
            model,
            torch.rand(1, 3, size, size) * 255,
            tmp_path / "model.fp32.onnx",
            spec,
            ["probabilities"],
        )
        fp16, int8 = tmp_path / "model.fp16.onnx", tmp_path / "model.int8.onnx"
        convert_to_fp16(fp32, fp16)
        convert_to_int8(fp32, int8, calibration.astype(np.float32))
        bare_path = tmp_path / "bare.onnx"
        torch.onnx.export(
            model.network.eval(),
            (torch.rand(1, 3, size, size),),
            str(bare_path),
            external_data=False,
        )
        # ORT defaults (what a client that just opens the file gets), then pinned to 1 thread
        default_sessions = {
            name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            for name, path in (
                ("bare_torchvision", bare_path),
                ("fp32", fp32),
                ("fp16", fp16),
                ("int8", int8),
            )
        }
        one_thread = {
            name: open_session(path, 1)
            for name, path in (
                ("bare_torchvision", bare_path),
                ("fp32", fp32),
                ("fp16", fp16),
                ("int8", int8),
            )
        }
        latency = {
            "ort_defaults": alternating_p50(default_sessions, sample),
            "threads_1_no_spin": alternating_p50(one_thread, sample),
        }
        sizes = {p.stem.split(".")[-1]: p.stat().st_size for p in (fp32, fp16, int8)}
    defaults, one = latency["ort_defaults"], latency["threads_1_no_spin"]
    report["latency_p50_ms"] = latency
    report["image_size"] = size
    report["ratios"] |= {
        "published_fp32_p50_vs_bare_export_ort_defaults": round(
            defaults["fp32"] / defaults["bare_torchvision"], 3
        ),
        "published_fp32_p50_vs_bare_export_1_thread": round(
            one["fp32"] / one["bare_torchvision"], 3
        ),
        "int8_p50_vs_fp32_ort_defaults": round(defaults["int8"] / defaults["fp32"], 3),
        "int8_p50_vs_fp32_1_thread": round(one["int8"] / one["fp32"], 3),
        "fp16_p50_vs_fp32_ort_defaults": round(defaults["fp16"] / defaults["fp32"], 3),
        "fp16_size_vs_fp32": round(sizes["fp16"] / sizes["fp32"], 4),
        "int8_size_vs_fp32": round(sizes["int8"] / sizes["fp32"], 4),
    }
    report["bytes"] = sizes
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
