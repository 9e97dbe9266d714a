"""With the real Dagster daemon: an approval moves the stable pointer; a rejection moves it back."""

import pytest

from assets.deployment.publish import read_channel
from orchestration.local_daemon import running_daemon, wait_for
from resources.environment import local_resources
from tests.deployment.conftest import register_tiny_version

pytestmark = pytest.mark.slow
MODEL = "turbine-autoencoder"


def test_daemon_publishes_approvals_and_rolls_back_rejections(tmp_path):
    resources = local_resources(tmp_path)
    store, registry = resources["artifacts"], resources["registry"]
    v1 = register_tiny_version(store, registry, MODEL)
    registry.approve(MODEL, v1, "first", "qa")

    def serving() -> int | None:
        return (read_channel(store, MODEL) or {}).get("version")

    with running_daemon(tmp_path, sensor_interval_s=1):
        # start-up (code location load, first tick) is not what the 30 s promise is about
        assert wait_for(lambda: serving() == v1, 120) is not None, (
            tmp_path / "daemon.log"
        ).read_text()[-3000:]
        v2 = register_tiny_version(store, registry, MODEL)
        registry.approve(MODEL, v2, "better", "qa")
        moved = wait_for(lambda: serving() == v2, 30)
        assert moved is not None, (tmp_path / "daemon.log").read_text()[-3000:]
        registry.reject(MODEL, v2, "field reports", "qa")
        back = wait_for(lambda: serving() == v1, 30)
        assert back is not None, (tmp_path / "daemon.log").read_text()[-3000:]
    manifest = store.get_json(f"deploy/{MODEL}/{v2}/manifest.json")
    assert manifest["version"] == v2  # v2 stays published (immutable); the channel moved off it
    print(f"approval -> pointer {moved:.1f} s, rejection -> pointer {back:.1f} s")
