"""One home, four models at once, each through the documented path: two image models (other
classes, one `upright`, one `photo` augmentation) and two sensor profiles (the simulated
turbine fleet, and a pump logged once a second with other signals). Each is declared, trained,
gated, registered, approved, published and served; training one leaves the others' versions,
channels and files as they were; Dagster shows a partition per model with its own status."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from dagster import AssetKey, DagsterInstance

from assets.deployment.publish import read_channel
from assets.partitions import readings_key
from assets.vision.demo_data import generate_demo_images
from orchestration.cli import main
from orchestration.definitions import build_definitions
from orchestration.dev import answers_ok
from resources.environment import local_resources
from tests.gateway.conftest import free_port
from tests.gateway.server import Gateway
from tests.sensors.pump import MAP, PROFILE_YAML, pump_day, write_recording
from tests.vision.conftest import COLOURS, colour_image
from tests.web.conftest import ARTIFACTS

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

SMALL = ["image_size=32", "width_mult=0.35", "batch_size=16", "threads=1", "patience=12"]
MODELS = ("colours", "shapes", "turbine-autoencoder", "pump-autoencoder")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return tmp_path / "home"


def image_folder(root: Path, images) -> Path:
    for name, data in images:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def colour_images(per_class: int):
    rng = np.random.default_rng(5)
    for label, rgb in COLOURS.items():
        for i in range(per_class):
            yield f"{label}/{label}-{i:03d}.png", colour_image(rgb, rng)


def state(home: Path, registry, model: str) -> tuple:
    """What another model's run must not change: versions, the channel, every file."""
    files = {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for prefix in (f"artifacts/models/{model}", f"artifacts/deploy/{model}")
        for p in sorted((home / prefix).rglob("*"))
        if p.is_file() and not p.name.endswith(".lock")
    }
    channel = read_channel(local_resources(home)["artifacts"], model)
    return registry.list_versions(model), channel, files


def dagster_ui_screenshots(browser, home: Path) -> list[Path]:
    """`edgeline dev` on this home, and the UI's asset graph and one partitioned asset, as a
    person opens them, saved under test-artifacts/four-models/."""
    ui, gateway_port = free_port(), free_port()
    dev = subprocess.Popen(
        [
            *(str(Path(sys.executable).with_name("edgeline")), "dev", "--port", str(ui)),
            *("--gateway-port", str(gateway_port), "--fleet", "0"),
        ],
        cwd=REPO,
        env={**os.environ, "EDGELINE_ENV": "local", "EDGELINE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = ARTIFACTS / "four-models"
    out.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{ui}"
    try:
        deadline = time.monotonic() + 180
        while not answers_ok(f"{base}/server_info"):
            assert dev.poll() is None and time.monotonic() < deadline, "edgeline dev did not start"
            time.sleep(1)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        shots = []
        for name, path, partition, expected in (
            ("vision-graph", "/locations/edgeline/asset-groups/vision", None, "image_dataset"),
            (
                "sensor-graph",
                "/locations/edgeline/asset-groups/sensors",
                None,
                "sensor_features",
            ),
            (
                "image-partitions",
                "/assets/registered_image_classifier?view=partitions",
                "shapes",
                "Materialized (2)",
            ),
            (
                "sensor-partitions",
                "/assets/registered_sensor_autoencoder?view=partitions",
                "pump",
                "Materialized (2)",
            ),
        ):
            page.goto(base + path)
            page.get_by_text(expected).first.wait_for(timeout=90_000)
            if not shots:  # Dagster's community dialog comes a moment after the first page
                page.wait_for_timeout(3000)
                welcome = page.get_by_role("button", name="Skip")
                if welcome.count():
                    welcome.first.click()
            if partition:  # open one model's partition: its own status, run and metadata
                page.get_by_text(partition, exact=True).first.click()
                page.get_by_text("Latest materialization").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # the graph's layout settles
            shots.append(out / f"{name}.png")
            page.screenshot(path=str(shots[-1]))
        page.close()
        return shots
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=90)


def test_four_models_in_one_home(home, tmp_path, capsys, browser):
    registry = local_resources(home)["registry"]
    took: dict[str, float] = {}
    done: dict[str, tuple] = {}

    def published(model: str, started: float) -> None:
        """Approve v1 (the CLI publishes at once), and check nothing else moved."""
        assert main(["registry", "approve", model, "1", "--reason", "four models"]) == 0
        took[model] = time.monotonic() - started
        for other, before in done.items():
            assert state(home, registry, other) == before, f"{model}'s run changed {other}"
        done[model] = state(home, registry, model)

    for model, settings, images in (
        # the hue is the class: no colour jitter
        ("colours", ["augment=upright", "epochs=10"], colour_images(60)),
        # shapes, flipped, cropped and recoloured in training: a little larger, a little longer
        (
            "shapes",
            ["augment=photo", "epochs=16", "image_size=48"],
            generate_demo_images(80, 64, seed=3, class_backgrounds=True),
        ),
    ):
        started = time.monotonic()
        declared = (arg for s in [*SMALL, *settings] for arg in ("--set", s))
        assert main(["models", "add", model, *declared]) == 0
        folder = image_folder(tmp_path / model, images)
        assert main(["ingest-images", str(folder), "--model", model]) == 0
        assert main(["train-images", "--model", model]) == 0
        published(model, started)

    # the turbine: simulated days, as the sensor_data schedule records them
    started = time.monotonic()
    defs = build_definitions(local_resources(home))
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        from orchestration.models import add_model_partitions

        add_model_partitions(instance, defs.resources["artifacts"])
        today = datetime.now(UTC).date()
        for offset in range(4, 0, -1):
            day = (today - timedelta(days=offset)).isoformat()
            assert (
                defs.resolve_job_def("sensor_data")
                .execute_in_process(
                    instance=instance, partition_key=readings_key("wind-turbine", day)
                )
                .success
            )
    assert main(["train-sensors", "--profile", "wind-turbine", "--epochs", "8"]) == 0
    published("turbine-autoencoder", started)

    # the pump: its own profile file, a CSV with its own column names, once a second
    started = time.monotonic()
    (tmp_path / "pump.yaml").write_text(PROFILE_YAML)
    pumps = [pump_day("2026-11-20 08:00", 3, f"P-{n}", seed=n) for n in (1, 2)]
    recording = write_recording(tmp_path / "pumps.csv", pumps)
    labels = ["--label-column", "State", "--normal", "ok,idle"]
    ingest = ["ingest-sensors", str(recording), "--profile", str(tmp_path / "pump.yaml")]
    assert main([*ingest, "--map", MAP, *labels]) == 0
    assert main(["train-sensors", "--profile", "pump", "--epochs", "25"]) == 0
    published("pump-autoencoder", started)

    # each model: its own version, metrics and files
    figures = {}
    for model in MODELS:
        card = registry.get_model_card(model, 1)
        metrics = card["metrics"]
        quality = metrics.get("test_accuracy", metrics.get("f1"))
        assert quality >= 0.85, (model, metrics)  # learnt, on any CPU (shapes: 0.94 to 1.0)
        sizes = {v["precision"]: v["bytes"] for v in card["variants"]}
        assert all(v["key"].startswith(f"models/{model}/") for v in card["variants"])
        figures[model] = (round(quality, 3), sizes, round(took[model], 1))
    cards = {m: registry.get_model_card(m, 1) for m in MODELS}
    assert cards["colours"]["task"]["labels"] == sorted(COLOURS)
    assert len(cards["shapes"]["task"]["labels"]) == 5
    assert cards["colours"]["metrics"]["augmentation"] == "upright"
    assert cards["shapes"]["metrics"]["augmentation"] == "photo"
    assert (
        cards["pump-autoencoder"]["task"]["signals"]
        != cards["turbine-autoencoder"]["task"]["signals"]
    )
    assert cards["pump-autoencoder"]["task"]["interval_s"] == 1.0
    assert cards["turbine-autoencoder"]["task"]["interval_s"] == 60.0

    # Dagster's view: a partition per model, each with its own materialisations
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert sorted(instance.get_dynamic_partitions("image_models")) == ["colours", "shapes"]
        assert sorted(instance.get_dynamic_partitions("sensor_profiles")) == [
            "pump",
            "wind-turbine",
        ]
        assert instance.get_materialized_partitions(AssetKey("registered_image_classifier")) == {
            "colours",
            "shapes",
        }
        assert instance.get_materialized_partitions(AssetKey("registered_sensor_autoencoder")) == {
            "pump",
            "wind-turbine",
        }
        readings = instance.get_materialized_partitions(AssetKey("raw_sensor_data"))
        assert {key.split("|")[1] for key in readings} == {"pump", "wind-turbine"}

    # served: the pages list both image models; devices get their own model's manifest
    gateway = Gateway(home, tokens=frozenset({"fleet-token"})).start()
    try:
        web = httpx.post(f"{gateway.url}/v1/web/tokens").json()["token"]
        served = httpx.get(
            f"{gateway.url}/v1/web/models", headers={"Authorization": f"Bearer {web}"}
        )
        assert [(m["model"], m["version"]) for m in served.json()["models"]] == [
            ("colours", 1),
            ("shapes", 1),
        ]
        for model in ("turbine-autoencoder", "pump-autoencoder"):
            manifest = httpx.get(
                f"{gateway.url}/v1/models/{model}/channels/stable",
                headers={"Authorization": "Bearer fleet-token"},
            ).json()
            assert (manifest["model"], manifest["version"], manifest["task"]) == (
                model,
                1,
                "anomaly-detection",
            )
            denied = httpx.get(
                f"{gateway.url}/v1/models/{model}/channels/stable",
                headers={"Authorization": f"Bearer {web}"},
            )
            assert denied.status_code == 403  # a page reads image models only
    finally:
        gateway.stop()
    shots = dagster_ui_screenshots(browser, home)
    capsys.readouterr()
    print(f"\nDagster UI screenshots: {', '.join(str(p) for p in shots)}")
    print("four models (quality: test accuracy or F1; bytes per variant; ingest to published, s)")
    for model, (quality, sizes, seconds) in figures.items():
        print(f"  {model}: {quality} {sizes} {seconds} s")
