"""`edgeline demo`: the whole loop, with no human, no account and no server to start by hand.

Train both models, register them, approve them (standing in for the QA engineer), publish them
through the registry sensor; then a few minutes of life on loopback: the gateway, a small
simulated fleet of Pi agents with injected faults (hours of readings replayed in seconds) and the
web page in headless Chromium classifying demo images; their telemetry rolled up and the web and
Pi quality reports of the day (of both days, past midnight UTC) written. Everything it starts is
stopped when it ends or is interrupted.
"""

import os
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from assets.catalog import SINGLE_IMAGE_MODEL, ModelSpec, declare_model
from edgeline_contract.profile import WIND_TURBINE
from resources import layout
from resources.environment import dagster_home, edgeline_env, edgeline_home

LOGGERS = {"console": {"config": {"log_level": "INFO"}}}


@dataclass(frozen=True)
class DemoSettings:
    """How big the demo is: the default fits about 5 minutes on 2 cores; ``quick`` is for tests."""

    sensor_days: int = 14
    images_per_class: int = 400
    image_size: int = 64
    width_mult: float = 0.5
    # 14 epochs at twice the peak rate reach 0.97 test accuracy (25 at 0.003 gave 0.997, in 1.8x
    # the time; 12 gave 0.93-0.94): the demo's minutes are its users' first impression
    epochs: int = 14
    learning_rate: float = 0.006
    augment: str = "rotation-invariant"  # the shapes look the same turned or flipped
    label_smoothing: float = 0.0  # from scratch in few epochs: smoothing cost 6 points of accuracy
    autoencoder_epochs: int = 25
    fleet: int = 3
    fleet_hours: int = 8
    web_photos: int = 10
    class_backgrounds: bool = False  # each class on its own background colour: quick to learn

    def image_model(self) -> ModelSpec:
        """The demo's image model, declared as a user declares theirs: small images and a narrow
        network, trained from scratch."""
        return ModelSpec(
            SINGLE_IMAGE_MODEL,
            "image",
            description="the demo's synthetic shapes",
            training={
                "image_size": self.image_size,
                "width_mult": self.width_mult,
                "epochs": self.epochs,
                "augment": self.augment,
                "label_smoothing": self.label_smoothing,
                "batch_size": 32,
                "learning_rate": self.learning_rate,
                "patience": 8,
            },
            demo_images=True,
        )

    def image_run_config(self) -> dict[str, Any]:
        return {
            "loggers": LOGGERS,
            "ops": {
                "raw_images": {
                    "config": {
                        "demo_images_per_class": self.images_per_class,
                        "demo_image_size": 96,
                        "demo_class_backgrounds": self.class_backgrounds,
                    }
                }
            },
        }

    def sensor_run_config(self) -> dict[str, Any]:
        return {
            "loggers": LOGGERS,
            "ops": {"sensor_autoencoder": {"config": {"epochs": self.autoencoder_epochs}}},
        }


QUICK = DemoSettings(
    sensor_days=6,
    images_per_class=120,
    image_size=48,
    width_mult=0.5,
    epochs=10,
    learning_rate=0.003,
    augment="none",
    label_smoothing=0.0,
    autoencoder_epochs=8,
    fleet=2,
    fleet_hours=3,
    web_photos=4,
    # textured shapes need minutes of training: with seconds, the model stays near chance and
    # its answers near ties, which a gate cannot judge the same on every CPU. On their own
    # background colours, 10 epochs give a model that is right, with margins to spare.
    class_backgrounds=True,
)
DEMO_TOKEN = "demo-fleet-token"


@dataclass
class FleetResult:
    devices: int = 0
    hours: int = 0
    seconds: float = 0.0
    windows: int = 0
    flagged: int = 0
    faulty: int = 0
    caught: int = 0
    model_version: int | None = None


@dataclass
class WebResult:
    skipped: str | None = None
    photos: int = 0
    correct: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    backend: str = ""
    threads: int = 0
    model_version: int | None = None
    screenshot: str = ""


def free_port() -> int:
    """A loopback port nothing listens on now (the demo, `edgeline dev` tests, the tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_gateway(artifacts: Any, telemetry: Any) -> Iterator[str]:
    """The gateway on a free loopback port, stopped on the way out (also on Ctrl-C)."""
    import uvicorn

    from clients.gateway.app import GatewaySettings, create_app
    from clients.gateway.serving import server_config

    settings = GatewaySettings(tokens=frozenset({DEMO_TOKEN}), web_secret=secrets.token_hex(32))
    port = free_port()
    app = create_app(settings, artifacts, telemetry)
    server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the demo's gateway did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def run_fleet(url: str, devices: int, hours: int, workdir: Path) -> FleetResult:
    """Simulated turbines (with injected faults) fed through real agents, as fast as they go."""
    from clients.pi.agent import EdgeAgent
    from clients.pi.gateway_client import GatewayClient
    from clients.pi.storage import ModelCache
    from edgeline_simulator.turbines import SIGNALS, FleetSettings, simulate_turbine

    settings = FleetSettings(turbines=devices, fault_rate=4.0)
    day_index = int(time.time() // 86400)
    result = FleetResult(devices=devices, hours=hours)
    lock = threading.Lock()

    def drive(turbine: int) -> None:
        day = simulate_turbine(turbine, day_index, settings, seed=2026)
        readings = np.stack([day[name] for name in SIGNALS], axis=1)[: hours * 60]
        faults = day["fault"][: hours * 60] != 0
        agent = EdgeAgent(
            GatewayClient(url, DEMO_TOKEN),
            ModelCache(workdir / f"turbine-{turbine:03d}"),
            f"demo-turbine-{turbine:03d}",
        )
        agent.poll_model()
        flags = []
        for index, reading in enumerate(readings):
            event = agent.process(reading)
            if event is not None:
                flags.append((event["anomaly"], bool(faults[index])))
        agent.flush()
        with lock:
            result.windows += len(flags)
            result.flagged += sum(flag for flag, _ in flags)
            result.faulty += sum(fault for _, fault in flags)
            result.caught += sum(flag and fault for flag, fault in flags)
            result.model_version = agent.state["version"] if agent.state else None

    started = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(t,), daemon=True) for t in range(devices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def cors_refusal(artifacts: Any, origin: str) -> str | None:
    """Why the page could not download models from the bucket (presigned S3 URLs are another
    origin): None when the bucket's CORS rules let ``origin`` GET, or there is no bucket."""
    import fnmatch

    if not hasattr(artifacts, "bucket"):
        return None
    try:
        rules = artifacts.s3.get_bucket_cors(Bucket=artifacts.bucket).get("CORSRules", [])
    except Exception:  # NoSuchCORSConfiguration: no rule at all
        rules = []
    for rule in rules:
        if "GET" in rule.get("AllowedMethods", []) and any(
            fnmatch.fnmatch(origin, allowed) for allowed in rule.get("AllowedOrigins", [])
        ):
            return None
    return (
        f"bucket {artifacts.bucket} has no CORS rule that lets {origin} GET the models "
        "(README: Try the aws side)"
    )


def run_web_page(url: str, artifacts: Any, photos: int, screenshot: Path) -> WebResult:
    """The page in headless Chromium: load the approved model, classify demo images through the
    file input as a person would, send the telemetry."""
    from orchestration.browser import CHROMIUM_ARGS, MISSING, chromium_path

    executable = chromium_path()
    if executable is None:
        return WebResult(skipped=MISSING)
    refused = cors_refusal(artifacts, url)
    if refused:
        return WebResult(skipped=refused)
    from playwright.sync_api import sync_playwright

    tree = layout.model_images(SINGLE_IMAGE_MODEL)  # the page's model
    by_label: dict[str, list[str]] = {}
    for key in artifacts.list_keys(tree):
        found = layout.parse_labelled_image(tree, key)
        if found:
            by_label.setdefault(found[0], []).append(key)
    chosen = [(label, by_label[label][i]) for i in range(photos) for label in sorted(by_label)][
        :photos
    ]
    result = WebResult()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url + "/")
            page.wait_for_selector("body[data-status='ready']", timeout=120_000)
            for count, (label, key) in enumerate(chosen, start=1):
                path = Path(tmp) / key.rsplit("/", 1)[1]
                path.write_bytes(artifacts.get_bytes(key))
                page.set_input_files("#photo-input", str(path))
                page.wait_for_selector(f"body[data-answers='{count}']", state="attached")
                top = page.locator("#predictions li .label").first.inner_text()
                result.photos += 1
                result.correct += top == label
                result.latencies_ms.append(float(page.inner_text("#latency").split()[0]))
            page.evaluate("window.edgeline.flushTelemetry()")
            deadline = time.monotonic() + 30
            while page.evaluate("window.edgeline.telemetryStats()")["queued"]:
                if time.monotonic() > deadline:
                    break
                page.wait_for_timeout(250)
                page.evaluate("window.edgeline.flushTelemetry()")
            state = page.evaluate("window.edgeline.state.runtime")
            result.backend, result.threads = state["backend"], state["threads"]
            result.model_version = int(page.get_attribute("body", "data-model-version"))
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            result.screenshot = str(screenshot)
        finally:
            browser.close()
    return result


def roll_up_and_report(defs: Any, instance: Any, since: datetime) -> tuple[list[str], list[str]]:
    """The telemetry of every hour since ``since`` rolled up, and each of the demo's two models'
    reports of every day since then written (a demo that runs past midnight UTC has telemetry
    on two days: reporting only the last left the first day's unreported). What failed, and the
    days reported."""
    from assets.telemetry.assets import report_key
    from orchestration.jobs import quality_report_jobs, telemetry_rollup_job

    now = datetime.now(UTC)
    hour = since.replace(minute=0, second=0, microsecond=0)
    failed = []
    while hour <= now:
        rolled = defs.resolve_job_def(telemetry_rollup_job.name).execute_in_process(
            run_config={"loggers": LOGGERS},
            instance=instance,
            partition_key=hour.strftime("%Y-%m-%d-%H:00"),
            raise_on_error=False,
        )
        if not rolled.success:
            failed.append(f"roll-up of {hour:%Y-%m-%d %H}:00")
        hour += timedelta(hours=1)
    days = [
        (since.date() + timedelta(days=n)).isoformat()
        for n in range((now.date() - since.date()).days + 1)
    ]
    for day in days:
        for kind, model in (("web", SINGLE_IMAGE_MODEL), ("pi", WIND_TURBINE.name)):
            reported = defs.resolve_job_def(quality_report_jobs[kind].name).execute_in_process(
                run_config={"loggers": LOGGERS},
                instance=instance,
                partition_key=report_key(kind, model, day),
                raise_on_error=False,
            )
            if not reported.success:
                failed.append(f"{kind} quality report of {model} on {day}")
    return failed, days


def approve_and_publish(defs: Any, instance: Any) -> bool:
    """Stand in for the QA engineer: approve each pending version in the registry, then let the
    registry sensor (evaluated once, with Dagster's own API) publish them."""
    from orchestration.sensors import run_registry_sensor_once
    from resources.registry import PENDING

    registry = defs.resources["registry"]
    print("\nApproving the new versions (the demo stands in for the QA engineer here):")
    for model in registry.list_models():
        for version in registry.list_versions(model, PENDING):
            registry.approve(model, version.version, reason="demo: metrics reviewed", by="demo-qa")
            print(f"  approved {model} v{version.version}")
    cursor_file = dagster_home() / "demo_registry_sensor_cursor.json"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    cursor, launched = run_registry_sensor_once(defs, instance, cursor, LOGGERS)
    cursor_file.write_text(cursor)
    print(f"registry sensor launched: {', '.join(launched) or 'nothing new'}")
    return all(entry.endswith(":ok") for entry in launched)


SUMMARY_METRICS = ("test_accuracy", "f1", "precision", "recall", "threshold")


def model_lines(registry: Any, artifacts: Any) -> list[str]:
    """The newest version of each model: status, channel, headline metrics, variants."""
    from assets.deployment.publish import read_channel

    lines = []
    for model in registry.list_models():
        versions = registry.list_versions(model)
        if not versions:
            continue
        newest = versions[-1]
        card = registry.get_model_card(model, newest.version)
        pointer = read_channel(artifacts, model)
        serving = (
            f"stable -> v{pointer['version']}"
            if pointer and pointer.get("version")
            else "not published"
        )
        shown = ", ".join(
            f"{name} {card['metrics'][name]:.3g}"
            for name in SUMMARY_METRICS
            if name in card["metrics"]
        )
        lines.append(f"  {model} v{newest.version}: {newest.status}, {serving} | {shown}")
        for variant in card["variants"]:
            latency = variant["latency"].get("threads_1", {})
            lines.append(
                f"    {variant['precision']:>5}  {variant['bytes'] / 1e6:6.2f} MB  "
                f"p50 {latency.get('p50_ms', float('nan')):.2f} ms (1 thread)"
            )
    return lines


def run_demo(settings: DemoSettings) -> int:
    """The whole loop in-process, against the persistent instance (so `make dev` shows it)."""
    os.environ["DAGSTER_HOME"] = str(dagster_home())
    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from orchestration.jobs import (
        record_readings,
        retrain_image_classifier,
        retrain_sensor_autoencoder,
    )
    from orchestration.models import add_model_partitions

    print(f"Edgeline demo: EDGELINE_ENV={edgeline_env()}, data under {edgeline_home()}")
    started = time.monotonic()
    begun = datetime.now(UTC)
    registry, artifacts = defs.resources["registry"], defs.resources["artifacts"]
    with DagsterInstance.get() as instance:
        # the demo's two models, declared as a user declares theirs, are partitions
        image_model = declare_model(artifacts, settings.image_model(), replace=True)
        add_model_partitions(instance, artifacts)
        today = datetime.now(UTC).date()
        days = [(today - timedelta(days=n)).isoformat() for n in range(settings.sensor_days, 0, -1)]
        (recorded,) = record_readings(defs, instance, WIND_TURBINE.name, days, {"loggers": LOGGERS})
        if not recorded.success:
            print(f"recording turbine readings FAILED (run {recorded.run_id})")
            return 1
        print(f"recorded {settings.sensor_days} days of turbine readings in one run")
        runs = [
            defs.resolve_job_def(retrain_image_classifier.name).execute_in_process(
                run_config=settings.image_run_config(),
                instance=instance,
                partition_key=image_model.name,
                raise_on_error=False,
            ),
            defs.resolve_job_def(retrain_sensor_autoencoder.name).execute_in_process(
                run_config=settings.sensor_run_config(),
                instance=instance,
                partition_key=WIND_TURBINE.name,
                raise_on_error=False,
            ),
        ]
        took = time.monotonic() - started
        for run in runs:
            print(f"{run.job_def.name} {'succeeded' if run.success else 'FAILED'}")
        print(f"\nboth models trained in {took:.1f} s")
        if not all(run.success for run in runs) or not approve_and_publish(defs, instance):
            return 1
        with (
            tempfile.TemporaryDirectory() as agents_dir,
            running_gateway(artifacts, defs.resources["telemetry"]) as url,
        ):
            print(f"\ngateway on {url}: the fleet and the web page take the published models")
            fleet = run_fleet(url, settings.fleet, settings.fleet_hours, Path(agents_dir))
            web = run_web_page(
                url, artifacts, settings.web_photos, edgeline_home() / "demo" / "web-page.png"
            )
        failed, days = roll_up_and_report(defs, instance, begun)
    print_summary(registry, artifacts, fleet, web, failed, days, time.monotonic() - started)
    return 0 if not failed and fleet.windows else 1


def print_summary(
    registry: Any,
    artifacts: Any,
    fleet: FleetResult,
    web: WebResult,
    failed: list[str],
    days: list[str],
    seconds: float,
) -> None:
    print(f"\n=== Edgeline demo finished in {seconds / 60:.1f} min ===")
    print("Models")
    for line in model_lines(registry, artifacts):
        print(line)
    print("Clients (live, on loopback)")
    recall = fleet.caught / fleet.faulty if fleet.faulty else float("nan")
    precision = fleet.caught / fleet.flagged if fleet.flagged else float("nan")
    print(
        f"  {fleet.devices} Pi agents ran v{fleet.model_version}: {fleet.hours} h of readings each "
        f"in {fleet.seconds:.1f} s, {fleet.windows:,} windows scored, "
        f"{fleet.flagged / max(fleet.windows, 1):.1%} flagged; injected faults in "
        f"{fleet.faulty / max(fleet.windows, 1):.1%} (recall {recall:.2f}, precision {precision:.2f})"
    )
    if web.skipped:
        print(f"  web page: skipped ({web.skipped})")
    else:
        p50 = float(np.median(web.latencies_ms)) if web.latencies_ms else float("nan")
        print(
            f"  web page (headless Chromium) ran v{web.model_version}: {web.photos} demo photos, "
            f"{web.correct} right, inference p50 {p50:.1f} ms, {web.backend}, {web.threads} threads; "
            f"screenshot {web.screenshot}"
        )
    print("Quality reports")
    for day in days:
        for kind, model in (("web", SINGLE_IMAGE_MODEL), ("pi", WIND_TURBINE.model)):
            key = layout.report_html(kind, day, model)
            if artifacts.exists(key):
                root = getattr(artifacts, "root", None)
                print(f"  {kind}: {f'{root}/{key}' if root else key}")
    for problem in failed:
        print(f"  FAILED: {problem}")
    print(
        "Next: `make dev` opens the Dagster UI on http://127.0.0.1:3000 with these runs, the\n"
        "gateway with the page on http://127.0.0.1:8000/ and a small fleet sending telemetry."
    )
