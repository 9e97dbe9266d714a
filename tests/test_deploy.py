"""Beyond one machine: the instance configurations for ECS and Kubernetes, the Helm values and the
image, loaded and validated through Dagster's own config machinery; and the least-privilege
policies' checker."""

import importlib
import traceback
from pathlib import Path

import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

from tests.iam import REPO, CallRecorder, allowed_actions, component, iam_action

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


def _frame(path: str, name: str = "f") -> traceback.FrameSummary:
    return traceback.FrameSummary(path, 1, name)


def test_calls_are_attributed_and_checked_against_each_components_policy():
    assert iam_action("before-call.s3.ListObjectsV2") == "s3:ListBucket"
    assert iam_action("before-call.cloudwatch-logs.PutLogEvents") == "logs:PutLogEvents"
    root = REPO
    gateway = [_frame(f"{root}/clients/gateway/app.py"), _frame(f"{root}/resources/artifacts.py")]
    telemetry_test = [
        _frame(f"{root}/tests/x.py"),
        _frame(f"{root}/resources/telemetry.py", "append"),
    ]
    assets = [_frame(f"{root}/tests/x.py"), _frame(f"{root}/assets/deployment/publish.py")]
    setup = [_frame(f"{root}/assets/x.py"), _frame(f"{root}/tests/x.py")]  # a test's own call
    assert component(gateway) == "gateway" and component(telemetry_test) == "gateway"
    assert component(assets) == "code-location" and component(setup) is None
    recorder = CallRecorder()
    recorder.calls[("code-location", "logs:PutLogEvents")] += 1  # the code location never writes
    recorder.calls[("gateway", "sagemaker:UpdateModelPackage")] += 1  # nor decides, the gateway
    recorder.calls[("code-location", "s3:PutObject")] += 1
    problems = recorder.violations()
    assert len(problems) == 2 and "logs:PutLogEvents" in problems[0]
    assert allowed_actions("pi-device.json") == set()  # devices get no AWS credentials at all
