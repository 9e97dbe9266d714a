"""Jobs and schedules: the lifecycle, retraining, sensor recording, telemetry roll-ups, reports."""

import os
from datetime import UTC, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    build_schedule_from_partitioned_job,
    define_asset_job,
    schedule,
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


def _ended(window: timedelta, key_format: str, job, cron: str, description: str):
    """A schedule that runs ``job`` for the hour or day that ended before the tick (the
    partitions also hold the one in progress, which a schedule must not pick)."""

    @schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        description=description,
        default_status=DefaultScheduleStatus.RUNNING,  # reports appear without anyone's help
    )
    def ended_schedule(context: ScheduleEvaluationContext) -> RunRequest:
        start = context.scheduled_execution_time.astimezone(UTC) - window
        key = start.strftime(key_format)
        return RunRequest(run_key=f"{job.name}:{key}", partition_key=key)

    return ended_schedule


schedules = [
    build_schedule_from_partitioned_job(sensor_data_job, hour_of_day=0, minute_of_hour=15),
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
