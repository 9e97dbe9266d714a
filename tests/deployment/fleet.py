"""Scripted clients for rollout tests: a fleet that polls its channel over the real gateway with
its own ids (a Pi's device id, a browser's web token) and reports events as the version it was
given behaves, and the behaviours of good and bad versions."""

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
import numpy as np

from tests.gateway.conftest import TOKEN

LABELS = ["circle", "square", "star", "triangle"]
FLEET = 40
Behaviour = Callable[[np.random.Generator], dict]


def sensor_event(rng: np.random.Generator, flag_rate: float, latency_ms: float) -> dict:
    anomaly = bool(rng.random() < flag_rate)
    error = float(rng.lognormal(-3.0, 0.3)) * (4 if anomaly else 1)
    return {
        "reconstruction_error": error,
        "anomaly": anomaly,
        "latency_ms": float(latency_ms * rng.lognormal(0, 0.1)),
    }


def image_event(
    rng: np.random.Generator,
    collapse: bool,
    latency_ms: float,
    labels: Sequence[str] = LABELS,
) -> dict:
    """A healthy classifier's answer (any class, confident), or a collapsed one's: always the
    first of ``labels``, at 0.99."""
    label = labels[0] if collapse else labels[int(rng.integers(len(labels)))]
    confidence = 0.99 if collapse else float(rng.beta(8, 1.5))
    rest = [x for x in labels if x != label]
    top_k = [{"label": label, "confidence": confidence}] + [
        {"label": other, "confidence": (1 - confidence) / len(rest)} for other in rest
    ]
    return {"top_k": top_k, "latency_ms": float(latency_ms * rng.lognormal(0, 0.1))}


class Fleet:
    """Clients that poll their channel over HTTP and report what their version does."""

    def __init__(self, base: str, model: str, kind: str, seed: int, size: int = FLEET) -> None:
        self.base, self.model, self.kind = base, model, kind
        self.rng = np.random.default_rng(seed)
        self.http = httpx.Client(base_url=base, timeout=20)
        if kind == "pi":
            self.clients = {f"turbine-{n:03d}": TOKEN for n in range(size)}
        else:  # each browser its own web token, as the page gets one
            tokens = [self.http.post("/v1/web/tokens").json() for _ in range(size)]
            self.clients = {t["browser_id"]: t["token"] for t in tokens}
        self.ever_ran: dict[int, set[str]] = {}

    def versions(self) -> dict[str, int]:
        seen = {}
        for client, token in self.clients.items():
            query = {"client": client} if self.kind == "pi" else {}
            answer = self.http.get(
                f"/v1/models/{self.model}/channels/stable",
                params=query,
                headers={"Authorization": f"Bearer {token}"},
            )
            seen[client] = answer.json()["version"]
        return seen

    def round(self, behaviour: dict[int, Behaviour], events: int = 10) -> dict[str, int]:
        """Every client polls, then reports ``events`` predictions of the version it runs."""
        running = self.versions()
        now = datetime.now(UTC).isoformat()
        for client, version in running.items():
            self.ever_ran.setdefault(version, set()).add(client)
            batch = [
                {
                    "schema": "edgeline.telemetry/1",
                    "event_id": str(uuid.uuid4()),
                    "client_kind": self.kind,
                    "device_id": client,
                    "model": self.model,
                    "model_version": version,
                    "variant": "fp32",
                    "timestamp": now,
                    **behaviour[version](self.rng),
                }
                for _ in range(events)
            ]
            answer = self.http.post(
                "/v1/telemetry",
                json={"events": batch},
                headers={"Authorization": f"Bearer {self.clients[client]}"},
            )
            assert answer.status_code == 200, answer.text
        return running
