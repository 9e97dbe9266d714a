"""Fixtures for the browser tests: one trained classifier per session, a fresh gateway, browser
context and page per test (the session's one Chromium is tests/conftest.py's ``browser``)."""

import os
from pathlib import Path

import pytest
from filelock import FileLock

from tests.gateway.server import Gateway
from tests.web.support import (
    ClassifierFiles,
    train_classifier_files,
)

ARTIFACTS = Path(
    os.environ.get(
        "EDGELINE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"
    )
)


@pytest.fixture(scope="session")
def classifier_files(tmp_path_factory, worker_id) -> ClassifierFiles:
    """Trained once per test run: pytest-xdist's workers share one temporary root, and the
    first to take the lock trains while the others wait and load what it saved."""
    root = tmp_path_factory.getbasetemp()
    shared = root if worker_id == "master" else root.parent
    directory = shared / "classifier"
    with FileLock(str(shared / "classifier.lock")):
        if (directory / "files.json").exists():
            return ClassifierFiles.load(directory)
        files = train_classifier_files(directory)
        files.save()
        return files


@pytest.fixture
def poll_s() -> float:
    """How often the page checks the channel in a test (a test overrides it to take control)."""
    return 1.0


@pytest.fixture
def gateway_settings() -> dict:
    """GatewaySettings a test changes (it overrides this fixture, or parametrizes it)."""
    return {}


@pytest.fixture
def gateway(tmp_path, poll_s, gateway_settings):
    running = Gateway(tmp_path, poll_s=poll_s, **gateway_settings).start()
    yield running
    running.stop()


@pytest.fixture
def page(browser, gateway):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.page_errors = errors
    yield opened
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
