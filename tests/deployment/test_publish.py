"""The publish path, in both environments: files, checksums, manifest, channel, rollback."""

import hashlib

import boto3
import numpy as np
import onnxruntime as ort
import pytest

from assets.conversion.compact import expand
from assets.deployment.publish import (
    PublishError,
    publish_model_version,
    read_channel,
    recommended_variant,
    update_channel,
)
from edgeline_contract.manifest import MANIFEST_SCHEMA
from resources import IotDeviceJobs
from resources.errors import UnknownModelVersionError
from tests.deployment.conftest import register_tiny_version
from tests.helpers import alter_behind_the_store, unique_name


@pytest.fixture
def model(model_registry) -> str:
    return unique_name("turbine")


def test_publish_writes_verified_files_manifest_then_pointer(artifact_store, model_registry, model):
    version = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, version, "ok", "qa")
    result = publish_model_version(artifact_store, model_registry, model, version)
    assert (result.channel_from, result.channel_to) == (None, version)
    manifest = artifact_store.get_json(result.manifest_key)
    assert manifest["schema"] == MANIFEST_SCHEMA and manifest["version"] == version
    assert manifest["recommended"] == {"pi": "fp16"}  # the faster variant that passed its gate
    assert manifest["threshold"] == 0.5
    card = model_registry.get_model_card(model, version)
    for entry, registered in zip(manifest["variants"], card["variants"], strict=True):
        data = artifact_store.get_bytes(entry["key"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] == registered["sha256"]
        assert entry["key"].startswith(f"deploy/{model}/{version}/")
        session = ort.InferenceSession(data)
        assert session.run(None, {"window": np.ones((1, 4), np.float32)})[0].shape == (1, 4)
    assert artifact_store.get_json(f"deploy/{model}/{version}/iot-job.json")["version"] == version
    pointer = read_channel(artifact_store, model)
    assert pointer["version"] == version and pointer["manifest_key"] == result.manifest_key
    assert (
        pointer["manifest_sha256"]
        == hashlib.sha256(artifact_store.get_bytes(result.manifest_key)).hexdigest()
    )


def test_compact_weights_are_published_beside_the_fp32_file_they_expand_to(
    artifact_store, model_registry
):
    """Older pages keep downloading the fp32 file, which stays published; the compact weights
    are copied, checked, under their own key, and expand to the model the manifest names."""
    model = unique_name("plants")
    task = {"kind": "image-classification", "labels": ["fern", "rose"]}
    version = register_tiny_version(artifact_store, model_registry, model, task, compact=True)
    model_registry.approve(model, version, "ok", "qa")
    result = publish_model_version(artifact_store, model_registry, model, version)
    manifest = artifact_store.get_json(result.manifest_key)
    card = model_registry.get_model_card(model, version)
    fp32, compact = card["variants"][0], card["variants"][2]
    entry = manifest["variants"][0]
    assert entry["sha256"] == fp32["sha256"]
    assert artifact_store.get_bytes(entry["key"]) == artifact_store.get_bytes(fp32["key"])
    (published,) = entry["compact"]
    data = artifact_store.get_bytes(published["key"])
    assert hashlib.sha256(data).hexdigest() == published["sha256"] == compact["sha256"]
    assert len(data) == published["bytes"]
    assert hashlib.sha256(expand(data)).hexdigest() == published["expanded_sha256"]
    assert manifest["recommended"]["web-wasm"] == "fp32"  # a way to download fp32, not a variant
    assert manifest["recommended_encoding"] == {"web-wasm": "fp16"}
    assert result.copied.count(published["key"]) == 1


def _variant(precision: str, p50_ms: float, passed: bool = True) -> dict:
    return {
        "precision": precision,
        "latency": {"threads_1": {"p50_ms": p50_ms}},
        "gate": {"passed": passed},
    }


def test_each_backend_gets_the_variant_measured_best_for_it():
    # on the CPU int8 is fastest and fp16 slowest; wasm and WebGPU rank them as measured there
    variants = [_variant("fp32", 3.0), _variant("fp16", 6.0), _variant("int8", 2.3)]
    assert recommended_variant(variants, "pi") == "int8"
    assert recommended_variant(variants, "web-wasm") == "fp32"
    assert recommended_variant(variants, "web-webgpu") == "fp16"
    # a variant that failed its gate is never recommended, whatever the backend prefers
    failed_fp16 = [_variant("fp32", 3.0), _variant("fp16", 1.0, passed=False)]
    assert recommended_variant(failed_fp16, "web-webgpu") == "fp32"
    assert recommended_variant(failed_fp16, "pi") == "fp32"
    with pytest.raises(PublishError, match="no variant passed"):
        recommended_variant([_variant("fp32", 1.0, passed=False)], "web-wasm")


def test_republishing_is_a_no_op(artifact_store, model_registry, model):
    version = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, version, "ok", "qa")
    publish_model_version(artifact_store, model_registry, model, version)
    before = {k: artifact_store.get_bytes(k) for k in artifact_store.list_keys(f"deploy/{model}/")}
    again = publish_model_version(artifact_store, model_registry, model, version)
    assert again.copied == () and (again.channel_from, again.channel_to) == (version, version)
    assert {
        k: artifact_store.get_bytes(k) for k in artifact_store.list_keys(f"deploy/{model}/")
    } == before


def test_a_version_number_the_registry_reuses_for_other_files_is_refused(
    artifact_store, model_registry, model, tmp_path
):
    """A registry that numbers from one again on the same store (a new group prefix, a group
    made again) once got its v1 "published" by the old v1's manifest: clients were sent the
    old model's files under the new v1."""
    from resources import SqliteModelRegistry

    version = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, version, "ok", "qa")
    publish_model_version(artifact_store, model_registry, model, version)
    before = {k: artifact_store.get_bytes(k) for k in artifact_store.list_keys(f"deploy/{model}/")}
    renumbered = SqliteModelRegistry(path=str(tmp_path / "renumbered.sqlite"))
    reused = register_tiny_version(artifact_store, renumbered, model)
    renumbered.approve(model, reused, "a new model", "qa")
    assert reused == version
    with pytest.raises(PublishError, match=rf"{model} v{version}: .* already holds other files"):
        publish_model_version(artifact_store, renumbered, model, reused)
    after = {k: artifact_store.get_bytes(k) for k in artifact_store.list_keys(f"deploy/{model}/")}
    assert after == before  # the old files and the channel as they were


def test_channel_follows_newest_approved_and_rolls_back(artifact_store, model_registry, model):
    v1 = register_tiny_version(artifact_store, model_registry, model)
    v2 = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, v2, "ok", "qa")
    publish_model_version(artifact_store, model_registry, model, v2)
    model_registry.approve(model, v1, "late", "qa")  # an older version approved afterwards
    result = publish_model_version(artifact_store, model_registry, model, v1)
    assert result.channel_to == v2  # the pointer never goes back to an older approval
    model_registry.reject(model, v2, "field reports", "qa")
    assert update_channel(artifact_store, model_registry, model) == (v2, v1)
    model_registry.reject(model, v1, "also bad", "qa")
    assert update_channel(artifact_store, model_registry, model) == (v1, None)
    assert read_channel(artifact_store, model)["version"] is None


def test_unapproved_version_is_not_published(artifact_store, model_registry, model):
    version = register_tiny_version(artifact_store, model_registry, model)
    with pytest.raises(PublishError, match="PendingManualApproval, not Approved"):
        publish_model_version(artifact_store, model_registry, model, version)
    model_registry.reject(model, version, "no", "qa")
    with pytest.raises(PublishError, match="Rejected, not Approved"):
        publish_model_version(artifact_store, model_registry, model, version)
    assert artifact_store.list_keys(f"deploy/{model}/") == []


@pytest.mark.parametrize("damage", ["tamper", "delete"])
def test_altered_or_missing_artifact_fails_and_pointer_stays(
    artifact_store, model_registry, model, damage
):
    good = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, good, "ok", "qa")
    publish_model_version(artifact_store, model_registry, model, good)
    bad = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, bad, "ok", "qa")
    key = model_registry.get_model_card(model, bad)["variants"][1]["key"]
    if damage == "tamper":
        alter_behind_the_store(artifact_store, key, artifact_store.get_bytes(key) + b"\x00")
    else:
        alter_behind_the_store(artifact_store, key, None)
    message = "does not match the registered sha256" if damage == "tamper" else "is missing"
    with pytest.raises(PublishError, match=message):
        publish_model_version(artifact_store, model_registry, model, bad)
    assert read_channel(artifact_store, model)["version"] == good
    assert not artifact_store.exists(f"deploy/{model}/{bad}/manifest.json")


def test_approving_an_unknown_version_is_refused(model_registry, artifact_store, model):
    register_tiny_version(artifact_store, model_registry, model)
    with pytest.raises(UnknownModelVersionError, match="no version 9"):
        model_registry.approve(model, 9, "ok", "qa")


def test_iot_job_created_once_for_a_thing_group(moto_endpoint):
    iot = boto3.client("iot")
    group = iot.create_thing_group(thingGroupName=unique_name("pi-fleet"))
    jobs = IotDeviceJobs(thing_group_arn=group["thingGroupArn"])
    document = {"operation": "edgeline.update-model", "model": "turbine-autoencoder", "version": 3}
    assert (
        jobs.announce("turbine-autoencoder", 3, document)
        == "iot job edgeline-turbine-autoencoder-v3 created"
    )
    assert "already exists" in jobs.announce("turbine-autoencoder", 3, document)
    described = iot.describe_job(jobId="edgeline-turbine-autoencoder-v3")["job"]
    assert described["targets"] == [group["thingGroupArn"]]
    assert IotDeviceJobs().announce("m", 1, document).startswith("none")
