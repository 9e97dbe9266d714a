"""The agent as a device installs it: a clean virtualenv with only ``./clients/pi`` in it, on a
given Python. Shared by tests/pi/test_installed_agent.py and bench/pi_agent.py.

The sources are copied first (clients/pi with the two packages it ships, edgeline_contract and
edgeline_simulator, in the repository's layout), so that pip's in-place build leaves nothing in
the checkout and nothing else of the repository can be picked up. pip's own cache is used.
"""

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGED = ("clients/pi", "edgeline_contract", "edgeline_simulator")
# the Pythons the agent supports at both ends, and Raspberry Pi OS Bookworm's
PYTHONS = {"oldest": "3.9", "raspberry-pi-os": "3.11", "newest": "3.13"}
# what a device must not get: the platform's heavy dependencies and its own packages
NOT_ON_A_DEVICE = ("dagster", "torch", "pandas", "fastapi", "onnx", "assets", "resources")
TOKEN = "installed-agent-token"


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` (e.g. "3.9") with venv, from PATH or pyenv; None if the
    machine has none."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")),
        reverse=True,
    )
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        candidates.append(getattr(sys, "_base_executable", None) or sys.executable)
    for candidate in filter(None, candidates):
        try:
            found = subprocess.run(
                [
                    candidate,
                    "-c",
                    "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0 and found.stdout.strip() == version:
            return candidate
    return None


def missing_python_reason(which: str, version: str) -> str:
    return (
        f"Python {version} ({which}) is not on this machine: looked for python{version} on "
        "PATH and under ~/.pyenv/versions"
    )


def copy_sources(destination: Path) -> Path:
    """The agent's sources in the repository's layout under ``destination``; returns the
    directory to ``pip install`` (destination/clients/pi)."""
    skip = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", ".ruff_cache", "dist")
    for part in PACKAGED:
        shutil.copytree(REPO / part, destination / part, ignore=skip)
    return destination / "clients" / "pi"


def megabytes(path: Path) -> int:
    """What ``du -sm`` says a directory takes on disk (MiB)."""
    return int(
        subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True).stdout.split()[0]
    )


def clean_environment(home: Path) -> dict[str, str]:
    """An environment that lends the venv nothing: no PYTHONPATH, no user site, no settings."""
    keep = ["PATH", "LANG", "LC_ALL", "TMPDIR", *(k for k in os.environ if k.startswith("PIP_"))]
    environment = {k: os.environ[k] for k in keep if k in os.environ}
    environment.update(
        HOME=str(home),
        PYTHONNOUSERSITE="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", os.path.expanduser("~/.cache/pip")),
        EDGELINE_AGENT_CONFIG="",  # never a machine's /etc/edgeline/agent.conf
    )
    return environment


@dataclass
class InstalledAgent:
    venv: Path
    python_version: str  # e.g. "3.9.18"
    seconds: float  # venv creation and pip install
    megabytes: int
    packages: dict[str, str]  # what pip installed, name -> version

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "edgeline-agent"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def importable(self, modules: tuple[str, ...]) -> list[str]:
        """Which of ``modules`` import in this venv (run outside the checkout)."""
        probe = (
            "import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except ImportError:\n"
            "        continue\n"
            "    print(name)\n"
        )
        done = subprocess.run(
            [str(self.python), "-c", probe, *modules],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.venv,
            env=clean_environment(self.venv),
            check=True,
        )
        return done.stdout.split()

    def figures(self) -> dict:
        return {
            "python": self.python_version,
            "install_s": round(self.seconds, 1),
            "venv_mb": self.megabytes,
            "onnxruntime": self.packages.get("onnxruntime"),
            "numpy": self.packages.get("numpy"),
            "packages": len(self.packages),
        }


def install_agent(python: str, source: Path, venv: Path) -> InstalledAgent:
    """``python -m venv`` and ``pip install SOURCE`` (the agent and its dependencies only)."""
    environment = clean_environment(venv.parent)
    started = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300, env=environment)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    done = subprocess.run(
        [*pip, "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
        cwd=venv.parent,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"pip install {source} failed on {python}:\n{done.stderr[-3000:]}")
    listed = subprocess.run(
        [*pip, "list", "--format=freeze"], capture_output=True, text=True, env=environment
    ).stdout.split()
    packages = dict(line.lower().split("==", 1) for line in listed if "==" in line)
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return InstalledAgent(venv, version, seconds, megabytes(venv), packages)


def write_settings(directory: Path, gateway: str, device: str, **more: str) -> Path:
    """A config file and a token file (mode 0600) as a device's /etc/edgeline would hold them."""
    directory.mkdir(parents=True, exist_ok=True)
    token = directory / "agent.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    lines = {
        "EDGELINE_AGENT_GATEWAY": gateway,
        "EDGELINE_AGENT_DEVICE_ID": device,
        "EDGELINE_AGENT_TOKEN_FILE": str(token),
        "EDGELINE_AGENT_DATA_DIR": str(directory / "data"),
        **{f"EDGELINE_AGENT_{k.upper()}": v for k, v in more.items()},
    }
    config = directory / "agent.conf"
    config.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return config


def stored_events(telemetry, device: str) -> list[dict]:
    now = datetime.now(UTC)
    events = telemetry.read("pi", now - timedelta(hours=1), now + timedelta(minutes=5))
    return [e for e in events if e["device_id"] == device]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
