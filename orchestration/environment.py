"""Dagster's side of environment selection: the IO manager, DAGSTER_HOME, the sensor interval."""

import os
from pathlib import Path
from typing import Any

from dagster import FilesystemIOManager
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from resources.environment import (
    REPO_ROOT,
    aws_io_resources,
    edgeline_env,
    edgeline_home,
    local_io_resources,
    s3_location,
)

__all__ = [
    "REPO_ROOT",
    "build_resources",
    "dagster_home",
    "edgeline_env",
    "edgeline_home",
    "local_resources",
]


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
        **local_io_resources(home),
        "io_manager": FilesystemIOManager(base_dir=str(home / "dagster-storage")),
    }


def aws_resources() -> dict[str, Any]:
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
    """The resources for ``env`` (default: EDGELINE_ENV), keyed as the assets ask for them."""
    env = env or edgeline_env()
    return local_resources(edgeline_home()) if env == "local" else aws_resources()
