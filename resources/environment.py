"""Which implementation of each IO boundary to use: EDGELINE_ENV (local|aws) and its settings.

Read here and in orchestration/ only. The gateway uses this too, without Dagster wiring.
"""

import os
from pathlib import Path
from typing import Any

from resources.artifacts import LocalArtifactStore, S3ArtifactStore
from resources.devices import IotDeviceJobs, PollingDeviceJobs
from resources.registry import SageMakerModelRegistry, SqliteModelRegistry
from resources.telemetry import CloudWatchTelemetryStore, SqliteTelemetryStore

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


def s3_location() -> tuple[str, str]:
    bucket = os.environ.get("EDGELINE_S3_BUCKET", "")
    if not bucket:
        raise ValueError("EDGELINE_ENV=aws needs EDGELINE_S3_BUCKET: the bucket for artifacts")
    return bucket, os.environ.get("EDGELINE_S3_PREFIX", "edgeline").strip("/")


def local_io_resources(home: Path) -> dict[str, Any]:
    return {
        "artifacts": LocalArtifactStore(
            root=str(home / "artifacts"),
            gateway_url=os.environ.get("EDGELINE_GATEWAY_URL", ""),
        ),
        "registry": SqliteModelRegistry(path=str(home / "registry.sqlite")),
        "telemetry": SqliteTelemetryStore(path=str(home / "telemetry.sqlite")),
        "device_jobs": PollingDeviceJobs(),
    }


def aws_io_resources() -> dict[str, Any]:
    bucket, prefix = s3_location()
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
    }


def io_resources(env: str | None = None) -> dict[str, Any]:
    """Artifacts, registry, telemetry and device jobs for ``env`` (default: EDGELINE_ENV)."""
    env = env or edgeline_env()
    return local_io_resources(edgeline_home()) if env == "local" else aws_io_resources()
