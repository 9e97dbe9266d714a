"""The IO boundaries of Edgeline. Each has a local and an aws implementation behind one interface.

The artifact and telemetry stores (``artifacts``, ``telemetry``, ``aws``) import no Dagster, so
that the gateway installs without it; the registry, the device jobs and the stores' Dagster
resources (``store_resources``) import it. So each name below is imported when it is first
asked for (``from resources import SqliteModelRegistry``), and ``import resources.layout``
imports neither.
"""

import importlib
from typing import Any

MODULE_OF = {
    "ArtifactStore": "resources.artifacts",
    "AwsSettings": "resources.aws",
    "CloudWatchTelemetryStore": "resources.telemetry",
    "DeviceJobs": "resources.devices",
    "IotDeviceJobs": "resources.devices",
    "LocalArtifactStore": "resources.artifacts",
    "ModelRegistry": "resources.registry",
    "ModelVersion": "resources.registry",
    "PollingDeviceJobs": "resources.devices",
    "S3ArtifactStore": "resources.artifacts",
    "SageMakerModelRegistry": "resources.registry",
    "SqliteModelRegistry": "resources.registry",
    "SqliteTelemetryStore": "resources.telemetry",
    "TelemetryStore": "resources.telemetry",
}

__all__ = sorted(MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in MODULE_OF:
        raise AttributeError(f"module 'resources' has no attribute {name!r}")
    return getattr(importlib.import_module(MODULE_OF[name]), name)
