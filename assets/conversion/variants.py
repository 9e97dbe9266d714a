"""Precision variants as data: a converter and the gate it must pass against fp32.

Each lineage lists its variants (``Variant``) and the gates that fit its outputs; the asset
code treats them all the same way, so a new target (another precision, another runtime) is
one more entry, not a new special case.
"""

import contextlib
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from assets.conversion.model_file import readable_by_older_runtimes

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateResult:
    """What a variant's comparison with fp32 measured, and whether it is good enough."""

    passed: bool
    metrics: dict[str, float | int]
    failures: tuple[str, ...] = ()


class Gate(Protocol):
    """Sees fp32's outputs, the variant's outputs (same inputs, same order), both file sizes
    and, where the inputs are labelled, their labels."""

    def __call__(
        self,
        reference: Sequence[np.ndarray],
        candidate: Sequence[np.ndarray],
        ref_bytes: int,
        bytes_: int,
        targets: np.ndarray | None = None,
    ) -> GateResult: ...


# A converter writes ``dst`` from the fp32 file ``src``; calibration inputs (an array, or a
# Calibration with inputs to fit and to check) may be used or ignored.
Converter = Callable[[Path, Path, Any], None]


@dataclass(frozen=True)
class WireEncoding:
    """A variant stored as an encoding of the fp32 model for the wire (compact weights): the
    name the manifest gives it, and how to write the model it expands to, which the variant's
    gate judges and its latency times."""

    name: str
    expand: Callable[[Path, Path], None]


@dataclass(frozen=True)
class Variant:
    """A precision variant. A required one that fails its gate stops the version's registration;
    an optional one is left out of it (and so never published), with the reason on the card."""

    name: str
    converter: Converter
    gate: Gate
    description: str = ""
    required: bool = True
    encoding: WireEncoding | None = None

    @property
    def file_name(self) -> str:
        """Its file's name: ``model.<name>.onnx``, or ``.weights`` for an encoding that
        onnxruntime cannot open as it is."""
        return f"model.{self.name}.{'onnx' if self.encoding is None else 'weights'}"


def convert_to_fp16(
    src: Path,
    dst: Path,
    calibration: np.ndarray | None = None,
    *,
    float_processing: bool = False,
) -> None:
    """fp16 weights and arithmetic, fp32 inputs and outputs (onnxconverter-common).

    A graph output that is also consumed inside the graph (an autoencoder's reconstruction that
    feeds its score) breaks the converter's keep_io_types casts, so each output is first given an
    Identity of its own. ``float_processing`` keeps the nodes before the first weight layer and
    after the last one in fp32: a sensor's raw units (2,000 kW, 690 V) lose the small
    variations a detector looks at in fp16's 11-bit mantissa, and so does a reconstruction
    error summed from small differences (in fp16 the turbine model's error moved by up to
    27 %). The weights, the size, are halved all the same.
    """
    import onnx
    from onnxconverter_common import float16

    model = onnx.load(str(src))
    _isolate_graph_outputs(model)
    kept = _pre_and_postprocessing_nodes(model) if float_processing else []
    _unshare_constants(model, set(kept))
    converted = float16.convert_float_to_float16(
        model, keep_io_types=True, disable_shape_infer=False, node_block_list=kept
    )
    del converted.graph.value_info[:]  # the converter's inferred shapes: size, not information
    readable_by_older_runtimes(converted)
    onnx.checker.check_model(converted)
    onnx.save_model(converted, str(dst))


def _pre_and_postprocessing_nodes(model: "onnx.ModelProto") -> list[str]:
    """Every node before the first weight layer or after the last one (ONNX keeps nodes in
    topological order): the scaling on the way in, the error, the threshold and the scaling
    undone on the way out."""
    weight_layers = [
        i for i, node in enumerate(model.graph.node) if node.op_type in ("MatMul", "Gemm", "Conv")
    ]
    if not weight_layers:
        return []
    kept = []
    for index, node in enumerate(model.graph.node):
        if weight_layers[0] <= index <= weight_layers[-1]:
            continue
        node.name = node.name or f"kept_in_fp32_{index}"
        kept.append(node.name)
    return kept


def _unshare_constants(model: "onnx.ModelProto", kept: set[str]) -> None:
    """Give nodes kept in fp32 their own copy of a constant that fp16 nodes use too (the
    exporter shares equal constants: a threshold of 1.0 and GELU's 1.0 are one initializer),
    since one constant cannot be both types."""
    if not kept:
        return
    initializers = {i.name: i for i in model.graph.initializer}
    converted = {name for node in model.graph.node if node.name not in kept for name in node.input}
    for node in model.graph.node:
        if node.name not in kept:
            continue
        for position, name in enumerate(node.input):
            if name in initializers and name in converted:
                private = f"{name}__fp32"
                if private not in initializers:
                    copy = type(initializers[name])()
                    copy.CopyFrom(initializers[name])
                    copy.name = private
                    model.graph.initializer.append(copy)
                    initializers[private] = copy
                node.input[position] = private


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


INT8_TARGET_AGREEMENT = 0.99  # on held-out calibration inputs, before the gate's own test
CALIBRATION_METHODS = ("MinMax", "Entropy", "Percentile")


def _quantize(
    prepared: Path, dst: Path, fit: np.ndarray, method: str, keep_float: list[str]
) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class ArrayCalibrationReader(CalibrationDataReader):
        def __init__(self, input_name: str, samples: np.ndarray) -> None:
            self._feeds = iter([{input_name: samples[i : i + 1]} for i in range(len(samples))])

        def get_next(self) -> dict | None:
            return next(self._feeds, None)

    import onnx

    input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
    printed = io.StringIO()  # the calibrator prints a line per histogram: to the log instead
    with contextlib.redirect_stdout(printed):
        quantize_static(
            str(prepared),
            str(dst),
            ArrayCalibrationReader(input_name, fit),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv", "Gemm", "MatMul"],
            calibrate_method=getattr(CalibrationMethod, method),
            nodes_to_exclude=keep_float,
            extra_options={"CalibMovingAverage": True} if method == "MinMax" else {},
        )
    if printed.getvalue().strip():
        log.debug("int8 calibration (%s): %s", method, " | ".join(printed.getvalue().split("\n")))


@dataclass(frozen=True)
class Calibration:
    """Inputs to fit a quantization on, and others, not fitted on, to choose it by."""

    fit: np.ndarray
    check: np.ndarray


def _float_layer_sets(model: "onnx.ModelProto") -> list[list[str]]:
    """What to leave in float, step by step: nothing; the layers quantization hurts most (the
    first convolution, on raw pixels, and the classifier head, whose errors are the answer);
    then the first three and last two convolutions as well."""
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    heads = [n.name for n in model.graph.node if n.op_type in ("Gemm", "MatMul")][-1:]
    return [[], [*convs[:1], *heads], [*convs[:3], *convs[-2:], *heads]]


def convert_to_int8(src: Path, dst: Path, calibration: "Calibration | np.ndarray") -> None:
    """Static QDQ int8 (per-channel weights) calibrated on training inputs, chosen by measurement.

    Tries onnxruntime's calibration methods (MinMax, Entropy, Percentile) and keeps the one whose
    answers agree best with fp32 on the check inputs (validation images; for a bare array, a
    quarter held out of it), ties going to the smaller mean difference; while none reaches 99 %,
    leaves more of the sensitive layers in float and tries again. The choice is written into the
    file's metadata (``edgeline.int8``). Not ``quantize_dynamic``: it turns convolutions into
    ConvInteger, 15x slower on this CPU.
    """
    import json

    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from assets.conversion.measure import open_session, run_batches

    if not isinstance(calibration, Calibration):
        if calibration is None or len(calibration) < 8:
            raise ValueError("int8 conversion needs calibration inputs (8 or more samples)")
        held_out = max(4, len(calibration) // 4)
        calibration = Calibration(calibration[:-held_out], calibration[-held_out:])
    fit, check = calibration.fit.astype(np.float32), calibration.check.astype(np.float32)
    prepared = dst.with_name(dst.stem + ".prep.onnx")
    quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
    reference = run_batches(open_session(src), check)[0]
    tried: list[tuple[float, float, str, list[str], Path]] = []
    try:
        for keep_float in _float_layer_sets(onnx.load(str(prepared))):
            for method in CALIBRATION_METHODS:
                candidate = dst.with_name(f"{dst.stem}.{method}.{len(keep_float)}.onnx")
                _quantize(prepared, candidate, fit, method, keep_float)
                answer = run_batches(open_session(candidate), check)[0]
                agreement = float(np.mean(answer.argmax(1) == reference.argmax(1)))
                difference = float(np.abs(answer - reference).mean())  # breaks the ties
                log.info(
                    "int8 %s, %d layers in float: agreement %.4f",
                    method,
                    len(keep_float),
                    agreement,
                )
                tried.append((agreement, -difference, method, keep_float, candidate))
            if max(t[0] for t in tried) >= INT8_TARGET_AGREEMENT:
                break
        agreement, _, method, keep_float, best = max(tried, key=lambda t: (t[0], t[1], -len(t[3])))
        model = onnx.load(str(best))
        choice = {
            "calibration": method,
            "float_layers": keep_float,
            "held_out_agreement": agreement,
        }
        onnx.helper.set_model_props(
            model,
            {**{p.key: p.value for p in model.metadata_props}, "edgeline.int8": json.dumps(choice)},
        )
        readable_by_older_runtimes(model)
        onnx.checker.check_model(model)
        onnx.save_model(model, str(dst))
    finally:
        prepared.unlink(missing_ok=True)
        for *_, path in tried:
            path.unlink(missing_ok=True)


def _size_failures(ratio: float, max_size_ratio: float | None) -> list[str]:
    if max_size_ratio is not None and ratio > max_size_ratio:
        return [f"size ratio {ratio:.3f} > {max_size_ratio}"]
    return []


def decision_margins(
    reference: np.ndarray, candidate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per input: fp32's margin of its answer over the class that decides (the variant's answer
    where it differs, else fp32's runner-up), in log-probability (the logits' difference, which
    a softmax neither squashes nor stretches); the variant's margin between the same two
    classes (negative where it flipped); and whether the variant's answer differs."""
    eps = 1e-12  # fp16 softmax may underflow to 0: a log of it is not an error to measure
    log_ref = np.log(np.clip(reference, eps, None))
    log_cand = np.log(np.clip(candidate, eps, None))
    rows = np.arange(len(reference))
    answer, other = reference.argmax(1), candidate.argmax(1)
    flipped = other != answer
    runner_up = np.argsort(-reference, axis=1)[:, 1] if reference.shape[1] > 1 else answer
    rival = np.where(flipped, other, runner_up)
    margin = log_ref[rows, answer] - log_ref[rows, rival]
    return margin, log_cand[rows, answer] - log_cand[rows, rival], flipped


def classification_gate(
    min_top1_agreement: float,
    max_abs_diff: float | None = None,
    max_size_ratio: float | None = None,
    max_tie_margin: float = 0.1,
) -> Gate:
    """Compare class probabilities (the first output) with fp32's.

    A changed answer counts against the variant unless it is a tie on both sides, within the
    variant's numeric error: fp32's margin and the variant's margin the other way (in
    log-probability) both below twice the 90th percentile of how far the variant moved the
    deciding margin on the inputs where both agree, and never above ``max_tie_margin``. Such a
    flip is rounding, on any CPU: it is excused and reported, and agreement is required on the
    rest. A variant that answers another class with confidence is never excused, and a damaged
    one moves margins far beyond the cap, so it still fails. With ``targets`` (labels) the
    accuracy of both on them is reported too.
    """

    def gate(
        reference: Sequence[np.ndarray],
        candidate: Sequence[np.ndarray],
        ref_bytes: int,
        bytes_: int,
        targets: np.ndarray | None = None,
    ) -> GateResult:
        ref, cand = np.asarray(reference[0]), np.asarray(candidate[0])
        margin, variant_margin, flipped = decision_margins(ref, cand)
        agreeing_moves = np.abs(variant_margin - margin)[~flipped]
        error = float(np.percentile(agreeing_moves, 90)) if len(agreeing_moves) else 0.0
        tie_margin = min(2 * error, max_tie_margin)
        near_tie = (margin <= tie_margin) & (np.abs(variant_margin) <= tie_margin)
        rest = ~near_tie
        agreement = float(np.mean(~flipped)) if len(ref) else 1.0
        rest_agreement = float(np.mean(~flipped[rest])) if rest.any() else 1.0
        diff = float(np.abs(ref - cand).max()) if len(ref) else 0.0
        ratio = bytes_ / ref_bytes
        failures = []
        if rest_agreement < min_top1_agreement:
            failures.append(
                f"top-1 agreement {rest_agreement:.4f} < {min_top1_agreement} on the "
                f"{int(rest.sum())} inputs that are not near-ties "
                f"({int((flipped & rest).sum())} answers changed)"
            )
        if max_abs_diff is not None and diff > max_abs_diff:
            failures.append(f"max abs probability diff {diff:.3g} > {max_abs_diff}")
        failures += _size_failures(ratio, max_size_ratio)
        metrics: dict[str, float | int] = {
            "top1_agreement": agreement,
            "top1_agreement_excluding_near_ties": rest_agreement,
            "flips": int(flipped.sum()),
            "near_tie_flips_excused": int((flipped & near_tie).sum()),
            "near_ties": int(near_tie.sum()),
            "tie_margin": tie_margin,
            "margin_error_p90": error,
            "max_abs_diff": diff,
            "size_ratio": ratio,
        }
        if targets is not None and len(targets) == len(ref):
            ref_accuracy = float(np.mean(ref.argmax(1) == targets))
            cand_accuracy = float(np.mean(cand.argmax(1) == targets))
            metrics |= {
                "fp32_accuracy": ref_accuracy,
                "accuracy": cand_accuracy,
                "accuracy_drop": ref_accuracy - cand_accuracy,
            }
        return GateResult(not failures, metrics, tuple(failures))

    return gate


@dataclass(frozen=True)
class VariantBuild:
    """A converted file, its gate result and latency, and what its converter chose."""

    path: Path
    gate: GateResult
    latency: dict[str, dict[str, float]]
    conversion: dict = field(default_factory=dict)
    expanded: Path | None = None  # what an encoded variant's file expands to


def build_variant(
    variant: Variant,
    reference: Path,
    workdir: Path,
    eval_inputs: np.ndarray,
    calibration: "Calibration | np.ndarray | None" = None,
    targets: np.ndarray | None = None,
) -> VariantBuild:
    """Convert ``reference`` into ``variant``, gate it against fp32 on ``eval_inputs`` (labelled
    by ``targets`` where known), time it."""
    from assets.conversion.measure import latency_profile, open_session, run_batches

    target = workdir / variant.file_name
    variant.converter(reference, target, calibration)
    runnable = target
    if variant.encoding is not None:
        runnable = workdir / f"model.{variant.name}.expanded.onnx"
        variant.encoding.expand(target, runnable)
    expected = run_batches(open_session(reference), eval_inputs)
    produced = run_batches(open_session(runnable), eval_inputs)
    gate = variant.gate(
        expected, produced, reference.stat().st_size, target.stat().st_size, targets=targets
    )
    log.info("%s gate %s: %s", variant.name, "passed" if gate.passed else "FAILED", gate.metrics)
    import json

    import onnx

    chosen = {
        p.key.removeprefix("edgeline."): json.loads(p.value)
        for p in onnx.load(str(runnable), load_external_data=False).metadata_props
        if p.key.startswith("edgeline.")
    }
    latency = latency_profile(runnable, eval_inputs)
    return VariantBuild(target, gate, latency, chosen, runnable if runnable != target else None)


def anomaly_agreement(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    threshold: float | None = None,
    tolerance: float = 1e-4,
    floor: float = 1e-3,
) -> dict[str, Any]:
    """How far a detector's (reconstruction, error, flag) outputs moved from the reference's.

    The error's relative difference is asked where it decides something: errors up to twice
    the threshold, relative to the error but not below ``floor`` times the threshold. Far above
    it only the flag must agree (a stuck 2,000 kW reading: its near-zero spread differs in each
    runtime, and the log of it moves an error that is flagged either way). A window whose error
    lies within ``tolerance`` (relative) of the threshold may flip either way. Without
    ``threshold``, it is where the reference's flags place it (the largest unflagged error).
    """
    errors, flags = np.asarray(reference[1]), np.asarray(reference[2])
    if threshold is None:
        unflagged = errors[~flags]
        threshold = float(unflagged.max()) if len(unflagged) else float(errors.min())
    scale = max(threshold, 1e-6)
    relative = np.abs(candidate[1] - errors) / np.maximum(np.abs(errors), floor * scale)
    deciding = errors <= 2 * scale
    near = np.abs(errors - threshold) <= tolerance * scale
    changed = candidate[2] != flags
    return {
        "flag_agreement": float(np.mean(~changed)),
        "flags_changed_away_from_threshold": int((changed & ~near).sum()),
        "windows_at_the_threshold": int(near.sum()),
        "flag_rate": float(flags.mean()),
        "flag_rate_change": float(np.mean(candidate[2]) - flags.mean()),
        "error_relative_diff_max": float(relative[deciding].max()) if deciding.any() else 0.0,
        "error_relative_diff_p50": float(np.median(relative)),
        "error_relative_diff_max_all": float(relative.max()),
    }


def anomaly_gate(
    min_flag_agreement: float,
    max_error_relative_diff: float,
    max_flag_rate_change: float = 0.002,
    error_floor: float = 1.0,
    max_size_ratio: float | None = None,
) -> Gate:
    """Compare an anomaly detector's outputs (reconstruction, error, flag) with fp32's: flags
    that agree, errors that moved little where they decide a flag, and a flag rate the
    variant's rounding does not shift (the threshold's effect). An error below ``error_floor``
    times the threshold counts by its change against the threshold, not against itself: how
    far it moved towards the decision, since fp16's rounding is a large share of a small error
    that decides nothing (the turbine's fp16 moved normal windows' errors by up to 22 % of
    themselves, at most 14 % of the threshold, and changed no flag)."""

    def gate(
        reference: Sequence[np.ndarray],
        candidate: Sequence[np.ndarray],
        ref_bytes: int,
        bytes_: int,
        targets: np.ndarray | None = None,  # flags are judged against fp32's, not labels
    ) -> GateResult:
        # a window whose error lies within the allowed move of the threshold may flip
        metrics = anomaly_agreement(
            reference, candidate, tolerance=max_error_relative_diff, floor=error_floor
        )
        metrics["size_ratio"] = bytes_ / ref_bytes
        windows = len(reference[2])
        flips = round((1 - metrics["flag_agreement"]) * windows)
        allowed_flips = max(1, int((1 - min_flag_agreement) * windows))  # 1 on a small set
        failures = []
        if metrics["flags_changed_away_from_threshold"]:
            failures.append(
                f"{metrics['flags_changed_away_from_threshold']} anomaly flags changed on windows "
                "whose error is not near the threshold"
            )
        if flips > allowed_flips:
            failures.append(
                f"anomaly-flag agreement {metrics['flag_agreement']:.4f} < {min_flag_agreement} "
                f"({flips} of {windows} flags changed)"
            )
        if metrics["error_relative_diff_max"] > max_error_relative_diff:
            failures.append(
                f"error relative diff {metrics['error_relative_diff_max']:.4f} > "
                f"{max_error_relative_diff} (errors up to twice the threshold)"
            )
        if abs(metrics["flag_rate_change"]) * windows > max(
            max_flag_rate_change * windows, allowed_flips
        ):
            failures.append(
                f"flag rate moved by {metrics['flag_rate_change']:+.4f} (at most "
                f"{max_flag_rate_change})"
            )
        failures += _size_failures(metrics["size_ratio"], max_size_ratio)
        return GateResult(not failures, metrics, tuple(failures))

    return gate
