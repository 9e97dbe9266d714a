"""The aws environment when AWS misbehaves: a fifth of all calls (S3, SageMaker, CloudWatch Logs,
IoT) answered with throttling or a 5xx, injected in front of moto's server through botocore's
event hooks. Registration, publication, telemetry and its roll-up all complete through the
shared retry settings, and nothing is written twice."""

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from dagster import DagsterInstance, FilesystemIOManager, materialize

from assets.deployment.publish import iot_job_document, publish_model_version, read_channel
from assets.telemetry.assets import events_assets
from resources import (
    CloudWatchTelemetryStore,
    IotDeviceJobs,
    S3ArtifactStore,
    SageMakerModelRegistry,
)
from resources.aws import AwsSettings
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import pi_event
from tests.helpers import unique_name

pytestmark = pytest.mark.slow


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_):
        yield self.data


class FaultInjector:
    """Answers ``rate`` of the calls itself, before they reach the server, as AWS does when it
    throttles or fails: never more than ``max_in_a_row`` times in a row, so that the retry
    budget (5 attempts) decides the outcome, not luck. Each service's first call fails, so
    that every service is hit however few calls it gets."""

    def __init__(self, rate: float, seed: int, max_in_a_row: int = 2) -> None:
        self.rate, self.max_in_a_row = rate, max_in_a_row
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.in_a_row = 0
        self.calls: Counter = Counter()
        self.injected: Counter = Counter()

    def before_send(self, request, event_name: str, **_) -> AWSResponse | None:
        service = event_name.split(".")[1]
        with self.lock:
            self.calls[service] += 1
            hit = self.calls[service] == 1 or self.rng.random() < self.rate
            if self.in_a_row >= self.max_in_a_row or not hit:
                self.in_a_row = 0
                return None
            self.in_a_row += 1
            throttle = self.rng.random() < 0.5
            self.injected[(service, "throttling" if throttle else "5xx")] += 1
        if service == "s3":
            code = "SlowDown" if throttle else "InternalError"
            body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            return AWSResponse(request.url, 503 if throttle else 500, {}, _Body(body))
        code = "ThrottlingException" if throttle else "InternalFailure"
        status = (429 if service == "iot" else 400) if throttle else 500
        body = f'{{"__type": "{code}", "message": "injected"}}'.encode()
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, status, headers, _Body(body))


@pytest.fixture
def flaky_aws(moto_endpoint, monkeypatch) -> FaultInjector:
    injector = FaultInjector(rate=0.2, seed=11)
    make_client = AwsSettings.client

    def client(self, service: str):
        made = make_client(self, service)
        made.meta.events.register("before-send", injector.before_send)
        return made

    monkeypatch.setattr(AwsSettings, "client", client)
    return injector


def test_a_fifth_of_aws_calls_failing_changes_no_outcome(flaky_aws, s3_bucket, tmp_path):
    store = S3ArtifactStore(bucket=s3_bucket, prefix="edgeline")
    registry = SageMakerModelRegistry(artifacts=store)
    telemetry = CloudWatchTelemetryStore(log_group_prefix=f"/edgeline-faults/{unique_name('t')}")
    model = unique_name("turbine")

    versions = [register_tiny_version(store, registry, model) for _ in range(3)]
    assert versions == [1, 2, 3]  # each registered once, numbered without gaps
    assert [v.version for v in registry.list_versions(model)] == [1, 2, 3]
    for version in versions:
        registry.approve(model, version, "ok", "qa")
        publish_model_version(store, registry, model, version)
    pointer = read_channel(store, model)
    assert pointer["version"] == 3

    iot = boto3.client("iot")
    group = iot.create_thing_group(thingGroupName=unique_name("fleet"))
    manifest = store.get_json(pointer["manifest_key"])
    announced = IotDeviceJobs(thing_group_arn=group["thingGroupArn"]).announce(
        model, 3, iot_job_document(manifest, pointer["manifest_key"])
    )
    assert announced.endswith("created")

    hour = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    events = [pi_event(at=hour + timedelta(seconds=10 * i)) for i in range(300)]
    for start in range(0, len(events), 10):
        telemetry.append(events[start : start + 10])
    raw = [
        e
        for page in telemetry.logs.get_paginator("filter_log_events").paginate(
            logGroupName=telemetry.log_group("pi")
        )
        for e in page["events"]
    ]
    assert len(raw) == len(events)  # nothing written twice, not even before de-duplication
    result = materialize(
        [events_assets["pi"]],
        partition_key=hour.strftime("%Y-%m-%d-%H:%M"),
        resources={
            "artifacts": store,
            "telemetry": telemetry,
            "io_manager": FilesystemIOManager(base_dir=str(tmp_path / "io")),
        },
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    assert result.output_for_node("telemetry_events_pi")["events"] == len(events)

    injected = sum(flaky_aws.injected.values())
    calls = sum(flaky_aws.calls.values())
    print(f"injected {injected} faults in {calls} AWS calls: {dict(flaky_aws.injected)}")
    for service in ("s3", "sagemaker", "cloudwatch-logs", "iot"):
        assert any(s == service for s, _ in flaky_aws.injected), service  # every service was hit
    assert 0.1 < injected / calls < 0.3
