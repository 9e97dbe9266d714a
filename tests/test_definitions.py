"""The Definitions load in both environments, and Dagster's own validation accepts the workspace."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from resources import (
    CloudWatchTelemetryStore,
    LocalArtifactStore,
    S3ArtifactStore,
    SageMakerModelRegistry,
    SqliteModelRegistry,
    SqliteTelemetryStore,
)
from resources.environment import build_resources, edgeline_env

REPO = Path(__file__).resolve().parents[1]


def test_local_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("EDGELINE_ENV", raising=False)
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path))
    assert edgeline_env() == "local"
    resources = build_resources()
    assert isinstance(resources["artifacts"], LocalArtifactStore)
    assert isinstance(resources["registry"], SqliteModelRegistry)
    assert isinstance(resources["telemetry"], SqliteTelemetryStore)
    assert resources["artifacts"].root == str(tmp_path / "artifacts")


def test_aws_resources(monkeypatch):
    monkeypatch.setenv("EDGELINE_S3_BUCKET", "edgeline-bucket")
    resources = build_resources("aws")
    assert isinstance(resources["artifacts"], S3ArtifactStore)
    assert resources["artifacts"].bucket == "edgeline-bucket"
    assert isinstance(resources["registry"], SageMakerModelRegistry)
    assert isinstance(resources["telemetry"], CloudWatchTelemetryStore)
    assert type(resources["io_manager"]).__name__ == "S3PickleIOManager"


def test_aws_without_bucket_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("EDGELINE_S3_BUCKET", raising=False)
    with pytest.raises(ValueError, match="EDGELINE_S3_BUCKET"):
        build_resources("aws")


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("EDGELINE_ENV", "staging")
    with pytest.raises(ValueError, match="staging"):
        edgeline_env()


@pytest.mark.parametrize("env", ["local", "aws"])
def test_dagster_definitions_validate(env, tmp_path):
    environ = {
        **os.environ,
        "EDGELINE_ENV": env,
        "EDGELINE_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path),
        "EDGELINE_S3_BUCKET": "edgeline-bucket",
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("env", "published", "registered"),
    [("local", {"filesystem", "json"}, {"sqlite"}), ("aws", {"s3", "json"}, {"sagemaker"})],
)
def test_asset_kinds_say_where_the_data_lives(env, published, registered, tmp_path):
    from dagster import AssetKey

    from orchestration.definitions import build_definitions
    from resources.environment import local_resources

    graph = build_definitions(local_resources(tmp_path), env).resolve_asset_graph()
    kinds = {key: graph.get(key).kinds for key in graph.get_all_asset_keys()}
    assert kinds[AssetKey("published_model")] == published
    assert kinds[AssetKey("registered_sensor_autoencoder")] == registered
    assert kinds[AssetKey("sensor_autoencoder_onnx")] == {"pytorch", "onnx"}  # unchanged


def test_an_installed_package_keeps_data_in_the_home_and_loads_by_module(monkeypatch, tmp_path):
    """Without a checkout (a wheel in site-packages) nothing may be written beside the code."""
    import resources.environment as environment

    monkeypatch.delenv("EDGELINE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(environment, "IN_CHECKOUT", False)
    monkeypatch.setattr(environment, "WORKSPACE", tmp_path / "no-such-workspace.yaml")
    assert environment.edgeline_home() == tmp_path / ".edgeline"
    assert environment.code_location_args() == ["-m", "orchestration.definitions"]
    monkeypatch.setattr(environment, "IN_CHECKOUT", True)
    assert environment.edgeline_home() == environment.PACKAGE_ROOT / ".edgeline"


@pytest.mark.parametrize(
    ("env", "config_fields"),
    [
        ("local", {"artifacts": {"root", "gateway_url"}, "telemetry": {"path"}}),
        (
            "aws",
            {
                "artifacts": {"bucket", "prefix", "url_expiry_s", "concurrent_requests", "aws"},
                "telemetry": {"log_group_prefix", "aws"},
            },
        ),
    ],
)
def test_the_stores_are_dagster_resources_with_their_fields_as_config(
    env, config_fields, monkeypatch, tmp_path
):
    """The stores import no Dagster; the code location gets each as a ConfigurableResource
    that is the store, its fields the config the UI shows."""
    from dagster import ConfigurableResource

    from orchestration.definitions import build_definitions
    from resources.artifacts import ArtifactStore
    from resources.telemetry import TelemetryStore

    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path))
    monkeypatch.setenv("EDGELINE_S3_BUCKET", "edgeline-bucket")
    resources = build_resources(env)
    assert isinstance(resources["artifacts"], ArtifactStore)
    assert isinstance(resources["telemetry"], TelemetryStore)
    defs = build_definitions(resources, env)
    top = defs.get_repository_def().get_top_level_resources()
    for name, fields in config_fields.items():
        assert isinstance(resources[name], ConfigurableResource)
        assert set(top[name].config_schema.config_type.fields) == fields


def test_loading_the_code_location_draws_nothing_yet():
    """Every CLI command and run process loads the code location; pyplot (0.6 s of that load
    before) comes with the first plot, not with it."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, orchestration.definitions; print('matplotlib' in sys.modules)",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"
