"""Deployment: published model versions (one dynamic partition per approved version)."""

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    DynamicPartitionsDefinition,
    MetadataValue,
    Output,
    asset,
)

from assets.deployment.planning import parse_partition_key
from assets.deployment.publish import iot_job_document, publish_model_version
from assets.metadata import rounded
from assets.sensors.assets import registered_sensor_autoencoder
from assets.vision.assets import registered_image_classifier
from resources.devices import DeviceJobs
from resources.registry import ModelRegistry
from resources.store_resources import ArtifactStoreResource

model_versions = DynamicPartitionsDefinition(name="model_versions")


@asset(
    group_name="deployment",
    kinds={"s3", "json"},
    partitions_def=model_versions,
    # a version of any model's registration (a model's versions are `<model>@<n>` partitions)
    deps=[
        AssetDep(registered, partition_mapping=AllPartitionMapping())
        for registered in (registered_image_classifier, registered_sensor_autoencoder)
    ],
    description=(
        "An approved model version published for the clients: every variant copied to "
        "`deploy/<model>/<version>/` and checked against the registered sha256, the manifest and "
        "the device job written, and only then the stable channel pointer moved. "
        "Partition `<model>@<version>`; publishing again is a no-op."
    ),
)
def published_model(
    context: AssetExecutionContext,
    artifacts: ArtifactStoreResource,
    registry: ModelRegistry,
    device_jobs: DeviceJobs,
) -> Output[dict]:
    model, version = parse_partition_key(context.partition_key)
    result = publish_model_version(artifacts, registry, model, version)
    manifest = artifacts.get_json(result.manifest_key)
    announced = "not a device model"
    if "pi" in manifest["recommended"]:
        announced = device_jobs.announce(
            model, version, iot_job_document(manifest, result.manifest_key)
        )
    moved = f"{result.channel_from} -> {result.channel_to}"
    context.log.info(
        "%s v%d: %d files written, stable channel %s, devices: %s",
        model,
        version,
        len(result.copied),
        moved,
        announced,
    )
    return Output(
        {"model": model, "version": version, "manifest_key": result.manifest_key},
        metadata=rounded(
            {
                "model": model,
                "version": version,
                "manifest_key": result.manifest_key,
                "channel_endpoint": f"/v1/models/{model}/channels/stable",  # on any gateway
                "files_written": len(result.copied),
                "already_published": not result.copied,
                "stable_channel": moved,
                "recommended": MetadataValue.json(manifest["recommended"]),
                "device_jobs": announced,
            }
        ),
    )


deployment_assets = [published_model]
