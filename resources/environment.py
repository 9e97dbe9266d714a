"""The environment, in one place: EDGELINE_ENV (local|aws), where local data lives, which
implementation of each IO boundary to use, the Dagster IO manager and instance config.

The gateway uses it too: ``stores`` builds the artifact and telemetry stores, which import no
Dagster; the functions that build Dagster resources import them (and Dagster) when called.
"""

import os
from pathlib import Path
from typing import Any

from resources.artifacts import LocalArtifactStore, S3ArtifactStore
from resources.telemetry import CloudWatchTelemetryStore, SqliteTelemetryStore

ENVIRONMENTS = ("local", "aws")
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the checkout, or site-packages
# a source checkout keeps its data beside the code; an installed package in the user's home
IN_CHECKOUT = (PACKAGE_ROOT / "pyproject.toml").is_file()
WORKSPACE = PACKAGE_ROOT / "workspace.yaml"
INSTANCE_CONFIG = (
    "telemetry:\n  enabled: false\n"
    # the queue is read each second, not each 5: an approval waits for it before it publishes
    "run_queue:\n  max_concurrent_runs: 2\n  dequeue_interval_seconds: 1\n"
    "sensors:\n  use_threads: true\n  num_workers: 2\n"
)


def edgeline_env() -> str:
    env = os.environ.get("EDGELINE_ENV", "local").strip().lower() or "local"
    if env not in ENVIRONMENTS:
        raise ValueError(f"EDGELINE_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def edgeline_home() -> Path:
    """Local data root: artifacts, registry, telemetry and the Dagster instance."""
    default = PACKAGE_ROOT / ".edgeline" if IN_CHECKOUT else Path.home() / ".edgeline"
    return Path(os.environ.get("EDGELINE_HOME") or default).resolve()


def s3_location() -> tuple[str, str]:
    bucket = os.environ.get("EDGELINE_S3_BUCKET", "")
    if not bucket:
        raise ValueError("EDGELINE_ENV=aws needs EDGELINE_S3_BUCKET: the bucket for artifacts")
    return bucket, os.environ.get("EDGELINE_S3_PREFIX", "edgeline").strip("/")


def local_stores(home: Path) -> dict[str, Any]:
    """The artifact and telemetry stores under ``home``."""
    return {
        "artifacts": LocalArtifactStore(
            root=str(home / "artifacts"),
            gateway_url=os.environ.get("EDGELINE_GATEWAY_URL", ""),
        ),
        "telemetry": SqliteTelemetryStore(path=str(home / "telemetry.sqlite")),
    }


def aws_stores() -> dict[str, Any]:
    """The artifact and telemetry stores in S3 and CloudWatch Logs."""
    bucket, prefix = s3_location()
    return {
        "artifacts": S3ArtifactStore(bucket=bucket, prefix=prefix),
        "telemetry": CloudWatchTelemetryStore(
            log_group_prefix=os.environ.get("EDGELINE_LOG_GROUP_PREFIX", "/edgeline/telemetry")
        ),
    }


def stores(env: str | None = None) -> dict[str, Any]:
    """The artifact and telemetry stores for ``env`` (default: EDGELINE_ENV): the gateway's."""
    env = env or edgeline_env()
    return local_stores(edgeline_home()) if env == "local" else aws_stores()


def local_io_resources(home: Path) -> dict[str, Any]:
    """Artifacts, registry, telemetry and device jobs under ``home``, as Dagster resources."""
    from resources.devices import PollingDeviceJobs
    from resources.registry import SqliteModelRegistry
    from resources.store_resources import as_resource

    return {
        **{name: as_resource(store) for name, store in local_stores(home).items()},
        "registry": SqliteModelRegistry(path=str(home / "registry.sqlite")),
        "device_jobs": PollingDeviceJobs(),
    }


def aws_io_resources() -> dict[str, Any]:
    """Artifacts, registry, telemetry and device jobs on AWS, as Dagster resources."""
    from resources.devices import IotDeviceJobs
    from resources.registry import SageMakerModelRegistry
    from resources.store_resources import as_resource

    resources = {name: as_resource(store) for name, store in aws_stores().items()}
    return {
        **resources,
        "registry": SageMakerModelRegistry(
            artifacts=resources["artifacts"],
            group_prefix=os.environ.get("EDGELINE_SAGEMAKER_GROUP_PREFIX", ""),
        ),
        "device_jobs": IotDeviceJobs(
            thing_group_arn=os.environ.get("EDGELINE_IOT_THING_GROUP_ARN", "")
        ),
    }


def code_location_args() -> list[str]:
    """How the dagster commands find Edgeline: the checkout's workspace.yaml, or the installed
    module when there is no checkout."""
    if WORKSPACE.is_file():
        return ["-w", str(WORKSPACE)]
    return ["-m", "orchestration.definitions"]


def sensor_interval_s() -> int:
    """How often the registry sensor polls (EDGELINE_SENSOR_INTERVAL_S, default 10 s)."""
    return int(os.environ.get("EDGELINE_SENSOR_INTERVAL_S", "10"))


def rollout_interval_s() -> int:
    """How often the rollout sensor judges running rollouts (EDGELINE_ROLLOUT_INTERVAL_S, 60 s)."""
    return int(os.environ.get("EDGELINE_ROLLOUT_INTERVAL_S", "60"))


def dagster_home(home: Path | None = None) -> Path:
    """DAGSTER_HOME (or ``home``): absolute, created, with Edgeline's instance config (telemetry
    off, runs capped for SQLite storage) unless one is there."""
    home = Path(home or os.environ.get("DAGSTER_HOME") or edgeline_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    return home


def local_resources(home: Path) -> dict[str, Any]:
    from dagster import FilesystemIOManager

    return {
        **local_io_resources(home),
        "io_manager": FilesystemIOManager(base_dir=str(home / "dagster-storage")),
    }


def aws_resources() -> dict[str, Any]:
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    resources = aws_io_resources()
    bucket, prefix = s3_location()
    return {
        **resources,
        "io_manager": S3PickleIOManager(
            s3_resource=S3Resource(region_name=resources["artifacts"].aws.region_name),
            s3_bucket=bucket,
            s3_prefix=f"{prefix}/dagster-io" if prefix else "dagster-io",
        ),
    }


def build_resources(env: str | None = None) -> dict[str, Any]:
    """Every resource for ``env`` (default: EDGELINE_ENV), keyed as the assets ask for them."""
    env = env or edgeline_env()
    return local_resources(edgeline_home()) if env == "local" else aws_resources()
