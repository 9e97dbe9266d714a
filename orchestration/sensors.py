"""Sensors: publish each approved version once and roll back revoked ones; retrain on drift."""

import json
import os

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    build_sensor_context,
    sensor,
)

from assets.catalog import SINGLE_IMAGE_MODEL
from assets.deployment.assets import model_versions
from assets.deployment.canary import guard_rollout
from assets.deployment.planning import DeploymentCursor, partition_key, plan_deployments
from assets.sensors.data import profile_for_model
from edgeline_contract.profile import WIND_TURBINE
from orchestration.jobs import publish_job, retrain_image_classifier, retrain_sensor_autoencoder
from orchestration.live_versions import (
    live_version_events,
    record_live_versions,
    report_events,
    rollout_observation,
)
from orchestration.registry_jobs import channel_rollback
from resources import layout
from resources.artifacts import ArtifactStore
from resources.environment import rollout_interval_s, sensor_interval_s
from resources.registry import ModelRegistry
from resources.store_resources import ArtifactStoreResource, TelemetryStoreResource


@sensor(
    jobs=[publish_job, channel_rollback],
    minimum_interval_seconds=sensor_interval_s(),
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Polls the model registry: each newly approved version gets a partition and exactly one "
        "publish run; a revoked version that the stable channel names gets a rollback run; "
        "every decision and channel move is recorded on the registered and published assets."
    ),
)
def model_registry_sensor(
    context: SensorEvaluationContext, registry: ModelRegistry, artifacts: ArtifactStoreResource
) -> SensorResult:
    plan = plan_deployments(registry, artifacts, DeploymentCursor.parse(context.cursor))
    keys = [partition_key(model, version) for model, version in plan.publish]
    requests = [
        RunRequest(run_key=f"publish:{key}", job_name=publish_job.name, partition_key=key)
        for key in keys
    ]
    requests += [
        RunRequest(
            run_key=f"rollback:{model}@{version}",
            job_name=channel_rollback.name,
            run_config={
                "ops": {
                    "roll_back_channel": {"config": {"model": model, "revoked_version": version}}
                }
            },
        )
        for model, version in plan.rollback
    ]
    if requests:
        context.log.info("publish %s; roll back %s", keys, plan.rollback)
    return SensorResult(
        run_requests=requests,
        asset_events=live_version_events(context.instance, registry, artifacts),
        dynamic_partitions_requests=[model_versions.build_add_request(keys)] if keys else [],
        cursor=plan.cursor.dump(),
    )


@sensor(
    minimum_interval_seconds=rollout_interval_s(),
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Judges every running staged rollout by its clients' telemetry (EDGELINE_ROLLOUT_INTERVAL_S, "
        "default 60 s): a breached guardrail aborts it, every guardrail within bounds after the "
        "bake promotes it one step; the state shows on the candidate's published partition."
    ),
)
def rollout_sensor(
    context: SensorEvaluationContext,
    registry: ModelRegistry,
    artifacts: ArtifactStoreResource,
    telemetry: TelemetryStoreResource,
) -> SensorResult:
    events = []
    for model in registry.list_models():
        rollout, verdict = guard_rollout(registry, artifacts, telemetry, model)
        if rollout is None or verdict is None:
            continue
        context.log.info(
            "%s v%d: %s (%s)", model, rollout.candidate, verdict.decision, rollout.state
        )
        key = partition_key(model, rollout.candidate)
        if context.instance.has_dynamic_partition(model_versions.name, key):
            events.append(rollout_observation(rollout, verdict))
    return SensorResult(asset_events=events)


def run_registry_sensor_once(
    defs: Definitions, instance: DagsterInstance, cursor: str | None, loggers: dict | None = None
) -> tuple[str, list[str]]:
    """Evaluate the registry sensor with Dagster's own API and run what it requests, in-process.

    What the daemon does on a tick, for the demo and the tests: returns the new cursor and the
    run keys it launched.
    """
    resources = {name: defs.resources[name] for name in ("registry", "artifacts")}
    # a context manager: resources built by generators (aws's) live only inside it
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = model_registry_sensor(context)
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        report_events(instance, result.asset_events)
        launched = []
        for request in result.run_requests:
            job_def = defs.resolve_job_def(request.job_name)
            outcome = job_def.execute_in_process(
                run_config={**request.run_config, **({"loggers": loggers} if loggers else {})},
                instance=instance,
                partition_key=request.partition_key,
                tags={
                    "dagster/run_key": request.run_key,
                    "dagster/sensor_name": model_registry_sensor.name,
                },
                raise_on_error=False,
            )
            launched.append(f"{request.run_key}:{'ok' if outcome.success else 'failed'}")
        if launched:  # what the runs moved, as the next tick would record it
            record_live_versions(instance, context.resources.registry, context.resources.artifacts)
    return result.cursor, launched


def retraining_partition(artifacts: ArtifactStore, report: dict) -> str:
    """The partition that retrains a report's model: an image model by its name, a sensor
    model by the profile that trains it (the turbine's where a report names no model)."""
    model = report.get("baseline_model")
    if report["client_kind"] == "web":
        return model or SINGLE_IMAGE_MODEL
    return (profile_for_model(artifacts, model) if model else None) or WIND_TURBINE.name


RETRAINING_JOBS = {"web": retrain_image_classifier.name, "pi": retrain_sensor_autoencoder.name}


@sensor(
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Off by default. When a day's quality report drifts past EDGELINE_DRIFT_PSI (default 0.2) "
        "from the training baseline, requests retraining of that client's model, once per report."
    ),
)
def drift_retraining_sensor(
    context: SensorEvaluationContext, artifacts: ArtifactStoreResource
) -> SensorResult:
    threshold = float(os.environ.get("EDGELINE_DRIFT_PSI", "0.2"))
    handled = set(json.loads(context.cursor)) if context.cursor else set()
    requests = []
    for key in artifacts.list_keys(layout.REPORTS):
        if not layout.is_report_json(key) or key in handled:
            continue
        report = artifacts.get_json(key)
        handled.add(key)
        if (report.get("drift_psi") or 0.0) > threshold:  # None: not measured, no retraining
            requests.append(
                RunRequest(
                    run_key=f"drift:{key}",
                    job_name=RETRAINING_JOBS[report["client_kind"]],
                    tags={"edgeline/drift_report": key},
                    # the drifted model alone: its partition of its lineage
                    partition_key=retraining_partition(artifacts, report),
                )
            )
    return SensorResult(run_requests=requests, cursor=json.dumps(sorted(handled)))
