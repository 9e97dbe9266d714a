"""Compact weights (assets/conversion/compact.py): the fp32 graph, weights stored as fp16 and
deflated, expanded back by Python and by the page's own module (clients/web/app/weights.js) to
the same bytes; and the gate that judges what they expand to."""

import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from assets.conversion.compact import (
    CompactWeightsError,
    encode,
    expand,
    weight_ranges,
)
from assets.conversion.measure import run_batches
from assets.conversion.variants import Variant, WireEncoding, build_variant
from assets.vision.assets import VISION_VARIANTS
from tests.contract.validators import ROOT, node

WEIGHTS_JS = ROOT / "clients" / "web" / "app" / "weights.js"
EXPAND_SCRIPT = """
import { readFileSync } from "node:fs";
const { expandWeights } = await import(process.env.WEIGHTS_JS);
const data = readFileSync(process.env.COMPACT);
const digest = async (buffer) =>
  Buffer.from(await crypto.subtle.digest("SHA-256", buffer)).toString("hex");
try {
  const expanded = await expandWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  process.stdout.write(JSON.stringify({ sha256: await digest(expanded) }));
} catch (error) {
  process.stdout.write(JSON.stringify({ error: `${error.name}: ${error.message}` }));
}
"""


def classifier_model(seed: int = 0) -> bytes:
    """A small convolutional classifier (pixels in, probabilities out) whose tensors cover every
    case: weight tensors, small constants (fewer than compact.MIN_ELEMENTS values: kept exact),
    a tensor of fp16 subnormals, and one fp16 cannot hold (kept exact)."""
    rng = np.random.default_rng(seed)
    tensors = {
        "scale": np.full(3, 1 / 255, np.float32).reshape(1, 3, 1, 1),  # preprocessing: exact
        "conv1": rng.normal(0, 0.2, (32, 3, 3, 3)).astype(np.float32),  # 864 values: exact
        "conv2": rng.normal(0, 0.06, (64, 32, 3, 3)).astype(np.float32),
        "head": rng.normal(0, 0.2, (20, 64)).astype(np.float32),
        "tiny": rng.normal(0, 1e-6, (4, 512)).astype(np.float32),  # fp16 subnormals
        "huge": np.full((2, 1024), 1e6, np.float32),  # beyond fp16's range
    }
    nodes = [
        helper.make_node("Mul", ["pixels", "scale"], ["scaled"]),
        helper.make_node("Conv", ["scaled", "conv1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "conv2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "head"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ReduceSum", ["tiny"], ["tiny_sum"]),
        helper.make_node("ReduceMax", ["huge"], ["huge_max"]),
    ]
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 20]),
            helper.make_tensor_value_info("tiny_sum", TensorProto.FLOAT, [1, 1]),
            helper.make_tensor_value_info("huge_max", TensorProto.FLOAT, [1, 1]),
        ],
        [numpy_helper.from_array(value, name) for name, value in tensors.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def initializers(data: bytes) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(data).graph.initializer}


def expand_in_node(path: Path) -> dict:
    """What the page's weights.js makes of the file at ``path``: the expansion's sha256, or the error."""
    result = subprocess.run(
        [node(), "--input-type=module", "-e", EXPAND_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={"WEIGHTS_JS": WEIGHTS_JS.as_uri(), "COMPACT": str(path), "PATH": ""},
        check=True,
    )
    return json.loads(result.stdout)


def test_compact_weights_expand_to_the_fp32_graph_with_weights_rounded_through_fp16(tmp_path):
    model = classifier_model()
    compact = encode(model)
    expanded = expand(compact)

    assert len(compact) < 0.45 * len(model)  # fp16 and deflate: well under half
    assert len(expanded) == len(model)
    before, after = onnx.load_from_string(model), onnx.load_from_string(expanded)
    assert [n.SerializeToString() for n in after.graph.node] == [
        n.SerializeToString() for n in before.graph.node
    ]
    assert after.graph.input == before.graph.input and after.graph.output == before.graph.output
    original, restored = initializers(model), initializers(expanded)
    for name in ("scale", "conv1", "huge"):  # small constants and what fp16 cannot hold: exact
        assert np.array_equal(restored[name], original[name]), name
    for name in ("conv2", "head", "tiny"):
        rounded = original[name].astype(np.float16).astype(np.float32)
        assert np.array_equal(restored[name], rounded), name
        assert not np.array_equal(restored[name], original[name]), name
    # every float initializer's raw data is found where onnx says it is
    assert len(weight_ranges(model)) == len(original)

    pixels = np.random.default_rng(1).uniform(0, 255, (32, 3, 16, 16)).astype(np.float32)
    reference = run_batches(ort.InferenceSession(model), pixels)
    candidate = run_batches(ort.InferenceSession(expanded), pixels)
    assert np.abs(candidate[0] - reference[0]).max() < 1e-3
    assert (candidate[2] == 1e6).all() and (reference[2] == 1e6).all()

    # the page's own module expands the file to the very same bytes
    if node() is None:
        pytest.skip("Node.js is needed to run the page's weights.js")
    (tmp_path / "model.weights").write_bytes(compact)
    assert expand_in_node(tmp_path / "model.weights") == {
        "sha256": hashlib.sha256(expanded).hexdigest()
    }


def test_damaged_compact_weights_are_refused_by_python_and_the_page(tmp_path):
    compact = encode(classifier_model())
    flipped = bytearray(compact)
    flipped[len(flipped) // 2] ^= 0xFF
    cases = {
        "not compact": (b"\x08\x08" + compact[2:], "not compact weights"),
        "flipped byte": (bytes(flipped), "compact weights are damaged"),
        "cut short": (compact[: len(compact) // 2], "compact weights are damaged"),
    }
    for name, (data, message) in cases.items():
        with pytest.raises(CompactWeightsError, match=message):
            expand(data)
        if node() is not None:
            (tmp_path / "model.weights").write_bytes(data)
            found = expand_in_node(tmp_path / "model.weights")
            assert found.get("error", "").startswith("CompactWeightsError"), (name, found)
            assert message in found["error"], (name, found)


def test_the_gate_judges_what_compact_weights_expand_to(tmp_path):
    """The vision lineage's fp16_weights variant passes on a model whose answers fp16 rounding
    does not move; an encoding that expands to other weights fails the same gate."""
    reference = tmp_path / "model.fp32.onnx"
    reference.write_bytes(classifier_model())
    pixels = np.random.default_rng(2).uniform(0, 255, (64, 3, 16, 16)).astype(np.float32)
    compact = next(v for v in VISION_VARIANTS if v.name == "fp16_weights")

    built = build_variant(compact, reference, tmp_path, pixels)
    assert built.gate.passed, built.gate.failures
    assert built.path.name == "model.fp16_weights.weights"
    assert built.expanded is not None and built.expanded.read_bytes() == expand(
        built.path.read_bytes()
    )
    assert built.gate.metrics["size_ratio"] < 0.45

    def expand_damaged(src: Path, dst: Path) -> None:
        model = onnx.load_from_string(expand(src.read_bytes()))
        for tensor in model.graph.initializer:
            if tensor.name == "head":
                values = numpy_helper.to_array(tensor)
                tensor.CopyFrom(numpy_helper.from_array(values[::-1].copy(), "head"))
        dst.write_bytes(model.SerializeToString())

    damaged = Variant(
        "fp16_weights",
        compact.converter,
        compact.gate,
        "expands to other weights",
        required=False,
        encoding=WireEncoding("fp16", expand_damaged),
    )
    (tmp_path / "damaged").mkdir()
    failed = build_variant(damaged, reference, tmp_path / "damaged", pixels)
    assert not failed.gate.passed
    assert failed.gate.failures[0].startswith("top-1 agreement")
