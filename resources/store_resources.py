"""The artifact and telemetry stores as Dagster resources.

Each resource is its store (it subclasses it: the same methods, no copy of them) and a
``ConfigurableResource``, so that the store's fields are the config the Dagster UI shows and
assets, sensors and ops ask for it by type. The stores themselves import no Dagster: the
gateway installs without it (``clients/gateway/pyproject.toml``).
"""

from abc import ABC

from dagster import Config, ConfigurableResource
from pydantic import Field

from resources.artifacts import ArtifactStore, LocalArtifactStore, S3ArtifactStore
from resources.aws import AwsSettings
from resources.telemetry import CloudWatchTelemetryStore, SqliteTelemetryStore, TelemetryStore


# nested in every AWS resource (these, the registry, the device jobs): Dagster takes a Config
# there, not a plain pydantic model
class AwsConfig(Config, AwsSettings):
    """Region, endpoint, retries and timeouts of the AWS clients (``AwsSettings`` as config)."""


class ArtifactStoreResource(ConfigurableResource, ArtifactStore, ABC):
    """An ``ArtifactStore`` that assets, sensors and ops are given as a resource."""


class LocalArtifactStoreResource(ArtifactStoreResource, LocalArtifactStore):
    """``LocalArtifactStore`` as a Dagster resource."""


class S3ArtifactStoreResource(ArtifactStoreResource, S3ArtifactStore):
    """``S3ArtifactStore`` as a Dagster resource."""

    aws: AwsConfig = Field(default_factory=AwsConfig)


class TelemetryStoreResource(ConfigurableResource, TelemetryStore, ABC):
    """A ``TelemetryStore`` that assets are given as a resource."""


class SqliteTelemetryStoreResource(TelemetryStoreResource, SqliteTelemetryStore):
    """``SqliteTelemetryStore`` as a Dagster resource."""


class CloudWatchTelemetryStoreResource(TelemetryStoreResource, CloudWatchTelemetryStore):
    """``CloudWatchTelemetryStore`` as a Dagster resource."""

    aws: AwsConfig = Field(default_factory=AwsConfig)


RESOURCE_CLASSES: dict[type, type[ArtifactStoreResource | TelemetryStoreResource]] = {
    LocalArtifactStore: LocalArtifactStoreResource,
    S3ArtifactStore: S3ArtifactStoreResource,
    SqliteTelemetryStore: SqliteTelemetryStoreResource,
    CloudWatchTelemetryStore: CloudWatchTelemetryStoreResource,
}


def as_resource(
    store: ArtifactStore | TelemetryStore,
) -> ArtifactStoreResource | TelemetryStoreResource:
    """The Dagster resource that is ``store``, with its settings."""
    return RESOURCE_CLASSES[type(store)](**store.model_dump())
