"""A random sequence of approvals, rejections and sensor restarts, through the real sensor."""

import random
from collections import Counter

import pytest
from dagster import DagsterInstance

from assets.deployment.publish import read_channel
from orchestration.definitions import build_definitions
from orchestration.sensors import run_registry_sensor_once
from resources.registry import APPROVED, PENDING, REJECTED
from tests.deployment.conftest import register_tiny_version

MODEL = "turbine-autoencoder"


@pytest.mark.slow
def test_random_sequence_publishes_each_approval_once(tmp_resources, tmp_path):
    resources = tmp_resources
    store, registry = resources["artifacts"], resources["registry"]
    defs = build_definitions(resources)
    rng = random.Random(20261123)
    launched: Counter = Counter()
    approved_ever: set[int] = set()
    rejected_before_approval: set[int] = set()
    cursor_file = tmp_path / "cursor.json"
    with DagsterInstance.ephemeral() as instance:
        cursor: str | None = None
        for step in range(100):
            action = rng.choices(
                ["register", "approve", "reject", "tick", "restart"], [3, 3, 2, 3, 1]
            )[0]
            versions = registry.list_versions(MODEL) if MODEL in registry.list_models() else []
            pending = [v.version for v in versions if v.status == PENDING]
            approved = [v.version for v in versions if v.status == APPROVED]
            if action == "register" or (action == "approve" and not pending):
                register_tiny_version(store, registry, MODEL)
            elif action == "approve":
                version = rng.choice(pending)
                registry.approve(MODEL, version, f"step {step}", "qa")
                approved_ever.add(version)
            elif action == "reject" and (pending or approved):
                serving = (read_channel(store, MODEL) or {}).get("version")
                # half the time revoke the version the clients run now: that is what rolls back
                version = (
                    serving
                    if serving in approved and rng.random() < 0.5
                    else rng.choice(pending + approved)
                )
                if version in pending:
                    rejected_before_approval.add(version)
                registry.reject(MODEL, version, f"step {step}", "qa")
            elif action == "restart":
                # a daemon restart: new code-location objects, the cursor read back from storage
                cursor_file.write_text(cursor or "")
                defs = build_definitions(resources)
                cursor = cursor_file.read_text() or None
                continue
            cursor, keys = run_registry_sensor_once(defs, instance, cursor)
            launched.update(key.rsplit(":", 1)[0] for key in keys)
            assert all(key.endswith(":ok") for key in keys), keys

            # invariants after every tick
            approved_now = registry.list_versions(MODEL, APPROVED) if versions else []
            newest_approved = max((v.version for v in approved_now), default=None)
            pointer = read_channel(store, MODEL)
            assert (pointer or {}).get("version") == newest_approved
        cursor, keys = run_registry_sensor_once(defs, instance, cursor)
        launched.update(key.rsplit(":", 1)[0] for key in keys)

    published = {int(k.split("@")[1]) for k in launched if k.startswith("publish:")}
    assert published == approved_ever  # every approval published...
    assert all(count == 1 for count in launched.values())  # ...exactly once, rollbacks too
    assert not published & rejected_before_approval  # a rejected version is never published
    for version in rejected_before_approval:
        assert not store.exists(f"deploy/{MODEL}/{version}/manifest.json")
    assert len(approved_ever) >= 10 and any(k.startswith("rollback:") for k in launched)
    assert REJECTED in {v.status for v in registry.list_versions(MODEL)}
