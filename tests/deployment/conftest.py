"""Registered versions without training: tiny real ONNX files and a card that names them."""

import hashlib
import uuid

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from assets.conversion.compact import encode, expand
from tests.gateway.conftest import gateway  # noqa: F401  (served over HTTP)
from tests.pi.test_agent import sent_headers  # noqa: F401  (what real agents request)


def tiny_onnx(scale: float, tag: str = "") -> bytes:
    """y = x * scale: a real model onnxruntime runs, a few hundred bytes; ``tag`` (in its
    doc string) makes two files of the same scale differ."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["window", "scale"], ["error"])],
        "tiny",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("error", TensorProto.FLOAT, [None, 4])],
        [numpy_helper.from_array(np.array([scale], np.float32), "scale")],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18)], doc_string=tag
    ).SerializeToString()


def register_tiny_version(
    store,
    registry,
    model: str = "turbine-autoencoder",
    task: dict | None = None,
    baseline: dict | None = None,
    compact: bool = False,
) -> int:
    """Store two variants of a tiny model and register them as a new pending version (an
    anomaly detector unless ``task`` says otherwise; an empty baseline unless given); with
    ``compact``, fp32's compact weights as a third (assets/conversion/compact.py)."""
    run = uuid.uuid4().hex[:8]
    variants = []
    for precision, latency in (("fp32", 0.05), ("fp16", 0.04)):
        # the run in the file: two registrations never share a sha256 (the scales of 97 did,
        # one time in 97, and a test of versions with other files then saw the same files)
        data = tiny_onnx(1.0 + len(variants) + int(run, 16) % 97, tag=f"{model} {run}")
        key = f"models/{model}/{run}/model.{precision}.onnx"
        store.put_bytes(key, data)
        variants.append(
            {
                "precision": precision,
                "key": key,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "input_spec": {
                    "name": "window",
                    "shape": [None, 4],
                    "dtype": "float32",
                    "description": "raw window",
                },
                "outputs": ["error"],
                "latency": {"threads_1": {"p50_ms": latency, "p95_ms": latency * 2}},
                "gate": {"passed": True},
            }
        )
    if compact:
        fp32 = store.get_bytes(variants[0]["key"])
        data = encode(fp32)
        key = f"models/{model}/{run}/model.fp16_weights.weights"
        store.put_bytes(key, data)
        variants.append(
            {
                **variants[0],
                "precision": "fp16_weights",
                "key": key,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "expands_to": {
                    "precision": "fp32",
                    "encoding": "fp16",
                    "sha256": hashlib.sha256(expand(data)).hexdigest(),
                    "bytes": len(fp32),
                },
            }
        )
    card = {
        "task": task
        or {
            "kind": "anomaly-detection",
            "signals": ["a", "b", "c", "d"],
            "window": 1,
            "threshold": 0.5,
        },
        "variants": variants,
        "metrics": {"f1": 0.95},
        "baseline": baseline or {},
        "lineage": {"run_id": run},
    }
    registry.ensure_model(model)
    return registry.register_version(model, card).version


@pytest.fixture
def instance():
    """An ephemeral Dagster instance: partitions, runs and asset events in memory."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def local_pair(tmp_resources):
    """The store and the registry of ``tmp_resources`` (the same objects)."""
    return tmp_resources["artifacts"], tmp_resources["registry"]


def latest_observation(instance, asset: str, partition: str) -> dict | None:
    """The metadata of the newest observation of one partition, as plain values."""
    from dagster import AssetKey, AssetRecordsFilter

    records = instance.fetch_observations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    return {k: v.value for k, v in records[0].asset_observation.metadata.items()}


def latest_check(instance, partition: str):
    """The newest `approved_in_registry` evaluation of one published partition, or None."""
    from dagster import AssetCheckEvaluation, AssetCheckKey, AssetKey

    from orchestration.live_versions import CHECK_NAME

    history = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("published_model"), CHECK_NAME), limit=100
    )
    for record in history:  # newest first; a check not yet run has only its planned event
        evaluation = record.evaluation
        if isinstance(evaluation, AssetCheckEvaluation) and evaluation.partition == partition:
            return evaluation
    return None
