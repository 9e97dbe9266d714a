"""The edge agent: keeps the newest approved model, runs it on live readings, reports back.

Runs on a Raspberry Pi with onnxruntime, numpy and the standard library only, on Python 3.9 to
3.13 (``clients/pi/pyproject.toml`` installs it as ``edgeline-agent``; ``settings.py`` reads its
settings and token). What it promises, as device agents of this kind do:
- it follows the gateway's channel with ETag/If-None-Match, downloads the recommended variant,
  checks its sha256 against the manifest and switches atomically; a bad download, or a model
  this device's onnxruntime cannot load, keeps the running model; a revoked version is left at once (back to the previous one from the cache, or
  no model at all while the channel names none, until a version is approved again); a manifest
  this agent cannot read (an unknown ``schema``, a ``min_client_version`` above its own) is not
  used: it keeps its model, says why once and shows it in its status;
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

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnxruntime as ort

from clients.pi import __version__
from clients.pi.gateway_client import (
    Backoff,
    GatewayClient,
    GatewayError,
    GatewayUnreachable,
    retry_after,
)
from clients.pi.settings import (
    EX_CONFIG,
    SETTINGS,
    TOKEN_VARIABLE,
    AgentSettings,
    SettingsError,
    config_path,
    load_settings,
    unknown_variables,
)
from clients.pi.sources import open_source
from clients.pi.storage import ModelCache, Outbox
from edgeline_contract.manifest import client_refusal
from edgeline_contract.profile import WIND_TURBINE
from edgeline_contract.telemetry import MAX_FAILURE, TELEMETRY_SCHEMA

log = logging.getLogger("edgeline.agent")
SEND_BATCH = 500  # events per telemetry request: the most the gateway takes in one
EVENT_IDS = uuid.UUID("6f1c3a52-8f1e-4c7e-9a53-5f0b1d2e7c41")  # the namespace of derived ids


def load_error(error: Exception, limit: int = 240) -> str:
    """onnxruntime's reason, which comes last in a message that starts with its source path."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else "..." + text[-limit:]


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
        self.counts = {
            "read": 0,
            "scored": 0,
            "anomalies": 0,
            "unscored": 0,
            "failed": 0,
            "resumed_past": 0,
        }
        self.refused: str | None = None  # why the channel's manifest is not used, while it is not
        self.manifests_refused = 0  # manifests this agent would not use (each counted once)
        self.source: str | None = None  # what the readings come from, for resuming
        self.resume_after: float | None = None  # the position of the last reading scored
        self.unreadable: set[str] = set()  # why readings went unscored, logged once each
        self.refusal: str | None = None  # what the gateway last refused (a token...), in words
        self.stopped: str | None = None  # why the agent stopped, once it has
        state = cache.current()
        if state:
            try:
                self._load(state)
            except Exception as error:  # a file this onnxruntime cannot run: fetch again
                self.paused = f"the model on disk does not load: {load_error(error)}"
                log.warning("%s", self.paused)

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
            kind, manifest, etag = self.gateway.manifest(self.model, self.etag, self.device_id)
        except GatewayUnreachable:
            self.backoff.failed()
            raise
        except GatewayError as error:  # an answer it cannot use (a 401, an unknown model)
            self.refusal = str(error)
            raise
        self.backoff.succeeded()
        self.refusal = None
        if kind == "unchanged":
            return False
        if kind == "empty":
            was = self.state
            self.etag, self.refused = None, None
            revoked = f"v{was['version']}" if was else "the last version"
            self._pause(f"the channel names no approved version ({revoked} was revoked)")
            return was is not None
        refusal = client_refusal(manifest, __version__)
        if refusal is not None:
            return self._refuse(manifest, refusal, etag)
        self.refused = None
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
            try:
                self._load(state)
            except Exception as error:  # onnxruntime's errors (Fail, InvalidGraph...) share no base
                because = (
                    f"onnxruntime {ort.__version__} cannot load {path.name}: {load_error(error)}"
                )
                return self._refuse(manifest, because, etag)
            self.cache.set_current(state)
            log.info("now running %s v%d (%s)", state["model"], state["version"], precision)
        self.etag = etag
        return changed

    def _refuse(self, manifest: dict, refusal: str, etag: str | None) -> bool:
        """Keep the running model (scoring goes on with it) and say once why the channel's
        manifest is not used; its ETag is kept, so it is not fetched again until it changes."""
        self.etag = etag
        if refusal != self.refused:
            self.manifests_refused += 1
            keeping = (
                f"keeping {self.state['model']} v{self.state['version']}"
                if self.state
                else "no model to run until the channel names one this agent can use"
            )
            log.warning(
                "not using %s v%s from the channel: %s; %s",
                manifest.get("model"),
                manifest.get("version"),
                refusal,
                keeping,
            )
        self.refused = refusal
        if self.session is None:
            self.paused = f"the channel's manifest is refused: {refusal}"
        return False

    @property
    def interval_s(self) -> float:
        """Seconds between readings, as the running model's profile declares them."""
        return float((self.state or {}).get("interval_s") or 1.0)

    def _values(self, reading: Mapping | Iterable[float]) -> np.ndarray | str:
        """The reading in the model's signal order, or why not (logged once per cause) when it
        lacks a signal or holds something that is not a number."""
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
            self._warn_once(f"not scored: {cause}")
            return cause
        return np.asarray(values, dtype=np.float32)

    def _warn_once(self, message: str) -> None:
        """Log why readings go unscored once per cause: a sensor gone for a day is one line."""
        if message not in self.unreadable:
            self.unreadable.add(message)
            log.warning("%s", message)

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
        reading the model cannot read, an output that is not a number and a model that fails
        to run queue an event too (unscored, error), so that a version's failures are counted
        like its answers. A reading at or before where this source was scored before only
        fills the window."""
        replayed = self.scored_before(position)
        self.counts["resumed_past" if replayed else "read"] += 1
        if self.session is None or self.state is None:
            self.counts["unscored"] += not replayed
            return None
        values = self._values(reading)
        if isinstance(values, str):
            self.counts["unscored"] += not replayed
            self.readings.clear()  # the next window must not span the gap
            return None if replayed else self._queue(position, "unscored", values, 0.0)
        self.readings.append(values)
        if replayed or len(self.readings) < self.state["window"]:
            return None
        window = np.concatenate(self.readings)[None, :]
        started = time.perf_counter()
        try:
            names = [o.name for o in self.session.get_outputs()]
            outputs = dict(zip(names, self.session.run(None, {"window": window})))
            error, anomaly = float(outputs["error"][0]), bool(outputs["anomaly"][0])
        except Exception as failure:  # onnxruntime's errors share no base; a KeyError: no output
            latency_ms = (time.perf_counter() - started) * 1000
            self.counts["failed"] += 1
            cause = f"the model failed to run: {load_error(failure, limit=160)}"
            self._warn_once(cause)
            return self._queue(position, "error", cause, latency_ms)
        latency_ms = (time.perf_counter() - started) * 1000
        if not math.isfinite(error):
            self.counts["unscored"] += 1
            return self._queue(
                position, "unscored", "the model's output is not a finite number", latency_ms
            )
        event = self._queue(
            position, "scored", None, latency_ms, reconstruction_error=error, anomaly=anomaly
        )
        self.counts["scored"] += 1
        self.counts["anomalies"] += int(anomaly)
        if self.counts["scored"] == 1:  # the moment a started agent does what it is for
            log.info(
                "first window scored with %s v%d (%s): error %.4g, anomaly %s",
                event["model"],
                event["model_version"],
                event["variant"],
                error,
                anomaly,
            )
        return event

    def _queue(
        self,
        position: float | None,
        outcome: str,
        failure: str | None,
        latency_ms: float,
        **prediction: object,
    ) -> dict:
        """Queue the telemetry event of one inference: its ``prediction`` when scored, else
        its ``outcome`` (unscored, error) and why, so the fleet's failures are counted too."""
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
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "latency_ms": latency_ms,
            **prediction,
        }
        if outcome != "scored":
            event.update(outcome=outcome, failure=failure[:MAX_FAILURE])
        self.outbox.put(event, self.source, position)
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
                self.refusal = self.gateway.refusal(response, "the events")
                delay = self.backoff.failed(retry_after(response))
                log.warning("telemetry kept for later: %s; retrying in %.1f s", self.refusal, delay)
                break
            self.backoff.succeeded()
            if response.status == 413 and batch > 1:
                batch //= 2  # too large for this gateway: smaller batches
                continue
            answer = response.json()
            body = answer if isinstance(answer, dict) else {}
            if response.status in (200, 207) or "rejected" in body:  # judged event by event
                self.refusal = None
                rejected = body.get("rejected", [])
                for entry in rejected[:5]:
                    log.warning("the gateway rejected an event: %s", rejection(entry))
                self.outbox.remove(seqs, sent=body.get("accepted", 0), rejected=len(rejected))
                stored += body.get("accepted", 0)
            else:  # 4xx for the batch as a whole: retrying cannot help, so it is not retried
                self.refusal = self.gateway.refusal(response, f"{len(seqs)} events")
                log.warning("%s; dropped", self.refusal)
                self.outbox.remove(seqs, refused=len(seqs))
        return stored

    def gateway_state(self) -> str:
        """The gateway as this agent sees it, in words."""
        client = self.gateway
        if client.unreachable:
            down_s = time.time() - (client.unreachable_since or time.time())
            return f"{client.unreachable} (for {duration(down_s)})"
        if self.refusal:
            return self.refusal
        return "the gateway answers" if client.attempts else "the gateway was not asked yet"

    def status(self) -> dict:
        """What an operator (or a health check) wants to know about this device."""
        state = "running" if self.session else "paused"
        return {
            "device_id": self.device_id,
            "state": "stopped" if self.stopped else state,
            "stopped_because": self.stopped,
            "paused_because": self.paused,
            "model": self.state,
            "agent_version": __version__,
            "manifest_refused": self.refused,
            "manifests_refused": self.manifests_refused,
            **self.counts,
            "queued": len(self.outbox),
            **self.outbox.counters(),
            "gateway": self.gateway_state(),
            "connection_failures": self.gateway.failures,
            "outages": self.gateway.outages,
        }


def rejection(entry: object) -> str:
    """One event the gateway rejected (``{"index": 1, "errors": [{"field", "message"}]}``),
    in words: "event 1: latency_ms: must be a number"."""
    if not isinstance(entry, dict):
        return str(entry)
    errors = entry.get("errors") or []
    said = "; ".join(
        f"{e.get('field')}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in errors
    )
    return f"event {entry.get('index')}: {said or 'no reason given'}"


def duration(seconds: float) -> str:
    """``seconds`` as a person says it: "40 s", "3 min", "2.5 h"."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_line(status: Mapping) -> str:
    """The status in words, one line: what runs, windows scored and flagged, the events, the
    gateway (the same fields as the JSON, for a person reading the log)."""
    model = status["model"]
    running = f"{model['model']} v{model['version']} ({model['variant']})" if model else None
    if status["state"] == "running":
        head = f"running {running}"
    elif status["state"] == "paused":
        head = f"paused: {status['paused_because']}"
    else:
        head = f"{status['stopped_because']}, with {running or 'no model'}"  # after "stopped:"
    parts = [
        head,
        f"{status['scored']} windows scored, {status['anomalies']} flagged as anomalies"
        + (f", {status['unscored']} readings not scored" if status["unscored"] else "")
        + (f", {status['failed']} failed to run" if status.get("failed") else ""),
        f"events: {status['sent']} sent, {status['queued']} queued, {status['rejected']} "
        f"rejected, {status['refused']} refused, {status['overflowed']} overflowed",
    ]
    if status["gateway"] not in head:  # a pause for want of the gateway says it already
        parts.append(status["gateway"])
    if status["manifest_refused"]:
        parts.append(f"not using the channel's manifest: {status['manifest_refused']}")
    return "; ".join(parts)


def log_status(agent: EdgeAgent, as_json: bool, prefix: str = "status") -> None:
    """The status line: in words, or as one JSON object for machines (``--json``)."""
    status = agent.status()
    log.info("%s: %s", prefix, json.dumps(status) if as_json else status_line(status))


def run(
    agent: EdgeAgent,
    readings: Iterable[tuple[float | None, Mapping | Iterable[float]]],
    speed: float,
    poll_s: float,
    flush_every: int = 100,
    flush_s: float = 10.0,
    limit: int = 0,
    paced: bool = True,
    as_json: bool = False,
) -> None:
    """Score ``(position, reading)`` pairs as they come, paced at the model's interval divided
    by ``speed`` (0: as fast as they come; readings already scored before a restart go by
    unpaced), follow the channel every ``poll_s``, send telemetry in batches of
    ``flush_every`` or every ``flush_s`` seconds, whichever comes first, and log a status line
    a minute (as JSON when ``as_json``); an unreachable gateway only delays what the backoff
    allows. Ends with the readings, or after ``limit`` new ones (``agent.stopped`` says which)."""
    last_poll = last_status = time.monotonic() - max(poll_s, 60) - 1
    last_flush = time.monotonic()
    count = 0
    for position, reading in readings:
        if time.monotonic() - last_poll > poll_s and agent.backoff.ready():
            last_poll = time.monotonic()
            try:
                agent.poll_model()
            except GatewayError as error:
                log.warning("%s", error)
                if agent.session is None:  # say why nothing is scored (a 401, an unknown model)
                    agent.paused = f"no model: {error}"
        if time.monotonic() - last_status > 60:  # the first one after the first poll
            last_status = time.monotonic()
            log_status(agent, as_json)
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
    agent.stopped = f"after {count} readings" if limit and count >= limit else "the readings ended"


HELP = """Edgeline's device agent. It keeps this device on the newest approved version of its
model (downloaded from the gateway, checked, kept on disk), scores every window of readings
with it, and sends the results back as telemetry. It runs until stopped (Ctrl-C or SIGTERM),
or until a replayed file or stdin ends; nothing it scored is lost to a crash or an outage."""

EPILOG = r"""settings: every option above that takes a value (but --config) is also a line of
the config file and an environment variable, named EDGELINE_AGENT_ and the option in capitals
(--device-id: EDGELINE_AGENT_DEVICE_ID). A flag beats the environment, which beats the file.
The file (--config, else $EDGELINE_AGENT_CONFIG, else /etc/edgeline/agent.conf where it exists)
holds KEY=VALUE lines:
  EDGELINE_AGENT_GATEWAY=https://gateway.example.com
  EDGELINE_AGENT_DEVICE_ID=turbine-007
  EDGELINE_AGENT_TOKEN_FILE=/etc/edgeline/agent.token
--example-config prints a commented one; --check shows what the agent would run with.

the token (never on the command line, where `ps` shows it to every user):
  EDGELINE_AGENT_TOKEN_FILE   a file that holds it, readable by its owner only (chmod 600), or
  EDGELINE_AGENT_TOKEN        the token itself, in the environment

readings (source):
  simulate     the demo's simulated wind turbine (model turbine-autoencoder)
  csv:PATH     replay a recorded CSV, one reading per row, columns named as the model's signals
  stdin        JSON lines, one reading per line: {"pressure_bar": 3.1, "flow_lpm": 410, ...}
The model's manifest says which signals make a reading and how many make a window.

data directory (data_dir; /var/lib/edgeline-agent under the systemd unit):
  *.onnx         verified model files, kept to fall back to when a version is revoked
  current.json   the model in use (the agent resumes with it after a restart, also offline)
  outbox.sqlite  telemetry not yet accepted by the gateway (at most max_queue events)

status: a line a minute, and a last one when it stops ("stopped: by SIGTERM, with ..."), in words:
  running turbine-autoencoder v3 (fp32); 1440 windows scored, 2 flagged as anomalies;
  events: 1430 sent, 10 queued, 0 rejected, 0 refused, 0 overflowed; the gateway answers
--json writes each as one JSON object instead, for machines, with the same fields:
  scored, anomalies   windows scored, and those the model flagged
  unscored            readings not scored (no model, or a reading the model cannot read)
  sent, queued        events the gateway accepted; events on disk waiting to be sent
  rejected            events the gateway found invalid, one by one (dropped, logged)
  refused             events of batches the gateway refused whole, e.g. a token not allowed
                      for this device (dropped, logged)
  overflowed          the oldest events, dropped while more than max_queue waited
  gateway             whether it answers, why it cannot be reached (and for how long), or
                      what it refused (a token, a batch)
  connection_failures requests that got no answer (refused, timed out, unknown host): 0 while
                      the gateway answers, however often the agent polls and sends
  outages             the times answers stopped (consecutive failures are one outage)
  manifest_refused    why the channel's manifest is not used (e.g. it needs a newer agent)
A configuration error ends the agent with exit status 78 (the unit does not restart it then).

example:
  EDGELINE_AGENT_TOKEN_FILE=~/pump-7.token edgeline-agent --gateway https://gw.example.com \
      --device-id pump-7 --model pump-autoencoder --source csv:pump-7.csv --speed 10
"""

HERE = Path(__file__).resolve().parent
UNIT_FILE = HERE / "edgeline-agent.service"
EXAMPLE_CONFIG = HERE / "agent.conf.example"


def parser() -> argparse.ArgumentParser:
    """The command line; each setting's help ends with its default."""
    parsing = argparse.ArgumentParser(
        prog="edgeline-agent",
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # no abbreviations: `--token SECRET` must not pass as --token-file (and be echoed)
        allow_abbrev=False,
    )
    parsing.add_argument(
        "--config",
        metavar="PATH",
        help="the settings file (default: $EDGELINE_AGENT_CONFIG, else /etc/edgeline/agent.conf "
        "if it exists; an empty value reads none)",
    )
    for setting in SETTINGS:
        default = "" if setting.default is None else f" (default: {setting.default})"
        parsing.add_argument(
            setting.flag, dest=setting.name, metavar=setting.metavar, help=setting.help + default
        )
    parsing.add_argument(
        "--json",
        action="store_true",
        help="write the status lines as JSON objects, for machines (default: in words)",
    )
    parsing.add_argument(
        "--check",
        action="store_true",
        help="check the settings and the token, print the settings and where each came from, "
        "and exit",
    )
    parsing.add_argument(
        "--example-config", action="store_true", help="print a commented config file and exit"
    )
    parsing.add_argument(
        "--systemd-unit", action="store_true", help="print the systemd unit and exit"
    )
    parsing.add_argument("--version", action="version", version=f"edgeline-agent {__version__}")
    return parsing


def configure(
    argv: list[str] | None, environ: Mapping[str, str]
) -> tuple[argparse.Namespace, AgentSettings | None, str | None]:
    """The parsed command line, and the settings and token it leads to (None, None for the
    options that only print something)."""
    args = parser().parse_args(argv)
    if args.example_config or args.systemd_unit:
        return args, None, None
    flags = {setting.name: getattr(args, setting.name) for setting in SETTINGS}
    settings = load_settings(flags, environ, config_path(args.config, environ))
    return args, settings, settings.token(environ)


def main(argv: list[str] | None = None) -> None:
    try:
        args, settings, token = configure(argv, os.environ)
    except SettingsError as error:
        print(f"edgeline-agent: {error}", file=sys.stderr)
        sys.exit(EX_CONFIG)
    if settings is None or token is None:
        shown = UNIT_FILE if args.systemd_unit else EXAMPLE_CONFIG
        sys.stdout.write(shown.read_text(encoding="utf-8"))
        return
    unknown = unknown_variables(os.environ)
    if args.check:
        print(settings.described())
        source = "the token file" if settings.token_file else TOKEN_VARIABLE
        print(f"# token: {len(token)} characters from {source}")
        for variable in unknown:
            print(f"# {variable} names no setting (ignored)")
        return
    journald = bool(os.environ.get("JOURNAL_STREAM"))  # the journal stamps each line itself
    logging.basicConfig(
        level=logging.INFO, format="%(message)s" if journald else "%(asctime)s %(message)s"
    )
    for variable in unknown:
        log.warning("%s names no setting; ignored", variable)
    log.info(
        "edgeline-agent %s: device %s, model %s, gateway %s, source %s, data in %s%s",
        __version__,
        settings.device_id,
        settings.model,
        settings.gateway,
        settings.source,
        settings.data_dir,
        f" (settings from {settings.config_file})" if settings.config_file else "",
    )
    source = open_source(settings.source, settings.seed)
    agent = EdgeAgent(
        GatewayClient(settings.gateway, token),
        ModelCache(Path(settings.data_dir)),
        settings.device_id,
        max_queue=settings.max_queue,
        model=settings.model,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop like Ctrl-C: the queue is on disk
    agent.resume(source.key)
    try:
        run(
            agent,
            source,
            settings.speed,
            settings.poll_s,
            limit=settings.limit,
            paced=source.paced,
            as_json=args.json,
        )
    except (KeyboardInterrupt, SystemExit) as stop:
        agent.stopped = "by Ctrl-C" if isinstance(stop, KeyboardInterrupt) else "by SIGTERM"
        log_status(agent, args.json, "stopped")
        return
    log_status(agent, args.json, "stopped")
    if not agent.counts["scored"]:  # a replay or a stream that ended without a single window
        reason = (
            agent.paused
            or "; ".join(sorted(agent.unreadable))
            or f"fewer readings than a window ({agent.state['window'] if agent.state else '?'})"
        )
        sys.exit(f"no reading was scored ({agent.counts['read']} read): {reason}")


if __name__ == "__main__":
    main()
