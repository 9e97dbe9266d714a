"""One botocore configuration for every boto3 client Edgeline makes (no Dagster here: the gateway
installs without it; ``resources.store_resources.AwsConfig`` is this as Dagster config)."""

import importlib.util
import os
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotocoreConfig
from botocore.loaders import Loader, create_loader
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


class _SearchPaths(list):
    """A loader's folders: boto3 adds its own to a session's loader with each session."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


class _SharedLoader(Loader):
    """botocore's reader of service models and endpoints, made to be shared by sessions."""

    def __init__(self, search_paths: list[str]) -> None:
        super().__init__(extra_search_paths=[], include_default_search_paths=False)
        self._shared_paths = _SearchPaths(search_paths)

    @property
    def search_paths(self) -> list[str]:
        return self._shared_paths


@cache
def _service_models(data_path: str | None) -> Loader:
    """One loader per process (and data path): each new session read the service models from
    JSON again, 110-150 ms a client here against 10-20 ms with the loader shared, and resources
    make their clients anew in every run."""
    return _SharedLoader(create_loader(data_path).search_paths)


def _new_session() -> boto3.session.Session:
    """A session of its own for each client (credentials and configuration are read as a fresh
    session reads them) that reads service models through the process's one loader."""
    session = botocore.session.get_session()
    session.register_component(
        "data_loader", _service_models(session.get_config_variable("data_path"))
    )
    return boto3.session.Session(botocore_session=session)


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
        client = _new_session().client(service, **kwargs)
        if hook := os.environ.get(CLIENT_HOOK):
            client_hook(hook)(client)
        return client

    def cached_client(self, service: str) -> Any:
        """The one client for ``service`` these settings made (boto3 clients are thread-safe
        and keep their connection pool: a resource makes each once)."""
        if service not in self._clients:
            self._clients[service] = self.client(service)
        return self._clients[service]
