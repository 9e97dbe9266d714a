"""DeviceJobs: telling a Pi fleet that a new model version is there.

Locally the devices poll the channel pointer, so there is nothing to send. On aws an IoT job
with the job document goes to a configured thing group, as the edge sample did.
"""

import json
import re
from abc import ABC, abstractmethod
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

from resources.store_resources import AwsConfig


class DeviceJobs(ConfigurableResource, ABC):
    @abstractmethod
    def announce(self, model: str, version: int, document: dict[str, Any]) -> str:
        """Send ``document`` to the fleet (idempotent per model version); returns what was done."""


class PollingDeviceJobs(DeviceJobs):
    """Local default: devices poll ``deploy/<model>/stable.json``; nothing is pushed."""

    def announce(self, model: str, version: int, document: dict[str, Any]) -> str:
        return "none: devices poll the channel pointer"


class IotDeviceJobs(DeviceJobs):
    """AWS IoT jobs for one thing group; empty ``thing_group_arn`` sends nothing."""

    thing_group_arn: str = Field(default="", description="Target thing group ARN (empty: no jobs).")
    aws: AwsConfig = Field(default_factory=AwsConfig)

    @property
    def iot(self) -> Any:
        return self.aws.cached_client("iot")

    def announce(self, model: str, version: int, document: dict[str, Any]) -> str:
        if not self.thing_group_arn:
            return "none: no thing group configured"
        job_id = re.sub(r"[^a-zA-Z0-9_-]", "-", f"edgeline-{model}-v{version}")[:64]
        try:
            self.iot.describe_job(jobId=job_id)
            return f"iot job {job_id} already exists"
        except self.iot.exceptions.ResourceNotFoundException:
            pass
        try:
            self.iot.create_job(
                jobId=job_id,
                targets=[self.thing_group_arn],
                document=json.dumps(document),
                targetSelection="SNAPSHOT",
                description=f"Update {model} to v{version}",
            )
        except self.iot.exceptions.ResourceAlreadyExistsException:  # a concurrent publisher won
            return f"iot job {job_id} already exists"
        return f"iot job {job_id} created"
