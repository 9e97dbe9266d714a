"""Vision benchmark: training throughput and published-model latency, as ratios from one run.

    .venv/bin/python -m bench.vision [--image-size 224] [--train-images 600]

Prints one JSON document (and writes bench/results/vision.json). Ratios compare Edgeline's
code with a bare baseline measured in the same process, alternating, so machine noise hits both.
Training is measured with no augmentation and with the default one (``photo``, what the lineage
trains with), against the same bare loop without augmentation: the second ratio includes what
augmentation costs.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torchvision
from torch import nn

from assets.conversion.export import TensorSpec, export_onnx
from assets.conversion.measure import open_session
from assets.conversion.variants import convert_to_fp16, convert_to_int8
from assets.vision.dataset import fit_square
from assets.vision.demo_data import SHAPES, render_shape_image
from assets.vision.model import build_mobilenet_v2
from assets.vision.training import TrainingSettings, train_classifier
from bench.report import emit_report


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


def bare_training_loop(
    model: nn.Module, pixels: np.ndarray, targets: np.ndarray, batch: int
) -> float:
    """The loop a person would write by hand: images/s for one epoch."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(pixels), torch.from_numpy(targets)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
    model.train()
    order = torch.randperm(len(x))
    started = time.perf_counter()
    for start in range(0, len(x), batch):
        index = order[start : start + batch]
        loss = nn.functional.cross_entropy(model((x[index].float() - mean) / std), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return len(x) / (time.perf_counter() - started)


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
    parser.add_argument("--output", default="bench/results/vision.json")
    args = parser.parse_args()
    torch.manual_seed(0)

    # 1. training throughput, same data, same model shape, same batch: Edgeline's loop with no
    # augmentation and with its default (photo), against the loop a person writes by hand
    pixels, targets = demo_pixels(args.train_images, args.train_size)

    def edgeline_epoch(augment: str) -> float:
        model = build_mobilenet_v2(len(SHAPES), width_mult=0.5)
        result = train_classifier(
            model,
            (pixels, targets),
            (pixels[:64], targets[:64]),
            TrainingSettings(epochs=1, batch_size=32, augment=augment),
            progress=lambda _: None,
        )
        return result.images_per_second

    def bare_epoch() -> float:
        bare = torchvision.models.mobilenet_v2(num_classes=len(SHAPES), width_mult=0.5)
        return bare_training_loop(bare, pixels, targets, 32)

    contenders = {
        "none": lambda: edgeline_epoch("none"),
        "photo": lambda: edgeline_epoch("photo"),
        "bare_loop": bare_epoch,
    }
    for run in contenders.values():  # warm-up: the first epoch in a process pays kernel set-up
        run()
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(4):  # each round starts with another contender
        for name in names[round_ % 3 :] + names[: round_ % 3]:
            rates[name].append(contenders[name]())
    median = {name: round(float(np.median(values)), 1) for name, values in rates.items()}
    training = {
        "image_size": args.train_size,
        "images": args.train_images,
        "bare_loop_images_per_s": median["bare_loop"],
        "by_augment": {
            augment: {
                "edgeline_images_per_s": median[augment],
                "ratio": round(median[augment] / median["bare_loop"], 3),
            }
            for augment in ("none", "photo")
        },
        "default_augment": TrainingSettings().augment,
    }

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
    report = {
        "benchmark": "vision",
        "training": training,
        "latency_p50_ms": latency,
        "image_size": size,
        "ratios": {
            **{
                f"training_images_per_s_vs_bare_loop_augment_{augment}": figures["ratio"]
                for augment, figures in training["by_augment"].items()
            },
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
        },
        "bytes": sizes,
        "goals": {
            "training_images_per_s_vs_bare_loop_augment_none": ">= 0.85",
            "training_images_per_s_vs_bare_loop_augment_photo": ">= 0.85",
            "published_fp32_p50_vs_bare_export_ort_defaults": "<= 1.05",
            "int8_p50_vs_fp32": "<= 0.8",
        },
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
