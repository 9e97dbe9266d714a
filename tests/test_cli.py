"""The `edgeline` command and the UI decision job, on a temporary local home."""

import io

import pytest
from dagster import AssetKey, DagsterInstance
from PIL import Image

from assets.catalog import declared_models, read_model
from assets.deployment.publish import read_channel
from orchestration.cli import LIVE, main
from orchestration.definitions import build_definitions
from orchestration.jobs import record_readings, stretches
from orchestration.models import add_model_partitions
from resources.environment import local_resources
from resources.registry import APPROVED, REJECTED
from tests.deployment.conftest import register_tiny_version


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return tmp_path


def test_registry_commands_move_the_channel_at_once(home, capsys):
    """No daemon runs here: an approval or a revocation made with the CLI still reaches the
    clients at once (a decision in SageMaker waits for the sensor's next tick)."""
    resources = local_resources(home)
    registry, store = resources["registry"], resources["artifacts"]
    model = "turbine-autoencoder"
    register_tiny_version(store, registry, model)
    register_tiny_version(store, registry, model)
    approve = ["registry", "approve", model, "1", "--reason", "looks good", "--by", "ana"]
    assert main(approve) == 0
    assert read_channel(store, model)["version"] == 1
    assert main(["registry", "approve", model, "2", "--reason", "better"]) == 0
    assert read_channel(store, model)["version"] == 2
    assert main(["registry", "reject", model, "2", "--reason", "worse"]) == 0
    assert read_channel(store, model)["version"] == 1  # rolled back without a sensor tick
    assert main(["registry", "list"]) == 0
    out = capsys.readouterr().out
    assert "stable channel moved: v2 -> v1" in out
    assert f"{model} v1  Approved (looks good, by ana)" in out
    assert f"{model} v2  Rejected (worse" in out
    for blank in ([], ["--reason", "   "]):  # no reason given, or a blank one
        assert main(["registry", "approve", model, "1", *blank]) == 2
        assert capsys.readouterr().out == (
            "error: registry approve needs MODEL VERSION --reason TEXT\n"
        )
    # refused transitions and unknown models: one clear line, exit 2, no traceback
    for command, expected in (
        (["registry", "approve", model, "2", "--reason", "again"], "it cannot become Approved"),
        (["registry", "approve", "nope", "1", "--reason", "x"], "nope"),
        (["registry", "approve", model, "9", "--reason", "x"], "no version 9"),
        (["registry", "reject", model, "1", "--reason", "x" * 501], "at most 500"),
        (["registry", "list", "nope"], "nope"),
    ):
        assert main(command) == 2, command
        out = capsys.readouterr().out
        assert out.startswith("error: ") and expected in out and "Traceback" not in out
        assert out.count("\n") == 1
    assert registry.describe_version(model, 2).status == REJECTED
    assert read_channel(store, model)["version"] == 1


def test_ingest_images_command(home, tmp_path, capsys):
    folder = tmp_path / "photos" / "cat"
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="PNG")
    (folder / "a.png").write_bytes(buffer.getvalue())
    assert main(["ingest-images", str(tmp_path / "photos")]) == 0
    assert main(["ingest-images", str(tmp_path / "photos"), "--model", "pets"]) == 0
    store = local_resources(home)["artifacts"]
    assert store.list_keys("raw/images/") == [
        "raw/images/image-classifier/cat/a.png",
        "raw/images/pets/cat/a.png",
    ]
    assert [m.name for m in declared_models(store, "image")] == ["image-classifier", "pets"]
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert instance.get_dynamic_partitions("image_models") == ["image-classifier", "pets"]
    assert main(["ingest-images", str(tmp_path / "photos"), "--model", "Not A Name"]) == 2
    assert "model name 'Not A Name' is invalid" in capsys.readouterr().out


def test_models_add_and_list(home, capsys):
    resources = local_resources(home)
    store = resources["artifacts"]
    add = ["models", "add", "signs", "--set", "augment=upright", "--set", "epochs=3"]
    assert main(add) == 0
    assert main(["models", "add", "signs", "--set", "augment=photo"]) == 2
    assert "already declared" in capsys.readouterr().out
    assert main(["models", "add", "signs", "--set", "epocs=3", "--replace"]) == 2
    assert "unknown training settings ['epocs']" in capsys.readouterr().out
    assert main(["models", "add", "signs", "--set", "augment=sideways", "--replace"]) == 2
    assert "training settings augment='sideways': use one of photo" in capsys.readouterr().out
    assert main(["models", "add", "pump-model", "--kind", "sensor"]) == 2
    assert "needs the profile" in capsys.readouterr().out
    assert main(["models", "add", "pump-model", "--kind", "sensor", "--profile", "pump"]) == 0
    assert read_model(store, "signs").training == {"augment": "upright", "epochs": 3}
    register_tiny_version(store, resources["registry"], "old-model")
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "signs (image)  0 images: none yet" in out
    assert "pump-model (sensor)  profile pump, no readings" in out
    assert "turbine-autoencoder (sensor)  profile wind-turbine, no readings" in out  # built in
    assert "old-model (?)  not declared" in out
    assert "newest v1 PendingManualApproval; channels: none; clients: none" in out


def test_registry_decision_job(home):
    resources = local_resources(home)
    registry = resources["registry"]
    register_tiny_version(resources["artifacts"], registry, "turbine-autoencoder")
    defs = build_definitions(resources)
    config = {
        "model": "turbine-autoencoder",
        "version": 1,
        "decision": "approve",
        "reason": "from the UI",
        "by": "ana",
    }
    result = defs.resolve_job_def("registry_decision").execute_in_process(
        run_config={"ops": {"record_registry_decision": {"config": config}}},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    assert read_channel(resources["artifacts"], "turbine-autoencoder")["version"] == 1  # at once
    decided = registry.describe_version("turbine-autoencoder", 1)
    assert (decided.status, decided.status_reason, decided.status_by) == (
        APPROVED,
        "from the UI",
        "ana",
    )
    refused = defs.resolve_job_def("registry_decision").execute_in_process(
        run_config={"ops": {"record_registry_decision": {"config": {**config, "version": 9}}}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not refused.success  # an unknown version fails the run clearly
    assert "no version 9" in str(refused.all_events)


def test_a_spec_file_declares_several_models_all_or_none(home, tmp_path, capsys):
    spec = tmp_path / "models.yaml"
    spec.write_text(
        "models:\n"
        "  - name: plants\n"
        "    training: {augment: photo, epochs: 30}\n"
        "  - name: signs\n"
        "    training: {augment: upright}\n"
        "  - name: pump-autoencoder\n"
        "    kind: sensor\n"
        "    profile: pump\n"
    )
    assert main(["models", "add", "--file", str(spec)]) == 0
    store = local_resources(home)["artifacts"]
    assert read_model(store, "plants").training == {"augment": "photo", "epochs": 30}
    assert read_model(store, "pump-autoencoder", "sensor").profile == "pump"
    # a bad entry stops the file before anything of it is stored
    bad = tmp_path / "more.toml"
    bad.write_text(
        '[[models]]\nname = "weeds"\n\n[[models]]\nname = "plants"\ntraining = {epochs = 5}\n'
    )
    assert main(["models", "add", "--file", str(bad)]) == 2
    assert "model plants is already declared" in capsys.readouterr().out
    assert [m.name for m in declared_models(store)] == [  # no weeds
        "plants",
        "pump-autoencoder",
        "signs",
        "turbine-autoencoder",
    ]
    typo = tmp_path / "typo.json"
    typo.write_text('{"name": "weeds", "trainig": {"epochs": 5}}')
    assert main(["models", "add", "--file", str(typo)]) == 2
    assert "unknown fields ['trainig']" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [name: plants\n")
    for path in (broken, tmp_path / "missing.yaml"):
        assert main(["models", "add", "--file", str(path)]) == 2
        assert "not readable" in capsys.readouterr().out


def test_registry_list_marks_the_version_each_stable_channel_serves(home, capsys):
    resources = local_resources(home)
    registry, store = resources["registry"], resources["artifacts"]
    for model in ("turbine-autoencoder", "turbine-autoencoder", "pump-autoencoder"):
        register_tiny_version(store, registry, model)
    for version in (1, 2):
        assert (
            main(["registry", "approve", "turbine-autoencoder", str(version), "--reason", "ok"])
            == 0
        )
    capsys.readouterr()

    def listed() -> dict[str, str]:
        assert main(["registry", "list"]) == 0
        lines = capsys.readouterr().out.splitlines()
        return {" ".join(line.split()[:2]): line for line in lines}

    lines = listed()
    assert lines["turbine-autoencoder v2"].endswith(LIVE)
    assert not lines["turbine-autoencoder v1"].endswith(LIVE)  # approved, but not served
    assert not lines["pump-autoencoder v1"].endswith(LIVE)
    assert lines["pump-autoencoder: never"] == "pump-autoencoder: never published"
    assert main(["registry", "reject", "turbine-autoencoder", "2", "--reason", "worse"]) == 0
    lines = listed()
    assert lines["turbine-autoencoder v1"].endswith(LIVE)  # the channel went back to v1
    assert not lines["turbine-autoencoder v2"].endswith(LIVE)
    assert main(["registry", "reject", "turbine-autoencoder", "1", "--reason", "both bad"]) == 0
    lines = listed()
    assert not any(line.endswith(LIVE) for line in lines.values())
    assert lines["turbine-autoencoder: no"] == "turbine-autoencoder: no version is live"


def test_help_names_every_argument_with_its_default(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps at the terminal's width
    for command, expected in (
        ([], ["registry", "approve or reject", "train-images", "train-sensors"]),
        (
            ["registry"],
            [
                "list: every version with its status",
                "the model (list: all when left out)",
                "approve, reject: its number",
                "approve, reject: why (required",
                "who decides (default: ",
            ],
        ),
        (["train-images"], ["a declared image model's name (default: image-classifier)"]),
        (["train-sensors"], ["(default: wind-turbine)", "training epochs (default: 25)"]),
        (["dev"], ["simulated Pi agents (default: 3)", "(default: 127.0.0.1)"]),
    ):
        with pytest.raises(SystemExit) as shown:
            main([*command, "--help"])
        out = capsys.readouterr().out
        assert shown.value.code == 0 and all(text in out for text in expected), (command, out)
        assert "(later)" not in out and "(default: None)" not in out
        assert "(default: False)" not in out


def test_usage_errors_start_with_error(home, capsys):
    assert main(["models", "add"]) == 2
    assert capsys.readouterr().out.startswith("error: models add needs NAME")
    with pytest.raises(SystemExit) as usage:  # argparse's own, on stderr
        main(["registry", "decide"])
    assert usage.value.code == 2
    assert "edgeline registry: error: argument action: invalid choice" in capsys.readouterr().err


def test_recording_days_takes_one_run_per_unbroken_stretch_of_days(home):
    """`edgeline train-sensors` (and the demo) recorded a run per day: 14 runs for 14 days.
    A run can cover a range of one profile's days, so one per stretch without a gap."""
    assert stretches(["2026-11-05", "2026-10-31", "2026-11-01", "2026-11-02"]) == [
        ("2026-10-31", "2026-11-02"),
        ("2026-11-05", "2026-11-05"),
    ]
    resources = local_resources(home)
    defs = build_definitions(resources)
    days = ["2026-10-31", "2026-11-01", "2026-11-02", "2026-11-05"]
    config = {"ops": {"raw_sensor_data": {"config": {"turbines": 1}}}}
    with DagsterInstance.ephemeral() as instance:
        add_model_partitions(instance, resources["artifacts"])
        runs = record_readings(defs, instance, "wind-turbine", days, config)
        assert [run.success for run in runs] == [True, True]
        assert len(instance.get_runs()) == 2
        recorded = instance.get_materialized_partitions(AssetKey("raw_sensor_data"))
        assert recorded == {f"{day}|wind-turbine" for day in days}
        # each day its own metadata, also in the run that recorded three
        for event in runs[0].asset_materializations_for_node("raw_sensor_data"):
            day = event.partition.split("|")[0]
            assert event.metadata["first_reading"].value.startswith(day)
            assert event.metadata["rows"].value > 0
