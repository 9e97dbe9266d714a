"""Run ONNX files with onnxruntime: outputs for parity, and latency the way a client sees it."""

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort


def open_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session; ``threads`` > 0 pins intra-op threads and turns spinning off, so that a
    busy neighbour process does not distort the measurement."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_batches(
    session: ort.InferenceSession, inputs: np.ndarray, batch_size: int = 64
) -> list[np.ndarray]:
    """Every output of the graph for ``inputs``, concatenated over batches."""
    name = session.get_inputs()[0].name
    chunks = [
        session.run(None, {name: inputs[i : i + batch_size]})
        for i in range(0, len(inputs), batch_size)
    ]
    return [np.concatenate([chunk[k] for chunk in chunks]) for k in range(len(chunks[0]))]


def latency_ms(
    path: Path, sample: np.ndarray, threads: int, runs: int = 50, warmup: int = 5
) -> dict[str, float]:
    """p50 and p95 latency of one batch-1 call, in milliseconds."""
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    feed = {name: sample[:1]}
    for _ in range(warmup):
        session.run(None, feed)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)
        timings.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(float(np.percentile(timings, 50)), 3),
        "p95_ms": round(float(np.percentile(timings, 95)), 3),
    }


def latency_profile(
    path: Path, sample: np.ndarray, thread_counts: Sequence[int] = (1, 2), runs: int = 50
) -> dict[str, dict[str, float]]:
    """Latency at each thread count, keyed ``threads_1``, ``threads_2``."""
    return {f"threads_{n}": latency_ms(path, sample, n, runs=runs) for n in thread_counts}
