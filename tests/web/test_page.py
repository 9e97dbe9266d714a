"""The web page in Debian's Chromium: real onnxruntime-web (threaded wasm), a real gateway over
HTTP, real Cache Storage, IndexedDB and service worker."""

import base64
import io
import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image, ImageOps

from assets.catalog import SINGLE_IMAGE_MODEL as MODEL_NAME
from assets.deployment.publish import update_channel
from assets.vision.dataset import decode_pixels
from clients.gateway.web_tokens import WebTokenSigner
from tests.gateway.server import SECRET
from tests.helpers import alter_behind_the_store, alter_published_manifest
from tests.web.support import (
    COLOURS,
    IMAGE_SIZE,
    approve_and_publish,
    photo,
    register_classifier,
    with_orientation,
)

pytestmark = pytest.mark.slow

MIME = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def publish_version(gateway, files, note: str) -> int:
    """Register a version of the test classifier, approve and publish it; its number."""
    version = register_classifier(gateway.store, gateway.registry, files, note)
    approve_and_publish(gateway.store, gateway.registry, version)
    return version


def wait_for_version(page, version: int | str, timeout_ms: int = 30_000) -> None:
    page.wait_for_selector(
        f"body[data-model-version='{version}']", state="attached", timeout=timeout_ms
    )


def classify(page, name: str, data: bytes) -> dict:
    """Classify through the page's own path (worker, preprocessing, telemetry), as a drop would."""
    return page.evaluate(
        """async ([b64, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const result = await window.edgeline.classify(new Blob([bytes], { type }));
            return { top: result.top, timings: result.timings, event: result.event };
        }""",
        [base64.b64encode(data).decode(), MIME[name.rsplit(".", 1)[1]]],
    )


def page_pixels(page, name: str, data: bytes) -> tuple[np.ndarray, list[int]]:
    """The float32 CHW pixels the page's worker feeds its model for this photo, and the upright
    size it decoded the photo at."""
    result = page.evaluate(
        """async ([b64, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const { pixels, size, decoded } = await window.edgeline.preprocess(new Blob([bytes], { type }));
            return { pixels: Array.from(pixels), size, decoded };
        }""",
        [base64.b64encode(data).decode(), MIME[name.rsplit(".", 1)[1]]],
    )
    size = result["size"]
    return np.array(result["pixels"], np.float32).reshape(3, size, size), result["decoded"]


def stored_web_events(gateway) -> list[dict]:
    now = datetime.now(UTC)
    return gateway.telemetry.read("web", now - timedelta(hours=1), now + timedelta(minutes=5))


def wait_until(condition, timeout_s: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def flush(page) -> dict:
    page.evaluate("window.edgeline.flushTelemetry()")
    return page.evaluate("window.edgeline.telemetryStats()")


def test_page_classifies_like_python_onnxruntime(
    page, gateway, classifier_files, artifacts_dir, tmp_path
):
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    runtime = page.evaluate("({isolated: crossOriginIsolated, ...window.edgeline.state.runtime})")
    assert runtime["isolated"] and runtime["backend"] == "wasm"
    assert runtime["threads"] == min(4, runtime["cores"])  # threaded wasm when cores allow

    # the real file input, as a person would choose a photo
    name, data = "blue-wide.jpg", classifier_files.photos["blue-wide.jpg"]
    (tmp_path / name).write_bytes(data)
    page.set_input_files("#photo-input", str(tmp_path / name))
    page.wait_for_selector("#predictions li")
    items = page.locator("#predictions li")
    assert items.count() == len(classifier_files.labels)  # top 5 of 4 classes: all of them
    assert items.first.locator(".label").inner_text() == "blue"
    page.screenshot(path=str(artifacts_dir / "web-result.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, nothing cut off
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "web-result-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 860})

    # Two checks, each on what it is about: the page's pixels against the training pipeline's
    # (decoders and resamplers differ a little between Chromium and Pillow), and the page's
    # answer against Python onnxruntime's on the very pixels the page fed its model. (Comparing
    # probabilities across the two preprocessings measured the model's sensitivity instead: it
    # moved by up to 0.09 on one CPU and 0.002 on another.)
    session = ort.InferenceSession(
        str(classifier_files.path("fp32")), providers=["CPUExecutionProvider"]
    )
    pixel_differences, answer_differences = [], []
    for name, data in classifier_files.photos.items():
        result = classify(page, name, data)
        fed, _ = page_pixels(page, name, data)
        pipeline = decode_pixels(data, IMAGE_SIZE).astype(np.float32)
        pixel_differences.append(float(np.abs(fed - pipeline).mean()))
        reference = session.run(None, {"pixels": fed[None]})[0][0]
        browser = {entry["label"]: entry["confidence"] for entry in result["top"]}
        answer_differences.append(
            max(
                abs(browser[label] - p)
                for label, p in zip(classifier_files.labels, reference, strict=True)
            )
        )
        assert result["top"][0]["label"] == classifier_files.labels[int(reference.argmax())]
        assert result["top"][0]["label"] in name, name  # and the model is right about them
    print(
        f"mean pixel difference, page vs pipeline: at most {max(pixel_differences):.2f} of 255; "
        f"probability difference, page vs Python on the same pixels: {max(answer_differences):.2g}"
    )
    assert max(pixel_differences) < 4.0  # the same geometry and orientation: a few levels
    assert max(answer_differences) < 1e-3  # onnxruntime-web's wasm computes what the CPU does

    stats = wait_until(
        lambda: (s := flush(page))["sent"] == 1 + len(classifier_files.photos) and s,
        what="telemetry",
    )
    assert stats["queued"] == 0 and stats["rejected"] == stats["dropped"] == 0
    events = stored_web_events(gateway)
    assert len(events) == 1 + len(classifier_files.photos)
    browser_id = page.evaluate("window.edgeline.state.session.browserId")
    for event in events:
        assert (event["model"], event["model_version"], event["variant"]) == (MODEL_NAME, 1, "fp32")
        assert event["backend"] == "wasm" and event["threads"] == runtime["threads"]
        assert event["device_id"] == browser_id and len(event["top_k"]) == 4
        assert "image_key" not in event  # sharing is off unless the person turns it on
    assert gateway.store.list_keys("incoming/") == []
    assert page.page_errors == []


def test_a_phone_photo_of_12_mp_is_decoded_reduced_and_answers_like_the_pipeline(
    page, gateway, classifier_files
):
    """A phone's 12 MP JPEG (upright, and stored sideways with EXIF orientation) is decoded at
    the reduced scale the pipeline's Pillow decodes it at (JPEG's DCT scaling, not 4032 x 3024
    pixels), gives the model the pipeline's pixels within the tolerance the small photos have,
    and the pipeline's answer."""
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    session = ort.InferenceSession(
        str(classifier_files.path("fp32")), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(12)
    upright = photo(COLOURS["green"], rng, 4032, 3024, "JPEG")
    photos = {"green-12mp.jpg": upright, "green-12mp-portrait.jpg": with_orientation(upright)}
    differences = {}
    for name, data in photos.items():
        result = classify(page, name, data)
        fed, decoded = page_pixels(page, name, data)
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (2 * IMAGE_SIZE, 2 * IMAGE_SIZE))  # as fit_square decodes it
            drafted = ImageOps.exif_transpose(image).size
        pipeline = decode_pixels(data, IMAGE_SIZE).astype(np.float32)
        assert tuple(decoded) == drafted == ((504, 378) if "portrait" not in name else (378, 504))
        assert float(np.abs(fed - pipeline).mean()) < 4.0, name  # as for the small photos
        expected = session.run(None, {"pixels": pipeline[None]})[0][0]
        on_fed = session.run(None, {"pixels": fed[None]})[0][0]
        browser = np.array(
            [
                {e["label"]: e["confidence"] for e in result["top"]}[label]
                for label in classifier_files.labels
            ]
        )
        assert result["top"][0]["label"] == "green" == classifier_files.labels[expected.argmax()]
        assert np.abs(browser - on_fed).max() < 1e-3  # the page ran what Python runs
        differences[name] = (
            float(np.abs(fed - pipeline).mean()),
            float(np.abs(browser - expected).max()),
        )
    print(
        f"12 MP: mean pixel difference and largest probability difference, page vs pipeline: {differences}"
    )
    assert page.page_errors == []


def test_sharing_is_opt_in_and_sends_the_label(page, gateway, classifier_files):
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    assert not page.is_checked("#share") and page.is_disabled("#share-label")
    page.check("#share")
    page.fill("#share-label", "green")
    result = classify(page, "green-tall.png", classifier_files.photos["green-tall.png"])
    key = result["event"]["image_key"]
    assert gateway.store.get_bytes(key) == classifier_files.photos["green-tall.png"]
    sidecar = gateway.store.get_json(key + ".json")
    assert sidecar["label"] == "green" and sidecar["device_id"] == result["event"]["device_id"]
    wait_until(lambda: flush(page)["sent"] == 1, what="telemetry")
    assert stored_web_events(gateway)[0]["image_key"] == key


def test_a_photo_that_fails_is_reported_as_an_error_without_a_prediction(
    page, gateway, classifier_files
):
    """A file that says it is a JPEG but is not one: the page says it could not classify it and
    reports an error event (why, no prediction), which the gateway stores beside the answers,
    so that a version failing on real photos shows in its failure rate."""
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    page.set_input_files(
        "#photo-input",
        files=[{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8not a jpeg"}],
    )
    page.wait_for_selector("text=Could not classify this photo")
    classify(page, "green-tall.png", classifier_files.photos["green-tall.png"])
    wait_until(lambda: flush(page)["sent"] == 2, what="telemetry")
    failed, answered = sorted(stored_web_events(gateway), key=lambda e: "top_k" in e)
    assert failed["outcome"] == "error" and "top_k" not in failed
    assert 0 < len(failed["failure"]) <= 200 and failed["model_version"] == 1
    assert "outcome" not in answered and answered["top_k"][0]["label"]


@pytest.mark.parametrize("gateway_settings", [{"web_sharing": False}])
def test_the_page_says_when_the_gateway_takes_no_shared_photos(page, gateway, classifier_files):
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    assert page.get_attribute("body", "data-sharing") == "off"
    assert page.is_disabled("#share") and page.is_disabled("#share-label")
    assert "does not take shared photos" in page.inner_text("#share-off")
    result = classify(page, "green-tall.png", classifier_files.photos["green-tall.png"])
    assert "image_key" not in result["event"]
    assert gateway.store.list_keys("incoming/") == []


def test_page_follows_approvals_and_revocations_without_reload(page, gateway, classifier_files):
    store, registry = gateway.store, gateway.registry
    publish_version(gateway, classifier_files, "v1")
    downloads: list[str] = []
    page.on("request", lambda r: downloads.append(r.url) if r.url.endswith(".onnx") else None)
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    photo = classifier_files.photos["red-tall.png"]
    assert classify(page, "red-tall.png", photo)["event"]["model_version"] == 1

    publish_version(gateway, classifier_files, "v2")
    wait_for_version(page, 2)  # the periodic check (1 s here) switched it, no reload
    assert "Switched from v1 to v2" in page.inner_text("#notice")
    assert classify(page, "red-tall.png", photo)["event"]["model_version"] == 2

    registry.reject(MODEL_NAME, 2, reason="regression found", by="qa")
    update_channel(store, registry, MODEL_NAME)  # what the channel_rollback job does
    wait_for_version(page, 1)
    assert "v2 was revoked: back to v1" in page.inner_text("#notice")
    assert classify(page, "red-tall.png", photo)["event"]["model_version"] == 1
    # each file was downloaded once: going back to v1 came from the page's cache
    assert sorted(u.rsplit("/", 2)[-2] for u in downloads) == ["1", "2"]

    registry.reject(MODEL_NAME, 1, reason="all revoked", by="qa")
    update_channel(store, registry, MODEL_NAME)
    page.wait_for_selector("body[data-status='paused']")
    assert "v1 was revoked" in page.inner_text("#notice")
    refused = page.evaluate(
        """async () => { try { await window.edgeline.classify(new Blob([])); return null; }
                         catch (error) { return error.message; } }"""
    )
    assert "revoked" in refused and "paused" in refused
    wait_until(lambda: flush(page)["sent"] == 3, what="telemetry")
    assert [
        e["model_version"] for e in sorted(stored_web_events(gateway), key=lambda e: e["timestamp"])
    ] == [1, 2, 1]


def test_on_a_phone_the_answer_scrolls_into_view_and_touch_gets_no_drop_hint(
    browser, gateway, classifier_files
):
    publish_version(gateway, classifier_files, "v1")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    phone = context.new_page()
    try:
        phone.goto(gateway.url + "/")
        wait_for_version(phone, 1)
        assert phone.inner_text("#drop-hint") == "Choose a photo, or take one:"
        assert "No predictions sent yet" in phone.inner_text("#telemetry-stats")
        photo = classifier_files.photos["red-tall.png"]
        below = phone.evaluate("document.getElementById('result-card').getBoundingClientRect().top")
        assert below > 844 * 0.6  # one column: the answer starts at the bottom of the screen
        phone.set_input_files(
            "#photo-input", files=[{"name": "red.png", "mimeType": "image/png", "buffer": photo}]
        )
        phone.wait_for_selector("body[data-answers='1']", state="attached")
        top = phone.evaluate("document.getElementById('result-card').getBoundingClientRect().top")
        assert 0 <= top < 844 * 0.5, top  # scrolled to the answer
        wait_until(lambda: "1 prediction reported." in phone.inner_text("#telemetry-stats"))
    finally:
        context.close()


def least_sure_photo(files) -> tuple[str, str]:
    """The photo (and its class) that Python onnxruntime answers right with the least
    confidence, through the pipeline's preprocessing. Which one that is depends on the CPU the
    classifier was trained on: red-small.webp was 0.987 on one and above 0.999999 on another."""
    session = ort.InferenceSession(str(files.path("fp32")), providers=["CPUExecutionProvider"])
    answered_right = []
    for name, data in files.photos.items():
        pixels = decode_pixels(data, IMAGE_SIZE).astype(np.float32)
        probabilities = session.run(None, {"pixels": pixels[None]})[0][0]
        label = name.split("-")[0]
        if files.labels[int(probabilities.argmax())] == label:
            answered_right.append((float(probabilities.max()), name, label))
    confidence, name, label = min(answered_right)
    assert confidence < 0.99, f"every photo is answered at {confidence:.4f} or more"
    return name, label


def test_the_page_names_its_classes_and_says_when_it_is_not_sure(
    page, gateway, classifier_files, artifacts_dir
):
    """v1's manifest has no unsure_below (a version published before it existed): the page
    falls back to min(0.5, 2 / 4 classes) and names a confident answer as before. v2's
    validation baseline says "not sure" below 0.999999: the same photo is answered below it, so
    the page says it may be none of the classes, and still lists them with their confidence."""
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    assert page.inner_text("#model-classes") == "This model knows: amber, blue, green, red."
    name, label = least_sure_photo(classifier_files)  # 0.93-0.96 here: far from 0.999999
    first = classify(page, name, classifier_files.photos[name])["top"][0]
    assert first["label"] == label and 0.5 < first["confidence"] < 0.999999
    assert page.is_hidden("#result-unsure")
    assert "unsure" not in page.get_attribute("#result-card", "class")
    assert page.locator("#predictions li .label").first.inner_text() == label

    version = register_classifier(
        gateway.store, gateway.registry, classifier_files, "v2", baseline={"unsure_below": 0.999999}
    )
    approve_and_publish(gateway.store, gateway.registry, version)
    wait_for_version(page, 2)
    again = classify(page, name, classifier_files.photos[name])["top"]
    assert again[0]["confidence"] == pytest.approx(first["confidence"])  # the same weights
    assert page.inner_text("#result-unsure") == (
        "Not sure — this photo may not be any of: amber, blue, green, red."
    )
    assert "unsure" in page.get_attribute("#result-card", "class")
    labels = page.locator("#predictions li .label").all_inner_texts()
    assert labels == [entry["label"] for entry in again] and len(labels) == 4
    page.screenshot(path=str(artifacts_dir / "web-result-not-sure.png"), full_page=True)
    assert page.page_errors == []


@pytest.mark.parametrize("poll_s", [3600.0])  # only coming back to the tab can switch it
def test_coming_back_to_the_tab_checks_the_channel_and_marks_the_old_answer(
    page, gateway, classifier_files
):
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    photo = classifier_files.photos["red-tall.png"]
    classify(page, "red-tall.png", photo)
    assert page.is_hidden("#result-stale")
    publish_version(gateway, classifier_files, "v2")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # the tab is shown
    wait_for_version(page, 2)
    stale = page.inner_text("#result-stale")
    assert "This answer came from v1; v2 is in use now" in stale
    assert "stale" in page.get_attribute("#result-card", "class")
    classify(page, "red-tall.png", photo)  # a new answer, from v2: nothing marked
    assert page.is_hidden("#result-stale")
    assert "stale" not in page.get_attribute("#result-card", "class")


def v2_altered_while_v1_runs(page, gateway, files, alter_v2) -> str:
    """The page runs v1; v2 is published and ``alter_v2(store)`` changes its files behind the
    store (the store itself refuses to rewrite them); the page checks its channel. Returns its
    notice."""
    publish_version(gateway, files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    publish_version(gateway, files, "v2")
    alter_v2(gateway.store)
    page.evaluate("window.edgeline.checkChannel()")
    return page.inner_text("#notice")


def altered_v2_file(name: str, alter):
    """Replace v2's published file ``name`` with ``alter`` of its bytes, behind the store."""

    def alter_v2(store) -> None:
        key = f"deploy/{MODEL_NAME}/2/{name}"
        alter_behind_the_store(store, key, alter(store.get_bytes(key)))

    return alter_v2


@pytest.mark.parametrize("poll_s", [3600.0])  # the test checks the channel itself
def test_tampered_model_is_refused_and_the_current_one_kept(page, gateway, classifier_files):
    def flip_a_byte(weights: bytes) -> bytes:
        tampered = bytearray(weights)
        tampered[len(tampered) // 2] ^= 0xFF  # one flipped byte in the weights
        return bytes(tampered)

    notice = v2_altered_while_v1_runs(
        page, gateway, classifier_files, altered_v2_file("model.fp32.onnx", flip_a_byte)
    )
    assert "v2 was not used" in notice and "sha256" in notice and "still using v1" in notice.lower()
    assert page.get_attribute("body", "data-model-version") == "1"
    result = classify(page, "amber-wide.jpg", classifier_files.photos["amber-wide.jpg"])
    assert result["top"][0]["label"] == "amber" and result["event"]["model_version"] == 1
    cached = page.evaluate(
        "async () => (await (await caches.open('edgeline-models-v1')).keys()).map((r) => r.url.split('/').pop())"
    )
    assert len(cached) == 1  # only v1's file: the tampered bytes were never stored


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("min_client_version", "99.0.0", "needs client version 99.0.0 or newer; this page is"),
        ("schema", "edgeline.manifest/99", "is not one this page reads (edgeline.manifest/1)"),
    ],
)
def test_a_manifest_for_a_newer_page_is_refused_and_the_current_one_kept(
    page, gateway, classifier_files, field, value, why
):
    def as_a_newer_platform(data: bytes) -> bytes:
        return json.dumps({**json.loads(data), field: value}).encode()

    notice = v2_altered_while_v1_runs(  # its pointer names the new manifest's sha256
        page,
        gateway,
        classifier_files,
        lambda store: alter_published_manifest(store, MODEL_NAME, as_a_newer_platform),
    )
    assert "v2 was not used" in notice and why in notice and "still using v1" in notice.lower()
    assert page.get_attribute("body", "data-model-version") == "1"
    result = classify(page, "amber-wide.jpg", classifier_files.photos["amber-wide.jpg"])
    assert result["event"]["model_version"] == 1


@pytest.mark.parametrize("poll_s", [3600.0])  # the test checks the channel itself
def test_a_manifest_changed_behind_its_pointer_is_refused_and_the_current_one_kept(
    page, gateway, classifier_files
):
    def without_a_variant(data: bytes) -> bytes:
        manifest = json.loads(data)
        return json.dumps({**manifest, "variants": manifest["variants"][1:]}).encode()

    notice = v2_altered_while_v1_runs(
        page, gateway, classifier_files, altered_v2_file("manifest.json", without_a_variant)
    )
    # the gateway refuses to serve it (502, naming why) and the page keeps what it runs
    assert "HTTP 502" in notice and "changed after publication" in notice, notice
    assert page.get_attribute("body", "data-model-version") == "1"
    result = classify(page, "amber-wide.jpg", classifier_files.photos["amber-wide.jpg"])
    assert result["top"][0]["label"] == "amber" and result["event"]["model_version"] == 1


def test_offline_after_first_visit(page, gateway, classifier_files):
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    classify(page, "red-wide.jpg", classifier_files.photos["red-wide.jpg"])
    wait_until(lambda: flush(page)["sent"] == 1, what="the first visit's telemetry")

    gateway.stop()  # a real outage: nothing listens on the gateway's port any more
    page.context.set_offline(True)
    page.reload()
    wait_for_version(page, 1)
    page.wait_for_selector("body[data-status='offline']")
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    offline = [
        classify(page, name, classifier_files.photos[name])
        for name in ("green-wide.jpg", "blue-tall.png", "amber-small.webp")
    ]
    assert [r["top"][0]["label"] for r in offline] == ["green", "blue", "amber"]
    assert flush(page)["queued"] == 3  # kept in IndexedDB while there is no network
    page.reload()  # and across a reload
    wait_for_version(page, 1)
    assert page.evaluate("window.edgeline.telemetryStats()")["queued"] == 3

    gateway.start()
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    stats = wait_until(
        lambda: (s := flush(page))["queued"] == 0 and s, timeout_s=30, what="queued telemetry"
    )
    assert stats["sent"] == 4
    offline_ids = [r["event"]["event_id"] for r in offline]
    assert sorted(gateway.telemetry.appended.count(i) for i in offline_ids) == [
        1,
        1,
        1,
    ]  # exactly once
    assert {e["event_id"] for e in stored_web_events(gateway)} >= set(offline_ids)


def test_page_renews_its_token_and_keeps_its_browser_id(page, gateway, classifier_files):
    """A page that comes back after its token expired (a laptop opened the next day) renews it
    for the same anonymous id; the page never holds anything but that short-lived token."""
    publish_version(gateway, classifier_files, "v1")
    page.goto(gateway.url + "/")
    wait_for_version(page, 1)
    session = page.evaluate("JSON.parse(localStorage.getItem('edgeline.session'))")
    assert session["token"].startswith("ew1.") and "device-token" not in str(session)
    expired, _ = WebTokenSigner(SECRET.encode()).issue(
        session["browser_id"], now=time.time() - 8 * 3600
    )
    page.evaluate(
        """([token]) => {
            const saved = JSON.parse(localStorage.getItem('edgeline.session'));
            saved.token = token;
            saved.expires_at = new Date(Date.now() - 2 * 3600 * 1000).toISOString();
            localStorage.setItem('edgeline.session', JSON.stringify(saved));
        }""",
        [expired],
    )
    page.reload()
    wait_for_version(page, 1)
    renewed = page.evaluate("JSON.parse(localStorage.getItem('edgeline.session'))")
    assert renewed["browser_id"] == session["browser_id"] and renewed["token"] != expired
    classify(page, "red-tall.png", classifier_files.photos["red-tall.png"])
    wait_until(lambda: flush(page)["sent"] == 1, what="telemetry")
    assert stored_web_events(gateway)[0]["device_id"] == session["browser_id"]


def test_telemetry_queue_drops_refused_batches_and_retries_outages(page, gateway):
    """The queue module on its own, in the real browser, against scripted gateway answers."""
    page.goto(gateway.url + "/v1/health")  # same origin as the page, without starting it
    outcome = page.evaluate(
        """async () => {
            const { TelemetryQueue } = await import('/app/telemetry.js');
            const answers = [
                () => { throw new TypeError('Failed to fetch'); },  // outage: keep, back off
                () => new Response('{}', { status: 503 }),          // keep, back off longer
                () => new Response(JSON.stringify({ accepted: 2, rejected: [{ index: 1 }] }), { status: 207 }),
                () => new Response('{}', { status: 403 }),          // refused as a whole: drop
            ];
            const sent = [];
            const queue = new TelemetryQueue({
                send: async (events) => { sent.push(events.length); return answers.shift()(); },
            });
            const step = async (work) => { await work(); clearTimeout(queue.timer); queue.timer = null; };
            for (const n of [1, 2, 3]) await step(() => queue.add({ event_id: `e${n}` }));
            await step(() => queue.flush());
            const afterOutage = (await queue.stats()).queued;
            await step(() => queue.flush());
            const backoff = queue.attempt;
            await step(() => queue.flush());  // 207: 2 stored, 1 rejected; all three leave the queue
            const afterPartial = await queue.stats();
            await step(() => queue.add({ event_id: 'e4' }));
            await step(() => queue.flush());  // 403: dropped and counted
            await step(() => queue.flush());  // nothing left to send
            return { sent, afterOutage, backoff, afterPartial, final: await queue.stats() };
        }"""
    )
    assert outcome["afterOutage"] == 3 and outcome["backoff"] == 2
    assert outcome["afterPartial"]["queued"] == 0
    assert outcome["afterPartial"]["sent"] == 2 and outcome["afterPartial"]["rejected"] == 1
    assert outcome["final"]["dropped"] == 1 and outcome["final"]["queued"] == 0
    assert outcome["sent"] == [3, 3, 3, 1]  # the refused event was not sent again
