"""Model versions as the registry stores them: variants, metrics, baseline and lineage."""

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster import MetadataValue

from assets.conversion.model_file import ModelFile
from assets.deployment.publish import read_channel
from resources.artifacts import ArtifactStore
from resources.registry import ModelRegistry, ModelVersion

MODEL_CARD_SCHEMA = "edgeline.model-card/1"


def code_version() -> str:
    """The git commit when running from a checkout, else the installed package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return f"git:{commit}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return f"edgeline=={metadata.version('edgeline')}"


def build_model_card(
    model: str,
    description: str,
    task: dict[str, Any],
    variants: list[ModelFile],
    metrics: dict[str, Any],
    baseline: dict[str, Any],
    lineage: dict[str, Any],
) -> dict[str, Any]:
    """The JSON document registered with a version; publication and drift reports read it."""
    return {
        "schema": MODEL_CARD_SCHEMA,
        "model": model,
        "description": description,
        "created": datetime.now(UTC).isoformat(),
        "task": task,
        "variants": [v.as_dict() for v in variants],
        "metrics": metrics,
        "baseline": baseline,
        "lineage": {"code_version": code_version(), **lineage},
    }


def register_model_version(
    registry: ModelRegistry, model: str, description: str, card: dict[str, Any]
) -> ModelVersion:
    """Create the model group if needed and register the card as PendingManualApproval."""
    if not card.get("variants"):
        raise ValueError(f"refusing to register {model}: the model card lists no variants")
    registry.ensure_model(model, description)
    return registry.register_version(model, card)


# metrics where more is better, in the order a person reads them; a drop of more than
# WORSE_BY (one point) counts as worse: smaller differences are a few test examples either way
HIGHER_IS_BETTER = ("test_accuracy", "f1")
WORSE_BY = 0.01


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    candidate: float
    live: float

    @property
    def worse(self) -> bool:
        return self.candidate < self.live - WORSE_BY


def compare_with_live(candidate: dict[str, Any], live: dict[str, Any]) -> list[MetricComparison]:
    """The headline metrics both cards report, candidate against the version clients run now."""
    return [
        MetricComparison(name, float(candidate[name]), float(live[name]))
        for name in HIGHER_IS_BETTER
        if isinstance(candidate.get(name), int | float) and isinstance(live.get(name), int | float)
    ]


def comparison_markdown(comparisons: list[MetricComparison], live_version: int) -> str:
    rows = [
        f"| {c.metric} | {c.candidate:.3f} | {c.live:.3f} | {c.candidate - c.live:+.3f}"
        f"{' (worse)' if c.worse else ''} |"
        for c in comparisons
    ]
    return (
        f"| metric | this version | live v{live_version} | change |\n| --- | --- | --- | --- |\n"
        + "\n".join(rows)
    )


def live_comparison(
    registry: ModelRegistry, store: ArtifactStore, model: str, metrics: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """A new version's headline metrics beside the live version's, as metadata for the person
    who will decide, and a sentence for each metric where it is worse than what clients run."""
    pointer = read_channel(store, model)
    live = pointer.get("version") if pointer else None
    if live is None:
        return {"live_version": "none (nothing published yet)"}, []
    comparisons = compare_with_live(metrics, registry.get_model_card(model, live)["metrics"])
    worse = [
        f"its {c.metric} is {c.candidate:.3f}, the live v{live}'s {c.live:.3f}"
        for c in comparisons
        if c.worse
    ]
    metadata = {
        "live_version": f"v{live}",
        "worse_than_live": bool(worse),
        "compared_with_live": MetadataValue.md(comparison_markdown(comparisons, live)),
    }
    return metadata, worse
