"""Precision variants as data: a converter and the gate it must pass against fp32.

Each lineage lists its variants (``Variant``) and the gates that fit its outputs; the asset
code treats them all the same way, so a new target (another precision, another runtime) is
one more entry, not a new special case.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateResult:
    """What a variant's comparison with fp32 measured, and whether it is good enough."""

    passed: bool
    metrics: dict[str, float]
    failures: tuple[str, ...] = ()


# A gate sees fp32's outputs, the variant's outputs (same inputs, same order) and both file sizes.
Gate = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], int, int], GateResult]
# A converter writes ``dst`` from the fp32 file ``src``; calibration inputs may be used or ignored.
Converter = Callable[[Path, Path, np.ndarray], None]


@dataclass(frozen=True)
class Variant:
    """A precision variant. A required one that fails its gate stops the version's registration;
    an optional one is left out of it (and so never published), with the reason on the card."""

    name: str
    converter: Converter
    gate: Gate
    description: str = ""
    required: bool = True


def convert_to_fp16(src: Path, dst: Path, calibration: np.ndarray | None = None) -> None:
    """fp16 weights and arithmetic, fp32 inputs and outputs (onnxconverter-common).

    A graph output that is also consumed inside the graph (an autoencoder's reconstruction that
    feeds its score) breaks the converter's keep_io_types casts, so each output is first given an
    Identity of its own.
    """
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    _isolate_graph_outputs(model)
    converted = float16.convert_float_to_float16(
        model, keep_io_types=True, disable_shape_infer=False
    )
    del converted.graph.value_info[:]  # the converter's inferred shapes: size, not information
    onnx.checker.check_model(converted)
    onnx.save_model(converted, str(dst))


def _isolate_graph_outputs(model: "onnx.ModelProto") -> None:
    import onnx

    consumed = {name for node in model.graph.node for name in node.input}
    for output in model.graph.output:
        if output.name in consumed:
            inner = f"{output.name}__inner"
            for node in model.graph.node:
                node.output[:] = [inner if o == output.name else o for o in node.output]
                node.input[:] = [inner if i == output.name else i for i in node.input]
            model.graph.node.append(
                onnx.helper.make_node("Identity", [inner], [output.name], name=f"{output.name}_out")
            )


def convert_to_int8(src: Path, dst: Path, calibration: np.ndarray) -> None:
    """Static QDQ int8 (per-channel weights) calibrated on training inputs.

    Not ``quantize_dynamic``: it turns convolutions into ConvInteger, 15x slower on this CPU.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class ArrayCalibrationReader(CalibrationDataReader):
        def __init__(self, input_name: str, samples: np.ndarray) -> None:
            self._feeds = iter([{input_name: samples[i : i + 1]} for i in range(len(samples))])

        def get_next(self) -> dict | None:
            return next(self._feeds, None)

    if calibration is None or len(calibration) == 0:
        raise ValueError("int8 conversion needs calibration inputs (a sample of training data)")
    prepared = dst.with_name(dst.stem + ".prep.onnx")
    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    reader = ArrayCalibrationReader(input_name, calibration.astype(np.float32))
    try:
        quantize_static(
            str(prepared),
            str(dst),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv", "Gemm", "MatMul"],
        )
    finally:
        prepared.unlink(missing_ok=True)
    onnx.checker.check_model(onnx.load(str(dst)))


def _size_failures(ratio: float, max_size_ratio: float | None) -> list[str]:
    if max_size_ratio is not None and ratio > max_size_ratio:
        return [f"size ratio {ratio:.3f} > {max_size_ratio}"]
    return []


def classification_gate(
    min_top1_agreement: float,
    max_abs_diff: float | None = None,
    max_size_ratio: float | None = None,
) -> Gate:
    """Compare class probabilities (the first output) with fp32's."""

    def gate(
        reference: Sequence[np.ndarray],
        candidate: Sequence[np.ndarray],
        ref_bytes: int,
        bytes_: int,
    ) -> GateResult:
        agreement = float(np.mean(reference[0].argmax(1) == candidate[0].argmax(1)))
        diff = float(np.abs(reference[0] - candidate[0]).max())
        ratio = bytes_ / ref_bytes
        failures = []
        if agreement < min_top1_agreement:
            failures.append(f"top-1 agreement {agreement:.4f} < {min_top1_agreement}")
        if max_abs_diff is not None and diff > max_abs_diff:
            failures.append(f"max abs probability diff {diff:.3g} > {max_abs_diff}")
        failures += _size_failures(ratio, max_size_ratio)
        metrics = {"top1_agreement": agreement, "max_abs_diff": diff, "size_ratio": ratio}
        return GateResult(not failures, metrics, tuple(failures))

    return gate


@dataclass(frozen=True)
class VariantBuild:
    """A converted file, its gate result and latency."""

    path: Path
    gate: GateResult
    latency: dict[str, dict[str, float]]


def build_variant(
    variant: Variant,
    reference: Path,
    workdir: Path,
    eval_inputs: np.ndarray,
    calibration: np.ndarray | None = None,
) -> VariantBuild:
    """Convert ``reference`` into ``variant``, gate it against fp32 on ``eval_inputs``, time it."""
    from assets.conversion.measure import latency_profile, open_session, run_batches

    target = workdir / f"model.{variant.name}.onnx"
    variant.converter(reference, target, calibration)
    expected = run_batches(open_session(reference), eval_inputs)
    produced = run_batches(open_session(target), eval_inputs)
    gate = variant.gate(expected, produced, reference.stat().st_size, target.stat().st_size)
    log.info("%s gate %s: %s", variant.name, "passed" if gate.passed else "FAILED", gate.metrics)
    return VariantBuild(target, gate, latency_profile(target, eval_inputs))


def anomaly_gate(min_flag_agreement: float, max_size_ratio: float | None = None) -> Gate:
    """Compare an anomaly detector's outputs (reconstruction, error, flag) with fp32's."""

    def gate(
        reference: Sequence[np.ndarray],
        candidate: Sequence[np.ndarray],
        ref_bytes: int,
        bytes_: int,
    ) -> GateResult:
        agreement = float(np.mean(reference[2] == candidate[2]))
        relative = np.abs(candidate[1] - reference[1]) / np.maximum(np.abs(reference[1]), 1e-6)
        ratio = bytes_ / ref_bytes
        failures = []
        if agreement < min_flag_agreement:
            failures.append(f"anomaly-flag agreement {agreement:.4f} < {min_flag_agreement}")
        failures += _size_failures(ratio, max_size_ratio)
        metrics = {
            "flag_agreement": agreement,
            "error_relative_diff_p50": float(np.median(relative)),
            "error_relative_diff_max": float(relative.max()),
            "size_ratio": ratio,
        }
        return GateResult(not failures, metrics, tuple(failures))

    return gate
