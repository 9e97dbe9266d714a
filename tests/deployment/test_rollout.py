"""Staged rollouts through the real gateway, in both environments: a canary share of the fleet
gets the candidate through the channel it already polls, the same clients keep their side and
the share only grows; promotion moves the stable channel, an abort sends everyone back."""

import json
import urllib.request

import pytest

from assets.deployment.planning import act_on_rollout, decide_version, start_rollout
from assets.deployment.publish import read_channel
from assets.deployment.rollout import RolloutError, read_rollout
from edgeline_contract import SCHEMA_DIR
from edgeline_contract.rollout import ROLLOUT, client_bucket, rollout_problems
from resources import layout
from resources.artifacts import json_bytes
from resources.registry import APPROVED, REJECTED
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import TOKEN
from tests.helpers import alter_behind_the_store

MODEL = "turbine-autoencoder"
FLEET = [f"turbine-{n:03d}" for n in range(400)]
POLLING = FLEET[:100]  # the devices that poll over HTTP (each poll reads the store, slow on moto)


@pytest.fixture
def gateway_overrides() -> dict:
    """One token polls for the whole simulated fleet here: no per-token rate limit."""
    return {"device_rates": {}}


def served_versions(base: str, devices: list[str], token: str = TOKEN) -> dict[str, int]:
    """The version the stable channel answers each device with, over HTTP."""
    seen = {}
    for device in devices:
        request = urllib.request.Request(
            f"{base}/v1/models/{MODEL}/channels/stable?client={device}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            seen[device] = json.load(response)["version"]
    return seen


def test_assignment_is_fixed_per_client_and_grows_with_the_share():
    buckets = {device: client_bucket("rollout-a", device) for device in FLEET}
    assert buckets == {device: client_bucket("rollout-a", device) for device in FLEET}  # restarts
    on = [{d for d, b in buckets.items() if b < share} for share in (0.05, 0.25, 1.0)]
    assert on[0] <= on[1] <= on[2] == set(FLEET)  # nobody goes back as the share grows
    # about the share of a fleet (binomial, 400 clients: 5 % is 20 +- 13 at four sigmas)
    assert 7 <= len(on[0]) <= 33 and 70 <= len(on[1]) <= 130
    other = {d for d in FLEET if client_bucket("rollout-b", d) < 0.05}
    assert other != on[0]  # a new rollout draws a new canary


def test_a_canary_grows_step_by_step_to_stable(gateway, model_registry):
    base, store, _ = gateway
    v1 = register_tiny_version(store, model_registry, MODEL)
    decide_version(model_registry, store, MODEL, v1, "approve", "first", "qa")
    v2 = register_tiny_version(store, model_registry, MODEL)

    rollout = start_rollout(model_registry, store, MODEL, v2, "qa", "try on 5 %")
    assert model_registry.describe_version(MODEL, v2).status == APPROVED
    assert read_channel(store, MODEL)["version"] == v1  # the stable channel holds v1
    first = served_versions(base, POLLING)
    canary = {d for d, v in first.items() if v == v2}
    assert set(first.values()) <= {v1, v2}  # (5 % of 100 devices may be none of them)
    assert canary == {d for d in POLLING if client_bucket(rollout.rollout_id, d) < 0.05}
    assert served_versions(base, POLLING) == first  # the same side on every poll

    act_on_rollout(model_registry, store, MODEL, "promote", "qa", "baked")
    second = served_versions(base, POLLING)
    grown = {d for d, v in second.items() if v == v2}
    assert canary < grown  # 25 %: everyone who had it at 5 % still has it
    assert grown == {d for d in POLLING if client_bucket(rollout.rollout_id, d) < 0.25}
    assert read_channel(store, MODEL)["version"] == v1

    done = act_on_rollout(model_registry, store, MODEL, "promote", "qa", "baked again")
    assert done.state == "promoted" and done.share == 1.0
    assert read_channel(store, MODEL)["version"] == v2
    assert set(served_versions(base, POLLING).values()) == {v2}
    assert [e["event"] for e in read_rollout(store, MODEL).history] == [
        "started",
        "promote",
        "promote",
    ]


def test_an_abort_sends_every_client_back_and_the_registry_says_why(gateway, model_registry):
    base, store, _ = gateway
    v1 = register_tiny_version(store, model_registry, MODEL)
    decide_version(model_registry, store, MODEL, v1, "approve", "first", "qa")
    v2 = register_tiny_version(store, model_registry, MODEL)
    start_rollout(model_registry, store, MODEL, v2, "qa", "try it", steps=(0.5, 1.0))
    assert v2 in served_versions(base, POLLING).values()

    act_on_rollout(model_registry, store, MODEL, "pause", "qa", "looking")
    assert v2 in served_versions(base, POLLING).values()  # paused: the canary keeps it
    aborted = act_on_rollout(
        model_registry, store, MODEL, "abort", "rollout-guardrails", "flag rate 26 % > 8 %"
    )
    assert aborted.state == "aborted" and aborted.share == 0.0
    assert set(served_versions(base, POLLING).values()) == {v1}
    described = model_registry.describe_version(MODEL, v2)
    assert described.status == REJECTED
    assert described.status_reason == "rollout aborted: flag rate 26 % > 8 %"
    assert read_channel(store, MODEL)["version"] == v1
    with pytest.raises(RolloutError, match="has no running rollout"):
        act_on_rollout(model_registry, store, MODEL, "promote", "qa", "too late")


def test_a_broken_rollout_document_serves_stable_and_is_named(gateway, model_registry):
    """The rollout document, changed behind the platform (by hand, a half-restored backup):
    the gateway serves every device the stable version rather than guess a canary, the
    platform's reader refuses it naming the field, and once it is whole again the same
    canary returns. What the platform writes holds to the published schema."""
    base, store, _ = gateway
    v1 = register_tiny_version(store, model_registry, MODEL)
    decide_version(model_registry, store, MODEL, v1, "approve", "first", "qa")
    v2 = register_tiny_version(store, model_registry, MODEL)
    start_rollout(model_registry, store, MODEL, v2, "qa", "half", steps=(0.5, 1.0))
    key = layout.rollout_state(MODEL)
    written = store.get_json(key)
    schema = json.loads((SCHEMA_DIR / "rollout.schema.json").read_text())
    assert rollout_problems(written) == [] and schema == ROLLOUT
    before = served_versions(base, POLLING[:20])
    assert set(before.values()) == {v1, v2}
    for broken, named in (
        ({**written, "step": 3}, "step 3 is past the 2 steps"),
        ({**written, "steps": "0.5"}, "steps must be array, not string"),
        ({k: v for k, v in written.items() if k != "rollout_id"}, "rollout_id is required"),
    ):
        alter_behind_the_store(store, key, json_bytes(broken))
        assert set(served_versions(base, POLLING[:20]).values()) == {v1}
        with pytest.raises(
            RolloutError, match=f"rollout/state.json is not a rollout document: {named}"
        ):
            read_rollout(store, MODEL)
    alter_behind_the_store(store, key, json_bytes(written))
    assert served_versions(base, POLLING[:20]) == before


def test_what_cannot_roll_out_is_refused_by_name(tmp_resources):
    store, registry = tmp_resources["artifacts"], tmp_resources["registry"]
    v1 = register_tiny_version(store, registry, MODEL)
    decide_version(registry, store, MODEL, v1, "approve", "first", "qa")
    with pytest.raises(RolloutError, match="it is live on the whole fleet"):
        start_rollout(registry, store, MODEL, v1, "qa", "again")
    v2 = register_tiny_version(store, registry, MODEL)
    with pytest.raises(RolloutError, match="must end at 1"):
        start_rollout(registry, store, MODEL, v2, "qa", "half", steps=(0.1, 0.5))
    start_rollout(registry, store, MODEL, v2, "qa", "go")
    v3 = register_tiny_version(store, registry, MODEL)
    with pytest.raises(RolloutError, match=f"already rolls out v{v2}"):
        start_rollout(registry, store, MODEL, v3, "qa", "also")
    # a newer version approved the default way goes to everyone off the canary; v2 stays held
    decide_version(registry, store, MODEL, v3, "approve", "hotfix", "qa")
    assert read_channel(store, MODEL)["version"] == v3
    assert read_rollout(store, MODEL).running


def test_the_rollout_sensor_and_the_ui_job_show_and_move_the_rollout(tmp_resources):
    from dagster import DagsterInstance, build_sensor_context

    from orchestration.definitions import build_definitions
    from orchestration.sensors import rollout_sensor

    store, registry = tmp_resources["artifacts"], tmp_resources["registry"]
    v1 = register_tiny_version(store, registry, MODEL)
    decide_version(registry, store, MODEL, v1, "approve", "first", "qa")
    v2 = register_tiny_version(store, registry, MODEL)
    start_rollout(registry, store, MODEL, v2, "qa", "canary")
    resources = {k: tmp_resources[k] for k in ("registry", "artifacts", "telemetry")}
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("model_versions", [f"{MODEL}@{v2}"])
        with build_sensor_context(instance=instance, resources=resources) as context:
            result = rollout_sensor(context)
        (observation,) = result.asset_events
        assert observation.partition == f"{MODEL}@{v2}"
        shown = {k: v.value for k, v in observation.metadata.items()}
        assert (shown["rollout_state"], shown["share"], shown["decision"]) == (
            "canary",
            "5%",
            "wait",
        )
        assert shown["step"] == "1 of 3" and shown["stable_version"] == f"v{v1}"
        assert "| flag_rate | waiting |" in shown["guardrails"]  # no telemetry yet

        job = build_definitions(tmp_resources, env="local").resolve_job_def("rollout_decision")
        config = {"model": MODEL, "action": "abort", "reason": "seen enough", "by": "dana"}
        outcome = job.execute_in_process(
            run_config={"ops": {"decide_rollout": {"config": config}}}, instance=instance
        )
        assert outcome.success
    assert read_rollout(store, MODEL).state == "aborted"
    assert read_channel(store, MODEL)["version"] == v1
    assert registry.describe_version(MODEL, v2).status_by == "dana"


def test_the_cli_starts_shows_and_promotes_a_rollout(tmp_path, monkeypatch, capsys):
    from orchestration.cli import main
    from resources.environment import local_resources

    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", "")
    resources = local_resources(tmp_path)
    store, registry = resources["artifacts"], resources["registry"]
    v1 = register_tiny_version(store, registry, MODEL)
    decide_version(registry, store, MODEL, v1, "approve", "first", "qa")
    v2 = register_tiny_version(store, registry, MODEL)

    start = ["rollout", "start", MODEL, str(v2), "--reason", "try", "--baking-s", "60"]
    assert main([*start, "--set", "min_clinets=1"]) == 2  # refused by name, nothing started
    assert "no guardrail setting ['min_clinets']: the settings are [" in capsys.readouterr().out
    assert read_rollout(store, MODEL) is None
    assert main([*start, "--set", "min_clients=1", "--set", "min_events=100"]) == 0
    started = capsys.readouterr().out
    assert f"{MODEL}: v{v2} canary on 5% of clients (step 1 of 3: 5%, 25%, 100%)" in started
    assert "guardrail settings of this rollout: min_clients=1, min_events=100" in started
    assert main(["rollout", "status", MODEL]) == 0
    status = capsys.readouterr().out
    assert "decision: wait (waiting for" in status and "flag_rate: waiting" in status
    assert "0 of 100 events, 0 of 1 clients" in status  # the rollout's own minimums
    assert main(["rollout", "promote", MODEL, "--reason", "looks fine"]) == 0
    assert "canary on 25% of clients (step 2 of 3" in capsys.readouterr().out
    assert main(["rollout", "promote", MODEL]) == 2  # no reason
    assert "error: rollout promote needs --reason TEXT" in capsys.readouterr().out
