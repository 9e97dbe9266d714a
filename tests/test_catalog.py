"""Models declared as data: the catalog, the partitions it makes, and who reads it."""

from datetime import UTC, datetime

import pytest
from dagster import build_schedule_context, build_sensor_context, instance_for_test

from assets.catalog import (
    CatalogError,
    ModelSpec,
    adopt_single_model_home,
    declare_model,
    declared_models,
    read_model,
)
from assets.sensors.data import record_profile
from edgeline_contract.profile import SensorProfile, Signal
from orchestration.jobs import weekly_image_retraining, weekly_sensor_retraining
from orchestration.models import model_catalog_sensor
from resources import LocalArtifactStore
from resources.errors import UnknownModelError


@pytest.fixture
def store(tmp_path) -> LocalArtifactStore:
    return LocalArtifactStore(root=str(tmp_path))


def test_a_declaration_is_kept_once_and_changed_only_on_purpose(store):
    plants = declare_model(store, ModelSpec("plants", "image", training={"epochs": 3}))
    assert declare_model(store, ModelSpec("plants", "image", training={"epochs": 3})) == plants
    with pytest.raises(CatalogError, match=r"already declared .* pass --replace"):
        declare_model(store, ModelSpec("plants", "image", training={"epochs": 4}))
    changed = declare_model(store, ModelSpec("plants", "image", training={"epochs": 4}), True)
    assert read_model(store, "plants").training == {"epochs": 4} == changed.training
    with pytest.raises(CatalogError, match="cannot become a sensor model"):
        declare_model(store, ModelSpec("plants", "sensor", profile="pump"), replace=True)
    for bad, message in (
        (ModelSpec("-plants", "image"), "model name '-plants' is invalid"),
        (ModelSpec("pump", "sensor"), "needs the profile"),
        (ModelSpec("pump", "image", profile="pump"), "a profile is for sensor models"),
        (ModelSpec("pump", "robot"), "kind 'robot'"),
    ):
        with pytest.raises(CatalogError, match=message):
            declare_model(store, bad)
    assert [m.name for m in declared_models(store)] == ["plants"]
    with pytest.raises(
        UnknownModelError, match=r"no image model 'weeds' is declared \(declared: plants\)"
    ):
        read_model(store, "weeds", "image")


def test_storing_a_profile_declares_its_model_and_refuses_a_taken_name(store):
    declare_model(store, ModelSpec("plants", "image"))
    pump = SensorProfile("pump", "pump-autoencoder", (Signal("pressure_bar", "bar"),), 1.0, 20)
    record_profile(store, pump)
    assert read_model(store, "pump-autoencoder", "sensor").profile == "pump"
    clash = SensorProfile("greenhouse", "plants", (Signal("humidity", "%"),), 60.0, 10)
    with pytest.raises(CatalogError, match="already declared"):
        record_profile(store, clash)
    assert not store.exists("raw/sensors/greenhouse/profile.json")  # nothing stored


def test_a_move_cut_short_is_finished_by_the_next_call(store):
    for i in range(4):
        store.put_bytes(f"raw/images/cat/{i}.png", b"png %d" % i)
    store.put_bytes("raw/images/image-classifier/cat/0.png", b"png 0")  # copied, not deleted
    assert adopt_single_model_home(store) == 4
    assert store.list_keys("raw/images/") == [
        f"raw/images/image-classifier/cat/{i}.png" for i in range(4)
    ]
    assert adopt_single_model_home(store) == 0


def test_the_catalog_sensor_and_the_weekly_schedule_follow_the_declared_models(store):
    for name in ("plants", "defects"):
        declare_model(store, ModelSpec(name, "image"))
    declare_model(store, ModelSpec("pump-autoencoder", "sensor", profile="pump"))
    with instance_for_test() as instance:  # a schedule's context needs an instance with a ref
        context = build_sensor_context(instance=instance, resources={"artifacts": store})
        requests = model_catalog_sensor(context).dynamic_partitions_requests
        # the sensor lineage by profile; the built-in turbine is always there
        assert {r.partitions_def_name: sorted(r.partition_keys) for r in requests} == {
            "image_models": ["defects", "plants"],
            "sensor_profiles": ["pump", "wind-turbine"],
        }
        for request in requests:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        again = build_sensor_context(instance=instance, resources={"artifacts": store})
        assert model_catalog_sensor(again).dynamic_partitions_requests == []
        monday = datetime(2026, 11, 30, 3, tzinfo=UTC)
        with build_schedule_context(instance=instance, scheduled_execution_time=monday) as schedule:
            image_runs = weekly_image_retraining(schedule)
            sensor_runs = weekly_sensor_retraining(schedule)
        assert sorted((r.partition_key, r.run_key) for r in image_runs) == [
            ("defects", "weekly:2026-11-30:defects"),
            ("plants", "weekly:2026-11-30:plants"),
        ]
        assert sorted(r.partition_key for r in sensor_runs) == [
            "pump",
            "wind-turbine",
        ]
