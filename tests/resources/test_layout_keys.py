"""The artifact store's key layout: each kind of key, and round trips where keys are parsed."""

import ast
import re
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from edgeline_contract.manifest import MANIFEST
from edgeline_contract.telemetry import IMAGE_KEY_PATTERN
from resources import layout

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "resources" / "layout.py"


# -- the layout's functions --------------------------------------------------------------------


def test_published_version_files():
    assert layout.deployed_version("m", 3) == "deploy/m/3/"
    assert layout.deployed_file("m", 3, "model.fp32.onnx") == "deploy/m/3/model.fp32.onnx"
    assert layout.manifest("m", 3) == "deploy/m/3/manifest.json"
    assert layout.labels("m", 3) == "deploy/m/3/labels.json"
    assert layout.device_job("m", 3) == "deploy/m/3/iot-job.json"
    assert layout.channel("m") == "deploy/m/stable.json"
    assert layout.channel("m", "beta") == "deploy/m/beta.json"
    assert layout.channels("m") == "deploy/m/"


def test_channel_round_trip():
    for model, name in (("m", "stable"), ("image-classifier", "beta"), ("a.b", "canary")):
        assert layout.parse_channel(layout.channel(model, name)) == (model, name)
    for other in (
        layout.manifest("m", 1),
        layout.deployed_file("m", 1, "x.json"),
        "deploy/m.json",
        "deploy/m/stable.txt",
        layout.catalog_entry("m"),
    ):
        assert layout.parse_channel(other) is None


def test_public_model_files():
    """What the gateway serves without a token: a published version's files, but not its
    manifest or device job (clients read those through the channel endpoint), nor pointers."""
    assert layout.is_public_model_file(layout.deployed_file("m", 2, "model.fp16.onnx"))
    assert layout.is_public_model_file(layout.labels("m", 2))
    for private in (
        layout.manifest("m", 2),
        layout.device_job("m", 2),
        layout.channel("m"),
        layout.deployed_file("m", 2, "model.onnx") + "/x",
        "deploy/m/latest/model.onnx",
        layout.model_run("m", "run") + "model.fp32.onnx",
        layout.catalog_entry("m"),
    ):
        assert not layout.is_public_model_file(private), private


def test_write_once_keys():
    assert layout.is_write_once(layout.run_onnx("m", "r1", "fp32"))
    assert layout.is_write_once(layout.manifest("m", 1))
    assert not layout.is_write_once(layout.channel("m"))
    assert not layout.is_write_once(layout.catalog_entry("m"))


def test_run_files_round_trip():
    assert layout.run_weights("m", "r1") == "models/m/r1/model.pt"
    assert layout.run_onnx("m", "r1", "int8") == "models/m/r1/model.int8.onnx"
    assert layout.run_plot("m", "r1", "training curves") == "models/m/r1/training_curves.png"
    for key in (layout.run_weights("m", "r1"), layout.run_onnx("m", "r1", "fp16")):
        assert layout.parse_model_run(key) == ("m", "r1")
    with pytest.raises(ValueError, match="not a model run"):
        layout.parse_model_run(layout.manifest("m", 1))


def test_dataset_files():
    assert layout.image_dataset_index("m", "abc") == "datasets/m/abc/dataset.json"
    assert layout.sensor_windows("p", "abc") == "datasets/p/abc/windows.npz"
    assert layout.image_dataset_index("m", "abc").startswith(layout.dataset("m", "abc"))


def test_report_files_round_trip():
    prefix = "reports/web/2026-11-20/m/"
    assert layout.report_json("web", "2026-11-20", "m") == prefix + "report.json"
    assert layout.report_markdown("web", "2026-11-20", "m") == prefix + "report.md"
    assert layout.report_html("web", "2026-11-20", "m") == prefix + "report.html"
    assert layout.report_plot("web", "2026-11-20", "m", "latency p50") == (
        prefix + "latency_p50.png"
    )
    assert layout.is_report_json(layout.report_json("pi", "2026-11-20", "m"))
    assert layout.is_report_json("reports/web/2026-11-20/report.json")  # before many models
    assert not layout.is_report_json(layout.report_html("web", "2026-11-20", "m"))
    assert not layout.is_report_json("deploy/m/report.json")


def test_shared_image_keys_round_trip():
    key = layout.incoming_image(date(2026, 11, 20), "web-abc", "0b7c.jpg")
    assert key == "incoming/images/2026-11-20/web-abc/0b7c.jpg"
    assert layout.parse_incoming_image(key) == ("2026-11-20", "web-abc", "0b7c.jpg")
    # before the review queue, images had no uploader folder
    assert layout.parse_incoming_image("incoming/images/2026-11-20/0b7c.jpg") == (
        "2026-11-20",
        None,
        "0b7c.jpg",
    )
    with pytest.raises(ValueError):
        layout.parse_incoming_image(layout.model_image("m", "cat", "a.jpg"))
    assert layout.image_sidecar(key) == key + ".json"
    assert layout.image_review(date(2026, 11, 21), "0b7c.jpg") == (
        "reviews/images/2026-11-21/0b7c.jpg.json"
    )
    assert layout.upload_count("2026-11-20", "web-abc") == (
        "incoming/uploads/2026-11-20/web-abc.count.json"
    )


def test_the_contract_accepts_the_keys_the_layout_builds():
    """The contract (standard library, for clients) spells two key patterns of its own: an
    event's shared image and a manifest's model file. Both take what the layout builds."""
    image_key = re.compile(IMAGE_KEY_PATTERN)
    name = "123e4567-e89b-12d3-a456-426614174000.webp"
    for uploader in ("web-0123456789ab", "device", "pi-7"):
        assert image_key.match(layout.incoming_image(date(2026, 11, 20), uploader, name))
    assert image_key.match(layout.incoming_images("2026-11-20") + name)  # before the queue
    assert not image_key.match(layout.model_image("m", "cat", name))
    model_file = re.compile(MANIFEST["$defs"]["variant"]["properties"]["key"]["pattern"])
    assert model_file.match(layout.deployed_file("image-classifier", 12, "model.fp16.onnx"))
    assert not model_file.match(layout.run_onnx("image-classifier", "r1", "fp16"))


def test_model_images_round_trip():
    key = layout.model_image("m", "cat", "reviewed-a.png")
    assert key == "raw/images/m/cat/reviewed-a.png"
    assert layout.parse_labelled_image(layout.model_images("m"), key) == ("cat", "reviewed-a.png")
    tree = layout.model_images("m")
    assert layout.parse_labelled_image(tree, layout.labelled_image(tree, "dog", "b.jpg")) == (
        "dog",
        "b.jpg",
    )
    for other in (tree + "loose.jpg", tree + "cat/deeper/a.jpg", layout.model_image("n", "c", "a")):
        assert layout.parse_labelled_image(tree, other) is None


def test_sensor_keys_round_trip():
    assert layout.simulated_readings("p", "2026-11-20") == (
        "raw/sensors/p/date=2026-11-20/simulated.parquet"
    )
    ingested = layout.ingested_readings("p", "2026-11-20", "abc123")
    assert ingested == "raw/sensors/p/date=2026-11-20/ingested-abc123.parquet"
    assert layout.is_ingested_readings(ingested)
    assert not layout.is_simulated_readings(ingested)
    assert layout.is_simulated_readings(layout.simulated_readings("p", "2026-11-20"))
    for key in (ingested, layout.simulated_readings("p", "2026-11-20")):
        assert layout.parse_sensor_day(key) == ("p", "2026-11-20")
        assert layout.sensor_profile_of(key) == "p"
    assert layout.parse_sensor_day(layout.sensor_profile("p")) is None
    assert layout.parse_sensor_profile(layout.sensor_profile("pump")) == "pump"
    assert layout.parse_sensor_profile(ingested) is None


def test_catalog_round_trip():
    assert layout.parse_catalog_entry(layout.catalog_entry("m")) == "m"
    assert layout.parse_catalog_entry(layout.CATALOG_ADOPTED) is None


def test_telemetry_and_registry_keys():
    hour = datetime(2026, 11, 20, 7)
    assert layout.telemetry_hour("pi", hour) == "telemetry/pi/hour=2026-11-20T07/events.parquet"
    assert layout.telemetry_hour("pi", hour).startswith(layout.telemetry_day("pi", "2026-11-20"))
    assert layout.verdict("m", "ab", "parity") == "verdicts/m/ab/parity.json"
    assert layout.model_card("m", "ab") == "registry/m/cards/ab.json"


def test_layout_imports_only_the_standard_library():
    """The gateway and other light installs import it without Dagster or anything else."""
    tree = ast.parse(LAYOUT.read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names
