"""Asset factory shared by the lineages: register a new model version from a lineage's outputs."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)

from assets.conversion.model_file import ModelFile
from assets.conversion.variants import Variant
from assets.conversion.verdicts import RegistrationRefusedError, gated_files
from assets.deployment.registration import (
    build_model_card,
    live_comparison,
    register_model_version,
)
from assets.metadata import rounded
from resources.artifacts import ArtifactStore
from resources.registry import ModelRegistry
from resources.store_resources import ArtifactStoreResource

# (artifacts, upstream values, the variants registered) -> metrics per variant's precision
VariantEvaluation = Callable[[ArtifactStore, dict[str, Any], list[ModelFile]], dict[str, Any]]


@dataclass(frozen=True)
class RegistrationFacts:
    """What a lineage says about the version it registers (the rest is common)."""

    model: str
    description: str
    task: dict[str, Any]
    metrics: dict[str, Any]
    data_version: str
    weights_key: str
    headline: dict[str, float] = field(default_factory=dict)  # extra metadata for the UI


def build_registration_asset(
    *,
    name: str,
    group: str,
    partitions_def: PartitionsDefinition | None = None,
    asset_prefix: str,
    variants: Sequence[Variant],
    inputs: Sequence[str],
    facts: Callable[[dict[str, Any]], RegistrationFacts],
    description: str,
    evaluate_variants: VariantEvaluation | None = None,
) -> AssetsDefinition:
    """``name``: fp32 from ``<asset_prefix>_onnx`` plus each gated variant, registered as
    PendingManualApproval with metrics, baseline and lineage. In the run that holds the gates,
    a failed blocking gate stops it before it starts; in any run, it registers only files with
    a passing verdict for their exact bytes (``gated_files``), and refuses, naming the gate and
    the run, when fp32 or a required variant has none."""
    variant_inputs = [f"{asset_prefix}_{v.name}" for v in variants]
    required = {v.name: v.required for v in variants}

    @asset(
        name=name,
        group_name=group,
        partitions_def=partitions_def,
        kinds={"sagemaker"},
        ins={n: AssetIn() for n in (*inputs, f"{asset_prefix}_onnx", *variant_inputs)},
        description=description,
    )
    def registration_asset(
        context: AssetExecutionContext,
        registry: ModelRegistry,
        artifacts: ArtifactStoreResource,
        **upstream: Any,
    ) -> Output[dict[str, Any]]:
        exported = upstream[f"{asset_prefix}_onnx"]
        converted: list[ModelFile] = [upstream[n] for n in variant_inputs]
        known = facts(upstream)
        model_name = known.model
        if exported.get("weights_key") != known.weights_key:  # the card would describe others
            raise RegistrationRefusedError(
                f"refusing to register {model_name}: its fp32 file was exported from "
                f"{exported.get('weights_key')}, not from the trained weights the card would "
                f"describe ({known.weights_key}): materialise {asset_prefix}_onnx again"
            )
        gated = gated_files(
            artifacts,
            model_name,
            exported["file"],
            [(v, required[v.precision]) for v in converted],
        )
        left_out, files = gated.left_out, gated.files
        for precision, why in left_out.items():
            context.log.warning("%s left out of the version: %s", precision, why)
        card = build_model_card(
            model_name,
            known.description,
            task=known.task,
            variants=files,
            metrics=known.metrics,
            baseline=exported["baseline"],
            lineage={
                "run_id": context.run.run_id,
                "data_version": known.data_version,
                "weights_key": known.weights_key,
                "gates_passed_in_runs": gated.judged_in,
            },
        )
        card["variants_left_out"] = left_out
        if evaluate_variants is not None:  # what each variant costs, class by class
            card["variant_metrics"] = evaluate_variants(artifacts, upstream, files)
        version = register_model_version(registry, model_name, known.description, card)
        context.log.info("registered %s v%d (%s)", model_name, version.version, version.status)
        against_live, worse = live_comparison(registry, artifacts, model_name, known.metrics)
        for line in worse:
            context.log.warning("%s: %s; look before approving", model_name, line)
        table = "\n".join(
            f"| {v.precision} | {v.bytes / 1e6:.3f} MB | {v.latency['threads_1']['p50_ms']:.3f} ms | "
            f"{v.latency['threads_2']['p50_ms']:.3f} ms |"
            for v in files
        )
        return Output(
            {"model": model_name, "version": version.version, "status": version.status},
            metadata=rounded(
                {
                    "model": model_name,
                    "version": version.version,
                    "status": version.status,
                    "data_version": known.data_version,
                    **known.headline,
                    "variants_left_out": MetadataValue.json(left_out),
                    **(
                        {
                            f"{precision}_test_accuracy": m["accuracy"]
                            for precision, m in card.get("variant_metrics", {}).items()
                        }
                    ),
                    "variants": MetadataValue.md(
                        "| precision | size | p50 1 thread | p50 2 threads |\n| --- | --- | --- | --- |\n"
                        + table
                    ),
                    **against_live,
                }
            ),
        )

    return registration_asset
