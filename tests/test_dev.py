"""`edgeline dev` (make dev): the UI and daemon, the gateway with the page and a simulated fleet
start together, telemetry flows, and Ctrl-C stops every process it started."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.dev import answers_ok, process_status
from resources.environment import local_io_resources
from tests.deployment.conftest import latest_check, latest_observation
from tests.gateway.conftest import free_port
from tests.helpers import dismiss_dagster_dialogs
from tests.pi.test_agent import MODEL, register_and_publish
from tests.web.conftest import ARTIFACTS

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def processes_under(home: Path) -> list[int]:
    """Every live process started with EDGELINE_HOME=``home`` (the dev processes all are)."""
    marker = f"EDGELINE_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        status = process_status(int(entry.name))
        if marker in environment and status is not None and status[0] != "Z":
            found.append(int(entry.name))
    return found


def test_dev_starts_everything_and_ctrl_c_stops_it_all(tmp_path, browser):
    home = tmp_path / "home"
    resources = local_io_resources(home)
    register_and_publish(resources["artifacts"], resources["registry"], threshold=9.0)
    ui, gateway = free_port(), free_port()
    dev = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("edgeline")),
            "dev",
            "--port",
            str(ui),
            "--gateway-port",
            str(gateway),
            "--fleet",
            "2",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "EDGELINE_ENV": "local",
            "EDGELINE_HOME": str(home),
            "DAGSTER_HOME": "",
            "EDGELINE_SENSOR_INTERVAL_S": "2",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        telemetry = resources["telemetry"]
        window = lambda: (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))  # noqa: E731
        while not (
            answers_ok(f"http://127.0.0.1:{ui}/server_info")
            and answers_ok(f"http://127.0.0.1:{gateway}/")
            and {e["device_id"] for e in telemetry.read("pi", *window())}
            >= {"dev-turbine-000", "dev-turbine-001"}
        ):
            assert dev.poll() is None, dev.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "edgeline dev did not come up"
            time.sleep(1)
        assert len(processes_under(home)) >= 5  # dev, dagster, the gateway, two agents
        decisions_show_in_the_ui(browser, home, f"http://127.0.0.1:{ui}", ui)
    finally:
        dev.send_signal(signal.SIGINT)  # Ctrl-C
        dev.wait(timeout=90)
    terminal = dev.stdout.read().decode()
    assert "Warning" not in terminal and "DEBUG" not in terminal, terminal
    assert len(terminal.splitlines()) <= 10, terminal  # where things are; the rest is in logs
    assert f"http://127.0.0.1:{ui}" in terminal and "Ctrl-C stops everything" in terminal
    for log in ("dagster.log", "gateway.log", "dev-turbine-000.log"):
        assert (home / "dev" / log).stat().st_size > 0, f"{log} is empty"
    deadline = time.monotonic() + 30
    while processes_under(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_under(home) == [], processes_under(home)
    assert not answers_ok(f"http://127.0.0.1:{gateway}/v1/health")
    assert not answers_ok(f"http://127.0.0.1:{ui}/server_info")


def wait_for(what: str, found, timeout_s: float = 240):
    deadline = time.monotonic() + timeout_s
    while not (value := found()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)
    return value


def decisions_show_in_the_ui(browser, home: Path, base: str, port: int) -> None:
    """A decision from the UI (the `registry_decision` job launched through Dagster's GraphQL,
    as the launchpad does) and two from the CLI (approve, then reject) each show as what is
    live, read back through Dagster's Python API; the revoked version's partition fails its
    `approved_in_registry` check; screenshots of both assets' partitions are saved."""
    from dagster import DagsterInstance
    from dagster_graphql import DagsterGraphQLClient

    registry = local_io_resources(home)["registry"]
    card = registry.get_model_card(MODEL, 1)
    v2 = registry.register_version(MODEL, card).version  # the same files: the fleet keeps running
    instance = DagsterInstance.from_config(str(home / "dagster"))
    live = lambda: latest_observation(instance, "registered_sensor_autoencoder", "wind-turbine")  # noqa: E731

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution(
        "registry_decision",
        run_config={
            "ops": {
                "record_registry_decision": {
                    "config": {"model": MODEL, "reason": "approved in the launchpad", "by": "dana"}
                }
            }
        },
    )
    wait_for("the UI's decision run", lambda: client.get_run_status(run_id).value == "SUCCESS")
    wait_for("v2 live in Dagster", lambda: (live() or {}).get("live_version") == f"v{v2}")
    assert "dana" in live()["latest_decision"]

    v3 = registry.register_version(MODEL, card).version
    edgeline = [str(Path(sys.executable).with_name("edgeline")), "registry"]
    env = {**os.environ, "EDGELINE_ENV": "local", "EDGELINE_HOME": str(home), "DAGSTER_HOME": ""}
    decide = lambda *args: subprocess.run(  # noqa: E731
        [*edgeline, *args], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    decide("approve", MODEL, str(v3), "--reason", "from the CLI", "--by", "carol")
    assert live()["live_version"] == f"v{v3}"  # recorded by the CLI itself, before any tick
    published = f"{MODEL}@{v3}"
    wait_for(  # the sensor's tick: a partition and a publish run
        "v3's partition",
        lambda: (
            (latest_observation(instance, "published_model", published) or {}).get("state")
            == "live"
        ),
    )
    decide("reject", MODEL, str(v3), "--reason", "flags too much", "--by", "carol")
    assert live()["live_version"] == f"v{v2}"
    check = wait_for(
        "the rollback run's check",
        lambda: (found := latest_check(instance, published)) and not found.passed and found,
    )
    assert not check.passed and "revoked" in check.description
    assert latest_observation(instance, "published_model", published)["state"] == "revoked"
    instance.dispose()
    ui_screenshots(browser, base, published)


def ui_screenshots(browser, base: str, revoked: str) -> None:
    """What a person sees: the revoked partition of `published_model` and the model's
    registered partition, saved under test-artifacts/dev/."""
    out = ARTIFACTS / "dev"
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    dismiss_dagster_dialogs(page)  # it came after a check for it once, and took the click
    try:
        for name, asset, view, partition in (
            ("published-revoked", "published_model", "partitions", revoked),
            # the model's record: each decision and channel move, newest first
            ("registered-events", "registered_sensor_autoencoder", "events", "wind-turbine"),
        ):
            page.goto(f"{base}/assets/{asset}?view={view}")
            page.get_by_text(partition, exact=True).first.wait_for(timeout=90_000)
            page.get_by_text(partition, exact=True).first.click()
            page.wait_for_timeout(2000)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        page.goto(f"{base}/assets/published_model?view=checks")
        page.get_by_text("approved_in_registry").first.wait_for(timeout=60_000)
        page.get_by_text("approved_in_registry").first.click()
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out / "published-checks.png"), full_page=True)
    finally:
        page.close()
