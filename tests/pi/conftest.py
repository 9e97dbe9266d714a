import pytest

from tests.gateway.conftest import gateway  # noqa: F401  (the same served gateway fixture)


@pytest.fixture(autouse=True)
def no_device_config(monkeypatch):
    """Agents started here (in process or as subprocesses) never read this machine's
    /etc/edgeline/agent.conf."""
    monkeypatch.setenv("EDGELINE_AGENT_CONFIG", "")
