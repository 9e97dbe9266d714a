"""The agent's settings: a config file, the environment and the command line, in that order of
precedence (a flag beats a variable beats the file), and the device's token from a file or the
environment, never from the command line (where ``ps`` shows it to every user).

The config file holds ``KEY=VALUE`` lines, the syntax systemd's ``EnvironmentFile=`` also reads,
with the same names as the environment variables::

    # /etc/edgeline/agent.conf
    EDGELINE_AGENT_GATEWAY=https://gateway.example.com
    EDGELINE_AGENT_DEVICE_ID=turbine-007
    EDGELINE_AGENT_TOKEN_FILE=/etc/edgeline/agent.token

Every problem is a ``SettingsError`` whose message names the setting, where its value came from
and what would fix it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeline_contract.profile import WIND_TURBINE
from edgeline_contract.telemetry import DEVICE_ID_PATTERN, MODEL_PATTERN

PREFIX = "EDGELINE_AGENT_"
TOKEN_VARIABLE = PREFIX + "TOKEN"
CONFIG_VARIABLE = PREFIX + "CONFIG"
DEFAULT_CONFIG = Path("/etc/edgeline/agent.conf")  # systemd: ConfigurationDirectory=edgeline
HOME_DATA_DIR = "~/.edgeline-agent"  # where STATE_DIRECTORY (systemd: StateDirectory=) is unset
EX_CONFIG = 78  # sysexits.h: the unit does not restart an agent that is configured wrongly


class SettingsError(ValueError):
    """A setting that is missing or wrong; the message names it and the fix."""


def default_data_dir(environ: Mapping[str, str]) -> str:
    """systemd's StateDirectory= (/var/lib/edgeline-agent for the shipped unit), else
    ~/.edgeline-agent for an agent started by hand."""
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    return state or str(Path(HOME_DATA_DIR).expanduser())


def _url(value: str) -> str:
    if not re.match(r"^https?://[^/\s?#]+(/\S*)?$", value):
        raise ValueError("is not an http:// or https:// URL")
    return value.rstrip("/")


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not re.match(pattern, value):
            raise ValueError(f"is not a valid {what}")
        return value

    return check


def _number(low: float, inclusive: bool = True) -> Callable[[str], float]:
    def check(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError("is not a number") from None
        if number != number or (number < low if inclusive else number <= low):
            raise ValueError(f"must be {'at least' if inclusive else 'above'} {low:g}")
        return number

    return check


def _whole(low: int) -> Callable[[str], int]:
    def check(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError("is not a whole number") from None
        if number < low:
            raise ValueError(f"must be at least {low}")
        return number

    return check


def _source(value: str) -> str:
    if value in ("simulate", "stdin"):
        return value
    if value.startswith("csv:") and len(value) > 4:
        if not Path(value[4:]).expanduser().is_file():
            raise ValueError("names no readable file")
        return value
    raise ValueError("must be simulate, csv:PATH or stdin")


def _path(value: str) -> str:
    return str(Path(value).expanduser())


@dataclass(frozen=True)
class Setting:
    name: str  # the attribute, the flag (--device-id) and the variable (EDGELINE_AGENT_DEVICE_ID)
    parse: Callable[[str], Any]
    default: Any
    help: str  # what --help says; the parser adds the default
    metavar: str = "VALUE"
    is_path: bool = False  # a relative path in the config file is refused (relative to what?)

    @property
    def variable(self) -> str:
        return PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("gateway", _url, None, "the gateway's URL (required)", "URL"),
    Setting(
        "device_id",
        _matching(DEVICE_ID_PATTERN, "device id (letters, digits, '.', '_', '-'; at most 64)"),
        None,
        "this device's name in telemetry (required)",
        "NAME",
    ),
    Setting(
        "model",
        _matching(MODEL_PATTERN, "model name"),
        WIND_TURBINE.model,
        "the model to follow",
        "NAME",
    ),
    Setting(
        "source",
        _source,
        "simulate",
        "where readings come from: simulate, csv:PATH or stdin",
        "SOURCE",
    ),
    Setting(
        "speed",
        _number(0.0),
        1.0,
        "replay or simulate this many times faster than the model's interval, 0 as fast as "
        "readings come",
        "FACTOR",
    ),
    Setting("limit", _whole(0), 0, "stop after this many readings, 0 never", "N"),
    Setting(
        "data_dir",
        _path,
        None,  # default_data_dir(environ)
        "models, the model in use and the telemetry queue (default: $STATE_DIRECTORY, which the "
        f"systemd unit sets to /var/lib/edgeline-agent, else {HOME_DATA_DIR})",
        "DIR",
        is_path=True,
    ),
    Setting(
        "poll_s",
        _number(0.0, inclusive=False),
        30.0,
        "seconds between checks for a new version",
        "SECONDS",
    ),
    Setting(
        "max_queue",
        _whole(1),
        10_000,
        "telemetry events kept while offline",
        "N",
    ),
    Setting("seed", _whole(0), 1, "the simulated turbine's seed", "N"),
    Setting(
        "token_file",
        _path,
        None,
        f"a file holding this device's token, mode 0600 (else ${TOKEN_VARIABLE})",
        "PATH",
        is_path=True,
    ),
)
BY_VARIABLE = {s.variable: s for s in SETTINGS}
REQUIRED = ("gateway", "device_id")


@dataclass(frozen=True)
class AgentSettings:
    gateway: str
    device_id: str
    model: str
    source: str
    speed: float
    limit: int
    data_dir: str
    poll_s: float
    max_queue: int
    seed: int
    token_file: str | None
    config_file: str | None  # the file read, if any
    origins: dict[str, str] = field(default_factory=dict, compare=False)  # setting -> where from

    def token(self, environ: Mapping[str, str]) -> str:
        """The device's token: the token file where one is set, else EDGELINE_AGENT_TOKEN."""
        if self.token_file:
            return read_token_file(self.token_file, self.origins.get("token_file", ""))
        token = environ.get(TOKEN_VARIABLE, "").strip()
        if not token:
            where = f" in {self.config_file}" if self.config_file else ""
            raise SettingsError(
                f"no token: set EDGELINE_AGENT_TOKEN_FILE{where} (or --token-file) to a file "
                f"that holds it (chmod 600), or {TOKEN_VARIABLE} in the environment"
            )
        return token

    def described(self) -> str:
        """Every setting with where it came from (the token is not shown)."""
        lines = []
        for setting in SETTINGS:
            value = getattr(self, setting.name)
            lines.append(
                f"{setting.variable}={'' if value is None else value}"
                f"  # {self.origins.get(setting.name, 'default')}"
            )
        return "\n".join(lines)


def read_token_file(path: str, origin: str = "") -> str:
    """The token in ``path``, refused when other users could read the file."""
    named = f"token file {path}" + (f" ({origin})" if origin else "")
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            token = handle.read().strip()
    except OSError as error:
        raise SettingsError(f"{named}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{named} does not hold text") from None
    if mode & 0o077:
        raise SettingsError(
            f"{named} is open to other users (mode {stat.S_IMODE(mode):04o}); "
            f"make it private: chmod 600 {path}"
        )
    if not token:
        raise SettingsError(f"{named} is empty")
    if len(token.split()) != 1:
        raise SettingsError(f"{named} holds more than one word; it must hold the token only")
    return token


def read_config(path: Path) -> dict[str, tuple[str, str]]:
    """``{VARIABLE: (value, "PATH line N")}`` from a KEY=VALUE file (comments with #, blank
    lines, values optionally in matching quotes; the last of a repeated key wins)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"config file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"config file {path} is not UTF-8 text") from None
    values: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"in {path} line {number}"
        key, equals, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise SettingsError(f"{path} line {number}: expected KEY=VALUE, got {raw.strip()!r}")
        if key == TOKEN_VARIABLE:
            raise SettingsError(
                f"{path} line {number}: the token does not belong in the config file; put it in a file of "
                f"its own (chmod 600) and name that file with EDGELINE_AGENT_TOKEN_FILE"
            )
        if key not in BY_VARIABLE:
            known = ", ".join(sorted(BY_VARIABLE))
            raise SettingsError(f"{path} line {number}: unknown setting {key}; known: {known}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = (value, where)
    return values


def config_path(flag: str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, else EDGELINE_AGENT_CONFIG (either may be empty: no
    file), else /etc/edgeline/agent.conf where it exists."""
    chosen = flag if flag is not None else environ.get(CONFIG_VARIABLE)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    config: Path | None = None,
) -> AgentSettings:
    """The settings from ``config`` (a KEY=VALUE file), then ``environ``, then ``flags`` (the
    command line's values, None where not given), each overriding the one before."""
    raw: dict[str, tuple[str, str]] = {}
    if config is not None:
        for variable, (value, where) in read_config(config).items():
            setting = BY_VARIABLE[variable]
            if setting.is_path and value and not Path(value).expanduser().is_absolute():
                raise SettingsError(
                    f"{variable}={value} ({where}) must be an absolute path in a config file"
                )
            raw[setting.name] = (value, where)
    for setting in SETTINGS:
        if setting.variable in environ:
            raw[setting.name] = (environ[setting.variable], "in the environment")
        if flags.get(setting.name) is not None:
            raw[setting.name] = (str(flags[setting.name]), "on the command line")
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for setting in SETTINGS:
        if setting.name not in raw or not raw[setting.name][0].strip():
            values[setting.name] = setting.default
            continue
        value, where = raw[setting.name]
        try:
            values[setting.name] = setting.parse(value.strip())
        except ValueError as error:
            named = setting.flag if where == "on the command line" else setting.variable
            raise SettingsError(f"{named} {value.strip()!r} ({where}) {error}") from None
        origins[setting.name] = where
    for name in REQUIRED:
        if values[name] is None:
            setting = next(s for s in SETTINGS if s.name == name)
            file = str(config) if config else str(DEFAULT_CONFIG)
            raise SettingsError(
                f"no {name.replace('_', ' ')}: set {setting.variable} in {file} or the "
                f"environment, or pass {setting.flag} {setting.metavar}"
            )
    if values["data_dir"] is None:
        values["data_dir"] = default_data_dir(environ)
        origins["data_dir"] = "default"
    return AgentSettings(**values, config_file=str(config) if config else None, origins=origins)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """EDGELINE_AGENT_* variables that name no setting (a typo, most likely)."""
    known = {*BY_VARIABLE, TOKEN_VARIABLE, CONFIG_VARIABLE}
    return sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
