"""What is live, recorded in Dagster where a person looks.

The registry and the channel pointers are the truth; this module mirrors them into the Dagster
instance as events: an observation on each model's registered-asset partition (the live
version, every version's decision: who, why, when), and on each `published_model` partition an
observation and the `approved_in_registry` check, which fails for a revoked version. Whoever
decided (the UI's job, the CLI, SageMaker's console), the registry sensor records it at its next
tick; the UI job and the CLI record at once. Observations are written only when what a person
would see changed (a digest kept in each), so recording is idempotent. The check's verdict is
written by runs: the publish run (passed) and the run that handles a revocation (failed).
"""

from collections.abc import Iterable

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    DagsterInstance,
    MetadataValue,
    asset_check,
)

from assets.catalog import declared_models
from assets.deployment.assets import model_versions, published_model
from assets.deployment.canary import RolloutVerdict
from assets.deployment.live import ModelDeployment, VersionDecision, model_deployment
from assets.deployment.planning import parse_partition_key, partition_key
from assets.deployment.rollout import Rollout
from assets.sensors.assets import registered_sensor_autoencoder
from assets.vision.assets import registered_image_classifier
from resources.artifacts import ArtifactStore
from resources.registry import APPROVED, ModelRegistry
from resources.store_resources import ArtifactStoreResource

CHECK_NAME = "approved_in_registry"
DIGEST = "state_digest"


def version_check(
    deployment: ModelDeployment, decision: VersionDecision
) -> tuple[bool, str, dict[str, str | int | bool]]:
    """The `approved_in_registry` verdict on a published version: (passed, description,
    metadata). A version rejected after publication is revoked: its clients were moved off it."""
    state = decision.state(published=True)
    live = deployment.live_version
    metadata = {
        "state": state,
        "registry_status": decision.status,
        "decided_by": decision.decided_by or "nobody yet",
        "reason": decision.reason or "",
        "decided_at": decision.decided_at,
        "live": decision.live,
        "live_version": f"v{live}" if live is not None else "none",
    }
    text = f"{deployment.model} v{decision.version} is {state}: {decision.decision_text}"
    return decision.status == APPROVED, text, metadata


@asset_check(
    asset=published_model,
    name=CHECK_NAME,
    partitions_def=model_versions,
    description=(
        "Fails when the published version is no longer approved in the registry (revoked): its "
        "clients have been moved off it. Recorded by the registry sensor after every decision."
    ),
)
def approved_in_registry(
    context: AssetCheckExecutionContext,
    registry: ModelRegistry,
    artifacts: ArtifactStoreResource,
) -> AssetCheckResult:
    model, version = parse_partition_key(context.partition_key)
    deployment = model_deployment(registry, artifacts, model)
    decision = deployment.version(version)
    if decision is None:
        raise ValueError(f"{model} v{version} is not in the registry")
    passed, text, metadata = version_check(deployment, decision)
    return AssetCheckResult(
        passed=passed, severity=AssetCheckSeverity.WARN, description=text, metadata=metadata
    )


def revocation_check(
    registry: ModelRegistry, store: ArtifactStore, model: str, version: int
) -> AssetCheckEvaluation:
    """The `approved_in_registry` verdict on a published version, logged by the run that
    handles its revocation (a runless check result can be written only once per partition)."""
    deployment = model_deployment(registry, store, model)
    passed, text, metadata = version_check(deployment, deployment.version(version))
    return AssetCheckEvaluation(
        asset_key=published_model.key,
        check_name=CHECK_NAME,
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=text,
        metadata=metadata,
        partition=partition_key(model, version),
    )


def _recorded_digests(
    instance: DagsterInstance, key: AssetKey, partitions: list[str]
) -> dict[str, str]:
    """The digest of the newest observation of each partition (one query for them all)."""
    if not partitions:
        return {}
    records = instance.fetch_observations(
        AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=20 * len(partitions)
    ).records
    found: dict[str, str] = {}
    for record in records:  # newest first
        observation = record.asset_observation
        digest = observation.metadata.get(DIGEST) if observation else None
        if observation and observation.partition not in found and digest is not None:
            found[observation.partition] = str(digest.value)
    return found


def _versions_table(deployment: ModelDeployment, published: set[int]) -> str:
    rows = [
        f"| v{v.version} | {v.state(v.version in published)} | {v.decided_by or ''} | "
        f"{(v.reason or '').replace('|', '/')} | {v.decided_at} |"
        for v in reversed(deployment.versions)
    ]
    return "| version | state | decided by | why | when |\n| --- | --- | --- | --- | --- |\n" + (
        "\n".join(rows)
    )


def model_observation(
    deployment: ModelDeployment, key: AssetKey, partition: str, published: set[int]
) -> AssetObservation:
    """What a person should read on the model's registered asset: what is live, and why."""
    latest = deployment.latest_decision
    live = deployment.live_version
    return AssetObservation(
        asset_key=key,
        partition=partition,
        description=f"{deployment.model}: v{live} is live" if live else "nothing is live",
        metadata={
            "model": deployment.model,
            "live_version": f"v{live}" if live is not None else "none",
            "channel_moved_at": deployment.channel_updated,
            "latest_decision": latest.decision_text if latest else "no decision yet",
            "versions": MetadataValue.md(_versions_table(deployment, published)),
            DIGEST: deployment.digest(),
        },
    )


def _registered_asset(specs: dict, model: str) -> tuple[AssetKey, str] | None:
    """The registered-asset partition a model's versions come from (none if not declared)."""
    spec = specs.get(model)
    if spec is None:
        return None
    if spec.kind == "image":
        return registered_image_classifier.key, spec.name
    return (registered_sensor_autoencoder.key, spec.profile) if spec.profile else None


def live_version_events(
    instance: DagsterInstance, registry: ModelRegistry, store: ArtifactStore
) -> list[AssetObservation]:
    """The events that bring the instance's record of every model up to the registry and the
    channels; empty when nothing changed since the last record."""
    partitions = set(instance.get_dynamic_partitions(model_versions.name))
    specs = {spec.name: spec for spec in declared_models(store)}
    events: list[AssetObservation] = []
    for model in registry.list_models():
        deployment = model_deployment(registry, store, model)
        published = {
            v.version for v in deployment.versions if partition_key(model, v.version) in partitions
        }
        target = _registered_asset(specs, model)
        if target:
            key, partition = target
            if _recorded_digests(instance, key, [partition]).get(partition) != deployment.digest():
                events.append(model_observation(deployment, key, partition, published))
        keys = {partition_key(model, version): version for version in sorted(published)}
        recorded = _recorded_digests(instance, published_model.key, list(keys))
        for key, version in keys.items():
            if recorded.get(key) != deployment.digest(version):
                _, text, metadata = version_check(deployment, deployment.version(version))
                events.append(
                    AssetObservation(
                        asset_key=published_model.key,
                        partition=key,
                        description=text,
                        metadata={**metadata, DIGEST: deployment.digest(version)},
                    )
                )
    return events


def record_live_versions(
    instance: DagsterInstance, registry: ModelRegistry, store: ArtifactStore
) -> list[AssetObservation]:
    """Write ``live_version_events`` to the instance now (the CLI's and the UI job's path)."""
    events = live_version_events(instance, registry, store)
    report_events(instance, events)
    return events


def report_events(instance: DagsterInstance, events: Iterable[AssetObservation]) -> None:
    for event in events:
        instance.report_runless_asset_event(event)


def rollout_observation(rollout: Rollout, verdict: RolloutVerdict | None) -> AssetObservation:
    """A staged rollout where an ML engineer looks: on the candidate's published partition, its
    step and share, the clients on each side, each guardrail against its bound, the decision."""
    metadata: dict[str, object] = {
        "rollout_state": rollout.state,
        "step": f"{rollout.step + 1} of {len(rollout.steps)}",
        "share": f"{rollout.share:.0%}",
        "stable_version": f"v{rollout.stable}" if rollout.stable is not None else "none",
        "last_decision": "{event} by {by} at {at}: {why}".format(**rollout.history[-1]),
    }
    if verdict is not None:
        rows = [
            f"| {r.name} | {r.verdict} | {'' if r.value is None else f'{r.value:.3g}'} | "
            f"{r.bound:.3g} | {r.candidate_events} / {r.stable_events} | "
            f"{r.detail.replace('|', '/')} |"
            for r in verdict.results
        ]
        metadata |= {
            "decision": verdict.decision,
            "waiting_for": verdict.waiting_for or "nothing",
            "candidate_clients": verdict.candidate_clients,
            "stable_clients": verdict.stable_clients,
            "baked_min": round(verdict.baked_s / 60, 1),
            "guardrails": MetadataValue.md(
                "| guardrail | verdict | value | bound | events (candidate / stable) | detail |\n"
                "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows)
            ),
        }
    return AssetObservation(
        asset_key=published_model.key,
        partition=partition_key(rollout.model, rollout.candidate),
        description=f"rollout of {rollout.model} v{rollout.candidate}: {rollout.state}, "
        f"{rollout.share:.0%} of clients",
        metadata=metadata,
    )
