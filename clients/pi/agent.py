"""The edge agent: keeps the newest approved model, runs it on live readings, reports back.

Runs on a Raspberry Pi with onnxruntime (>= 1.22: 1.21 dies with "Illegal instruction" on a
Pi 4), numpy and the standard library only. What it promises, as device agents of this kind do:
- it follows the gateway's channel with ETag/If-None-Match, downloads the recommended variant,
  checks its sha256 against the manifest and switches atomically; a bad download keeps the
  running model; a revoked version is left at once (back to the previous one from the cache, or
  no model at all while the channel names none, until a version is approved again);
- no acknowledged work is lost to a crash: every event goes to a durable queue on disk (SQLite,
  WAL) before anything else, bounded in size (the oldest go first, counted);
- it never hammers a gateway that is down: exponential backoff with jitter (and Retry-After);
- it retries only what a retry can fix (network errors, 429, 5xx); events the gateway refuses
  are dropped, counted and reported, and the good ones of the same batch are not sent again;
- its bearer token goes to the gateway's own origin only, never to a download URL (a presigned
  S3 URL carries its own authorisation);
- a restart resumes after the last reading it scored (kept with the outbox, per source), and an
  event's id derives from the device, the model version and the reading's position, so a
  reading scored twice (a crash between scoring and keeping) is one event to the gateway.

Which signals a reading holds, in which order, and how many make a window come from the model's
manifest (its sensor profile), so one agent serves any device; readings come from a source in
``clients/pi/sources.py``.
"""

import argparse
import json
import logging
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort

from clients.pi.gateway_client import (
    Backoff,
    GatewayClient,
    GatewayError,
    GatewayUnreachable,
    retry_after,
)
from clients.pi.sources import open_source
from clients.pi.storage import ModelCache, Outbox
from edgeline_contract.profile import WIND_TURBINE
from edgeline_contract.telemetry import TELEMETRY_SCHEMA

log = logging.getLogger("edgeline.agent")
SEND_BATCH = 500  # events per telemetry request: the most the gateway takes in one
EVENT_IDS = uuid.UUID("6f1c3a52-8f1e-4c7e-9a53-5f0b1d2e7c41")  # the namespace of derived ids


class EdgeAgent:
    def __init__(
        self,
        gateway: GatewayClient,
        cache: ModelCache,
        device_id: str,
        max_queue: int = 10_000,
        backoff: Backoff | None = None,
        model: str = WIND_TURBINE.model,
    ) -> None:
        self.gateway, self.cache, self.device_id, self.model = gateway, cache, device_id, model
        self.outbox = Outbox(cache.directory / "outbox.sqlite", max_queue)
        self.backoff = backoff or Backoff()
        self.etag: str | None = None
        self.session: ort.InferenceSession | None = None
        self.state: dict | None = None
        self.paused: str | None = "no model yet"  # why it does not score, when it does not
        self.readings: deque = deque(maxlen=1)
        self.counts = {"read": 0, "scored": 0, "anomalies": 0, "unscored": 0, "resumed_past": 0}
        self.source: str | None = None  # what the readings come from, for resuming
        self.resume_after: float | None = None  # the position of the last reading scored
        self.unreadable: set[str] = set()  # why readings were not scored, logged once each
        state = cache.current()
        if state:
            self._load(state)

    def _load(self, state: dict) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(
            state["path"], options, providers=["CPUExecutionProvider"]
        )
        # readings carry over to a new version of the same signals; other signals start over
        same = self.state is not None and self.state.get("signals") == state.get("signals")
        self.state = state
        self.paused = None
        self.readings = deque(self.readings if same else (), maxlen=state["window"])

    def _pause(self, reason: str) -> None:
        """Stop scoring with a model that is no longer approved."""
        if self.paused != reason:
            log.warning("paused: %s", reason)
        self.session, self.state, self.paused = None, None, reason
        self.cache.set_current(None)

    def poll_model(self) -> bool:
        """Follow the channel; True when what the agent runs changed."""
        try:
            kind, manifest, etag = self.gateway.manifest(self.model, self.etag)
        except GatewayUnreachable:
            self.backoff.failed()
            raise
        self.backoff.succeeded()
        if kind == "unchanged":
            return False
        if kind == "empty":
            was = self.state
            self.etag = None
            revoked = f"v{was['version']}" if was else "the last version"
            self._pause(f"the channel names no approved version ({revoked} was revoked)")
            return was is not None
        precision = manifest["recommended"].get("pi") or manifest["variants"][0]["precision"]
        variant = next(v for v in manifest["variants"] if v["precision"] == precision)
        path = self.cache.path_for(manifest["model"], manifest["version"], precision)
        if not self.cache.cached(path, variant["sha256"]):
            self.cache.install(path, self.gateway.download(variant["url"]), variant["sha256"])
        state = {
            "model": manifest["model"],
            "version": manifest["version"],
            "variant": precision,
            "path": str(path),
            "window": manifest["window"],
            "signals": manifest["signals"],
            "interval_s": manifest.get("profile", {}).get("interval_s"),
        }
        changed = state != self.state
        if changed:
            self._load(state)
            self.cache.set_current(state)
            log.info("now running %s v%d (%s)", state["model"], state["version"], precision)
        self.etag = etag
        return changed

    @property
    def interval_s(self) -> float:
        """Seconds between readings, as the running model's profile declares them."""
        return float((self.state or {}).get("interval_s") or 1.0)

    def _values(self, reading: Mapping | Iterable[float]) -> np.ndarray | None:
        """The reading in the model's signal order, or None (counted, and logged once per
        cause) when it lacks a signal or holds something that is not a number."""
        signals = (self.state or {}).get("signals") or ()  # a state cached before signals
        try:
            if isinstance(reading, Mapping):
                if not signals:
                    raise KeyError("the model's manifest names no signals to read by name")
                missing = [name for name in signals if name not in reading]
                if missing:
                    raise KeyError(
                        f"readings lack {missing} of the model's signals {list(signals)} "
                        f"(they have {sorted(reading)})"
                    )
                values = []
                for name in signals:
                    try:
                        values.append(float(reading[name]))
                    except (TypeError, ValueError):
                        raise ValueError(f"{name} is {reading[name]!r}, not a number") from None
            else:
                values = [float(value) for value in reading]
                if signals and len(values) != len(signals):
                    raise KeyError(f"readings hold {len(values)} values, the model {len(signals)}")
        except (KeyError, TypeError, ValueError) as error:
            cause = str(error.args[0] if isinstance(error, KeyError) else error)
            if cause not in self.unreadable:
                self.unreadable.add(cause)
                log.warning("not scored: %s", cause)
            return None
        return np.asarray(values, dtype=np.float32)

    def resume(self, source: str) -> float | None:
        """Read from ``source`` from now on, after the last reading of it that was scored."""
        self.source, self.resume_after = source, self.outbox.progress(source)
        if self.resume_after is not None:
            log.info("resuming %s after position %s", source, self.resume_after)
        return self.resume_after

    def scored_before(self, position: float | None) -> bool:
        """Whether the reading at ``position`` was scored before this agent (re)started."""
        return (
            position is not None and self.resume_after is not None and position <= self.resume_after
        )

    def process(
        self, reading: Mapping | Iterable[float], position: float | None = None
    ) -> dict | None:
        """Add one reading; once a window is full, score it and queue the telemetry event. A
        reading at or before where this source was scored before only fills the window."""
        replayed = self.scored_before(position)
        self.counts["resumed_past" if replayed else "read"] += 1
        if self.session is None or self.state is None:
            self.counts["unscored"] += not replayed
            return None
        values = self._values(reading)
        if values is None:
            self.counts["unscored"] += not replayed
            self.readings.clear()  # the next window must not span the gap
            return None
        self.readings.append(values)
        if replayed or len(self.readings) < self.state["window"]:
            return None
        window = np.concatenate(self.readings)[None, :]
        started = time.perf_counter()
        outputs = dict(
            zip(
                [o.name for o in self.session.get_outputs()],
                self.session.run(None, {"window": window}),
                strict=True,
            )
        )
        latency_ms = (time.perf_counter() - started) * 1000
        event = {
            "schema": TELEMETRY_SCHEMA,
            "event_id": self._event_id(position),
            "client_kind": "pi",
            "device_id": self.device_id,
            "model": self.state["model"],
            "model_version": self.state["version"],
            "variant": self.state["variant"],
            "backend": "cpu",
            "threads": 1,
            "timestamp": datetime.now(UTC).isoformat(),
            "latency_ms": latency_ms,
            "reconstruction_error": float(outputs["error"][0]),
            "anomaly": bool(outputs["anomaly"][0]),
        }
        self.outbox.put(event, self.source, position)
        self.counts["scored"] += 1
        self.counts["anomalies"] += int(event["anomaly"])
        return event

    def _event_id(self, position: float | None) -> str:
        """The same reading scored by the same model version is the same event; a reading
        without a position (a live stream without timestamps) gets a fresh id."""
        if position is None or self.state is None:
            return str(uuid.uuid4())
        name = f"{self.device_id}/{self.state['model']}/{self.state['version']}/{self.source}/{position!r}"
        return str(uuid.uuid5(EVENT_IDS, name))

    def flush(self, batch: int = SEND_BATCH) -> int:
        """Send queued events until the queue is empty or the gateway cannot take them; returns
        how many the gateway stored. Waits out the backoff instead of trying early."""
        stored = 0
        while self.backoff.ready():
            queued = self.outbox.peek(batch)
            if not queued:
                break
            seqs = [seq for seq, _ in queued]
            try:
                response = self.gateway.send([event for _, event in queued])
            except GatewayUnreachable as error:
                log.warning("%s; retrying in %.1f s", error, self.backoff.failed())
                break
            if response.status == 429 or response.status >= 500 or response.status == 401:
                # busy, broken or a token an operator must fix: the events stay for later
                delay = self.backoff.failed(retry_after(response))
                log.warning("telemetry: HTTP %d; retrying in %.1f s", response.status, delay)
                break
            self.backoff.succeeded()
            if response.status == 413 and batch > 1:
                batch //= 2  # too large for this gateway: smaller batches
                continue
            answer = response.json()
            body = answer if isinstance(answer, dict) else {}
            if response.status in (200, 207):
                rejected = body.get("rejected", [])
                for entry in rejected[:5]:
                    log.warning("gateway refused event %s: %s", entry.get("index"), entry)
                self.outbox.remove(seqs, sent=body.get("accepted", 0), rejected=len(rejected))
                stored += body.get("accepted", 0)
            else:  # 4xx for the batch as a whole: retrying cannot help, so it is not retried
                log.warning(
                    "gateway refused %d events: HTTP %d %s",
                    len(seqs),
                    response.status,
                    response.body[:200],
                )
                self.outbox.remove(seqs, refused=len(seqs))
        return stored

    def status(self) -> dict:
        """What an operator (or a health check) wants to know about this device."""
        return {
            "device_id": self.device_id,
            "state": "running" if self.session else "paused",
            "paused_because": self.paused,
            "model": self.state,
            **self.counts,
            "queued": len(self.outbox),
            **self.outbox.counters(),
            "connection_attempts": self.gateway.attempts,
        }


def run(
    agent: EdgeAgent,
    readings: Iterable[tuple[float | None, Mapping | Iterable[float]]],
    speed: float,
    poll_s: float,
    flush_every: int = 100,
    flush_s: float = 10.0,
    limit: int = 0,
    paced: bool = True,
) -> None:
    """Score ``(position, reading)`` pairs as they come, paced at the model's interval divided
    by ``speed`` (0: as fast as they come; readings already scored before a restart go by
    unpaced), follow the channel every ``poll_s``, send telemetry in batches of
    ``flush_every`` or every ``flush_s`` seconds, whichever comes first, and log a status line
    a minute; an unreachable gateway only delays what the backoff allows. Ends with the
    readings, or after ``limit`` new ones."""
    last_poll = last_status = time.monotonic() - max(poll_s, 60) - 1
    last_flush = time.monotonic()
    count = 0
    for position, reading in readings:
        if time.monotonic() - last_status > 60:
            last_status = time.monotonic()
            log.info("status: %s", json.dumps(agent.status()))
        if time.monotonic() - last_poll > poll_s and agent.backoff.ready():
            last_poll = time.monotonic()
            try:
                agent.poll_model()
            except GatewayError as error:
                log.warning("%s", error)
                if agent.session is None:  # say why nothing is scored (a 401, an unknown model)
                    agent.paused = f"no model: {error}"
        agent.process(reading, position)
        if agent.scored_before(position):
            continue  # on to where it stopped before the restart, at once
        count += 1
        if len(agent.outbox) >= flush_every or time.monotonic() - last_flush > flush_s:
            last_flush = time.monotonic()
            agent.flush()
        if limit and count >= limit:
            break
        if paced and speed:
            time.sleep(agent.interval_s / speed)
    agent.flush()
    log.info("status: %s", json.dumps(agent.status()))


HELP = """Edgeline's device agent. It keeps this device on the newest approved version of its
model (downloaded from the gateway, checked, kept on disk), scores every window of readings
with it, and sends the results back as telemetry. It runs until stopped (Ctrl-C or SIGTERM),
or until a replayed file or stdin ends; nothing it scored is lost to a crash or an outage."""

EPILOG = r"""readings (--source):
  simulate     the demo's simulated wind turbine (model turbine-autoencoder)
  csv:PATH     replay a recorded CSV, one reading per row, columns named as the model's signals
  stdin        JSON lines, one reading per line: {"pressure_bar": 3.1, "flow_lpm": 410, ...}
The model's manifest says which signals make a reading and how many readings make a window.

data directory (--data-dir, default ~/.edgeline-agent):
  *.onnx         verified model files, kept to fall back to when a version is revoked
  current.json   the model in use (the agent resumes with it after a restart, also offline)
  outbox.sqlite  telemetry not yet accepted by the gateway (at most --max-queue events)

status: a line a minute (and at the end) with the model version, readings scored,
anomalies, and events queued, sent, rejected and dropped.

the token (never on the command line, where `ps` shows it to every user):
  EDGELINE_AGENT_TOKEN   the device's bearer token, or
  --token-file PATH      a file that holds it (mode 0600)

example:
  EDGELINE_AGENT_TOKEN=... python -m clients.pi.agent --gateway https://gw.example.com \
      --device-id pump-7 --model pump-autoencoder --source csv:pump-7.csv --speed 10
"""

TOKEN_VARIABLE = "EDGELINE_AGENT_TOKEN"


def read_token(token_file: str | None) -> str:
    """The device's token from ``token_file`` or EDGELINE_AGENT_TOKEN; exits naming both."""
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as error:
            raise SystemExit(f"--token-file {token_file}: {error.strerror}") from None
        if not token:
            raise SystemExit(f"--token-file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise SystemExit(f"no token: set {TOKEN_VARIABLE} or pass --token-file PATH")
    return token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m clients.pi.agent",
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gateway", required=True, help="the gateway's URL")
    parser.add_argument(
        "--token-file", help=f"a file holding this device's token (else ${TOKEN_VARIABLE})"
    )
    parser.add_argument("--device-id", required=True, help="this device's name in telemetry")
    parser.add_argument(
        "--model", default=WIND_TURBINE.model, help="the model to follow (default: %(default)s)"
    )
    parser.add_argument(
        "--source", default="simulate", help="simulate, csv:PATH or stdin (default: %(default)s)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay or simulate this many times faster than the model's interval (0: flat out)",
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="stop after this many readings (0: never)"
    )
    parser.add_argument(
        "--data-dir",
        default=str(Path.home() / ".edgeline-agent"),
        help="models, current model and telemetry queue (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-s", type=float, default=30.0, help="seconds between checks for a new version"
    )
    parser.add_argument(
        "--max-queue", type=int, default=10_000, help="telemetry events kept while offline"
    )
    parser.add_argument("--seed", type=int, default=1, help="the simulated turbine's seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    source = open_source(args.source, args.seed)
    agent = EdgeAgent(
        GatewayClient(args.gateway, read_token(args.token_file)),
        ModelCache(Path(args.data_dir)),
        args.device_id,
        max_queue=args.max_queue,
        model=args.model,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop like Ctrl-C: the queue is on disk
    agent.resume(source.key)
    try:
        run(agent, source, args.speed, args.poll_s, limit=args.limit, paced=source.paced)
    except (KeyboardInterrupt, SystemExit):
        log.info("stopped: %s", json.dumps(agent.status()))
        return
    if not agent.counts["scored"]:  # a replay or a stream that ended without a single window
        reason = (
            agent.paused
            or "; ".join(sorted(agent.unreadable))
            or f"fewer readings than a window ({agent.state['window'] if agent.state else '?'})"
        )
        sys.exit(f"no reading was scored ({agent.counts['read']} read): {reason}")


if __name__ == "__main__":
    main()
