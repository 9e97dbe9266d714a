"""One gateway, two image models: / lists them, /m/<model> opens each; a page classifies with
its own model, its telemetry lands in its own model's report, and a new version of one model
switches that model's pages only. Real gateway, real Chromium, the real report asset."""

import dataclasses

import pytest
from dagster import DagsterInstance, FilesystemIOManager, materialize

from assets.telemetry.assets import events_assets, report_assets, report_key
from resources import layout
from tests.web.support import approve_and_publish, register_classifier
from tests.web.test_page import classify, stored_web_events, wait_for_version, wait_until

pytestmark = pytest.mark.slow

# the same network under other classes (amber, blue, green, red): another model
PLANTS_LABELS = ("fern", "iris", "moss", "rose")


def publish(gateway, files, note: str) -> int:
    version = register_classifier(gateway.store, gateway.registry, files, note)
    approve_and_publish(gateway.store, gateway.registry, version, files.model)
    return version


def test_two_models_side_by_side_in_the_browser(browser, gateway, classifier_files, tmp_path):
    colours = classifier_files  # image-classifier: blue, green, red
    plants = dataclasses.replace(classifier_files, model="plants", labels=PLANTS_LABELS)
    publish(gateway, colours, "colours-v1")
    publish(gateway, plants, "plants-v1")
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        chooser = context.new_page()
        chooser.goto(gateway.url + "/")
        chooser.wait_for_selector("body[data-status='choose']")
        links = chooser.eval_on_selector_all(
            "#model-list a", "links => links.map(a => [a.dataset.model, a.getAttribute('href')])"
        )
        assert links == [["image-classifier", "/m/image-classifier"], ["plants", "/m/plants"]]
        assert "4 classes (fern, iris, moss, rose)" in chooser.inner_text("#model-list")

        plants_page, colours_page = context.new_page(), context.new_page()
        plants_page.goto(gateway.url + "/m/plants")
        colours_page.goto(gateway.url + "/m/image-classifier")
        for page in (plants_page, colours_page):
            wait_for_version(page, 1)
        assert plants_page.inner_text("#model-name") == "plants"
        photo = classifier_files.photos["red-tall.png"]
        on_plants = classify(plants_page, "red-tall.png", photo)
        on_colours = classify(colours_page, "red-tall.png", photo)
        # the same network, each page its own model's classes: red is the fourth class
        assert on_plants["top"][0]["label"] == "rose" and on_colours["top"][0]["label"] == "red"
        assert on_plants["event"]["model"] == "plants"
        for page in (plants_page, colours_page):
            page.evaluate("window.edgeline.flushTelemetry()")
        events = wait_until(
            lambda: (found := stored_web_events(gateway)) and len(found) >= 2 and found,
            what="both pages' telemetry",
        )
        assert sorted(e["model"] for e in events) == ["image-classifier", "plants"]

        # a new version of image-classifier switches its pages, not the plants page
        publish(gateway, colours, "colours-v2")
        wait_for_version(colours_page, 2)
        plants_page.evaluate("window.edgeline.checkChannel()")
        assert plants_page.get_attribute("body", "data-model-version") == "1"
        assert classify(plants_page, "red-tall.png", photo)["event"]["model_version"] == 1
        plants_page.evaluate("window.edgeline.flushTelemetry()")
        wait_until(lambda: len(stored_web_events(gateway)) == 3, what="the last event")
    finally:
        context.close()

    # each model's report counts its own page's events
    resources = {
        "artifacts": gateway.store,
        "telemetry": gateway.telemetry,
        "registry": gateway.registry,
        "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
    }
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("image_models", ["image-classifier", "plants"])
    hours = sorted({e["timestamp"][:13] for e in stored_web_events(gateway)})
    for hour in hours:
        assert materialize(
            [events_assets["web"]],
            partition_key=hour.replace("T", "-") + ":00",
            resources=resources,
            instance=instance,
        ).success
    counted: dict[str, dict[str, int]] = {"plants": {}, "image-classifier": {}}
    classes: dict[str, float] = {}
    for day in sorted({hour[:10] for hour in hours}):  # a test that runs past midnight: both days
        for model, events_by_model in counted.items():
            assert materialize(
                [report_assets["web"]],
                partition_key=report_key("web", model, day),
                resources=resources,
                instance=instance,
            ).success
            report = gateway.store.get_json(layout.report_json("web", day, model))
            for name, n in report["events_per_model"].items():
                events_by_model[name] = events_by_model.get(name, 0) + n
            if model == "plants":
                classes |= report["quality"].get("class_distribution", {})
    assert counted == {"plants": {"plants": 2}, "image-classifier": {"image-classifier": 1}}
    assert classes == {"rose": 1.0}  # the plants report speaks of plants' classes
