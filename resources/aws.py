"""One botocore configuration for every boto3 client Edgeline makes (no Dagster here: the gateway
installs without it; ``resources.store_resources.AwsConfig`` is this as Dagster config)."""

import importlib.util
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

CLIENT_HOOK = "EDGELINE_AWS_CLIENT_HOOK"


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


@cache
def client_hook(path: str) -> Callable[[Any], None]:
    """The ``install`` function of the Python file at ``path``, called with every client made
    here. Opt-in, unset in production: the test suite names tests/aws_calls.py in
    EDGELINE_AWS_CLIENT_HOOK to record each call (its subprocesses' too) for the IAM check."""
    spec = importlib.util.spec_from_file_location("edgeline_aws_client_hook", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{CLIENT_HOOK}={path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.install


class AwsSettings(BaseModel):
    """Region, endpoint, retries and timeouts shared by the S3, SageMaker and Logs clients.

    ``endpoint_url`` left empty lets boto3 read ``AWS_ENDPOINT_URL`` (and the per-service
    ``AWS_ENDPOINT_URL_<SERVICE>``) itself, which is how tests point at moto's server.
    """

    model_config = ConfigDict(frozen=True)

    region_name: str = Field(
        default_factory=lambda: (
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        ),
        description="AWS region.",
    )
    endpoint_url: str | None = Field(
        default=None, description="An AWS-compatible endpoint; empty means AWS_ENDPOINT_URL or AWS."
    )
    max_attempts: int = Field(default=5, ge=1, description="Attempts per call (adaptive retries).")
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    _clients: dict[str, Any] = PrivateAttr(default_factory=dict)

    def botocore_config(self) -> BotocoreConfig:
        return BotocoreConfig(
            region_name=self.region_name,
            retries={"mode": "adaptive", "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
        )

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` with these settings."""
        config = self.botocore_config()
        if service == "s3":  # SigV4 presigned URLs work in every region
            config = config.merge(BotocoreConfig(signature_version="s3v4"))
        kwargs: dict[str, Any] = {"config": config}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        client = boto3.session.Session().client(service, **kwargs)
        if hook := os.environ.get(CLIENT_HOOK):
            client_hook(hook)(client)
        return client

    def cached_client(self, service: str) -> Any:
        """The one client for ``service`` these settings made (boto3 clients are thread-safe
        and keep their connection pool: a resource makes each once)."""
        if service not in self._clients:
            self._clients[service] = self.client(service)
        return self._clients[service]
