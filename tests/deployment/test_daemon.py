"""With the real Dagster daemon: an approval moves the stable pointer; a rejection moves it back."""

import pytest

from assets.deployment.publish import read_channel
from orchestration.local_daemon import running_daemon, wait_for
from resources.environment import local_resources
from tests.deployment.conftest import register_tiny_version

pytestmark = pytest.mark.slow
MODEL = "turbine-autoencoder"
MOVE_S = 120  # start-up (code location load, first tick) took as long


def test_daemon_publishes_approvals_and_rolls_back_rejections(tmp_path):
    resources = local_resources(tmp_path)
    store, registry = resources["artifacts"], resources["registry"]
    v1 = register_tiny_version(store, registry, MODEL)
    registry.approve(MODEL, v1, "first", "qa")

    def serving() -> int | None:
        return (read_channel(store, MODEL) or {}).get("version")

    with running_daemon(tmp_path, sensor_interval_s=1):
        # each move is a run the daemon launches in a process of its own, which loads the code
        # location: 15 s of the 30 s once allowed, with two CPU hogs on two cores. How fast is
        # bench.deployment's to measure; here a move that never comes fails, a slow one does not
        assert wait_for(lambda: serving() == v1, MOVE_S) is not None, (
            tmp_path / "daemon.log"
        ).read_text()[-3000:]
        v2 = register_tiny_version(store, registry, MODEL)
        registry.approve(MODEL, v2, "better", "qa")
        moved = wait_for(lambda: serving() == v2, MOVE_S)
        assert moved is not None, (tmp_path / "daemon.log").read_text()[-3000:]
        registry.reject(MODEL, v2, "field reports", "qa")
        back = wait_for(lambda: serving() == v1, MOVE_S)
        assert back is not None, (tmp_path / "daemon.log").read_text()[-3000:]
    manifest = store.get_json(f"deploy/{MODEL}/{v2}/manifest.json")
    assert manifest["version"] == v2  # v2 stays published (immutable); the channel moved off it
    print(f"approval -> pointer {moved:.1f} s, rejection -> pointer {back:.1f} s")
