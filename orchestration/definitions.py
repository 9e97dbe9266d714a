"""The one Definitions of the Edgeline code location."""

from typing import Any

from dagster import AssetsDefinition, Definitions

from assets.deployment.assets import deployment_assets
from assets.sensors.assets import sensor_assets
from assets.telemetry.assets import telemetry_assets
from assets.vision.assets import vision_assets
from orchestration.jobs import (
    publish_job,
    quality_report_jobs,
    retrain_image_classifier,
    retrain_sensor_autoencoder,
    review_shared_images,
    schedules,
    sensor_data_job,
    telemetry_rollup_job,
)
from orchestration.live_versions import approved_in_registry
from orchestration.models import model_catalog_sensor
from orchestration.registry_jobs import channel_rollback, registry_decision, rollout_decision
from orchestration.sensors import drift_retraining_sensor, model_registry_sensor, rollout_sensor
from resources.environment import build_resources, edgeline_env

# Kinds that name an AWS service (how assets declare where their data lives in production), and
# what stands in for each on the local default, so the UI's badges say where data really is.
LOCAL_KINDS = {"s3": "filesystem", "sagemaker": "sqlite", "cloudwatch": "sqlite"}


def kinds_for(assets: list[AssetsDefinition], env: str) -> list[AssetsDefinition]:
    if env == "aws":
        return assets
    return [
        a.map_asset_specs(
            lambda spec: spec.replace_attributes(kinds={LOCAL_KINDS.get(k, k) for k in spec.kinds})
        )
        for a in assets
    ]


def build_definitions(resources: dict[str, Any], env: str | None = None) -> Definitions:
    """Everything Edgeline defines, bound to ``resources`` (tests bind their own), with kinds
    for ``env`` (default: EDGELINE_ENV)."""
    assets = [*vision_assets, *sensor_assets, *deployment_assets, *telemetry_assets]
    return Definitions(
        assets=kinds_for(assets, env or edgeline_env()),
        asset_checks=[approved_in_registry],
        jobs=[
            retrain_image_classifier,
            retrain_sensor_autoencoder,
            sensor_data_job,
            publish_job,
            registry_decision,
            rollout_decision,
            channel_rollback,
            review_shared_images,
            telemetry_rollup_job,
            *quality_report_jobs.values(),
        ],
        schedules=schedules,
        sensors=[
            model_registry_sensor,
            rollout_sensor,
            drift_retraining_sensor,
            model_catalog_sensor,
        ],
        resources=resources,
    )


defs = build_definitions(build_resources())
