"""Asset factory shared by the lineages: one gated asset per precision variant."""

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

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
    asset,
)

from assets.conversion.model_file import ModelFile, store_model_file
from assets.conversion.variants import Variant, build_variant
from resources.artifacts import ArtifactStore

# (artifacts, upstream values by asset name) -> (evaluation inputs, calibration inputs)
InputLoader = Callable[[ArtifactStore, dict[str, Any]], tuple[np.ndarray, Any]]


def run_artifact_dir(model_name: str, context: AssetExecutionContext) -> str:
    """Where a run's model files go: immutable, one folder per run."""
    return f"models/{model_name}/{context.run.run_id}"


def build_variant_asset(
    variant: Variant,
    *,
    asset_prefix: str,
    group: str,
    data_inputs: Sequence[str],
    load_inputs: InputLoader,
) -> AssetsDefinition:
    """``<asset_prefix>_<variant>``: converted from ``<asset_prefix>_onnx``, gated against it.

    A required variant's gate is a blocking asset check: when it fails, nothing downstream
    (registration) runs. An optional variant's gate warns, and registration leaves it out.
    """
    name = f"{asset_prefix}_{variant.name}"
    reference_input = f"{asset_prefix}_onnx"
    check_name = f"{variant.name}_gate"

    @asset(
        name=name,
        group_name=group,
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
    def variant_asset(context: AssetExecutionContext, artifacts: ArtifactStore, **inputs: Any):
        reference: ModelFile = inputs[reference_input]["file"]
        eval_inputs, calibration = load_inputs(artifacts, inputs)
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = artifacts.get_file(reference.key, Path(tmp) / "model.fp32.onnx")
            built = build_variant(variant, fp32, Path(tmp), eval_inputs, calibration)
            model_file = store_model_file(
                artifacts,
                built.path,
                f"{PurePosixPath(reference.key).parent}/model.{variant.name}.onnx",  # beside fp32
                variant.name,
                reference.input_spec,
                reference.outputs,
                built.latency,
                {
                    **built.gate.metrics,
                    "passed": built.gate.passed,
                    "failures": list(built.gate.failures),
                    **({"conversion": built.conversion} if built.conversion else {}),
                },
            )
        p50 = {k: v["p50_ms"] for k, v in built.latency.items()}
        yield Output(
            model_file,
            metadata={
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
                    {"conversion": MetadataValue.json(built.conversion)} if built.conversion else {}
                ),
            },
        )
        yield AssetCheckResult(
            check_name=check_name,
            passed=built.gate.passed,
            severity=AssetCheckSeverity.ERROR if variant.required else AssetCheckSeverity.WARN,
            metadata={**built.gate.metrics, "failures": ", ".join(built.gate.failures) or "none"},
        )

    return variant_asset
