"""The registry sensor's decisions, one evaluation at a time: no daemon, no runs launched.

As Dagster's example projects test sensors: ``build_sensor_context`` with a cursor and the
resources, the sensor called directly, its RunRequests and cursor checked.
"""

import json

import pytest
from dagster import build_sensor_context

from assets.deployment.planning import DeploymentCursor
from assets.deployment.publish import publish_model_version, read_channel
from orchestration.definitions import build_definitions
from orchestration.sensors import model_registry_sensor
from tests.deployment.conftest import register_tiny_version

MODEL = "turbine-autoencoder"
OTHER = "image-classifier"


@pytest.fixture
def tick(tmp_resources, instance):
    """One evaluation of the sensor: cursor in, SensorResult out."""
    resources = {name: tmp_resources[name] for name in ("registry", "artifacts")}

    def evaluate(cursor: str | None):
        with build_sensor_context(cursor=cursor, resources=resources, instance=instance) as context:
            return model_registry_sensor(context)

    return evaluate


def approved_version(store, registry, model: str = MODEL) -> int:
    version = register_tiny_version(store, registry, model)
    registry.approve(model, version, "ok", "qa")
    return version


def test_first_tick_publishes_each_approved_version_once(local_pair, tick):
    store, registry = local_pair
    v1 = approved_version(store, registry)
    v2 = approved_version(store, registry)
    register_tiny_version(store, registry)  # v3 stays pending: not published
    w1 = approved_version(store, registry, OTHER)

    result = tick(None)

    keys = [f"{MODEL}@{v1}", f"{MODEL}@{v2}", f"{OTHER}@{w1}"]
    requests = sorted(result.run_requests, key=lambda r: r.partition_key)
    assert [r.partition_key for r in requests] == sorted(keys)
    for request in requests:
        assert request.job_name == "publish_model_version"
        assert request.run_key == f"publish:{request.partition_key}"
        assert not request.run_config
    (added,) = result.dynamic_partitions_requests
    assert added.partitions_def_name == "model_versions"
    assert sorted(added.partition_keys) == sorted(keys)
    cursor = DeploymentCursor.parse(result.cursor)
    assert cursor.published == {MODEL: [v1, v2], OTHER: [w1]}
    assert cursor.rolled_back == {MODEL: [], OTHER: []}


def test_nothing_new_requests_nothing_and_keeps_the_cursor(local_pair, tick):
    store, registry = local_pair
    assert tick(None).run_requests == []  # an empty registry
    v1 = approved_version(store, registry)
    first = tick(None)
    assert len(first.run_requests) == 1

    again = tick(first.cursor)
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    assert again.cursor == first.cursor

    # a rejection of a version requested for publication (its partition exists) gets one run
    # that marks the partition revoked, and only one
    registry.reject(MODEL, v1, "field reports", "qa")
    revoked = tick(first.cursor)
    assert [r.run_key for r in revoked.run_requests] == [f"rollback:{MODEL}@{v1}"]
    assert tick(revoked.cursor).run_requests == []

    # only what was approved since the cursor is requested
    v2 = approved_version(store, registry)
    later = tick(revoked.cursor)
    assert [r.partition_key for r in later.run_requests] == [f"{MODEL}@{v2}"]
    assert list(later.dynamic_partitions_requests[0].partition_keys) == [f"{MODEL}@{v2}"]
    assert DeploymentCursor.parse(later.cursor).published == {MODEL: [v1, v2]}


def test_each_revoked_version_gets_one_rollback_run(local_pair, tick, tmp_resources, instance):
    store, registry = local_pair
    v1, v2, v3 = (approved_version(store, registry) for _ in range(3))
    cursor = tick(None).cursor
    for version in (v1, v2, v3):  # what the three publish runs do
        publish_model_version(store, registry, MODEL, version)
    assert read_channel(store, MODEL)["version"] == v3

    registry.reject(MODEL, v1, "not the one served", "qa")
    # the channel does not name v1, but its partition is marked revoked by one run
    (marked,) = tick(cursor).run_requests
    assert marked.run_key == f"rollback:{MODEL}@{v1}"
    cursor = tick(cursor).cursor
    registry.reject(MODEL, v3, "field reports", "qa")
    result = tick(cursor)

    (request,) = result.run_requests
    assert request.job_name == "channel_rollback"
    assert request.run_key == f"rollback:{MODEL}@{v3}"
    assert request.partition_key is None
    assert request.run_config == {
        "ops": {"roll_back_channel": {"config": {"model": MODEL, "revoked_version": v3}}}
    }
    assert result.dynamic_partitions_requests == []
    assert DeploymentCursor.parse(result.cursor).rolled_back == {MODEL: [v1, v3]}
    assert tick(result.cursor).run_requests == []  # one rollback per revocation

    # the run config is the job's: executed, the run moves the channel back to v2
    job = build_definitions(tmp_resources).resolve_job_def(request.job_name)
    assert job.execute_in_process(run_config=request.run_config, instance=instance).success
    assert read_channel(store, MODEL)["version"] == v2


@pytest.mark.parametrize(
    "cursor",
    [
        DeploymentCursor(),
        DeploymentCursor(published={MODEL: [1, 2]}),
        DeploymentCursor(published={MODEL: [1, 3], OTHER: [1]}, rolled_back={MODEL: [2]}),
    ],
)
def test_cursor_round_trip(cursor):
    dumped = cursor.dump()
    assert DeploymentCursor.parse(dumped) == cursor
    assert DeploymentCursor.parse(dumped).dump() == dumped


@pytest.mark.parametrize("raw", [None, "", "{}"])
def test_no_cursor_or_an_empty_one_starts_from_nothing(raw):
    assert DeploymentCursor.parse(raw) == DeploymentCursor()


def test_a_partial_cursor_from_an_earlier_tick(local_pair, tick):
    """A cursor that names only some versions (and lacks ``rolled_back``): those stay
    published, the rest are requested."""
    store, registry = local_pair
    v1 = approved_version(store, registry)
    v2 = approved_version(store, registry)
    old = json.dumps({"published": {MODEL: [v1]}})
    assert DeploymentCursor.parse(old) == DeploymentCursor(published={MODEL: [v1]})

    result = tick(old)
    assert [r.partition_key for r in result.run_requests] == [f"{MODEL}@{v2}"]
    assert DeploymentCursor.parse(result.cursor) == DeploymentCursor(
        published={MODEL: [v1, v2]}, rolled_back={MODEL: []}
    )
