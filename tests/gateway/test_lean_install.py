"""The gateway installs without the platform: `pip install ./clients/gateway` in a clean
virtualenv (no Dagster, PyTorch, pandas or numpy there) serves the page, a channel's manifest,
the model file it names and telemetry over real HTTP, from a home this suite's venv prepared."""

import hashlib
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from assets.deployment.publish import publish_model_version
from clients.gateway.web_files import ORT_FILES
from orchestration.demo import free_port
from resources import LocalArtifactStore, SqliteModelRegistry, SqliteTelemetryStore
from tests.deployment.conftest import register_tiny_version
from tests.gateway.conftest import TOKEN, pi_event

REPO = Path(__file__).resolve().parents[2]
MODEL = "turbine-autoencoder"
PLATFORM_ONLY = ("dagster", "torch", "pandas", "numpy")
# what the gateway imports, its Lambda entry point included, with the platform's packages
# made unimportable: a module that needs one of them fails here in seconds
IMPORT_WITHOUT_PLATFORM = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {PLATFORM_ONLY!r}:
            raise ImportError(name + " is not part of the gateway's install")
sys.meta_path.insert(0, Refuse())
import clients.gateway.__main__, clients.gateway.lambda_handler
from resources.environment import aws_stores
aws_stores()
"""


def test_the_gateway_imports_nothing_of_the_platform(tmp_path):
    environ = {
        **os.environ,
        "EDGELINE_HOME": str(tmp_path),
        "EDGELINE_ENV": "local",
        "EDGELINE_S3_BUCKET": "b",
    }
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_PLATFORM],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def lean_environ(home: Path) -> dict[str, str]:
    """The lean venv's environment: nothing of this checkout on its path."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {
        **environ,
        "EDGELINE_ENV": "local",
        "EDGELINE_HOME": str(home),
        "EDGELINE_GATEWAY_TOKENS": TOKEN,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def copy_sources(destination: Path) -> Path:
    """The gateway's sources in the repository's layout under ``destination`` (the npm files
    linked, not copied), so that pip's in-place build leaves nothing in the checkout; returns
    the directory to ``pip install``."""
    skip = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", "node_modules")
    for part in ("clients/gateway", "clients/web", "resources", "edgeline_contract"):
        shutil.copytree(REPO / part, destination / part, ignore=skip)
    shutil.copy2(REPO / "clients" / "__init__.py", destination / "clients" / "__init__.py")
    (destination / "clients" / "web" / "node_modules").symlink_to(
        REPO / "clients" / "web" / "node_modules"
    )
    return destination / "clients" / "gateway"


def run(command: list[str], environ: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def published_home(home: Path) -> LocalArtifactStore:
    """A local home with a published version of a tiny model, made with this suite's venv."""
    store = LocalArtifactStore(root=str(home / "artifacts"))
    registry = SqliteModelRegistry(path=str(home / "registry.sqlite"))
    version = register_tiny_version(store, registry, MODEL)
    registry.approve(MODEL, version, "ok", "qa")
    publish_model_version(store, registry, MODEL, version)
    return store


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the installed gateway exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the installed gateway did not answer within 60 s")


@pytest.mark.slow
def test_a_clean_virtualenv_with_only_the_gateway_serves_page_models_and_telemetry(tmp_path):
    venv, home, elsewhere = tmp_path / "venv", tmp_path / "home", tmp_path / "cwd"
    elsewhere.mkdir()  # not the checkout: every package must come from the venv
    environ = lean_environ(home)
    python = str(venv / "bin" / "python")
    run([sys.executable, "-m", "venv", str(venv)], environ, elsewhere)
    gateway_dir = str(copy_sources(tmp_path / "sources"))
    run([python, "-m", "pip", "install", "--quiet", gateway_dir], environ, elsewhere)

    def lean(code: str) -> str:
        return run([python, "-c", code], environ, elsewhere)

    installed = (
        f"import importlib.util as u; print([m for m in {PLATFORM_ONLY!r} if u.find_spec(m)])"
    )
    assert lean(installed) == "[]"  # none of them importable
    handler = lean("import clients.gateway.lambda_handler as h; print(type(h.handler).__name__)")
    assert handler == "Mangum"
    assert lean("import resources; print(resources.__file__)").startswith(str(venv))

    store = published_home(home)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    with log.open("w") as output:
        gateway = subprocess.Popen(
            [str(venv / "bin" / "edgeline-gateway"), "--port", str(port)],
            cwd=elsewhere,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(url, gateway, log)
        page = httpx.get(f"{url}/")  # 503 unless onnxruntime-web's files were installed too
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        for carried in (
            "/sw.js",
            "/app/contract/manifest.schema.json",
            "/docs/vendor/swagger-ui.css",
            *(f"/app/vendor/ort/{name}" for name in ORT_FILES),  # each build the page loads
        ):
            assert httpx.get(f"{url}{carried}").status_code == 200, carried
        carried = {p.name for p in venv.glob("lib/python3*/site-packages/clients/web/**/ort*")}
        assert carried == set(ORT_FILES)  # and no build the page never loads (28 MB each)

        auth = {"Authorization": f"Bearer {TOKEN}"}
        manifest = httpx.get(f"{url}/v1/models/{MODEL}/channels/stable", headers=auth)
        assert manifest.status_code == 200
        variant = manifest.json()["variants"][0]
        model_file = httpx.get(variant["url"])
        assert model_file.status_code == 200
        assert hashlib.sha256(model_file.content).hexdigest() == variant["sha256"]
        assert model_file.content == store.get_bytes(variant["key"])

        event = pi_event()
        sent = httpx.post(f"{url}/v1/telemetry", json={"events": [event]}, headers=auth)
        assert sent.status_code == 200 and sent.json()["stored"] == 1, sent.text
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    stored = SqliteTelemetryStore(path=str(home / "telemetry.sqlite")).read(
        "pi", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
    )
    assert [e["event_id"] for e in stored] == [event["event_id"]]
