"""Every AWS call Edgeline's code makes, checked against the least-privilege policy of the component
that made it (deploy/iam/*.json): the policies cannot drift from the code.

The calls are recorded with botocore's event hooks on every client the resources create, and
attributed by who is on the stack: the gateway (clients/gateway, and the telemetry writes only
the gateway makes), a Pi device (clients/pi) or the code location (everything else)."""

import json
import threading
import traceback
from collections import Counter
from pathlib import Path

POLICIES = Path(__file__).resolve().parents[1] / "deploy" / "iam"
COMPONENT_POLICY = {
    "code-location": "code-location.json",
    "gateway": "gateway-lambda.json",
    "pi-device": "pi-device.json",
}
# botocore's service ids and operations whose IAM action has another name
SERVICE_PREFIX = {"cloudwatch-logs": "logs"}
ACTION = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
}


def iam_action(event_name: str) -> str:
    """``before-call.s3.ListObjectsV2`` -> ``s3:ListBucket``."""
    _, service, operation = event_name.split(".", 2)
    action = f"{SERVICE_PREFIX.get(service, service)}:{operation}"
    return ACTION.get(action, action)


REPO = str(Path(__file__).resolve().parents[1]).replace("\\", "/")


def component(stack: list[traceback.FrameSummary]) -> str | None:
    """Which component made the call; None for a test's own setup (a test calling a client
    directly, e.g. to write into a log group behind the gateway's back)."""
    files = [frame.filename.replace("\\", "/") for frame in stack]
    ours = [f for f in files if f.startswith(REPO) and "/.venv/" not in f]
    if ours and "/tests/" in ours[-1]:
        return None
    if any("/clients/gateway/" in f for f in files):
        return "gateway"
    if any("/clients/pi/" in f for f in files):
        return "pi-device"
    # telemetry is written by the gateway alone (the stores' own tests call append directly)
    if any(
        f.endswith("/resources/telemetry.py") and frame.name in ("append", "_ensure_stream")
        for f, frame in zip(files, stack, strict=True)
    ):
        return "gateway"
    return "code-location"


def allowed_actions(policy_file: str) -> set[str]:
    document = json.loads((POLICIES / policy_file).read_text())
    actions: set[str] = set()
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


class CallRecorder:
    """Collects (component, IAM action) for every call; thread-safe."""

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.lock = threading.Lock()

    def before_call(self, event_name: str, **_) -> None:
        who = component(traceback.extract_stack()[:-1])
        if who is None:
            return
        with self.lock:
            self.calls[(who, iam_action(event_name))] += 1

    def violations(self) -> list[str]:
        allowed = {name: allowed_actions(file) for name, file in COMPONENT_POLICY.items()}
        return sorted(
            f"{who} called {action} ({count}x): not in deploy/iam/{COMPONENT_POLICY[who]}"
            for (who, action), count in self.calls.items()
            if action not in allowed[who]
        )
