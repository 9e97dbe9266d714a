"""Turbine benchmark: held-out F1 with the default settings, and readings/s of the published model.

    .venv/bin/python -m bench.turbine [--days 14]

Materialises the turbine assets with their default configuration in a temporary local
environment, then times the registered fp32 and fp16 files with onnxruntime on one thread.
Prints one JSON document (and writes bench/results/turbine.json).
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from dagster import DagsterInstance, FilesystemIOManager, materialize

from assets.conversion.measure import open_session
from assets.partitions import readings_key
from assets.sensors.assets import sensor_assets
from bench.report import emit_report
from edgeline_contract.profile import WIND_TURBINE
from orchestration.models import add_model_partitions
from resources import LocalArtifactStore, SqliteModelRegistry


def windows_per_second(path: Path, windows: np.ndarray, batch: int, seconds: float = 2.0) -> float:
    session = open_session(path, threads=1)
    feed = {"window": windows[:batch]}
    session.run(None, feed)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, feed)
        calls += 1
    return calls * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--output", default="bench/results/turbine.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = LocalArtifactStore(root=str(root / "artifacts"))
        registry = SqliteModelRegistry(path=str(root / "registry.sqlite"))
        resources = {
            "artifacts": store,
            "registry": registry,
            "io_manager": FilesystemIOManager(base_dir=str(root / "io")),
        }
        instance = DagsterInstance.ephemeral()
        add_model_partitions(instance, store)
        today = datetime.now(UTC).date()
        for offset in range(args.days, 0, -1):
            day = (today - timedelta(days=offset)).isoformat()
            materialize(
                [sensor_assets[0]],
                partition_key=readings_key(WIND_TURBINE.name, day),
                resources=resources,
                instance=instance,
            )
        started = time.perf_counter()
        names = [a.key.path[-1] for a in sensor_assets[1:]]
        result = materialize(
            sensor_assets,
            selection=names,
            resources=resources,
            instance=instance,
            partition_key=WIND_TURBINE.name,
        )
        pipeline_s = time.perf_counter() - started
        card = registry.get_model_card(
            "turbine-autoencoder", registry.list_versions("turbine-autoencoder")[-1].version
        )
        features = result.output_for_node("sensor_features")
        with np.load(store.get_file(features.key, root / "w.npz")) as data:
            windows = data["values"][data["split"] == 2]
        throughput = {}
        for variant in card["variants"]:
            path = store.get_file(variant["key"], root / f"{variant['precision']}.onnx")
            throughput[variant["precision"]] = {
                "batch_1_readings_per_s": round(windows_per_second(path, windows, 1)),
                "batch_256_readings_per_s": round(windows_per_second(path, windows, 256)),
                "bytes": variant["bytes"],
            }
    metrics = card["metrics"]
    report = {
        "benchmark": "turbine",
        "days": args.days,
        "held_out": {
            k: metrics[k] for k in ("precision", "recall", "f1", "windows", "anomalous", "flagged")
        },
        "recall_by_fault": metrics["recall_by_label"],
        "threshold": metrics["threshold"],
        "pipeline_seconds": round(pipeline_s, 1),
        "throughput_one_thread": throughput,
        "ratios": {
            "fp16_vs_fp32_readings_per_s_batch_1": round(
                throughput["fp16"]["batch_1_readings_per_s"]
                / throughput["fp32"]["batch_1_readings_per_s"],
                3,
            ),
            "fp16_size_vs_fp32": round(
                throughput["fp16"]["bytes"] / throughput["fp32"]["bytes"], 3
            ),
        },
        "goals": {"f1": ">= 0.9"},
    }
    emit_report(report, args.output)


if __name__ == "__main__":
    main()
