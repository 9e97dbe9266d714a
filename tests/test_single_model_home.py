"""A home written by Edgeline before models were declared (commit 6624f4c, by
tests/fixtures/single_model_home/make_home.py) keeps working: its images, readings, versions
and channels become its two models' partitions, with no retraining and no version lost."""

import hashlib
import tarfile
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from assets.catalog import declared_models
from assets.deployment.publish import read_channel
from assets.vision.assets import image_dataset, raw_images
from assets.vision.review import accept_images, pending_images
from orchestration.cli import main
from resources.environment import local_resources

ARCHIVE = Path(__file__).parent / "fixtures" / "single_model_home" / "home.tar.gz"


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }


@pytest.fixture
def old_home(tmp_path, monkeypatch):
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path / "home", filter="data")
    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return tmp_path / "home"


def test_a_single_model_home_becomes_two_models(old_home, capsys):
    artifacts = old_home / "artifacts"
    images_before = digests(artifacts / "raw" / "images")
    published_before = digests(artifacts / "deploy") | digests(artifacts / "models")
    readings_before = digests(artifacts / "raw" / "sensors")
    resources = local_resources(old_home)
    store, registry = resources["artifacts"], resources["registry"]
    versions_before = {m: registry.list_versions(m) for m in registry.list_models()}
    old_card = registry.get_model_card("image-classifier", 1)

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "image-classifier (image)  36 images: blue 12, green 12, red 12" in out
    assert "newest v2 PendingManualApproval; channels: stable -> v1; clients: web-wasm" in out
    assert "turbine-autoencoder (sensor)  profile wind-turbine, 1 days of readings" in out
    assert "newest v2 Rejected; channels: stable -> v1; clients: pi" in out

    specs = {m.name: m for m in declared_models(store)}
    assert set(specs) == {"image-classifier", "turbine-autoencoder"}
    assert (specs["turbine-autoencoder"].kind, specs["turbine-autoencoder"].profile) == (
        "sensor",
        "wind-turbine",
    )
    # the same bytes, one folder down; versions, channels, files and readings untouched
    assert digests(artifacts / "raw" / "images") == {
        f"image-classifier/{key}": digest for key, digest in images_before.items()
    }
    assert digests(artifacts / "deploy") | digests(artifacts / "models") == published_before
    assert digests(artifacts / "raw" / "sensors") == readings_before
    assert {m: registry.list_versions(m) for m in registry.list_models()} == versions_before
    assert read_channel(store, "image-classifier")["version"] == 1
    assert read_channel(store, "turbine-autoencoder")["version"] == 1

    # the model is a partition, and its data is the data v1 was trained on: nothing to retrain
    with DagsterInstance.from_config(str(old_home / "dagster")) as instance:
        assert instance.get_dynamic_partitions("image_models") == ["image-classifier"]
        run = materialize(
            [raw_images, image_dataset],
            resources=resources,
            instance=instance,
            partition_key="image-classifier",
        )
    assert run.output_for_node("image_dataset").data_version == old_card["lineage"]["data_version"]

    # the photo that waited for review belongs to that model
    (shared,) = pending_images(store)
    assert shared.model == "image-classifier"
    (target,) = accept_images(store, [shared.key], "qa")
    assert target.startswith("raw/images/image-classifier/red/reviewed-")

    # upgrading twice changes nothing
    assert main(["models", "list"]) == 0
    assert "36 images" not in capsys.readouterr().out  # 37 now, with the accepted photo
    assert len(store.list_keys("raw/images/image-classifier/")) == 37
