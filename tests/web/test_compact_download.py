"""The page downloads fp32's compact weights where the manifest recommends them to wasm, checks
their sha256, expands them in its worker to the model the gate judged, and answers as the fp32
model does; a damaged file is refused before anything runs."""

import hashlib
import json

import numpy as np
import onnxruntime as ort
import pytest

from assets.catalog import SINGLE_IMAGE_MODEL as MODEL_NAME
from assets.conversion.compact import expand
from tests.helpers import alter_behind_the_store, alter_published_manifest
from tests.web.support import approve_and_publish, register_classifier
from tests.web.test_page import classify, page_pixels, wait_for_version

pytestmark = pytest.mark.slow

COMPACT = "model.fp16_weights.weights"


def publish_compact(gateway, files, note: str) -> int:
    version = register_classifier(gateway.store, gateway.registry, files, note, compact=True)
    approve_and_publish(gateway.store, gateway.registry, version)
    return version


def downloads(page) -> list[str]:
    """The model files the page asks the gateway for, by name, as it asks."""
    requested: list[str] = []
    page.on(
        "request",
        lambda request: (
            requested.append(request.url.rsplit("/", 1)[-1])
            if "/v1/artifacts/deploy/" in request.url
            else None
        ),
    )
    return requested


def test_the_page_downloads_compact_weights_and_answers_like_the_fp32_model(
    page, gateway, classifier_files, tmp_path
):
    requested = downloads(page)
    publish_compact(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    assert requested == [COMPACT]  # the fp32 file itself is never fetched
    assert page.get_attribute("body", "data-variant") == "fp32"
    assert page.get_attribute("body", "data-encoding") == "fp16"
    current = page.evaluate("window.edgeline.state.current")
    fp32 = current["variant"]
    (compact,) = fp32["compact"]
    assert current["download"]["sha256"] == compact["sha256"]
    assert compact["bytes"] < 0.5 * fp32["bytes"]  # 0.46 for this small trained model
    assert current["load"]["expand_ms"] > 0
    assert page.inner_text("#model-size") == f"{int(compact['bytes'] / 1e3 + 0.5)} kB"

    # the worker runs the model the gate judged: the expansion the manifest names, which is
    # the fp32 graph with fp16-rounded weights
    published = gateway.store.get_bytes(compact["key"])
    expanded = expand(published)
    assert hashlib.sha256(expanded).hexdigest() == compact["expanded_sha256"]
    as_expanded = ort.InferenceSession(expanded, providers=["CPUExecutionProvider"])
    as_fp32 = ort.InferenceSession(
        str(classifier_files.path("fp32")), providers=["CPUExecutionProvider"]
    )
    to_expanded, to_fp32 = [], []
    for name, data in classifier_files.photos.items():
        result = classify(page, name, data)
        fed = page_pixels(page, name, data)[0][None]
        browser = np.array(
            [
                {e["label"]: e["confidence"] for e in result["top"]}[label]
                for label in classifier_files.labels
            ]
        )
        expected, gated = (
            as_expanded.run(None, {"pixels": fed})[0][0],
            as_fp32.run(None, {"pixels": fed})[0][0],
        )
        to_expanded.append(float(np.abs(browser - expected).max()))
        to_fp32.append(float(np.abs(browser - gated).max()))
        assert result["top"][0]["label"] == classifier_files.labels[int(gated.argmax())], name
        assert result["event"]["variant"] == "fp32"
    print(
        f"probability difference, page vs the expanded model: {max(to_expanded):.2g}; "
        f"vs the fp32 file: {max(to_fp32):.2g}"
    )
    assert max(to_expanded) < 1e-3  # the page runs exactly the expanded model
    assert max(to_fp32) < 1e-2  # within the fp16 gate's tolerance of fp32

    cached = page.evaluate(
        "async () => (await (await caches.open('edgeline-models-v1')).keys()).map((r) => r.url.split('/').pop())"
    )
    assert cached == [compact["sha256"]]  # the compact bytes are kept, not the expansion
    # ?encoding=none: the fp32 file itself (the benchmark's baseline, an older page's download)
    requested.clear()
    page.goto(gateway.url + "/?encoding=none")
    wait_for_version(page, 1)
    assert requested == ["model.fp32.onnx"]
    assert page.get_attribute("body", "data-encoding") == ""
    assert page.page_errors == []


def test_damaged_compact_weights_are_refused_and_nothing_runs(page, gateway, classifier_files):
    version = publish_compact(gateway, classifier_files, "v1")
    key = f"deploy/{MODEL_NAME}/{version}/{COMPACT}"
    damaged = bytearray(gateway.store.get_bytes(key))
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte
    alter_behind_the_store(gateway.store, key, bytes(damaged))

    page.goto(gateway.url + "/")
    page.wait_for_selector("body[data-status='error']")
    notice = page.inner_text("#notice")
    assert "v1 was not used" in notice and COMPACT in notice and "sha256" in notice, notice
    assert "no model to use yet" in notice.lower()
    assert page.get_attribute("body", "data-model-version") == ""
    refused = page.evaluate(
        """async () => {
            try { await window.edgeline.preprocess(new Blob([])); return null; }
            catch (error) { return error.message; }
        }"""
    )
    assert refused == "no model is loaded"
    cached = page.evaluate(
        "async () => (await (await caches.open('edgeline-models-v1')).keys()).length"
    )
    assert cached == 0  # the damaged bytes were never stored


def test_compact_weights_that_do_not_expand_to_the_gated_model_are_refused(
    page, gateway, classifier_files
):
    """The download matches its sha256, but its expansion is not the model the manifest says the
    gate judged: the worker refuses it before creating a session, and nothing is kept."""
    publish_compact(gateway, classifier_files, "v1")

    def wrong_expansion(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["variants"][0]["compact"][0]["expanded_sha256"] = "0" * 64
        return json.dumps(manifest).encode()

    alter_published_manifest(gateway.store, MODEL_NAME, wrong_expansion)

    page.goto(gateway.url + "/")
    page.wait_for_selector("body[data-status='error']")
    notice = page.inner_text("#notice")
    assert f"{COMPACT} expands to sha256" in notice and "not the manifest's 000000000000" in notice
    assert page.get_attribute("body", "data-model-version") == ""
    cached = page.evaluate(
        "async () => (await (await caches.open('edgeline-models-v1')).keys()).length"
    )
    assert cached == 0
