"""Declared models as Dagster partitions: each image model is a partition of the vision lineage,
each sensor model one of the sensor lineage (by its profile).

A declaration lives in the artifact store (``assets/catalog.py``); the Dagster instance holds the
partitions. ``add_model_partitions`` adds what is declared and missing (the CLI calls it after
declaring, the demo before running), and ``model_catalog_sensor`` does the same for models
declared elsewhere (another machine, the store of the aws environment).
"""

from typing import Any

from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.catalog import (
    ModelSpec,
    adopt_single_model_home,
    declare_sensor_model,
    declared_models,
)
from assets.partitions import image_models, sensor_profiles
from edgeline_contract.profile import BUILT_IN
from resources.artifacts import ArtifactStore
from resources.store_resources import ArtifactStoreResource


def missing_partitions(store: ArtifactStore, instance: DagsterInstance) -> dict[str, list[str]]:
    """Per partitions definition, the declared models not yet partitions of ``instance``. A
    single-model home is adopted first, and the built-in profiles' models are always declared
    (the wind-turbine fleet is simulated where nothing was ingested)."""
    adopt_single_model_home(store)
    for profile in BUILT_IN.values():
        declare_sensor_model(store, profile)
    wanted = {
        image_models.name: [m.name for m in declared_models(store, "image")],
        sensor_profiles.name: [m.profile for m in declared_models(store, "sensor") if m.profile],
    }
    return {
        name: missing
        for name, keys in wanted.items()
        if (missing := sorted(set(keys) - set(instance.get_dynamic_partitions(name))))
    }


def add_model_partitions(instance: DagsterInstance, store: ArtifactStore) -> list[str]:
    """Make every declared model a partition of its lineage; returns the new ones."""
    missing = missing_partitions(store, instance)
    for name, keys in missing.items():
        instance.add_dynamic_partitions(name, keys)
    return [key for keys in missing.values() for key in keys]


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Adds a partition to a lineage for each model declared in the catalog (`edgeline models "
        "add`, `ingest-images --model`, `ingest-sensors`), so the UI shows it."
    ),
)
def model_catalog_sensor(context: SensorEvaluationContext, artifacts: ArtifactStoreResource) -> Any:
    missing = missing_partitions(artifacts, context.instance)
    context.log.info("new model partitions: %s", missing or "none")
    definitions = {d.name: d for d in (image_models, sensor_profiles)}
    return SensorResult(
        dynamic_partitions_requests=[
            definitions[name].build_add_request(keys) for name, keys in missing.items()
        ]
    )


def model_overview(specs: list[ModelSpec], store: ArtifactStore, registry: Any) -> list[str]:
    """A few lines per model: its data, its newest version and status, its channels and the
    clients its published manifest serves; registered models not declared (yet) too."""
    from assets.catalog import images_per_class
    from assets.deployment.publish import read_channel
    from assets.sensors.data import stored_days
    from resources import layout

    registered = set(registry.list_models())
    lines = []
    for name in sorted({s.name for s in specs} | registered):
        spec = next((s for s in specs if s.name == name), None)
        if spec is None:
            data = "not declared (registered before models were declared)"
        elif spec.kind == "image":
            counts = images_per_class(store, name)
            data = f"{sum(counts.values())} images: " + (
                ", ".join(f"{label} {n}" for label, n in counts.items()) or "none yet"
            )
        else:
            days = list(stored_days(store, spec.profile or ""))
            data = f"profile {spec.profile}, " + (
                f"{len(days)} days of readings ({days[0]} .. {days[-1]})" if days else "no readings"
            )
        versions = registry.list_versions(name) if name in registered else []
        newest = f"v{versions[-1].version} {versions[-1].status}" if versions else "no version"
        channels, clients = [], set()
        for key in store.list_keys(layout.channels(name)):
            found = layout.parse_channel(key)
            if not found:
                continue
            _, channel = found
            pointer = read_channel(store, name, channel) or {}
            channels.append(f"{channel} -> v{pointer.get('version')}")
            manifest_key = layout.manifest(name, pointer.get("version") or 0)
            if pointer.get("version") and store.exists(manifest_key):
                clients |= set(store.get_json(manifest_key).get("recommended", {}))
        kind = spec.kind if spec else "?"
        lines.append(f"{name} ({kind})  {data}")
        lines.append(
            f"    newest {newest}; channels: {', '.join(channels) or 'none'}; clients: "
            f"{', '.join(sorted(clients)) or 'none'}"
        )
    return lines
