"""Asset factory shared by the lineages: one gated asset per precision variant."""

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from assets.conversion.model_file import ModelFile, TensorSpec, store_model_file
from assets.conversion.variants import Variant, build_variant
from assets.conversion.verdicts import PARITY_CHECK, gate_check, record_verdict
from assets.metadata import rounded
from resources import layout
from resources.artifacts import ArtifactStore, sha256_file
from resources.store_resources import ArtifactStoreResource

if TYPE_CHECKING:
    import torch

PARITY_TOLERANCE = 1e-4  # how far an fp32 ONNX file may differ from the PyTorch module it is


@dataclass(frozen=True)
class GateInputs:
    """What a variant is judged on: held-out inputs, their labels where known, and what its
    converter may calibrate with."""

    inputs: np.ndarray
    targets: np.ndarray | None = None
    calibration: Any = None


# (artifacts, upstream values by asset name) -> what the variant's gate runs on
InputLoader = Callable[[ArtifactStore, dict[str, Any]], GateInputs]


@dataclass(frozen=True)
class Parity:
    passed: bool
    metrics: dict[str, Any]
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportPlan:
    """What a lineage says about its fp32 export; exporting, comparing, timing and storing are
    common (``build_export_asset``)."""

    model_name: str
    module: "torch.nn.Module"  # loaded, in eval mode
    example: np.ndarray  # one input, for tracing
    input: TensorSpec
    outputs: tuple[str, ...]
    onnx_metadata: dict[str, str]
    test_inputs: np.ndarray  # parity and latency are measured on these
    baseline_inputs: np.ndarray  # the validation inputs whose outputs become the drift baseline
    reference: Callable[[np.ndarray], list[np.ndarray]]  # the module's outputs, as numpy
    parity: Callable[[list[np.ndarray], list[np.ndarray]], Parity]  # (PyTorch, ONNX) -> gate
    baseline: Callable[[list[np.ndarray]], dict[str, Any]]
    weights_key: str  # the trained weights exported (registration checks the card names them)
    batch_size: int = 64  # inputs per onnxruntime call (small windows: thousands)


# (artifacts, upstream values by asset name) -> the plan
ExportPlanner = Callable[[ArtifactStore, dict[str, Any]], ExportPlan]


def build_export_asset(
    *,
    name: str,
    group: str,
    partitions_def: PartitionsDefinition | None = None,
    inputs: Sequence[str],
    plan: ExportPlanner,
    parity_description: str,
    description: str,
) -> AssetsDefinition:
    """``name``: the lineage's module as one fp32 ONNX file, with a blocking ``pytorch_parity``
    check (the file computes what PyTorch computes), latency measured, and the validation
    outputs kept as the baseline that drift reports compare telemetry with."""

    @asset(
        name=name,
        group_name=group,
        partitions_def=partitions_def,
        kinds={"pytorch", "onnx"},
        ins={n: AssetIn() for n in inputs},
        check_specs=[
            AssetCheckSpec(PARITY_CHECK, asset=name, blocking=True, description=parity_description)
        ],
        description=description,
    )
    def export_asset(
        context: AssetExecutionContext, artifacts: ArtifactStoreResource, **upstream: Any
    ):
        import torch

        from assets.conversion.export import export_onnx
        from assets.conversion.measure import latency_profile, open_session, run_batches

        exported = plan(artifacts, upstream)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(
                exported.module,
                torch.from_numpy(exported.example),
                Path(tmp) / "model.fp32.onnx",
                exported.input,
                list(exported.outputs),
                metadata=exported.onnx_metadata,
            )
            session = open_session(path)
            with torch.no_grad():
                parity = exported.parity(
                    exported.reference(exported.test_inputs),
                    run_batches(session, exported.test_inputs, exported.batch_size),
                )
            baseline = exported.baseline(
                run_batches(session, exported.baseline_inputs, exported.batch_size)
            )
            latency = latency_profile(path, exported.test_inputs)
            model_file = store_model_file(
                artifacts,
                path,
                key=layout.run_onnx(exported.model_name, context.run.run_id, "fp32"),
                precision="fp32",
                input_spec=exported.input.as_dict(),
                outputs=exported.outputs,
                latency=latency,
                gate={**parity.metrics, "passed": parity.passed},
            )
        verdict = record_verdict(
            artifacts,
            exported.model_name,
            PARITY_CHECK,
            model_file,
            parity.passed,
            context.run.run_id,
            parity.metrics,
            parity.failures,
        )
        context.log.info("fp32 ONNX: parity %s, latency %s", parity.metrics, latency)
        yield Output(
            {"file": model_file, "baseline": baseline, "weights_key": exported.weights_key},
            metadata=rounded(
                {
                    "key": model_file.key,
                    "bytes": model_file.bytes,
                    "sha256": model_file.sha256,
                    **parity.metrics,
                    "p50_ms_1_thread": latency["threads_1"]["p50_ms"],
                    "p50_ms_2_threads": latency["threads_2"]["p50_ms"],
                    "latency": MetadataValue.json(latency),
                    "input": MetadataValue.json(exported.input.as_dict()),
                }
            ),
        )
        yield AssetCheckResult(
            check_name=PARITY_CHECK,
            passed=parity.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                **parity.metrics,
                "test_inputs": len(exported.test_inputs),
                "failures": ", ".join(parity.failures) or "none",
                "judged_sha256": verdict.sha256,
            },
        )

    return export_asset


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{key}": value for key, value in values.items()}


def build_variant_asset(
    variant: Variant,
    *,
    asset_prefix: str,
    group: str,
    partitions_def: PartitionsDefinition | None = None,
    data_inputs: Sequence[str],
    load_inputs: InputLoader,
) -> AssetsDefinition:
    """``<asset_prefix>_<variant>``: converted from ``<asset_prefix>_onnx``, gated against it.

    A required variant's gate is a blocking asset check: when it fails, nothing downstream
    (registration) runs. An optional variant's gate warns, and registration leaves it out.
    """
    name = f"{asset_prefix}_{variant.name}"
    reference_input = f"{asset_prefix}_onnx"
    check_name = gate_check(variant.name)

    @asset(
        name=name,
        group_name=group,
        partitions_def=partitions_def,
        kinds={"onnx"},
        ins={reference_input: AssetIn(), **{n: AssetIn() for n in data_inputs}},
        check_specs=[
            AssetCheckSpec(
                check_name,
                asset=name,
                blocking=variant.required,
                description=variant.description
                + ("" if variant.required else " Optional: a version without it is registered."),
            )
        ],
        description=f"{variant.description} Gated against fp32 on held-out data.",
    )
    def variant_asset(
        context: AssetExecutionContext, artifacts: ArtifactStoreResource, **inputs: Any
    ):
        reference: ModelFile = inputs[reference_input]["file"]
        model, _ = layout.parse_model_run(reference.key)
        judged_on = load_inputs(artifacts, inputs)
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = artifacts.get_file(reference.key, Path(tmp) / "model.fp32.onnx")
            built = build_variant(
                variant,
                fp32,
                Path(tmp),
                judged_on.inputs,
                judged_on.calibration,
                judged_on.targets,
            )
            model_file = store_model_file(
                artifacts,
                built.path,
                key=layout.run_model_file(model, context.run.run_id, variant.file_name),  # its run
                precision=variant.name,
                input_spec=reference.input_spec,
                outputs=reference.outputs,
                latency=built.latency,
                gate={
                    **built.gate.metrics,
                    "passed": built.gate.passed,
                    "failures": list(built.gate.failures),
                    **({"conversion": built.conversion} if built.conversion else {}),
                },
                expands_to=(
                    {
                        "precision": reference.precision,
                        "encoding": variant.encoding.name,
                        "sha256": sha256_file(built.expanded),
                        "bytes": built.expanded.stat().st_size,
                    }
                    if variant.encoding is not None and built.expanded is not None
                    else None
                ),
            )
        verdict = record_verdict(
            artifacts,
            model,
            check_name,
            model_file,
            built.gate.passed,
            context.run.run_id,
            # compact weights: the gate ran the model they expand to, named by its sha256
            {**built.gate.metrics, **_prefixed("expanded", model_file.expands_to)},
            built.gate.failures,
            reference=reference,
        )
        p50 = {k: v["p50_ms"] for k, v in built.latency.items()}
        yield Output(
            model_file,
            metadata=rounded(
                {
                    "key": model_file.key,
                    "bytes": model_file.bytes,
                    "size_ratio_vs_fp32": round(model_file.bytes / reference.bytes, 4),
                    "p50_ms_1_thread": p50["threads_1"],
                    "p50_ms_2_threads": p50["threads_2"],
                    "p50_ratio_vs_fp32_1_thread": round(
                        p50["threads_1"] / reference.latency["threads_1"]["p50_ms"], 3
                    ),
                    "latency": MetadataValue.json(built.latency),
                    **built.gate.metrics,
                    **(
                        {"conversion": MetadataValue.json(built.conversion)}
                        if built.conversion
                        else {}
                    ),
                }
            ),
        )
        yield AssetCheckResult(
            check_name=check_name,
            passed=built.gate.passed,
            severity=AssetCheckSeverity.ERROR if variant.required else AssetCheckSeverity.WARN,
            metadata={
                **built.gate.metrics,
                "failures": ", ".join(built.gate.failures) or "none",
                "judged_on": len(judged_on.inputs),
                "judged_sha256": verdict.sha256,
                "fp32_sha256": reference.sha256,
                **_prefixed("expanded", model_file.expands_to),
            },
        )

    return variant_asset
