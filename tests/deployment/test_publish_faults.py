"""Publishing under faults, in both environments: the same version published twice at once,
and a Dagster run SIGKILLed half-way. The channel never names a half-published version and its
hash always matches the manifest."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assets.deployment.publish import publish_model_version, read_channel
from tests.deployment.conftest import register_tiny_version
from tests.deployment.publish_run import run_publish_job
from tests.helpers import unique_name

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def pointer_matches_manifest(store, model: str) -> int:
    pointer = read_channel(store, model)
    manifest = store.get_bytes(pointer["manifest_key"])
    assert pointer["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    return pointer["version"]


def test_the_same_version_published_twice_at_once(artifact_store, model_registry):
    """Once the manifest embedded its publish time: two publishers at once left the pointer's
    hash naming neither manifest (8 of 8 tries)."""
    model = unique_name("turbine")
    for _ in range(4):
        version = register_tiny_version(artifact_store, model_registry, model)
        model_registry.approve(model, version, "ok", "qa")
        errors: list[Exception] = []

        def publish(version=version, errors=errors):
            try:
                publish_model_version(artifact_store, model_registry, model, version)
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=publish) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        assert pointer_matches_manifest(artifact_store, model) == version
        first = artifact_store.get_bytes(f"deploy/{model}/{version}/manifest.json")
        publish_model_version(artifact_store, model_registry, model, version)
        assert artifact_store.get_bytes(f"deploy/{model}/{version}/manifest.json") == first


def _spec(environment, artifact_store, model_registry, tmp_path, model, version) -> dict:
    spec = {
        "env": environment,
        "model": model,
        "version": version,
        "pause_after": 1,  # one model file copied, then killed
        "marker": str(tmp_path / "paused"),
        "io_dir": str(tmp_path / "io"),
    }
    if environment == "local":
        spec.update(root=artifact_store.root, registry=str(tmp_path / "registry.sqlite"))
    else:
        spec.update(
            bucket=artifact_store.bucket,
            prefix=artifact_store.prefix,
            group_prefix=model_registry.group_prefix,
        )
    return spec


def test_a_publish_run_killed_half_way(environment, artifact_store, model_registry, tmp_path):
    model = unique_name("turbine")
    v1 = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, v1, "ok", "qa")
    publish_model_version(artifact_store, model_registry, model, v1)
    v2 = register_tiny_version(artifact_store, model_registry, model)
    model_registry.approve(model, v2, "ok", "qa")
    spec = _spec(environment, artifact_store, model_registry, tmp_path, model, v2)
    run = subprocess.Popen(
        [sys.executable, "-m", "tests.deployment.publish_run", json.dumps(spec)],
        cwd=REPO,
        env={**os.environ},
    )
    deadline = time.monotonic() + 120
    while not Path(spec["marker"]).exists():
        assert run.poll() is None and time.monotonic() < deadline, "the run never paused"
        time.sleep(0.1)
    run.send_signal(signal.SIGKILL)  # the run process dies half-way: one file copied
    run.wait(timeout=30)
    assert artifact_store.exists(f"deploy/{model}/{v2}/model.fp32.onnx")
    assert not artifact_store.exists(f"deploy/{model}/{v2}/manifest.json")
    assert pointer_matches_manifest(artifact_store, model) == v1  # clients still get v1, whole
    assert run_publish_job(spec, pausing=False, io_dir=str(tmp_path / "io-rerun"))  # a re-run
    assert pointer_matches_manifest(artifact_store, model) == v2
