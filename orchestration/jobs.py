"""Jobs and schedules: the lifecycle, retraining, sensor recording, telemetry roll-ups, reports."""

import os
from datetime import UTC, date, timedelta
from typing import Any

from dagster import (
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    Definitions,
    DynamicPartitionsDefinition,
    ExecuteInProcessResult,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    schedule,
)

from assets.deployment.assets import published_model
from assets.partitions import image_models, readings_key, sensor_profiles
from assets.sensors.assets import raw_sensor_data
from assets.telemetry.assets import REPORT_MODELS, events_assets, report_assets, report_key
from assets.vision.assets import shared_image_queue
from edgeline_contract.profile import WIND_TURBINE

# training never decides what enters the training set: the review queue is a person's job
vision_selection = AssetSelection.groups("vision") - AssetSelection.assets(shared_image_queue)
sensor_selection = AssetSelection.groups("sensors") - AssetSelection.assets(raw_sensor_data)

retrain_image_classifier = define_asset_job(
    "retrain_image_classifier",
    selection=vision_selection,  # partitioned by image model, as its assets are
    description="Train, export, convert, gate and register one image model (its partition).",
)
retrain_sensor_autoencoder = define_asset_job(
    "retrain_sensor_autoencoder",
    selection=sensor_selection,  # partitioned by sensor profile, as its assets are
    description="Train, export, convert, gate and register one sensor model (its profile's "
    "partition), on that profile's stored days.",
)
sensor_data_job = define_asset_job(
    "sensor_data",
    selection=AssetSelection.assets(raw_sensor_data),
    description="Record a day of a profile's readings, or a range of its days (profile|day "
    "partitions of raw_sensor_data; the built-in wind-turbine fleet is simulated).",
)
# Dagster's run tags for a run over a range of partitions (a single-run backfill's)
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def stretches(days: list[str]) -> list[tuple[str, str]]:
    """The first and last day of each unbroken stretch of consecutive ``days`` (YYYY-MM-DD)."""
    found: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if found and date.fromisoformat(day) - date.fromisoformat(found[-1][1]) == timedelta(1):
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


def record_readings(
    defs: Definitions,
    instance: DagsterInstance,
    profile: str,
    days: list[str],
    run_config: dict[str, Any],
) -> list[ExecuteInProcessResult]:
    """Record ``days`` of ``profile`` (raw_sensor_data) in as few runs as the partitions allow:
    one per unbroken stretch of days, since a run's range of partitions holds every day between
    its ends (a day per run made 14 runs of 14 days). Stops at the first failed run."""
    job = defs.resolve_job_def(sensor_data_job.name)
    results = []
    for first, last in stretches(days):
        start, end = readings_key(profile, first), readings_key(profile, last)
        single = first == last
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            partition_key=start if single else None,
            tags=None if single else dict(zip(RANGE_TAGS, (str(start), str(end)), strict=True)),
            raise_on_error=False,
        )
        results.append(result)
        if not result.success:
            break
    return results


# Light jobs run their steps in the run's own process: the default executor's process per step
# loads the code location again (about 3 s of imports: Dagster, pandas, matplotlib, boto3), which
# added 7 s between an approval and the clients. Training keeps a process per step.
review_shared_images = define_asset_job(
    "review_shared_images",
    selection=AssetSelection.assets(shared_image_queue),
    description="See the images web pages and devices shared, and accept or reject them "
    "(config: accept, reject, label, new_class, reason, by); only accepted ones ever train.",
    executor_def=in_process_executor,
)
publish_job = define_asset_job(
    "publish_model_version",
    selection=[published_model],
    description="Publish one approved model version (partition `<model>@<version>`).",
    executor_def=in_process_executor,
)
telemetry_rollup_job = define_asset_job(
    "telemetry_rollup",
    selection=AssetSelection.assets(*events_assets.values()),
    description="Roll one hour of web and pi telemetry up from the TelemetryStore.",
    executor_def=in_process_executor,
)
quality_report_jobs = {
    kind: define_asset_job(
        f"quality_reports_{kind}",
        selection=AssetSelection.assets(asset),
        description=f"Write one {kind} model's quality report of a day (a model|day partition).",
        executor_def=in_process_executor,
    )
    for kind, asset in report_assets.items()
}


RETRAIN_CRON = os.environ.get("EDGELINE_RETRAIN_CRON", "0 3 * * 1")


def _weekly_retraining(name: str, job, partitions: DynamicPartitionsDefinition, what: str):
    """A schedule that retrains each model of ``partitions`` on its newest data, a run each."""

    @schedule(
        name=name,
        job=job,
        cron_schedule=RETRAIN_CRON,
        execution_timezone="UTC",
        description=f"Retrain every {what} on its newest data, one run each "
        "(EDGELINE_RETRAIN_CRON, default Mondays 03:00 UTC).",
    )
    def weekly(context: ScheduleEvaluationContext) -> list[RunRequest]:
        week = context.scheduled_execution_time.astimezone(UTC).strftime("%Y-%m-%d")
        return [
            RunRequest(run_key=f"weekly:{week}:{key}", partition_key=key)
            for key in context.instance.get_dynamic_partitions(partitions.name)
        ]

    return weekly


weekly_image_retraining = _weekly_retraining(
    "weekly_retraining", retrain_image_classifier, image_models, "declared image model"
)
weekly_sensor_retraining = _weekly_retraining(
    "weekly_sensor_retraining", retrain_sensor_autoencoder, sensor_profiles, "sensor model"
)


@schedule(
    name="sensor_data_schedule",
    job=sensor_data_job,
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    description="Record each ended day of the simulated wind-turbine fleet at 00:15 UTC.",
)
def simulated_sensor_days(context: ScheduleEvaluationContext) -> RunRequest:
    day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).strftime(
        "%Y-%m-%d"
    )
    return RunRequest(
        run_key=f"{sensor_data_job.name}:{WIND_TURBINE.name}:{day}",
        partition_key=readings_key(WIND_TURBINE.name, day),
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


def _daily_reports(client_kind: str, job):
    """At 01:00 UTC, a run per model for the day that ended: each model its own report."""

    @schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule="0 1 * * *",
        execution_timezone="UTC",
        description=f"Write each {client_kind} model's report of the day that ended, at 01:00 UTC.",
        default_status=DefaultScheduleStatus.RUNNING,
    )
    def daily_reports(context: ScheduleEvaluationContext) -> list[RunRequest]:
        day = (context.scheduled_execution_time.astimezone(UTC) - timedelta(days=1)).strftime(
            "%Y-%m-%d"
        )
        models = context.instance.get_dynamic_partitions(REPORT_MODELS[client_kind][1].name)
        return [
            RunRequest(
                run_key=f"{job.name}:{model}:{day}",
                partition_key=report_key(client_kind, model, day),
            )
            for model in models
        ]

    return daily_reports


schedules = [
    _ended(
        timedelta(hours=1),
        "%Y-%m-%d-%H:00",
        telemetry_rollup_job,
        "5 * * * *",
        "Roll up each hour's telemetry at five past the next one.",
    ),
    *(_daily_reports(kind, job) for kind, job in quality_report_jobs.items()),
    weekly_image_retraining,
    weekly_sensor_retraining,
    simulated_sensor_days,
]
