"""Dagster's instance on PostgreSQL (dagster-postgres), as a deployment beyond one machine runs
it: a real server; the turbine lineage and the registry sensor's publication against it."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from dagster import DagsterInstance

from assets.deployment.publish import read_channel
from assets.partitions import readings_key
from orchestration.definitions import build_definitions
from orchestration.models import add_model_partitions
from orchestration.sensors import run_registry_sensor_once
from resources.environment import local_resources
from tests.postgres import postgres_server

pytestmark = pytest.mark.slow
SMALL = {
    "ops": {
        "raw_sensor_data": {"config": {"turbines": 2}},
        "sensor_autoencoder": {"config": {"epochs": 4}},
    }
}


def test_lineage_and_sensor_on_a_postgres_instance(tmp_path):
    started = time.monotonic()
    with postgres_server(tmp_path / "postgres") as url:
        home = tmp_path / "dagster"
        home.mkdir()
        (home / "dagster.yaml").write_text(
            yaml.safe_dump(
                {
                    "telemetry": {"enabled": False},
                    "storage": {"postgres": {"postgres_url": url}},
                }
            )
        )
        resources = local_resources(tmp_path / "edgeline")
        defs = build_definitions(resources)
        with DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            add_model_partitions(instance, resources["artifacts"])
            today = datetime.now(UTC).date()
            for offset in range(6, 0, -1):
                day = (today - timedelta(days=offset)).isoformat()
                assert (
                    defs.resolve_job_def("sensor_data")
                    .execute_in_process(
                        run_config={"ops": {"raw_sensor_data": SMALL["ops"]["raw_sensor_data"]}},
                        instance=instance,
                        partition_key=readings_key("wind-turbine", day),
                    )
                    .success
                )
            trained = defs.resolve_job_def("retrain_sensor_autoencoder").execute_in_process(
                run_config={"ops": {"sensor_autoencoder": SMALL["ops"]["sensor_autoencoder"]}},
                instance=instance,
                partition_key="wind-turbine",
            )
            assert trained.success
            registry = resources["registry"]
            registry.approve("turbine-autoencoder", 1, "on postgres", "qa")
            cursor, launched = run_registry_sensor_once(defs, instance, None)
            assert launched == ["publish:turbine-autoencoder@1:ok"]
            assert read_channel(resources["artifacts"], "turbine-autoencoder")["version"] == 1
            _, relaunched = run_registry_sensor_once(defs, instance, cursor)
            assert relaunched == []  # the cursor, kept by the caller, plans nothing twice
            runs = instance.get_runs()
            assert len(runs) == 6 + 1 + 1 and all(r.is_success for r in runs)
    print(f"postgres instance test: {time.monotonic() - started:.1f} s")
