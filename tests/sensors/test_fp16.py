"""The sensor model's fp16 variant keeps its scaling, error and threshold in fp32."""

import numpy as np
import onnx
import onnxruntime as ort
import torch

from assets.conversion.export import export_onnx
from assets.conversion.model_file import TensorSpec
from assets.conversion.variants import convert_to_fp16
from assets.sensors.model import AnomalyDetector


def test_a_threshold_equal_to_a_gelu_constant_still_converts(tmp_path):
    """The exporter shares equal constants: a threshold of exactly 1.0 is GELU's 1.0 too."""
    torch.manual_seed(0)
    model = AnomalyDetector(window=5, signals=3)
    model.features.fit(torch.rand(64, 15) * 100)
    model.threshold.fill_(1.0)
    spec = TensorSpec("window", (None, 15), "float32")
    fp32 = export_onnx(
        model, torch.rand(1, 15), tmp_path / "m.onnx", spec, ["r", "error", "anomaly"]
    )
    fp16 = tmp_path / "m.fp16.onnx"
    convert_to_fp16(fp32, fp16, float_processing=True)
    inputs = {"window": (np.random.default_rng(0).random((32, 15)) * 100).astype(np.float32)}
    reference = ort.InferenceSession(str(fp32)).run(None, inputs)
    converted = ort.InferenceSession(str(fp16)).run(None, inputs)
    assert np.array_equal(reference[2], converted[2])
    assert np.allclose(reference[1], converted[1], rtol=0.05, atol=0.05)
    graph = onnx.load(str(fp16)).graph
    kinds = {i.name: i.data_type for i in graph.initializer}
    assert kinds["threshold__fp32"] == onnx.TensorProto.FLOAT  # its own fp32 copy
    assert onnx.TensorProto.FLOAT16 in kinds.values()  # the weights
