"""Jobs and schedules: the lifecycle, retraining, sensor recording, telemetry roll-ups, reports."""

import os
from datetime import UTC, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    define_asset_job,
    schedule,
)

from assets.deployment.assets import published_model
from assets.sensors.assets import raw_sensor_data
from assets.telemetry.assets import events_assets, report_assets
from assets.vision.assets import shared_image_queue

# training never decides what enters the training set: the review queue is a person's job
vision_selection = AssetSelection.groups("vision") - AssetSelection.assets(shared_image_queue)
sensor_selection = AssetSelection.groups("sensors") - AssetSelection.assets(raw_sensor_data)

lifecycle_job = define_asset_job(
    "lifecycle",
    selection=vision_selection | sensor_selection,
    description="Train, export, convert, validate and register every model: the demo's main job.",
)
retrain_image_classifier = define_asset_job(
    "retrain_image_classifier",
    selection=vision_selection,
    description="Retrain and register the image classifier.",
)
retrain_sensor_autoencoder = define_asset_job(
    "retrain_sensor_autoencoder",
    selection=sensor_selection,
    description="Retrain and register the sensor autoencoder (the wind-turbine profile unless configured).",
)
sensor_data_job = define_asset_job(
    "sensor_data",
    selection=AssetSelection.assets(raw_sensor_data),
    description="Record one day of sensor readings (a daily partition of raw_sensor_data; the simulated wind-turbine fleet by default).",
)
review_shared_images = define_asset_job(
    "review_shared_images",
    selection=AssetSelection.assets(shared_image_queue),
    description="See the images web pages and devices shared, and accept or reject them "
    "(config: accept, reject, label, new_class, reason, by); only accepted ones ever train.",
)
publish_job = define_asset_job(
    "publish_model_version",
    selection=[published_model],
    description="Publish one approved model version (partition `<model>@<version>`).",
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


def _ended(
    window: timedelta, key_format: str, job, cron: str, description: str, running: bool = True
):
    """A schedule that runs ``job`` for the hour or day that ended before the tick (the
    partitions also hold the one in progress, which a schedule must not pick)."""

    @schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        description=description,
        # reports appear without anyone's help; recording simulated readings is asked for
        default_status=DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED,
    )
    def ended_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        start = context.scheduled_execution_time.astimezone(UTC) - window
        key = start.strftime(key_format)
        return RunRequest(run_key=f"{job.name}:{key}", partition_key=key)

    return ended_schedule


schedules = [
    _ended(
        timedelta(days=1),
        "%Y-%m-%d",
        sensor_data_job,
        "15 0 * * *",
        "Record each day's sensor readings (the simulated fleet's by default) at 00:15 UTC.",
        running=False,
    ),
    _ended(
        timedelta(hours=1),
        "%Y-%m-%d-%H:00",
        telemetry_rollup_job,
        "5 * * * *",
        "Roll up each hour's telemetry at five past the next one.",
    ),
    _ended(
        timedelta(days=1),
        "%Y-%m-%d",
        quality_report_job,
        "0 1 * * *",
        "Write each day's quality reports at 01:00 UTC the next day.",
    ),
    ScheduleDefinition(
        name="weekly_retraining",
        job=lifecycle_job,
        cron_schedule=os.environ.get("EDGELINE_RETRAIN_CRON", "0 3 * * 1"),
        execution_timezone="UTC",
        description="Retrain both models on the newest data (EDGELINE_RETRAIN_CRON, default Mondays 03:00 UTC).",
    ),
]
