"""The agent's settings: a config file, the environment, the command line; the token from a
file or the environment only; clear errors that name the setting; the systemd unit that runs
it."""

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clients.pi import __version__, agent, settings
from clients.pi.settings import (
    EX_CONFIG,
    SettingsError,
    config_path,
    default_data_dir,
    load_settings,
    read_config,
    read_token_file,
)

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "clients" / "pi" / "edgeline-agent.service"
NO_FLAGS: dict = {}


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def conf(tmp_path) -> Path:
    token = write(tmp_path / "agent.token", "file-token\n", 0o600)
    return write(
        tmp_path / "agent.conf",
        "# a device\n\n"
        "EDGELINE_AGENT_GATEWAY=https://gw.example.com/\n"
        'EDGELINE_AGENT_DEVICE_ID="pump-7"\n'
        "EDGELINE_AGENT_SPEED = 10\n"
        f"EDGELINE_AGENT_TOKEN_FILE={token}\n",
    )


def test_file_then_environment_then_flags(conf, tmp_path):
    loaded = load_settings(NO_FLAGS, {}, conf)
    assert (loaded.gateway, loaded.device_id, loaded.speed) == (
        "https://gw.example.com",
        "pump-7",
        10.0,
    )
    assert loaded.model == "turbine-autoencoder" and loaded.poll_s == 30.0
    assert loaded.origins["speed"] == f"in {conf} line 5"
    environ = {"EDGELINE_AGENT_SPEED": "20", "EDGELINE_AGENT_MODEL": "pump-autoencoder"}
    loaded = load_settings(NO_FLAGS, environ, conf)
    assert (loaded.speed, loaded.model) == (20.0, "pump-autoencoder")
    loaded = load_settings({"speed": "0", "model": None}, environ, conf)
    assert (loaded.speed, loaded.model, loaded.origins["speed"]) == (
        0.0,
        "pump-autoencoder",
        "on the command line",
    )
    assert loaded.token({}) == "file-token"  # the file wins over EDGELINE_AGENT_TOKEN
    assert loaded.token({"EDGELINE_AGENT_TOKEN": "env-token"}) == "file-token"
    described = loaded.described()
    assert "EDGELINE_AGENT_SPEED=0.0  # on the command line" in described
    assert "file-token" not in described


def test_the_token_from_the_environment_when_no_file_is_named():
    loaded = load_settings({"gateway": "http://127.0.0.1:8000", "device_id": "d-1"}, {})
    assert loaded.token({"EDGELINE_AGENT_TOKEN": " env-token \n"}) == "env-token"
    with pytest.raises(
        SettingsError, match=r"no token: set EDGELINE_AGENT_TOKEN_FILE .* \(chmod 600\)"
    ):
        loaded.token({})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"EDGELINE_AGENT_DEVICE_ID": "d"}, "no gateway: set EDGELINE_AGENT_GATEWAY in .* --gateway"),
        ({"EDGELINE_AGENT_GATEWAY": "http://g"}, "no device id: set EDGELINE_AGENT_DEVICE_ID"),
        ({"EDGELINE_AGENT_GATEWAY": "gw.example.com"}, "'gw.example.com' .* not an http"),
        ({"EDGELINE_AGENT_DEVICE_ID": "my pi"}, "EDGELINE_AGENT_DEVICE_ID 'my pi' \\(in the environment\\) is not a valid device id"),
        ({"EDGELINE_AGENT_SPEED": "fast"}, "EDGELINE_AGENT_SPEED 'fast' .* is not a number"),
        ({"EDGELINE_AGENT_SPEED": "-1"}, "must be at least 0"),
        ({"EDGELINE_AGENT_POLL_S": "0"}, "EDGELINE_AGENT_POLL_S '0' .* must be above 0"),
        ({"EDGELINE_AGENT_MAX_QUEUE": "1.5"}, "not a whole number"),
        ({"EDGELINE_AGENT_SOURCE": "csv:/nowhere.csv"}, "names no readable file"),
        ({"EDGELINE_AGENT_SOURCE": "serial"}, "must be simulate, csv:PATH or stdin"),
    ],
)  # fmt: skip
def test_a_wrong_or_missing_setting_is_named(environ, message):
    base = {"EDGELINE_AGENT_GATEWAY": "http://g", "EDGELINE_AGENT_DEVICE_ID": "d"}
    if "GATEWAY" not in str(environ) and "DEVICE_ID" not in str(environ):
        environ = {**base, **environ}
    with pytest.raises(SettingsError, match=message):
        load_settings(NO_FLAGS, environ)


def test_a_flag_is_named_as_a_flag():
    with pytest.raises(
        SettingsError, match="--speed 'x' \\(on the command line\\) is not a number"
    ):
        load_settings({"gateway": "http://g", "device_id": "d", "speed": "x"}, {})


def test_config_file_problems_name_the_line(tmp_path):
    cases = {
        "EDGELINE_AGENT_GATWAY=http://g\n": "line 1: unknown setting EDGELINE_AGENT_GATWAY; known:",
        "# ok\njust words\n": "line 2: expected KEY=VALUE",
        "EDGELINE_AGENT_TOKEN=secret\n": "line 1: the token does not belong in the config file",
        "EDGELINE_AGENT_DATA_DIR=data\n": "EDGELINE_AGENT_DATA_DIR=data \\(in .* line 1\\) must be an absolute path",
    }  # fmt: skip
    for text, message in cases.items():
        path = write(tmp_path / "bad.conf", text)
        with pytest.raises(SettingsError, match=message):
            load_settings({"gateway": "http://g", "device_id": "d"}, {}, path)
    with pytest.raises(SettingsError, match=r"config file .*missing.conf: No such file"):
        read_config(tmp_path / "missing.conf")


def test_a_token_file_others_can_read_is_refused_with_the_fix(tmp_path):
    path = write(tmp_path / "token", "t0k3n\n", 0o644)
    with pytest.raises(SettingsError) as refused:
        read_token_file(str(path))
    assert f"open to other users (mode 0644); make it private: chmod 600 {path}" in str(
        refused.value
    )
    path.chmod(0o640)  # group-readable is others too
    with pytest.raises(SettingsError, match="mode 0640"):
        read_token_file(str(path))
    path.chmod(0o600)
    assert read_token_file(str(path)) == "t0k3n"
    for text, message in (("  \n", "is empty"), ("two words\n", "more than one word")):
        write(path, text, 0o600)
        with pytest.raises(SettingsError, match=message):
            read_token_file(str(path))
    with pytest.raises(SettingsError, match="No such file"):
        read_token_file(str(tmp_path / "missing"))


def test_which_config_file_and_data_directory(tmp_path, monkeypatch):
    assert config_path(str(tmp_path / "a.conf"), {}) == tmp_path / "a.conf"
    assert config_path(None, {"EDGELINE_AGENT_CONFIG": str(tmp_path / "b.conf")}) == (
        tmp_path / "b.conf"
    )
    assert config_path("", {"EDGELINE_AGENT_CONFIG": "x"}) is None  # empty: no file at all
    monkeypatch.setattr(settings, "DEFAULT_CONFIG", tmp_path / "etc" / "agent.conf")
    assert config_path(None, {}) is None  # the default only where it exists
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc" / "agent.conf", "")
    assert config_path(None, {}) == tmp_path / "etc" / "agent.conf"
    assert default_data_dir({"STATE_DIRECTORY": "/var/lib/edgeline-agent"}) == (
        "/var/lib/edgeline-agent"
    )
    assert default_data_dir({}) == str(Path.home() / ".edgeline-agent")


def test_the_command_line_takes_no_token_and_errors_exit_78(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EDGELINE_AGENT_TOKEN", raising=False)
    with pytest.raises(SystemExit) as usage:  # argparse: --token is no option
        agent.main(["--config", "", "--gateway", "http://g", "--device-id", "d", "--token", "x"])
    assert usage.value.code == 2
    assert "unrecognized arguments: --token x" in capsys.readouterr().err  # not --token-file
    with pytest.raises(SystemExit) as stopped:
        agent.main(["--config", "", "--gateway", "http://g", "--device-id", "d"])
    assert stopped.value.code == EX_CONFIG
    assert "edgeline-agent: no token" in capsys.readouterr().err


def test_check_prints_the_settings_and_where_they_came_from(conf, capsys, monkeypatch):
    monkeypatch.setenv("EDGELINE_AGENT_LIMIT", "5")
    monkeypatch.setenv("EDGELINE_AGENT_LIMT", "5")
    agent.main(["--config", str(conf), "--check", "--poll-s", "2"])
    out = capsys.readouterr().out
    assert "EDGELINE_AGENT_LIMIT=5  # in the environment" in out
    assert "EDGELINE_AGENT_POLL_S=2.0  # on the command line" in out
    assert f"EDGELINE_AGENT_DEVICE_ID=pump-7  # in {conf} line 4" in out
    assert "# token: 10 characters from the token file" in out
    assert "EDGELINE_AGENT_LIMT names no setting" in out
    agent.main(["--example-config"])
    example = capsys.readouterr().out
    parsed = read_config(write(conf.parent / "example.conf", example))
    assert set(parsed) == {
        "EDGELINE_AGENT_GATEWAY",
        "EDGELINE_AGENT_DEVICE_ID",
        "EDGELINE_AGENT_TOKEN_FILE",
    }  # the rest are commented-out defaults
    with pytest.raises(SystemExit):
        agent.main(["--version"])
    assert capsys.readouterr().out.strip() == f"edgeline-agent {__version__}"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(UNIT)
    return parser


def test_the_unit_runs_the_console_script_with_the_agents_defaults(capsys):
    service = unit()["Service"]
    pyproject = (REPO / "clients" / "pi" / "pyproject.toml").read_text()
    executable = Path(service["ExecStart"].split()[0])
    assert executable.name == "edgeline-agent"  # the console script pyproject installs
    assert 'edgeline-agent = "clients.pi.agent:main"' in pyproject
    assert executable.parent == Path("/opt/edgeline-agent/bin")  # README's venv
    # StateDirectory= is where the agent keeps its data by default under systemd
    state = Path("/var/lib") / service["StateDirectory"]
    assert default_data_dir({"STATE_DIRECTORY": str(state)}) == "/var/lib/edgeline-agent"
    # ConfigurationDirectory= holds the file the agent reads by default
    assert Path("/etc") / service["ConfigurationDirectory"] == settings.DEFAULT_CONFIG.parent
    assert service["RestartPreventExitStatus"] == str(EX_CONFIG)
    assert service["Restart"] == "on-failure" and service["User"] == "edgeline-agent"
    for hardening in ("NoNewPrivileges", "PrivateTmp"):
        assert service[hardening] == "yes"
    assert service["ProtectSystem"] == "strict"
    # the unit ships in the wheel and prints from the installed agent
    agent.main(["--systemd-unit"])
    assert capsys.readouterr().out == UNIT.read_text()
    assert '"edgeline-agent.service"' in pyproject


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    """`systemd-analyze verify` checks that ExecStart exists: here it names this Python instead
    (the console script is checked above); every other line is verified as shipped."""
    text = UNIT.read_text().replace(
        "ExecStart=/opt/edgeline-agent/bin/edgeline-agent", f"ExecStart={sys.executable}"
    )
    assert text != UNIT.read_text()
    path = write(tmp_path / "edgeline-agent.service", text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown key is only a warning
