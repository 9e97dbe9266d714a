"""The IO boundaries of Edgeline. Each has a local and an aws implementation behind one interface."""

from resources.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore
from resources.aws import AwsSettings
from resources.devices import DeviceJobs, IotDeviceJobs, PollingDeviceJobs
from resources.registry import (
    ModelRegistry,
    ModelVersion,
    SageMakerModelRegistry,
    SqliteModelRegistry,
)
from resources.telemetry import CloudWatchTelemetryStore, SqliteTelemetryStore, TelemetryStore

__all__ = [
    "ArtifactStore",
    "AwsSettings",
    "CloudWatchTelemetryStore",
    "DeviceJobs",
    "IotDeviceJobs",
    "LocalArtifactStore",
    "ModelRegistry",
    "ModelVersion",
    "PollingDeviceJobs",
    "S3ArtifactStore",
    "SageMakerModelRegistry",
    "SqliteModelRegistry",
    "SqliteTelemetryStore",
    "TelemetryStore",
]
