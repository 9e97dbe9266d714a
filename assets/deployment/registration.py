"""Model versions as the registry stores them: variants, metrics, baseline and lineage."""

import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from assets.conversion.model_file import ModelFile
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
