"""The drift sensor (off by default) asks for retraining once per drifted report."""

from dagster import DagsterInstance, DefaultSensorStatus, build_sensor_context

from orchestration.sensors import drift_retraining_sensor
from resources import LocalArtifactStore


def test_drift_sensor_requests_retraining_once(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    store.put_json(
        "reports/web/2026-11-20/report.json",
        {"client_kind": "web", "drift_psi": 0.35, "baseline_model": "plants"},
    )
    store.put_json("reports/web/2026-11-21/report.json", {"client_kind": "web", "drift_psi": 0.1})
    store.put_json("reports/pi/2026-11-20/report.json", {"client_kind": "pi", "drift_psi": 0.05})
    assert drift_retraining_sensor.default_status == DefaultSensorStatus.STOPPED
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"artifacts": store})
        result = drift_retraining_sensor(context)
        # the drifted image model alone: its partition of the vision lineage
        assert [(r.job_name, r.partition_key) for r in result.run_requests] == [
            ("retrain_image_classifier", "plants")
        ]
        again = drift_retraining_sensor(
            build_sensor_context(
                instance=instance, cursor=result.cursor, resources={"artifacts": store}
            )
        )
        assert again.run_requests == []


def test_a_drifted_pi_model_is_retrained_on_its_own_profile(tmp_path):
    from assets.sensors.data import record_profile
    from edgeline_contract.profile import WIND_TURBINE, SensorProfile, Signal

    store = LocalArtifactStore(root=str(tmp_path))
    pump = SensorProfile("pump", "pump-autoencoder", (Signal("pressure_bar", "bar"),), 1.0, 20)
    record_profile(store, pump)
    for day, model in (("2026-11-20", "pump-autoencoder"), ("2026-11-21", WIND_TURBINE.model)):
        store.put_json(
            f"reports/pi/{day}/report.json",
            {"client_kind": "pi", "drift_psi": 0.5, "baseline_model": model},
        )
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"artifacts": store})
        requests = drift_retraining_sensor(context).run_requests
    assert [r.job_name for r in requests] == ["retrain_sensor_autoencoder"] * 2
    assert [r.partition_key for r in requests] == ["pump", "wind-turbine"]  # each its own profile
