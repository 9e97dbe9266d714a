"""The recording half of the IAM check (tests/iam.py checks): resources/aws.py calls ``install``
with every client it makes, in every process of a test session, because the suite names this
file in EDGELINE_AWS_CLIENT_HOOK and the processes it starts (``edgeline demo``, a publish run,
the Dagster daemon and its runs) inherit the variable. Each API call, and each URL presigned
(whose signer needs the permission too), becomes one JSON line in the file EDGELINE_AWS_CALL_LOG
names: the component that made it, the operation, the parameters that name resources, and the
configuration it ran under (region; the bucket and prefix, log group prefix or thing group of
the resource on the stack), which binds the policies' variables.

Loaded by path, it imports nothing from tests/: a subprocess need not have the checkout on
sys.path."""

import json
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

CALL_LOG = "EDGELINE_AWS_CALL_LOG"
REPO = str(Path(__file__).resolve().parents[1]).replace("\\", "/")
ANYIO_WORKER_FILE = "/anyio/_backends/_asyncio.py"
RESOURCE_FILES = ("/resources/artifacts.py", "/resources/telemetry.py", "/resources/devices.py")


def component(stack: list[tuple[str, str]]) -> str | None:
    """Which component made a call, from its stack of (file, function), outermost first: the
    gateway (clients/gateway, the AnyIO worker threads it runs its blocking store calls on, and
    the telemetry writes only it makes), a Pi device (clients/pi) or the code location
    (everything else). None for a test's own setup (a test calling a client directly, e.g. to
    write into a log group behind the gateway's back)."""
    frames = [(file.replace("\\", "/"), function) for file, function in stack]
    ours = [f for f, _ in frames if f.startswith(REPO) and "/.venv/" not in f]
    if ours and "/tests/" in ours[-1]:
        return None
    # run_in_threadpool runs a store method on an AnyIO worker thread (WorkerThread.run), where
    # none of the gateway's frames is on the stack; nothing else in Edgeline runs AnyIO
    if any(
        "/clients/gateway/" in f or (f.endswith(ANYIO_WORKER_FILE) and fn == "run")
        for f, fn in frames
    ):
        return "gateway"
    if any("/clients/pi/" in f for f, _ in frames):
        return "pi-device"
    # telemetry is written by the gateway alone (the stores' own tests call append directly)
    if any(
        f.endswith("/resources/telemetry.py") and fn in ("append", "_ensure_stream")
        for f, fn in frames
    ):
        return "gateway"
    return "code-location"


def configuration(frames: list[FrameType]) -> dict[str, str]:
    """The policy variables a call ran under, from the innermost artifact store, telemetry store
    and device jobs on the stack (``frames`` innermost first)."""
    from resources.artifacts import S3ArtifactStore
    from resources.devices import IotDeviceJobs
    from resources.telemetry import CloudWatchTelemetryStore

    variables: dict[str, str] = {}
    for frame in frames:
        code = frame.f_code
        if not code.co_filename.replace("\\", "/").endswith(RESOURCE_FILES):
            continue
        if not code.co_argcount or code.co_varnames[0] != "self":
            continue
        owner = frame.f_locals["self"]
        if isinstance(owner, S3ArtifactStore) and "EDGELINE_S3_BUCKET" not in variables:
            variables["EDGELINE_S3_BUCKET"] = owner.bucket
            variables["EDGELINE_S3_PREFIX"] = owner.prefix.strip("/")
        elif isinstance(owner, CloudWatchTelemetryStore):
            variables.setdefault("EDGELINE_LOG_GROUP_PREFIX", owner.log_group_prefix.rstrip("/"))
        elif isinstance(owner, IotDeviceJobs):
            variables.setdefault("EDGELINE_IOT_THING_GROUP_ARN", owner.thing_group_arn)
    return variables


def callers(frame: FrameType | None) -> list[FrameType]:
    """``frame`` and the frames that called it, innermost first."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def transfer_caller(params: dict[str, Any]) -> list[FrameType] | None:
    """For a call s3transfer makes on a worker thread: the stack of the thread waiting for the
    transfer (boto3's ``upload_file``, ``download_file``...) of the object the call names."""
    for top in sys._current_frames().values():
        frames = callers(top)
        for frame in frames:
            if frame.f_code.co_filename.replace("\\", "/").endswith("/boto3/s3/inject.py"):
                named_object = (frame.f_locals.get("Bucket"), frame.f_locals.get("Key"))
                if named_object == (params.get("Bucket"), params.get("Key")):
                    return frames
    return None


def named(value: Any) -> Any:
    """A parameter's value if it names something (a string, or a list of them), else None."""
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return value
    return None


def install(client: Any) -> None:
    """Append every call ``client`` makes, and every URL it presigns, to the CALL_LOG file."""
    path = os.environ.get(CALL_LOG)
    if not path:
        return
    # a resource makes its client on first use, from one of its methods: the configuration
    # found now holds for calls made where the resource is not on the stack
    owner = {"AWS_REGION": client.meta.region_name, **configuration(callers(sys._getframe(1)))}

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        frames = callers(sys._getframe(1))
        if any("/s3transfer/" in f.f_code.co_filename.replace("\\", "/") for f in frames):
            frames = transfer_caller(params) or frames
        who = component([(f.f_code.co_filename, f.f_code.co_name) for f in reversed(frames)])
        if who is None:
            return
        entry = {
            "pid": os.getpid(),
            "component": who,
            "service": model.service_model.signing_name,
            "operation": model.name,
            "params": {name: named(value) for name, value in params.items()},
            "variables": {**owner, **configuration(frames)},
        }
        # one write to a file opened for appending: lines from many processes do not interleave
        handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(handle, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(handle)

    client.meta.events.register("before-parameter-build", record)
