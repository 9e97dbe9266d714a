"""The agent installed alone, as on a device: a clean virtualenv with only ``./clients/pi`` (no
Dagster, no torch, no pandas) runs the ``edgeline-agent`` console script against a real gateway.
It downloads the published model, checks its sha256, scores with it and sends telemetry; on the
oldest and newest Python the agent supports and on Raspberry Pi OS's, where the machine has
them (skipped, with the reason, where it does not)."""

import json
import subprocess

import pytest

from clients.pi import __version__
from resources import layout
from tests.gateway.server import Gateway
from tests.pi.installed import (
    NOT_ON_A_DEVICE,
    PYTHONS,
    TOKEN,
    clean_environment,
    copy_sources,
    find_python,
    install_agent,
    missing_python_reason,
    sha256,
    stored_events,
    write_settings,
)
from tests.pi.test_agent import MODEL, WINDOW, register_and_publish

READINGS = 30


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return copy_sources(tmp_path_factory.mktemp("agent-sources"))


@pytest.mark.slow
@pytest.mark.parametrize("which", list(PYTHONS))
def test_the_agent_installs_alone_and_runs_against_the_gateway(which, sources, tmp_path):
    version = PYTHONS[which]
    python = find_python(version)
    if python is None:
        pytest.skip(missing_python_reason(which, version))
    agent = install_agent(python, sources, tmp_path / "venv")
    print(f"{which}: {json.dumps(agent.figures())}")
    assert agent.python_version.startswith(version + ".")
    assert agent.importable(NOT_ON_A_DEVICE) == []  # none of the platform came along
    assert set(agent.importable(("clients.pi", "edgeline_contract", "edgeline_simulator"))) == {
        "clients.pi",
        "edgeline_contract",
        "edgeline_simulator",
    }
    assert {"onnxruntime", "numpy", "edgeline-agent"} <= set(agent.packages)
    home = tmp_path / "home"
    home.mkdir()
    environment = clean_environment(home)
    shown = subprocess.run(
        [str(agent.script), "--version"], capture_output=True, text=True, env=environment
    )
    assert shown.stdout.strip() == f"edgeline-agent {__version__}"

    gateway = Gateway(tmp_path / "gateway", tokens=frozenset({TOKEN})).start()
    device = f"pi-{version.replace('.', '')}"
    try:
        version_published = register_and_publish(gateway.store, gateway.registry, 9.0)
        config = write_settings(tmp_path / "etc", gateway.url, device, source="simulate", speed="0")
        done = subprocess.run(
            [str(agent.script), "--config", str(config), "--limit", str(READINGS), "--json"],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=home,
            env=environment,
        )
        events = stored_events(gateway.telemetry, device)
        manifest = gateway.store.get_json(layout.manifest(MODEL, version_published))
    finally:
        gateway.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"now running {MODEL} v{version_published} (fp32)" in done.stderr
    assert f"first window scored with {MODEL} v{version_published}" in done.stderr
    # the file it runs is the one the manifest names, checked by its sha256
    (variant,) = manifest["variants"]
    (model_file,) = (tmp_path / "etc" / "data").glob("*.onnx")
    assert sha256(model_file) == variant["sha256"]
    # every full window scored and stored, as this device, with the published model
    assert len(events) == READINGS - WINDOW + 1
    assert {(e["device_id"], e["model"], e["model_version"], e["variant"]) for e in events} == {
        (device, MODEL, version_published, "fp32")
    }
    assert all(e["client_kind"] == "pi" and e["latency_ms"] >= 0 for e in events)
    status = json.loads(done.stderr.strip().splitlines()[-1].split("stopped: ", 1)[1])
    assert (
        status["state"] == "stopped" and status["stopped_because"] == f"after {READINGS} readings"
    )
    assert status["sent"] == len(events) and status["queued"] == 0
