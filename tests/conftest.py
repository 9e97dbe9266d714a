"""Shared fixtures: moto's standalone server over real HTTP, and each resource in both environments."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestration.demo import free_port
from resources import (
    CloudWatchTelemetryStore,
    LocalArtifactStore,
    S3ArtifactStore,
    SageMakerModelRegistry,
    SqliteModelRegistry,
    SqliteTelemetryStore,
)
from resources.aws import CLIENT_HOOK
from resources.environment import local_resources
from tests import aws_calls, scheduling
from tests.iam import read_calls, violations

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs three workers on two cores: a PyTorch (and the demo it starts) that spins
    # two OpenMP threads in each oversubscribes them; measured here, a training test took 190 s
    # that way and 25 s with one thread. Set before anything imports torch.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ENVIRONMENTS = ["local", "aws"]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's standalone server in its own process (as a real endpoint is, and so on the other
    core) on 127.0.0.1 and a free port, until the block ends; yields its endpoint."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", _MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not answers(endpoint + "/moto-api/"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not start on port {port}")
            time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


# moto's server, as `python -m moto.server` runs it, but for one lookup: moto 5.2 lists and
# stats its own package folder (about 200 `stat` calls) on every request to learn its service
# names, a third of its CPU per request here. They cannot change while it runs, so the list is
# read once; requests and answers are moto's own.
_MOTO_SERVER = """
import functools, sys
import moto.backends
moto.backends.list_of_moto_modules = functools.cache(
    lambda listed=moto.backends.list_of_moto_modules: frozenset(listed())
)
from moto.server import main
sys.exit(main(sys.argv[1:]))
"""


_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


@contextmanager
def aws_environment(endpoint: str, credential: str = "testing") -> Iterator[None]:
    """boto3 in this process (and the processes it starts) reaches ``endpoint`` with a fake
    credential in us-east-1 until the block ends; the variables are then as they were."""
    saved = {key: os.environ.get(key) for key in _AWS_ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID=credential,
        AWS_SECRET_ACCESS_KEY=credential,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
    )
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per worker; boto3 reaches it through AWS_ENDPOINT_URL. Its account is
    shared by the worker's tests: each uses buckets and log groups of its own."""
    with moto_server() as endpoint, aws_environment(endpoint):
        yield endpoint


@pytest.fixture
def fresh_aws_account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server of its own for one test whose subject reads the whole account: SageMaker's
    model package groups are named after the models, so versions that the worker's other tests
    registered would be in the shared one. Credentials and region stay ``moto_endpoint``'s."""
    with moto_server() as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield endpoint


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    name = f"edgeline-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session. Playwright's sync API allows one instance
    per thread at a time, so every test that drives a browser takes this one."""
    from playwright.sync_api import sync_playwright

    from orchestration.browser import CHROMIUM_ARGS
    from tests.web.support import chromium_or_skip

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def gateway_overrides() -> dict:
    """GatewaySettings a test module changes for tests/gateway's ``gateway`` (by overriding
    this fixture)."""
    return {}


@pytest.fixture(params=ENVIRONMENTS)
def environment(request: pytest.FixtureRequest) -> str:
    return request.param


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-durations",
        metavar="PATH",
        help="write each test's seconds (those of 1 s or more) to PATH: `make durations`",
    )


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    path = config.getoption("record_durations")
    if path:  # the controlling process sees every report
        config.pluginmanager.register(scheduling.DurationRecorder(Path(path)))
    if config.getoption("dist", "no") == "loadgroup":  # the workers inherit the environment
        groups = Path(tempfile.mkdtemp(prefix="edgeline-test-groups-")) / "groups.json"
        os.environ[scheduling.GROUPS_FILE] = str(groups)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and scheduling.GROUPS_FILE in os.environ:
        shutil.rmtree(Path(os.environ.pop(scheduling.GROUPS_FILE)).parent, ignore_errors=True)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # a run without pytest-xdist has no such hook
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> Any:
    """`--dist loadgroup` by tests/scheduling.py's groups."""
    if config.getoption("dist") == "loadgroup":
        return scheduling.GroupedScheduling(config, log, Path(os.environ[scheduling.GROUPS_FILE]))
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `aws` every test that talks to moto's server: the aws half of the ``environment``
    parametrisation (artifact_store, model_registry, telemetry_store, gateway) and every test
    that asks for ``moto_endpoint`` itself. `make test-fast` leaves them out.

    Then group the tests of each module-scoped fixture and order them longest first
    (tests/scheduling.py)."""
    groups = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        aws_param = callspec is not None and callspec.params.get("environment") == "aws"
        if aws_param or "moto_endpoint" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.aws)
        groups.append(scheduling.module_fixture_group(item))
    if hasattr(config, "workerinput") and scheduling.GROUPS_FILE in os.environ:
        scheduling.write_groups(items, groups, Path(os.environ[scheduling.GROUPS_FILE]))
    scheduling.order_longest_first(items, groups, scheduling.read_durations())


@pytest.fixture
def artifact_store(environment: str, tmp_path, request):
    if environment == "local":
        return LocalArtifactStore(root=str(tmp_path / "artifacts"))
    return S3ArtifactStore(bucket=request.getfixturevalue("s3_bucket"), prefix="edgeline")


@pytest.fixture
def model_registry(environment: str, tmp_path, artifact_store):
    if environment == "local":
        return SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    # groups of its own, as its bucket is: other tests in the account use the same model names
    return SageMakerModelRegistry(
        artifacts=artifact_store, group_prefix=f"t{uuid.uuid4().hex[:8]}-"
    )


@pytest.fixture
def tmp_resources(tmp_path, monkeypatch) -> dict[str, Any]:
    """Every resource of the local environment with tmp_path as its home, as the code location
    builds them (``local_resources``): artifacts (tmp_path/artifacts), registry
    (tmp_path/registry.sqlite), telemetry, device_jobs and the FilesystemIOManager."""
    monkeypatch.delenv("EDGELINE_GATEWAY_URL", raising=False)  # no download URLs from the shell
    return local_resources(tmp_path)


@pytest.fixture
def telemetry_store(environment: str, tmp_path, request):
    if environment == "local":
        return SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    request.getfixturevalue("moto_endpoint")
    return CloudWatchTelemetryStore(log_group_prefix=f"/edgeline-test/{uuid.uuid4().hex[:8]}")


AWS_CALL_LOG = pytest.StashKey[Path]()


@pytest.fixture(scope="session", autouse=True)
def record_aws_calls(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Path]:
    """Every client resources/aws.py makes, in this process and in every process the tests
    start (they inherit the environment), appends its calls to one file: tests/aws_calls.py
    is the hook, and the file is checked against deploy/iam/ at the end of the session."""
    log = tmp_path_factory.mktemp("iam") / "aws-calls.jsonl"
    request.config.stash[AWS_CALL_LOG] = log
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CLIENT_HOOK, aws_calls.__file__)
        patch.setenv(aws_calls.CALL_LOG, str(log))
        yield log


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The least-privilege policies in deploy/iam must allow every AWS call the suite made, on
    the resources it made it on."""
    log = session.config.stash.get(AWS_CALL_LOG, None)
    calls = read_calls(log) if log else []
    if not calls:
        return
    problems = violations(calls)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        kinds = {(c["component"], c["service"], c["operation"]) for c in calls}
        processes = {c["pid"] for c in calls}
        reporter.write_line(
            f"IAM check: {len(calls)} AWS calls from {len(processes)} processes, "
            f"{len(kinds)} kinds, {len(problems)} outside the documented policies"
        )
        for problem in problems:
            reporter.write_line(f"  {problem}", red=True)
    if problems and session.exitstatus == 0:
        session.exitstatus = 1
