"""The drift sensor (off by default) asks for retraining once per drifted report."""

from dagster import DagsterInstance, DefaultSensorStatus, build_sensor_context

from orchestration.sensors import drift_retraining_sensor
from resources import LocalArtifactStore


def test_drift_sensor_requests_retraining_once(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    store.put_json("reports/web/2026-11-20/report.json", {"client_kind": "web", "drift_psi": 0.35})
    store.put_json("reports/pi/2026-11-20/report.json", {"client_kind": "pi", "drift_psi": 0.05})
    assert drift_retraining_sensor.default_status == DefaultSensorStatus.STOPPED
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"artifacts": store})
        result = drift_retraining_sensor(context)
        assert [r.job_name for r in result.run_requests] == ["retrain_image_classifier"]
        again = drift_retraining_sensor(
            build_sensor_context(
                instance=instance, cursor=result.cursor, resources={"artifacts": store}
            )
        )
        assert again.run_requests == []
