"""The publish job for one version, run in a process of its own that stops for good after a
number of writes: a test SIGKILLs it there, half-way through a publication.

    python -m tests.deployment.publish_run '<json: env, store, model, version, pause_after, marker>'
"""

import json
import sys
import time
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, FilesystemIOManager

from orchestration.definitions import build_definitions
from resources import (
    LocalArtifactStore,
    PollingDeviceJobs,
    S3ArtifactStore,
    SageMakerModelRegistry,
    SqliteModelRegistry,
    SqliteTelemetryStore,
)

WRITES = [0]  # one run per process


class _Pausing:
    """Writes as the store does, until ``pause_after`` of them; then says so and hangs."""

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        if WRITES[0] >= self.pause_after:
            Path(self.marker).write_text(key)
            time.sleep(3600)
        WRITES[0] += 1
        super().put_bytes(key, data, content_type)


class PausingLocalStore(_Pausing, LocalArtifactStore):
    pause_after: int
    marker: str


class PausingS3Store(_Pausing, S3ArtifactStore):
    pause_after: int
    marker: str


def stores(spec: dict[str, Any], pausing: bool) -> dict[str, Any]:
    """The artifact store and registry a test uses, rebuilt from ``spec``."""
    pause = {"pause_after": spec["pause_after"], "marker": spec["marker"]} if pausing else {}
    if spec["env"] == "local":
        store = (PausingLocalStore if pausing else LocalArtifactStore)(root=spec["root"], **pause)
        registry = SqliteModelRegistry(path=spec["registry"])
    else:
        kind = PausingS3Store if pausing else S3ArtifactStore
        store = kind(bucket=spec["bucket"], prefix=spec["prefix"], **pause)
        registry = SageMakerModelRegistry(artifacts=store, group_prefix=spec["group_prefix"])
    return {"artifacts": store, "registry": registry, "device_jobs": PollingDeviceJobs()}


def run_publish_job(spec: dict[str, Any], pausing: bool, io_dir: str) -> bool:
    resources = {
        **stores(spec, pausing),
        "io_manager": FilesystemIOManager(base_dir=io_dir),
        "telemetry": SqliteTelemetryStore(path=f"{io_dir}/telemetry.sqlite"),  # not used here
    }
    defs = build_definitions(resources)
    key = f"{spec['model']}@{spec['version']}"
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("model_versions", [key])
    result = defs.resolve_job_def("publish_model_version").execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False
    )
    return result.success


if __name__ == "__main__":
    specification = json.loads(sys.argv[1])
    sys.exit(0 if run_publish_job(specification, True, specification["io_dir"]) else 1)
