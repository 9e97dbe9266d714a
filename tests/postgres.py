"""A real PostgreSQL server for a test session: Debian's `postgresql` binaries, a cluster in a
temporary folder on a free port, run as the `postgres` user when the tests run as root
(PostgreSQL refuses to run as root)."""

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.gateway.conftest import free_port

MISSING = "no PostgreSQL server binaries: install Debian's package `postgresql` (make test does)"


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@contextmanager
def postgres_server(directory: Path) -> Iterator[str]:
    """Start a throwaway cluster; yields the URL that Dagster's ``postgres_url`` takes."""
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        if os.environ.get("EDGELINE_REQUIRE_POSTGRES") == "1":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        server = pwd.getpwnam("postgres")
        for path in (directory, *directory.parents):
            if path == Path("/"):
                break
            os.chmod(path, os.stat(path).st_mode | 0o011)  # let the server user pass through
        os.chown(directory, server.pw_uid, server.pw_gid)
    data, port = directory / "data", free_port()
    subprocess.run(
        _as_server_user([initdb, "-D", str(data), "-U", "edgeline", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_server_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(directory / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        # psycopg2 named: SQLAlchemy 2.1 picks psycopg 3 for a bare postgresql:// URL, and
        # dagster-postgres's NOTIFY with a bound parameter fails there
        yield f"postgresql+psycopg2://edgeline@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
        )
