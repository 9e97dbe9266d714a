"""A gateway over local stores that a test can stop (a real outage: nothing listens on its port)
and start again on the same port, with a store that counts every event handed to it."""

import threading
import time
from pathlib import Path

import uvicorn

from clients.gateway.app import GatewaySettings, create_app
from clients.gateway.serving import server_config
from resources import LocalArtifactStore, SqliteModelRegistry, SqliteTelemetryStore
from tests.gateway.conftest import free_port

SECRET = "test-secret-" + "x" * 40
WEB_MODEL = "image-classifier"


class CountingTelemetry:
    """The SQLite store, counting every event the gateway hands it (to see duplicates that the
    store's de-duplication would hide)."""

    def __init__(self, store: SqliteTelemetryStore) -> None:
        self.store = store
        self.appended: list[str] = []

    def append(self, events: list[dict], now=None):
        self.appended.extend(e["event_id"] for e in events)
        return self.store.append(events, now)

    def read(self, *args, **kwargs) -> list[dict]:
        return self.store.read(*args, **kwargs)


class Gateway:
    """The gateway over local stores on a fixed port: start, stop (a real outage), start again."""

    def __init__(
        self,
        root: Path,
        poll_s: float = 1.0,
        ttl_s: int = 3600,
        model: str = WEB_MODEL,
        tokens: frozenset[str] = frozenset({"device-token"}),
        **settings,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = LocalArtifactStore(root=str(root / "artifacts"), gateway_url=self.url)
        self.registry = SqliteModelRegistry(path=str(root / "registry.sqlite"))
        self.telemetry = CountingTelemetry(
            SqliteTelemetryStore(path=str(root / "telemetry.sqlite"))
        )
        self.settings = GatewaySettings(
            tokens=tokens,
            web_secret=SECRET,
            web_poll_s=poll_s,
            web_model=model,
            web_token_ttl_s=ttl_s,
            **settings,
        )
        self.app = create_app(self.settings, self.store, self.telemetry)
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> "Gateway":
        config = server_config(self.app, self.settings, "127.0.0.1", self.port)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "the gateway did not start"
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=15)
            self.server = None
