"""Environment selection: the only place (with resources/) that reads EDGELINE_* variables."""

import os
from pathlib import Path
from typing import Any

from dagster import FilesystemIOManager
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from resources import (
    CloudWatchTelemetryStore,
    IotDeviceJobs,
    LocalArtifactStore,
    PollingDeviceJobs,
    S3ArtifactStore,
    SageMakerModelRegistry,
    SqliteModelRegistry,
    SqliteTelemetryStore,
)

ENVIRONMENTS = ("local", "aws")
REPO_ROOT = Path(__file__).resolve().parents[1]


def edgeline_env() -> str:
    env = os.environ.get("EDGELINE_ENV", "local").strip().lower() or "local"
    if env not in ENVIRONMENTS:
        raise ValueError(f"EDGELINE_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def edgeline_home() -> Path:
    """Local data root: artifacts, registry, telemetry and the Dagster instance."""
    return Path(os.environ.get("EDGELINE_HOME") or REPO_ROOT / ".edgeline").resolve()


def sensor_interval_s() -> int:
    """How often the registry sensor polls (EDGELINE_SENSOR_INTERVAL_S, default 10 s)."""
    return int(os.environ.get("EDGELINE_SENSOR_INTERVAL_S", "10"))


def dagster_home() -> Path:
    """DAGSTER_HOME (absolute, created, telemetry off, runs capped for SQLite storage)."""
    home = Path(os.environ.get("DAGSTER_HOME") or edgeline_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(
            "telemetry:\n  enabled: false\n"
            "run_queue:\n  max_concurrent_runs: 2\n"
            "sensors:\n  use_threads: true\n  num_workers: 2\n"
        )
    return home


def local_resources(home: Path) -> dict[str, Any]:
    return {
        "artifacts": LocalArtifactStore(
            root=str(home / "artifacts"),
            gateway_url=os.environ.get("EDGELINE_GATEWAY_URL", "http://127.0.0.1:8000"),
        ),
        "registry": SqliteModelRegistry(path=str(home / "registry.sqlite")),
        "telemetry": SqliteTelemetryStore(path=str(home / "telemetry.sqlite")),
        "device_jobs": PollingDeviceJobs(),
        "io_manager": FilesystemIOManager(base_dir=str(home / "dagster-storage")),
    }


def aws_resources() -> dict[str, Any]:
    bucket = os.environ.get("EDGELINE_S3_BUCKET", "")
    if not bucket:
        raise ValueError("EDGELINE_ENV=aws needs EDGELINE_S3_BUCKET: the bucket for artifacts")
    prefix = os.environ.get("EDGELINE_S3_PREFIX", "edgeline").strip("/")
    artifacts = S3ArtifactStore(bucket=bucket, prefix=prefix)
    return {
        "artifacts": artifacts,
        "registry": SageMakerModelRegistry(artifacts=artifacts),
        "telemetry": CloudWatchTelemetryStore(
            log_group_prefix=os.environ.get("EDGELINE_LOG_GROUP_PREFIX", "/edgeline/telemetry")
        ),
        "device_jobs": IotDeviceJobs(
            thing_group_arn=os.environ.get("EDGELINE_IOT_THING_GROUP_ARN", "")
        ),
        "io_manager": S3PickleIOManager(
            s3_resource=S3Resource(region_name=artifacts.aws.region_name),
            s3_bucket=bucket,
            s3_prefix=f"{prefix}/dagster-io" if prefix else "dagster-io",
        ),
    }


def build_resources(env: str | None = None) -> dict[str, Any]:
    """The resources for ``env`` (default: EDGELINE_ENV), keyed as the assets ask for them."""
    env = env or edgeline_env()
    return local_resources(edgeline_home()) if env == "local" else aws_resources()
