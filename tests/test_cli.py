"""The `edgeline` command and the UI decision job, on a temporary local home."""

import io

import pytest
from dagster import DagsterInstance
from PIL import Image

from assets.deployment.publish import read_channel
from orchestration.cli import main
from orchestration.definitions import build_definitions
from resources.environment import local_resources
from resources.registry import APPROVED, REJECTED
from tests.deployment.conftest import register_tiny_version


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path))
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
    assert main(["registry", "approve", model, "1"]) == 2  # no reason given
    assert main(["registry", "approve", model, "1", "--reason", "   "]) == 2  # a blank one
    capsys.readouterr()
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
    assert local_resources(home)["artifacts"].list_keys("raw/images/") == ["raw/images/cat/a.png"]


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
