"""A staged rollout as the real page lives it: the page (real Chromium, real onnxruntime-web,
served by the real gateway) whose browser id falls in the canary runs a v2 that collapsed onto
one class and reports what it answers; a second browser outside the canary stays on v1; scripted
browsers over the same gateway bring the events to the guardrails' minimum sample; the
guardrails, run as the rollout sensor runs them, abort at the first step naming the class
guardrail in the registry, and the canary page's next channel poll takes it back to v1."""

import pytest

from assets.deployment.canary import GUARDRAILS, guard_rollout
from assets.deployment.planning import start_rollout
from assets.deployment.rollout import read_rollout
from edgeline_contract.rollout import ABORTED, CANARY, client_bucket
from resources.registry import REJECTED
from tests.deployment.fleet import Fleet, image_event
from tests.web.conftest import artifacts_dir, classifier_files, gateway  # noqa: F401
from tests.web.support import (
    approve_and_publish,
    collapsed_onto,
    register_classifier,
    validation_baseline,
)
from tests.web.test_page import classify, flush, stored_web_events, wait_for_version, wait_until

pytestmark = pytest.mark.slow

SHARE = 0.25  # the first step; then everyone
SCRIPTED = 10  # scripted browsers besides the two pages
EVENTS = 100  # each scripted browser's batch: 2 of them on v2 reach the minimum sample


@pytest.fixture
def poll_s() -> float:
    """The pages check their channel every second: "the next poll" is a short wait."""
    return 1.0


@pytest.fixture
def gateway_settings() -> dict:
    """Twelve browsers from one address: the per-address token limit is not tested here."""
    return {"device_rates": {}, "web_rates": {}}


@pytest.fixture
def open_page(browser, gateway):  # noqa: F811
    """Opens the page in a new browser context (its own anonymous browser id), recording the
    status of every channel answer it gets and the version of every model file it downloads;
    the contexts close after the test."""
    contexts = []

    def opened():
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        contexts.append(context)
        page = context.new_page()
        page.channel_answers, page.downloads, page.page_errors = [], [], []

        def answered(response) -> None:
            if "/channels/" in response.url:
                page.channel_answers.append(response.status)

        def requested(request) -> None:
            if request.url.endswith(".onnx"):  # .../deploy/<model>/<version>/model.fp32.onnx
                page.downloads.append(int(request.url.rsplit("/", 2)[-2]))

        page.on("response", answered)
        page.on("request", requested)
        page.on("pageerror", lambda error: page.page_errors.append(str(error)))
        page.goto(gateway.url + "/")
        wait_for_version(page, 1)
        return page

    yield opened
    for context in contexts:
        context.close()


def check_channel(page) -> str:
    """The page's own channel check, awaited; the version it runs afterwards."""
    page.evaluate("window.edgeline.checkChannel()")
    return page.get_attribute("body", "data-model-version")


def test_the_page_in_a_canary_runs_v2_and_is_taken_back_when_the_guardrails_abort(
    open_page,
    gateway,  # noqa: F811
    classifier_files,  # noqa: F811
    artifacts_dir,  # noqa: F811
    tmp_path,
):
    store, registry, telemetry = gateway.store, gateway.registry, gateway.telemetry
    model, labels, photos = classifier_files.model, classifier_files.labels, classifier_files.photos
    collapsed_label = labels[0]
    # v2 looked like v1 on validation (its card carries v1's baseline) and collapses in use
    baseline = validation_baseline(classifier_files)
    v1 = register_classifier(store, registry, classifier_files, "v1", baseline=baseline)
    approve_and_publish(store, registry, v1, model)
    collapsed = collapsed_onto(classifier_files, collapsed_label, tmp_path / "collapsed")
    v2 = register_classifier(store, registry, collapsed, "v2-collapsed", baseline=baseline)

    canary_page, stable_page = open_page(), open_page()
    browser_ids = [
        p.evaluate("window.edgeline.state.session.browserId") for p in (canary_page, stable_page)
    ]
    fleet = Fleet(gateway.url, model, "web", seed=0, size=SCRIPTED)

    def canary_of(rollout_id: str) -> set[str]:
        return {c for c in [*browser_ids, *fleet.clients] if client_bucket(rollout_id, c) < SHARE}

    # the first page's browser id inside the first step's share, the second's outside, and two
    # to four scripted browsers with it (what 25 % of ten usually is), computed as the gateway
    # computes a side; the rollout id seeds the draw
    rollout_id = next(
        f"page-{n}"
        for n in range(1000)
        if browser_ids[0] in canary_of(f"page-{n}")
        and browser_ids[1] not in canary_of(f"page-{n}")
        and 3 <= len(canary_of(f"page-{n}")) <= 5
    )
    canary = canary_of(rollout_id)
    start_rollout(
        registry,
        store,
        model,
        v2,
        "qa",
        "a canary first",
        steps=(SHARE, 1.0),
        rollout_id=rollout_id,
    )

    # the canary page switches on its next poll; the other page's check keeps v1 (304: unchanged)
    wait_for_version(canary_page, v2)
    assert f"Switched from v{v1} to v{v2}" in canary_page.inner_text("#notice")
    assert check_channel(stable_page) == str(v1) and stable_page.channel_answers[-1] == 304
    canary_page.screenshot(path=str(artifacts_dir / "web-rollout-canary.png"), full_page=True)

    on_canary = [classify(canary_page, name, data) for name, data in photos.items()]
    on_stable = [classify(stable_page, name, data) for name, data in photos.items()]
    assert {answer["event"]["model_version"] for answer in on_canary} == {v2}
    assert {answer["top"][0]["label"] for answer in on_canary} == {collapsed_label}
    assert min(answer["top"][0]["confidence"] for answer in on_canary) > 0.99
    assert {answer["event"]["model_version"] for answer in on_stable} == {v1}
    assert [a["top"][0]["label"] for a in on_stable] == [n.split("-")[0] for n in photos]
    for page in (canary_page, stable_page):
        wait_until(lambda p=page: flush(p)["sent"] == len(photos), what="the pages' telemetry")
    sent = {}
    for event in stored_web_events(gateway):
        sent.setdefault(event["device_id"], []).append(event["model_version"])
    assert sent == {browser_ids[0]: [v2] * len(photos), browser_ids[1]: [v1] * len(photos)}

    # the page started again: the same browser id, the same side (304 on v2's manifest)
    canary_page.reload()
    wait_for_version(canary_page, v2)
    assert check_channel(canary_page) == str(v2) and canary_page.channel_answers[-1] == 304
    assert canary_page.evaluate("window.edgeline.state.session.browserId") == browser_ids[0]

    # the page's events alone are too few to decide on, and the status says what is missing
    rollout, verdict = guard_rollout(registry, store, telemetry, model)
    assert verdict.decision == "wait" and rollout.state == CANARY and rollout.share == SHARE
    assert f"the candidate has {len(photos)} of 200 events, 1 of 2 clients" in verdict.waiting_for

    # the scripted browsers poll with their own tokens, run what they get, and report
    running = fleet.round(
        {
            v1: lambda rng: image_event(rng, False, 20.0, labels),
            v2: lambda rng: image_event(rng, True, 20.0, labels),
        },
        events=EVENTS,
    )
    scripted_canary = {client for client, version in running.items() if version == v2}
    assert scripted_canary == canary - set(browser_ids)

    rollout, verdict = guard_rollout(registry, store, telemetry, model)
    assert verdict.decision == "abort" and rollout.state == ABORTED
    assert rollout.step == 0 and rollout.share == 0.0  # aborted at the first step
    assert [entry["event"] for entry in rollout.history] == ["started", "abort"]
    assert verdict.candidate_clients == len(canary)
    figures = rollout.history[-1]["figures"]
    breached = [name for name, figure in figures.items() if figure["verdict"] == "breach"]
    assert breached == ["top1_class_psi"], figures
    (class_psi,) = [result for result in verdict.results if result.name == "top1_class_psi"]
    assert class_psi.bound == 0.2 and class_psi.value > 2.0  # one class where four were
    assert class_psi.candidate_events == len(photos) + EVENTS * len(scripted_canary)
    assert class_psi.stable_events == len(photos) + EVENTS * (SCRIPTED - len(scripted_canary))
    described = registry.describe_version(model, v2)
    assert (described.status, described.status_by) == (REJECTED, GUARDRAILS)
    assert described.status_reason.startswith("rollout aborted: top1_class_psi: PSI ")
    assert read_rollout(store, model).state == ABORTED

    # the canary page's next poll takes it back to v1 (from its cache); nobody runs v2 now
    wait_for_version(canary_page, v1)
    assert f"v{v2} was revoked: back to v{v1}" in canary_page.inner_text("#notice")
    after = classify(canary_page, "red-tall.png", photos["red-tall.png"])
    assert (after["event"]["model_version"], after["top"][0]["label"]) == (v1, "red")
    assert canary_page.downloads == [v1, v2] and stable_page.downloads == [v1]  # once each
    assert check_channel(stable_page) == str(v1)
    assert set(fleet.versions().values()) == {v1}
    assert canary_page.page_errors == stable_page.page_errors == []
