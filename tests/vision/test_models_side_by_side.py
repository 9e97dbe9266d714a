"""Image models side by side in one home: each is its own partition of the vision lineage, with
its own classes, settings, files and versions; training one never touches another."""

import hashlib

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.vision.assets import vision_assets
from assets.vision.demo_data import generate_demo_images
from resources import layout
from resources.environment import local_resources
from tests.vision.conftest import declare_image_model, write_colour_images

pytestmark = pytest.mark.slow

SMALL = {"image_size": 32, "width_mult": 0.35, "batch_size": 16, "threads": 1, "patience": 12}


def digests(store, prefix: str) -> dict[str, str]:
    return {k: hashlib.sha256(store.get_bytes(k)).hexdigest() for k in store.list_keys(prefix)}


def latest_run(instance, asset: str, model: str) -> str:
    """The run of ``asset``'s newest materialisation for ``model`` (records come newest first)."""
    records = instance.fetch_materializations(AssetKey(asset), limit=100).records
    return next(r.run_id for r in records if r.partition_key == model)


def test_two_image_models_train_side_by_side(tmp_path):
    resources = local_resources(tmp_path)
    store, registry = resources["artifacts"], resources["registry"]
    instance = DagsterInstance.ephemeral()
    # colours: the hue is the class, so no colour jitter or flips: "upright"
    write_colour_images(store, per_class=60, prefix=layout.model_images("colours"))
    declare_image_model(store, instance, "colours", augment="upright", epochs=10, **SMALL)
    # shapes: other classes, photo augmentation (crops, flips, colour)
    for key, data in generate_demo_images(60, 48, seed=3, class_backgrounds=True):
        store.put_bytes(layout.model_images("shapes") + key, data)
    declare_image_model(store, instance, "shapes", augment="photo", epochs=12, **SMALL)
    declare_image_model(store, instance, "not-trained-yet")

    colours = materialize(
        vision_assets, resources=resources, instance=instance, partition_key="colours"
    )
    assert colours.success
    before = {
        "versions": registry.list_versions("colours"),
        "files": digests(store, "models/colours/") | digests(store, layout.model_images("colours")),
        "runs": {
            a: latest_run(instance, a, "colours")
            for a in ("image_classifier", "registered_image_classifier")
        },
    }
    shapes = materialize(
        vision_assets, resources=resources, instance=instance, partition_key="shapes"
    )
    assert shapes.success

    # the shapes run left everything of colours as it was
    assert registry.list_versions("colours") == before["versions"]
    assert (
        digests(store, "models/colours/") | digests(store, layout.model_images("colours"))
        == before["files"]
    )
    assert {
        a: latest_run(instance, a, "colours")
        for a in ("image_classifier", "registered_image_classifier")
    } == before["runs"]
    # each model its own classes, settings and version
    cards = {m: registry.get_model_card(m, 1) for m in ("colours", "shapes")}
    assert cards["colours"]["task"]["labels"] == ["blue", "green", "red"]
    assert cards["shapes"]["task"]["labels"] == sorted(cards["shapes"]["task"]["labels"])
    assert len(cards["shapes"]["task"]["labels"]) >= 4
    assert cards["colours"]["metrics"]["augmentation"] == "upright"
    assert cards["shapes"]["metrics"]["augmentation"] == "photo"
    for card in cards.values():
        assert card["metrics"]["test_accuracy"] >= 0.9
        assert all(v["key"].startswith(f"models/{card['model']}/") for v in card["variants"])
    # the asset graph's state, read through Dagster: a partition per model, each its own status
    registered = AssetKey("registered_image_classifier")
    assert sorted(instance.get_dynamic_partitions("image_models")) == [
        "colours",
        "not-trained-yet",
        "shapes",
    ]
    assert instance.get_materialized_partitions(registered) == {"colours", "shapes"}
    checks = {
        (
            e.asset_check_key.name,
            e.target_materialization_data.run_id if e.target_materialization_data else None,
        )
        for e in shapes.get_asset_check_evaluations()
    }
    assert ("fp16_gate", shapes.run_id) in checks
