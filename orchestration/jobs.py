"""Jobs and schedules: the lifecycle, retraining, sensor recording, telemetry roll-ups, reports."""

import os

from dagster import (
    AssetSelection,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from assets.telemetry.assets import events_assets, report_assets
from assets.turbine.assets import raw_sensor_data

vision_selection = AssetSelection.groups("vision")
turbine_selection = AssetSelection.groups("turbine") - AssetSelection.assets(raw_sensor_data)

lifecycle_job = define_asset_job(
    "lifecycle",
    selection=vision_selection | turbine_selection,
    description="Train, export, convert, validate and register every model: the demo's main job.",
)
retrain_image_classifier = define_asset_job(
    "retrain_image_classifier",
    selection=vision_selection,
    description="Retrain and register the image classifier.",
)
retrain_turbine_autoencoder = define_asset_job(
    "retrain_turbine_autoencoder",
    selection=turbine_selection,
    description="Retrain and register the turbine model.",
)
sensor_data_job = define_asset_job(
    "sensor_data",
    selection=AssetSelection.assets(raw_sensor_data),
    description="Record one day of turbine readings (a daily partition of raw_sensor_data).",
)
telemetry_rollup_job = define_asset_job(
    "telemetry_rollup",
    selection=AssetSelection.assets(*events_assets.values()),
    description="Roll one hour of web and pi telemetry up from the TelemetryStore.",
)
quality_report_job = define_asset_job(
    "quality_reports",
    selection=AssetSelection.assets(*report_assets.values()),
    description="Write the day's web and pi quality reports.",
)

schedules = [
    build_schedule_from_partitioned_job(sensor_data_job, hour_of_day=0, minute_of_hour=15),
    build_schedule_from_partitioned_job(telemetry_rollup_job, minute_of_hour=5),
    build_schedule_from_partitioned_job(quality_report_job, hour_of_day=1, minute_of_hour=0),
    ScheduleDefinition(
        name="weekly_retraining",
        job=lifecycle_job,
        cron_schedule=os.environ.get("EDGELINE_RETRAIN_CRON", "0 3 * * 1"),
        execution_timezone="UTC",
        description="Retrain both models on the newest data (EDGELINE_RETRAIN_CRON, default Mondays 03:00 UTC).",
    ),
]

# The demo's settings: small images and a narrow network so that the whole lifecycle, training
# from scratch on the synthetic shapes, runs in a few minutes on 2 CPU cores.
DEMO_SENSOR_DAYS = 14
DEMO_RUN_CONFIG = {
    "loggers": {"console": {"config": {"log_level": "INFO"}}},
    "ops": {
        "raw_images": {"config": {"demo_images_per_class": 400, "demo_image_size": 96}},
        "image_classifier": {
            "config": {
                "image_size": 64,
                "width_mult": 0.5,
                "epochs": 25,
                "batch_size": 32,
                "learning_rate": 0.003,
                "patience": 8,
            }
        },
    },
}
