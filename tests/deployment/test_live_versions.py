"""What is live shows in Dagster: every decision (Edgeline's CLI, the UI's job, or made in the
registry itself as in SageMaker's console) and every channel move is recorded on the model's
registered asset and on the published version's partition, through Dagster's own APIs."""

from assets.deployment.planning import decide_version
from assets.deployment.publish import read_channel
from assets.deployment.registration import live_comparison
from orchestration.definitions import build_definitions
from orchestration.live_versions import live_version_events, record_live_versions
from orchestration.models import add_model_partitions
from orchestration.sensors import run_registry_sensor_once
from tests.deployment.conftest import latest_check, latest_observation, register_tiny_version

MODEL = "turbine-autoencoder"  # the built-in wind-turbine profile's model
REGISTERED = "registered_sensor_autoencoder"
PUBLISHED = "published_model"


def test_decisions_from_the_cli_the_ui_job_and_the_registry_all_show_what_is_live(
    tmp_resources, instance
):
    store, registry = tmp_resources["artifacts"], tmp_resources["registry"]
    defs = build_definitions(tmp_resources, env="local")
    add_model_partitions(instance, store)  # the wind-turbine profile: a registered partition
    v1 = register_tiny_version(store, registry, MODEL)
    v2 = register_tiny_version(store, registry, MODEL)

    # the CLI's path: decide, then record at once (no daemon running)
    decide_version(registry, store, MODEL, v1, "approve", "good on the bench", "alice")
    record_live_versions(instance, registry, store)
    summary = latest_observation(instance, REGISTERED, "wind-turbine")
    assert summary["live_version"] == f"v{v1}"
    assert summary["latest_decision"].startswith(f"v{v1} approved by alice at ")
    assert summary["latest_decision"].endswith("UTC: good on the bench")
    assert f"| v{v2} | pending approval |" in summary["versions"]

    # the sensor's tick publishes v1 as a partition; the run's own check passes
    cursor, _ = run_registry_sensor_once(defs, instance, None)
    assert latest_observation(instance, PUBLISHED, f"{MODEL}@{v1}")["state"] == "live"
    assert latest_check(instance, f"{MODEL}@{v1}").passed

    # the UI's job: version 0 is the newest pending one (v2); then the sensor publishes it
    outcome = defs.resolve_job_def("registry_decision").execute_in_process(
        run_config={
            "ops": {"record_registry_decision": {"config": {"model": MODEL, "reason": "better"}}}
        },
        instance=instance,
    )
    assert outcome.success
    cursor, _ = run_registry_sensor_once(defs, instance, cursor)
    assert read_channel(store, MODEL)["version"] == v2
    assert latest_observation(instance, REGISTERED, "wind-turbine")["live_version"] == f"v{v2}"
    old = latest_observation(instance, PUBLISHED, f"{MODEL}@{v1}")
    assert old["state"] == "approved, not live" and old["live_version"] == f"v{v2}"

    # rejected in the registry itself (as in SageMaker's console): the next tick rolls the
    # channel back and records v2 as revoked, with who and why
    registry.reject(MODEL, v2, "flags every window", "bob")
    _, launched = run_registry_sensor_once(defs, instance, cursor)
    assert launched == [f"rollback:{MODEL}@{v2}:ok"]
    assert read_channel(store, MODEL)["version"] == v1
    revoked = latest_observation(instance, PUBLISHED, f"{MODEL}@{v2}")
    assert revoked["state"] == "revoked"
    assert (revoked["decided_by"], revoked["reason"]) == ("bob", "flags every window")
    check = latest_check(instance, f"{MODEL}@{v2}")
    assert not check.passed
    assert check.description.startswith(f"{MODEL} v{v2} is revoked: v{v2} rejected by bob")
    assert latest_check(instance, f"{MODEL}@{v1}").passed
    summary = latest_observation(instance, REGISTERED, "wind-turbine")
    assert summary["live_version"] == f"v{v1}"
    assert summary["latest_decision"].startswith(f"v{v2} rejected by bob")

    # recorded once: nothing changed, nothing more to write
    assert live_version_events(instance, registry, store) == []


def test_the_ui_job_needs_a_reason_and_a_pending_version(tmp_resources, instance):
    store, registry = tmp_resources["artifacts"], tmp_resources["registry"]
    job = build_definitions(tmp_resources, env="local").resolve_job_def("registry_decision")

    def decide(**config):
        return job.execute_in_process(
            run_config={
                "ops": {"record_registry_decision": {"config": {"model": MODEL, **config}}}
            },
            instance=instance,
            raise_on_error=False,
        )

    register_tiny_version(store, registry, MODEL)
    no_reason = decide()
    assert not no_reason.success
    assert "a decision needs a reason" in str(
        no_reason.failure_data_for_node("record_registry_decision").error
    )
    assert registry.describe_version(MODEL, 1).status == "PendingManualApproval"

    assert decide(decision="reject", reason="not now").success
    nothing_pending = decide(reason="ok")
    assert "has no version pending approval" in str(
        nothing_pending.failure_data_for_node("record_registry_decision").error
    )


def test_the_launchpad_opens_with_defaults_and_an_enum(tmp_resources):
    job = build_definitions(tmp_resources, env="local").resolve_job_def("registry_decision")
    config = (
        job.run_config_schema.config_type.fields["ops"]
        .config_type.fields["record_registry_decision"]
        .config_type.fields["config"]
    )
    assert not config.is_required  # no red "missing config" when the launchpad opens
    fields = config.config_type.fields
    assert all(field.default_provided and field.description for field in fields.values())
    decision = fields["decision"].config_type.inner_type
    assert [value.config_value for value in decision.enum_values] == ["approve", "reject"]
    assert fields["version"].default_value == 0


def test_a_new_version_is_compared_with_the_live_one(tmp_resources):
    store, registry = tmp_resources["artifacts"], tmp_resources["registry"]
    assert live_comparison(registry, store, MODEL, {"f1": 0.5}) == (
        {"live_version": "none (nothing published yet)"},
        [],
    )
    v1 = register_tiny_version(store, registry, MODEL)  # its card: f1 0.95
    decide_version(registry, store, MODEL, v1, "approve", "ok", "qa")

    metadata, worse = live_comparison(registry, store, MODEL, {"f1": 0.71, "test_accuracy": 0.9})
    assert worse == [f"its f1 is 0.710, the live v{v1}'s 0.950"]
    assert metadata["worse_than_live"] is True and metadata["live_version"] == f"v{v1}"
    assert "| f1 | 0.710 | 0.950 | -0.240 (worse) |" in metadata["compared_with_live"].value
    assert "test_accuracy" not in metadata["compared_with_live"].value  # the live card lacks it

    metadata, worse = live_comparison(registry, store, MODEL, {"f1": 0.945})  # within a point
    assert worse == [] and metadata["worse_than_live"] is False
