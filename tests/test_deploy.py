"""Beyond one machine: the instance configurations for ECS and Kubernetes, the Helm values and the
image, loaded and validated through Dagster's own config machinery; and the least-privilege
policies' checker."""

import importlib
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

from resources import S3ArtifactStore
from tests.aws_calls import CALL_LOG, REPO, component
from tests.iam import allowed, authorizations, read_calls, violations

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ENVIRONMENT = {
    "DAGSTER_PG_HOST": "db",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "x",
    "DAGSTER_PG_DB": "dagster",
    "EDGELINE_S3_BUCKET": "bucket",
}


@pytest.mark.parametrize(
    ("folder", "launcher"),
    [("ecs", "dagster_aws.ecs.EcsRunLauncher"), ("k8s", "dagster_k8s.K8sRunLauncher")],
)
def test_instance_configurations_validate(folder, launcher, monkeypatch):
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    config, _ = dagster_instance_config(str(DEPLOY / folder))  # the instance schema, env vars in
    assert "postgres" in config["storage"]
    declared = config["run_launcher"]
    assert f"{declared['module']}.{declared['class']}" == launcher
    module, _, name = launcher.rpartition(".")
    launcher_class = getattr(importlib.import_module(module), name)
    result = validate_config(launcher_class.config_type(), declared["config"])
    assert result.success, [error.message for error in result.errors]


def test_helm_values_and_image_name_the_code_location():
    values = yaml.safe_load((DEPLOY / "k8s" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "orchestration.definitions"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    instance = yaml.safe_load((DEPLOY / "k8s" / "dagster.yaml").read_text())
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert k8s["jobNamespace"] == instance["run_launcher"]["config"]["job_namespace"]
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert '-m", "orchestration.definitions"' in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile and "torch==2.14.1" in dockerfile


def test_calls_are_attributed_to_the_component_on_the_stack():
    gateway = [(f"{REPO}/clients/gateway/app.py", "f"), (f"{REPO}/resources/artifacts.py", "f")]
    telemetry_test = [(f"{REPO}/tests/x.py", "f"), (f"{REPO}/resources/telemetry.py", "append")]
    assets = [(f"{REPO}/tests/x.py", "f"), (f"{REPO}/assets/deployment/publish.py", "f")]
    setup = [(f"{REPO}/assets/x.py", "f"), (f"{REPO}/tests/x.py", "f")]  # a test's own call
    threadpool = [  # the gateway's run_in_threadpool(store.put_bytes, ...)
        ("/usr/lib/python3.11/threading.py", "_bootstrap"),
        ("/venv/site-packages/anyio/_backends/_asyncio.py", "run"),
        (f"{REPO}/resources/artifacts.py", "put_bytes"),
    ]
    assert component(gateway) == "gateway" and component(telemetry_test) == "gateway"
    assert component(threadpool) == "gateway"
    assert component(assets) == "code-location" and component(setup) is None


GROUP = "arn:aws:iot:us-east-1:123456789012:thinggroup/fleet"


def call(who: str, service: str, operation: str, **params: Any) -> dict[str, Any]:
    """A recorded call, as tests/aws_calls.py writes it, in a deployment of bucket "b"."""
    variables = {
        "AWS_REGION": "us-east-1",
        "EDGELINE_S3_BUCKET": "b",
        "EDGELINE_S3_PREFIX": "edgeline",
        "EDGELINE_LOG_GROUP_PREFIX": "/edgeline/telemetry",
        "EDGELINE_IOT_THING_GROUP_ARN": GROUP,
    }
    return {
        "pid": 1,
        "component": who,
        "service": service,
        "operation": operation,
        "params": params,
        "variables": variables,
    }


def test_calls_are_checked_for_action_and_resource_against_each_components_policy():
    published = call("gateway", "s3", "GetObject", Bucket="b", Key="edgeline/deploy/m/stable.json")
    assert authorizations(published) == [
        ("s3:GetObject", "arn:aws:s3:::b/edgeline/deploy/m/stable.json")
    ]
    fine = [
        published,
        call("gateway", "s3", "PutObject", Bucket="b", Key="edgeline/incoming/images/d/x.jpg"),
        call(
            "gateway",
            "logs",
            "PutLogEvents",
            logGroupName="/edgeline/telemetry/pi",
            logStreamName="2026-12-01",
        ),
        call("code-location", "s3", "ListObjectsV2", Bucket="b", Prefix="edgeline/raw/"),
        call("code-location", "s3", "DeleteObject", Bucket="b", Key="edgeline/raw/sensors/x"),
        call(
            "code-location",
            "sagemaker",
            "CreateModelPackageGroup",
            ModelPackageGroupName="m",
            Tags=None,
        ),
        call("code-location", "sagemaker", "ListModelPackages", ModelPackageGroupName="m"),
        call("code-location", "iot", "CreateJob", jobId="edgeline-m-v1", targets=[GROUP]),
    ]
    assert violations(fine) == []
    refused = {
        "the gateway writes models": call(
            "gateway", "s3", "PutObject", Bucket="b", Key="edgeline/deploy/m/1/model.onnx"
        ),
        "outside the prefix": call("code-location", "s3", "GetObject", Bucket="b", Key="x/y"),
        "another bucket": call("code-location", "s3", "PutObject", Bucket="c", Key="edgeline/y"),
        "another log group": call(
            "code-location", "logs", "FilterLogEvents", logGroupName="/other/pi"
        ),
        "the code location writes telemetry": call(
            "code-location",
            "logs",
            "PutLogEvents",
            logGroupName="/edgeline/telemetry/pi",
            logStreamName="2026-12-01",
        ),
        "another thing group": call(
            "code-location",
            "iot",
            "CreateJob",
            jobId="edgeline-m-v1",
            targets=[GROUP.replace("fleet", "other")],
        ),
        "a device": call("pi-device", "s3", "GetObject", Bucket="b", Key="edgeline/deploy/x"),
        "an operation the checker does not know": call(
            "code-location", "sagemaker", "DeleteModelPackage", ModelPackageName="m/1"
        ),
    }
    for why, refused_call in refused.items():
        assert len(violations([refused_call])) == 1, why
    (problem,) = violations([refused["outside the prefix"], refused["outside the prefix"]])
    assert problem == (
        "code-location called s3:GetObject on arn:aws:s3:::b/x/y (2x): "
        "not allowed by deploy/iam/code-location.json"
    )
    assert not allowed("pi-device.json", "s3:GetObject", "*", {})  # no AWS credentials at all


def test_calls_made_in_a_subprocess_are_recorded(s3_bucket, record_aws_calls, tmp_path):
    """What the suite's subprocesses call (the demo, a publish run, the daemon's runs) is
    checked too: the hook travels in the environment, not on sys.path."""
    script = (
        "from resources import S3ArtifactStore\n"
        f"S3ArtifactStore(bucket={s3_bucket!r}).put_bytes('deploy/m/1/x', b'1')"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120)
    theirs = [c for c in read_calls(record_aws_calls) if c["params"].get("Bucket") == s3_bucket]
    assert [c["pid"] != os.getpid() for c in theirs] == [True]
    assert theirs[0]["component"] == "code-location"
    assert authorizations(theirs[0]) == [
        ("s3:PutObject", f"arn:aws:s3:::{s3_bucket}/edgeline/deploy/m/1/x")
    ]
    assert violations(theirs) == []


def test_a_transfer_counts_for_the_component_waiting_for_it(s3_bucket, tmp_path, monkeypatch):
    """s3transfer makes ``put_file``'s calls on worker threads, where no component is on the
    stack: they count for the thread waiting for them (here code under a clients/gateway/ path),
    not for the code location by default."""
    log = tmp_path / "calls.jsonl"  # this violation is on purpose: not in the session's log
    monkeypatch.setenv(CALL_LOG, str(log))
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    gateway_code = tmp_path / "clients" / "gateway" / "upload.py"
    gateway_code.parent.mkdir(parents=True)
    gateway_code.write_text("STORE.put_file('deploy/m/1/model.onnx', PATH)\n")
    store = S3ArtifactStore(bucket=s3_bucket)
    runpy.run_path(str(gateway_code), {"STORE": store, "PATH": tmp_path / "model.onnx"})
    calls = read_calls(log)
    assert [(c["component"], c["operation"]) for c in calls] == [("gateway", "PutObject")]
    assert violations(calls) == [  # the gateway publishes nothing
        f"gateway called s3:PutObject on arn:aws:s3:::{s3_bucket}/edgeline/deploy/m/1/model.onnx"
        " (1x): not allowed by deploy/iam/gateway-lambda.json"
    ]
