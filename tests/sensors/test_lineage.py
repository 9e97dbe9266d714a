"""End to end: simulated days -> registered turbine-autoencoder; the ONNX file flags the faults."""

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from dagster import DagsterInstance, materialize

from assets.partitions import readings_key
from assets.sensors.assets import sensor_assets
from assets.sensors.data import day_range
from edgeline_contract.profile import WIND_TURBINE
from orchestration.models import add_model_partitions
from resources.environment import local_resources
from resources.registry import PENDING

pytestmark = pytest.mark.slow

DAYS = [d.isoformat() for d in day_range(__import__("datetime").date(2026, 10, 20), 8)]
RAW = {"ops": {"raw_sensor_data": {"config": {"turbines": 4, "fault_rate": 1.5}}}}
REST = {"ops": {"sensor_autoencoder": {"config": {"epochs": 12}}}}


@pytest.fixture(scope="module")
def lineage(tmp_path_factory):
    root = tmp_path_factory.mktemp("turbine")
    resources = local_resources(root)  # what tmp_resources gives a function-scoped test
    store, registry = resources["artifacts"], resources["registry"]
    instance = DagsterInstance.ephemeral()
    add_model_partitions(instance, store)  # the built-in turbine is always a partition
    for day in DAYS:
        recorded = materialize(
            [sensor_assets[0]],
            partition_key=readings_key(WIND_TURBINE.name, day),
            resources=resources,
            run_config=RAW,
            instance=instance,
        )
        assert recorded.success
    names = [a.key.path[-1] for a in sensor_assets[1:]]
    result = materialize(
        sensor_assets,
        selection=names,
        resources=resources,
        run_config=REST,
        instance=instance,
        partition_key=WIND_TURBINE.name,
    )
    return result, store, registry


def test_registers_with_threshold_and_variants(lineage):
    result, _, registry = lineage
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"pytorch_parity": True, "fp16_gate": True}
    (version,) = registry.list_versions("turbine-autoencoder")
    assert version.status == PENDING
    card = registry.get_model_card("turbine-autoencoder", 1)
    assert [v["precision"] for v in card["variants"]] == ["fp32", "fp16"]
    assert card["task"]["threshold"] == result.output_for_node("sensor_autoencoder").threshold
    assert card["task"]["signals"][0] == "wind_speed_ms"
    assert card["baseline"]["samples"] > 1000
    assert card["metrics"]["f1"] >= 0.9 and card["task"]["evaluation"] == "labelled"
    assert card["task"]["profile"]["name"] == "wind-turbine"
    assert card["task"]["profile"]["signals"][2] == {
        "name": "power_kw",
        "unit": "kW",
        "min": -50.0,
        "max": 2500.0,
    }
    assert set(card["metrics"]["recall_by_label"]) <= {
        "bearing_wear",
        "voltage_sag",
        "stuck_sensor",
        "rotor_imbalance",
    }
    assert card["variants"][1]["gate"]["flag_agreement"] >= 0.995


def test_onnx_flags_injected_faults_and_not_normal_windows(lineage):
    result, store, _ = lineage
    features = result.output_for_node("sensor_features")
    with np.load(store.get_file(features.key, Path(tempfile.mkdtemp()) / "w.npz")) as data:
        test = data["split"] == 2
        values, fault = data["values"][test], data["state"][test]
    exported = result.output_for_node("sensor_autoencoder_onnx")["file"]
    with tempfile.TemporaryDirectory() as tmp:
        session = ort.InferenceSession(str(store.get_file(exported.key, Path(tmp) / "m.onnx")))
        reconstruction, _, anomaly = session.run(None, {"window": values})
    assert reconstruction.shape == values.shape and anomaly.dtype == bool
    assert anomaly[fault > 0].mean() >= 0.8  # recall on injected faults
    assert anomaly[fault == 0].mean() <= 0.02  # false alarms on normal windows
    # raw units in, raw units out: the reconstruction of a normal window is close to it
    normal = fault == 0
    assert np.median(np.abs(reconstruction[normal] - values[normal]).mean(1)) < 30
