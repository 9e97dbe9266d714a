"""The one Definitions of the Edgeline code location."""

from typing import Any

from dagster import Definitions

from assets.deployment.assets import deployment_assets
from assets.sensors.assets import sensor_assets
from assets.telemetry.assets import telemetry_assets
from assets.vision.assets import vision_assets
from orchestration.environment import build_resources
from orchestration.jobs import (
    lifecycle_job,
    quality_report_job,
    retrain_image_classifier,
    retrain_sensor_autoencoder,
    schedules,
    sensor_data_job,
    telemetry_rollup_job,
)
from orchestration.registry_jobs import channel_rollback, registry_decision
from orchestration.sensors import drift_retraining_sensor, model_registry_sensor, publish_job


def build_definitions(resources: dict[str, Any]) -> Definitions:
    """Everything Edgeline defines, bound to ``resources`` (tests bind their own)."""
    return Definitions(
        assets=[*vision_assets, *sensor_assets, *deployment_assets, *telemetry_assets],
        jobs=[
            lifecycle_job,
            retrain_image_classifier,
            retrain_sensor_autoencoder,
            sensor_data_job,
            publish_job,
            registry_decision,
            channel_rollback,
            telemetry_rollup_job,
            quality_report_job,
        ],
        schedules=schedules,
        sensors=[model_registry_sensor, drift_retraining_sensor],
        resources=resources,
    )


defs = build_definitions(build_resources())
