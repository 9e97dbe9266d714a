"""TelemetryStore: the events that clients send back, appended and read by time window.

Events are JSON objects. The store needs three fields of each: ``event_id`` (for
de-duplication: clients retry), ``client_kind`` (``web`` or ``pi``) and ``timestamp``
(ISO 8601 with a time zone). The full schema is the gateway's job; the store checks what it
relies on and refuses an event that lacks it, by itself: the rest of the batch is stored, as
CloudWatch Logs' PutLogEvents does. An event id stored before is a duplicate when it comes
with the same content and a conflict (counted, dropped) with other content.

The stores import no Dagster (the gateway installs without it); the Dagster resources in
``resources.store_resources`` are these stores with their fields as config.
"""

import contextlib
import copy
import gc
import json
import math
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from resources.aws import AwsSettings
from resources.errors import InvalidTelemetryEventError

CLIENT_KINDS = ("web", "pi")
MAX_EVENT_BYTES = 256 * 1024
# CloudWatch Logs refuses events older than 14 days or more than 2 hours ahead, by its own clock:
# a margin keeps an event that passed here from being refused there a moment later
MAX_EVENT_AGE = timedelta(days=14) - timedelta(minutes=10)
MAX_CLOCK_SKEW = timedelta(hours=2) - timedelta(minutes=10)

# what a stored event's JSON is: made once (json.dumps with options makes an encoder each call)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)
# what orjson and json write alike (exact types: orjson writes subclasses, UUIDs and enums its way)
_JSON_SCALARS = frozenset({str, int, bool, type(None)})
_PLAIN_JSON_MAX_VALUES = 100_000  # past this (or a circular document) json writes it, or refuses

# load_json's test for an integer orjson cannot hold: each digit read as "0"
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19

# CloudWatch Logs PutLogEvents limits
_BATCH_MAX_EVENTS = 10_000
_BATCH_MAX_BYTES = 1_048_576
_EVENT_OVERHEAD_BYTES = 26
_HOUR_MS = 3_600_000
_BOUND_VALUES = 800  # bound values a statement: under SQLite's oldest limit (999)
_BUSY_TIMEOUT_S = 30.0  # how long a write waits for the file's write lock


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone; use UTC")
    return int(moment.timestamp() * 1000)


def validate_client_kind(client_kind: str) -> str:
    if client_kind not in CLIENT_KINDS:
        raise InvalidTelemetryEventError(
            f"client_kind {client_kind!r} is unknown; expected one of {', '.join(CLIENT_KINDS)}"
        )
    return client_kind


@dataclass
class AppendResult:
    """What a batch came to, event by event."""

    stored: int = 0  # new events written
    duplicates: int = 0  # an event id stored before (or earlier in the batch) with this content
    conflicts: int = 0  # an event id stored before with other content: dropped, not replaced
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (index, field, why)


Row = tuple[int, str, str, int, str]  # (index in the batch, event_id, client_kind, ms, json)


def event_age_problem(moment: datetime, now: datetime) -> str | None:
    """Why an event at ``moment`` cannot be stored at ``now`` (None: it can). One function for
    the gateway's check and the store's, given the same ``now``: they cannot disagree."""
    if moment < now - MAX_EVENT_AGE:
        return "is more than 14 days old (the store keeps 14 days)"
    if moment > now + MAX_CLOCK_SKEW:
        return "is more than 2 hours in the future: check the device's clock"
    return None


def prepare_events(
    events: Iterable[Mapping[str, Any]], now: datetime | None = None
) -> tuple[list[Row], list[tuple[int, str, str]]]:
    """The storable events as rows, and the others by index, with the field and why."""
    now = now or datetime.now(UTC)
    rows, refused = [], []
    for index, event in enumerate(events):
        try:
            rows.append(_row(index, event, now))
        except InvalidTelemetryEventError as error:
            refused.append((index, error.field, str(error)))
    return rows, refused


def _row(index: int, event: Any, now: datetime) -> Row:
    where = f"telemetry event {index}"
    if not isinstance(event, Mapping):
        raise InvalidTelemetryEventError(f"{where} is not a JSON object")
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise InvalidTelemetryEventError(
            f"{where}: field 'event_id' is missing or empty", "event_id"
        )
    where = f"{where} ({event_id})"
    kind = event.get("client_kind")
    if kind not in CLIENT_KINDS:
        raise InvalidTelemetryEventError(
            f"{where}: field 'client_kind' is {kind!r}; expected one of {', '.join(CLIENT_KINDS)}",
            "client_kind",
        )
    raw_time = event.get("timestamp")
    try:
        moment = datetime.fromisoformat(raw_time)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidTelemetryEventError(
            f"{where}: field 'timestamp' {raw_time!r} is not an ISO 8601 time", "timestamp"
        ) from None
    if moment.tzinfo is None:
        raise InvalidTelemetryEventError(
            f"{where}: field 'timestamp' has no time zone", "timestamp"
        )
    problem = event_age_problem(moment, now)
    if problem:
        raise InvalidTelemetryEventError(
            f"{where}: field 'timestamp' {raw_time} {problem}", "timestamp"
        )
    try:  # NaN and Infinity are not JSON: no reader of the store could parse them
        body = stored_json(dict(event))
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidTelemetryEventError(f"{where}: not storable as JSON ({error})") from None
    if len(body.encode()) > MAX_EVENT_BYTES:
        raise InvalidTelemetryEventError(f"{where} is larger than {MAX_EVENT_BYTES} bytes")
    return index, event_id, kind, _to_ms(moment), body


def sort_out(rows: list[Row], result: AppendResult) -> list[Row]:
    """The rows to write: the first of each event id in the batch; the batch's repeats counted
    in ``result`` as duplicates or conflicts (the store counts those stored before)."""
    seen: dict[str, str] = {}
    new = []
    for row in rows:
        _, event_id, _, _, body = row
        if event_id not in seen:
            seen[event_id] = body
            new.append(row)
        elif same_json(seen[event_id], body):
            result.duplicates += 1
        else:
            result.conflicts += 1
    return new


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off for a block that builds many small containers that stay
    alive (an hour of parsed events): it would walk them all again each time it ran as they
    pile up, though parsed JSON holds no cycle to find. Measured on 200,000 web events: their
    parsing took 1.9x as long with it on. As it was after the block, whatever it was before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def stored_json(event: dict[str, Any]) -> str:
    """An event's JSON as a store keeps it: keys sorted, no spaces, no NaN or Infinity (a
    TypeError or ValueError otherwise, as ``json`` raises). orjson writes a plain document 2-3x as
    fast as ``json``, counting the check that it is plain; ``json`` writes the rest (subclasses,
    UUIDs, enums, integers past 64 bits, lone surrogates), or refuses it. The two may spell a
    number or a non-ASCII string differently (``1e-05``, ``\\u00e9``): stored bodies are compared
    by ``same_json``."""
    if _plain_json(event):
        try:
            return orjson.dumps(event, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # past 64 bits, a lone surrogate, nesting past 255
            pass
    return _ENCODER.encode(event)


def _plain_json(document: Any) -> bool:
    """Whether ``document`` holds only dicts with str keys, lists, tuples, str, int, bool, None and
    finite floats, none of them a subclass: what orjson writes as ``json`` does. Walked without
    recursion, and given up past ``_PLAIN_JSON_MAX_VALUES`` values (a circular document)."""
    stack, seen = [document], 0
    while stack:
        item = stack.pop()
        seen += 1
        kind = type(item)
        if kind is dict:
            if any(type(key) is not str for key in item):
                return False
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _JSON_SCALARS:
            return False
        if seen > _PLAIN_JSON_MAX_VALUES:
            return False
    return True


def same_json(stored: str, body: str) -> bool:
    """Whether two stored bodies hold the same document, however each was spelled (a body
    stored by ``json`` and the same event sent again): ``true`` and ``1``, or ``1`` and ``1.0``,
    still differ."""
    if stored == body:
        return True
    try:
        return _ENCODER.encode(load_json(stored)) == _ENCODER.encode(load_json(body))
    except (ValueError, RecursionError):  # not JSON, NaN, or nested past what json writes
        return False


def load_json(data: str | bytes) -> Any:
    """``json.loads``, 2.4x as fast: orjson reads it, and ``json`` reads what orjson refuses
    (NaN, Infinity, lone surrogates, nesting past 1,024) or would read otherwise: orjson makes
    an integer past 64 bits a float, so a text with 19 digits in a row is ``json``'s. Raises
    what ``json`` raises (ValueError, RecursionError), but for nesting: orjson reads 1,024 levels,
    where ``json`` runs out of stack near 1,000 less its caller's depth."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _NINETEEN_DIGITS in raw.translate(_DIGITS_AS_ZEROS):
        return json.loads(data)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _parsed(body: str) -> Any:
    """A stored row's JSON, or the row's text when it is not JSON; what orjson refuses that
    ``json`` reads (NaN, Infinity) is read after all, so that the reader's check names the
    event and its field."""
    try:
        return load_json(body)
    except ValueError:
        return body


def _dedupe_sorted(rows: Iterable[tuple[int, str]]) -> list[Any]:
    """Parse ``(timestamp_ms, json)`` rows, keep the first of each event id, sort by time. A row
    that is not an event object (written into a log group by something else) is returned as its
    text, for the reader to count and skip."""
    seen: set[str] = set()
    events: list[Any] = []
    with cycle_collection_paused():
        for _, body in sorted(rows):
            event = _parsed(body)
            event_id = event.get("event_id") if isinstance(event, dict) else None
            if not isinstance(event_id, str):
                events.append(body)
                continue
            if event_id in seen:
                continue
            seen.add(event_id)
            events.append(event)
    return events


class TelemetryStore(BaseModel, ABC):
    """Append client events; read one client kind's events for a half-open time window."""

    model_config = ConfigDict(frozen=True)

    @abstractmethod
    def append(
        self, events: Sequence[Mapping[str, Any]], now: datetime | None = None
    ) -> AppendResult:
        """Store a batch, event by event: each is stored, a duplicate, a conflict or refused
        (see ``AppendResult``). ``now`` is the caller's clock for the age check (the gateway
        passes the one it validated with)."""

    @abstractmethod
    def read(self, client_kind: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Events of ``client_kind`` with ``start <= timestamp < end``, by time, one per event id."""


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


class _OpenDatabases(threading.local):
    """This thread's open SQLite connections, by file. Opening one (the file, its WAL, its
    schema) took 200 us here, as long as checking 20 events: a connection is used again while its path
    names the same file (one removed and made again gets a new connection) and only in the
    process that opened it (a forked child opens its own); a thread keeps the last few."""

    keep = 4

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.open: OrderedDict[str, tuple[tuple[int, int] | None, sqlite3.Connection]] = (
            OrderedDict()
        )

    def connection(self, path: str) -> sqlite3.Connection:
        if self.pid != os.getpid():  # the parent's connections: never to be used here
            self.pid, self.open = os.getpid(), OrderedDict()
        identity = _file_identity(path)
        kept = self.open.pop(path, None)
        if kept is not None and identity is not None and kept[0] == identity:
            connection = kept[1]
        else:
            if kept is not None:
                kept[1].close()
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S)
            connection.execute("PRAGMA synchronous=NORMAL")
            identity = _file_identity(path)
        self.open[path] = (identity, connection)
        while len(self.open) > self.keep:
            self.open.popitem(last=False)[1][1].close()
        return connection


_OPEN_DATABASES = _OpenDatabases()


def _stored_bodies(connection: sqlite3.Connection, ids: list[str]) -> dict[str, str]:
    """The stored JSON of each of these event ids that is stored."""
    stored: dict[str, str] = {}
    for start in range(0, len(ids), _BOUND_VALUES):
        chunk = ids[start : start + _BOUND_VALUES]
        query = (
            f"SELECT event_id, body FROM events WHERE event_id IN ({','.join('?' * len(chunk))})"
        )
        stored.update(connection.execute(query, chunk).fetchall())
    return stored


def _insert_new(connection: sqlite3.Connection, rows: list[Row], result: AppendResult) -> None:
    """Insert a batch's rows (each id once), counting in ``result`` what was stored, and what was
    stored before: the same content (a duplicate) or other content (a conflict)."""
    before = connection.total_changes
    per_insert = _BOUND_VALUES // 4
    for start in range(0, len(rows), per_insert):
        chunk = rows[start : start + per_insert]
        connection.execute(
            "INSERT OR IGNORE INTO events VALUES " + ",".join(["(?, ?, ?, ?)"] * len(chunk)),
            [value for row in chunk for value in row[1:]],
        )
    result.stored = connection.total_changes - before
    if result.stored < len(rows):  # ids stored before: asked only then (8 % of the CPU)
        stored = _stored_bodies(connection, [row[1] for row in rows])
        same = sum(same_json(stored[row[1]], row[4]) for row in rows)  # ours, or before
        result.duplicates += same - result.stored
        result.conflicts += len(rows) - same


@dataclass
class _PendingAppend:
    """A batch in an ``_AppendQueue``: its rows, its result, and how its write ended."""

    rows: list[Row]
    result: AppendResult
    taken: bool = False  # in a group that a thread is writing
    done: bool = False
    error: BaseException | None = None


class _AppendQueue:
    """The appends to one database file from this process's threads, written by one thread at a
    time: the batch at the front leads, and its thread writes every batch queued behind it (up
    to ``MAX_EVENTS``) in one transaction, while the others wait to be told their results.

    Without it each thread took SQLite's write lock for itself: those that found it taken slept
    in SQLite's busy handler (1, 2, 5, ... 100 ms), and the gateway's p99 went to 340-450 ms at
    eight connections; each batch also paid for a commit of its own. A leader waits for
    SQLite's lock only for what is left of its ``timeout_s`` since it was appended: batches
    queued behind a locked file give up one timeout after they came, not one each in turn."""

    MAX_EVENTS = 2_000

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.waiting: deque[_PendingAppend] = deque()

    def write(
        self,
        pending: _PendingAppend,
        write_together: Callable[[list[_PendingAppend], float], None],
        timeout_s: float,
    ) -> None:
        """Return once ``pending`` is written, by this thread or by the one that led its group
        (``write_together(group, seconds left of timeout_s)``); raise what that write raised."""
        deadline = time.monotonic() + timeout_s
        group: list[_PendingAppend] = []
        try:
            with self.changed:
                self.waiting.append(pending)
                self._wait_for_turn(pending)
                if pending.done:  # in a group that another thread led
                    if pending.error is not None:  # each thread raises a copy of its own
                        raise copy.copy(pending.error) from pending.error
                    return
                group = self._take()
            write_together(group, deadline - time.monotonic())
        except BaseException as raised:
            if not group:  # it led no group: out of the queue, unless a leader has it
                with self.changed:
                    if not pending.taken:
                        self.waiting.remove(pending)
                        self.changed.notify_all()  # it may have stood first
                raise
            self._finish(group, raised)  # every batch of the group was rolled back with it
            raise
        self._finish(group, None)

    def _wait_for_turn(self, pending: _PendingAppend) -> None:
        """Until ``pending`` is first in the queue or written (called with the lock held). No
        deadline here: each leader waits for SQLite no longer than its own time left, and it
        was queued before any batch behind it."""
        while not (pending.taken or self.waiting[0] is pending):
            self.changed.wait()
        while pending.taken and not pending.done:  # in a group that another thread writes
            self.changed.wait()

    def _take(self) -> list[_PendingAppend]:
        """The batches at the front, up to ``MAX_EVENTS`` (the first whatever its size)."""
        group, events = [], 0
        for queued in self.waiting:
            if group and events + len(queued.rows) > self.MAX_EVENTS:
                break
            group.append(queued)
            events += len(queued.rows)
        for queued in group:
            queued.taken = True
        return group

    def _finish(self, group: list[_PendingAppend], error: BaseException | None) -> None:
        """Out of the queue, each told how the group's write ended."""
        with self.changed:
            for written in group:
                self.waiting.popleft()
                written.done, written.error = True, error
            self.changed.notify_all()


_APPEND_QUEUES: dict[str, _AppendQueue] = {}
_APPEND_QUEUES_GUARD = threading.Lock()


def _append_queue(path: str) -> _AppendQueue:
    """This process's queue for the database at ``path``."""
    key = os.path.abspath(path)
    with _APPEND_QUEUES_GUARD:
        queue = _APPEND_QUEUES.get(key)
        if queue is None:  # made once per file, not for every append
            queue = _APPEND_QUEUES[key] = _AppendQueue()
        return queue


def _forget_append_queues() -> None:
    """A forked child's queues start empty: the threads its parent's queues wait on (or the one
    that held the guard) were not forked with it."""
    global _APPEND_QUEUES_GUARD
    _APPEND_QUEUES.clear()
    _APPEND_QUEUES_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_append_queues)


class SqliteTelemetryStore(TelemetryStore):
    """Local telemetry: SQLite in WAL mode, primary key on the event id, index on the hour.

    The index is on (client kind, hour), not on the time itself: within an hour its entries
    follow arrival, so a batch is appended where an index on time would put each event on a
    page of its own (agents send the readings of the last minutes, one a second). Each of those
    pages is written again at every commit: 3x the CPU of storing a batch, measured here.
    """

    path: str = Field(description="SQLite database file.")
    _ready: bool = PrivateAttr(default=False)
    # (kind, start ms, end ms): the hours that hold the window through the index, then the window
    READ_WINDOW: ClassVar[str] = (
        "SELECT ts_ms, body FROM events WHERE client_kind = ?1"
        f" AND ts_ms / {_HOUR_MS} BETWEEN ?2 / {_HOUR_MS} AND (?3 - 1) / {_HOUR_MS}"
        " AND ts_ms >= ?2 AND ts_ms < ?3"
    )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = _OPEN_DATABASES.connection(self.path)
        if not self._ready:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(
                "CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY,"
                " client_kind TEXT NOT NULL, ts_ms INTEGER NOT NULL, body TEXT NOT NULL);"
                "CREATE INDEX IF NOT EXISTS events_by_hour ON events"
                f" (client_kind, ts_ms / {_HOUR_MS});"
                "DROP INDEX IF EXISTS events_by_time;"  # the index of stores made before it
            )
            self._ready = True
        yield connection

    def append(
        self, events: Sequence[Mapping[str, Any]], now: datetime | None = None
    ) -> AppendResult:
        """Batches that threads of this process append at the same time are written together, in
        one transaction (see ``_AppendQueue``); each still gets its own result."""
        rows, refused = prepare_events(events, now)
        result = AppendResult(refused=refused)
        new = sort_out(rows, result)  # the batch's own repeats
        _append_queue(self.path).write(
            _PendingAppend(new, result), self._write_together, _BUSY_TIMEOUT_S
        )
        return result

    def _write_together(self, group: Sequence[_PendingAppend], timeout_s: float) -> None:
        """One transaction for the batches of ``group``, in order: a later batch sees an earlier
        one's events as stored before it, as it would had they been committed one by one. It
        waits for SQLite's write lock no longer than the first batch has left; the connection
        has its usual timeout again afterwards."""
        with self._connect() as connection:
            connection.execute(f"PRAGMA busy_timeout = {max(1, int(timeout_s * 1000))}")
            try:
                with connection:
                    for pending in group:
                        _insert_new(connection, pending.rows, pending.result)
            finally:  # the thread's connection serves its reads and writes after this one
                connection.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")

    def read(self, client_kind: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        validate_client_kind(client_kind)
        with self._connect() as connection:
            rows = connection.execute(
                self.READ_WINDOW, (client_kind, _to_ms(start), _to_ms(end))
            ).fetchall()
        return _dedupe_sorted(rows)


class CloudWatchTelemetryStore(TelemetryStore):
    """CloudWatch Logs: a log group per client kind, a log stream per UTC day."""

    log_group_prefix: str = Field(default="/edgeline/telemetry")
    aws: AwsSettings = Field(default_factory=AwsSettings)
    _streams: set = PrivateAttr(default_factory=set)

    @property
    def logs(self) -> Any:
        return self.aws.cached_client("logs")

    def log_group(self, client_kind: str) -> str:
        return f"{self.log_group_prefix.rstrip('/')}/{validate_client_kind(client_kind)}"

    def _ensure_stream(self, group: str, stream: str) -> None:
        if (group, stream) in self._streams:
            return
        for create, kwargs in (
            (self.logs.create_log_group, {"logGroupName": group}),
            (self.logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
        ):
            with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
                create(**kwargs)
        self._streams.add((group, stream))

    @staticmethod
    def batches(rows: Sequence[Row]) -> Iterator[tuple[str, str, list]]:
        """Split rows into valid PutLogEvents calls: one kind and UTC day each, sorted by time,
        at most 10,000 events and 1 MiB."""
        groups: dict[tuple[str, str], list] = {}
        for _, _, kind, timestamp_ms, body in rows:
            day = datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d")
            groups.setdefault((kind, day), []).append({"timestamp": timestamp_ms, "message": body})
        for (kind, day), events in sorted(groups.items()):
            events.sort(key=lambda e: e["timestamp"])
            batch: list = []
            size = 0
            for event in events:
                event_size = len(event["message"].encode()) + _EVENT_OVERHEAD_BYTES
                if batch and (
                    len(batch) == _BATCH_MAX_EVENTS or size + event_size > _BATCH_MAX_BYTES
                ):
                    yield kind, day, batch
                    batch, size = [], 0
                batch.append(event)
                size += event_size
            if batch:
                yield kind, day, batch

    def append(
        self, events: Sequence[Mapping[str, Any]], now: datetime | None = None
    ) -> AppendResult:
        """Duplicates and conflicts are seen within the batch only: Logs keeps whatever is put,
        so a retried batch is written again and reads remove the copies by event id (the
        first stored wins there too)."""
        rows, refused = prepare_events(events, now)
        result = AppendResult(refused=refused)
        new = sort_out(rows, result)
        for kind, day, batch in self.batches(new):
            group = self.log_group(kind)
            self._ensure_stream(group, day)
            response = self.logs.put_log_events(
                logGroupName=group, logStreamName=day, logEvents=batch
            )
            rejected = response.get("rejectedLogEventsInfo")
            if rejected:  # the margins above keep Logs' own clock from getting here
                raise InvalidTelemetryEventError(f"CloudWatch Logs rejected events: {rejected}")
        result.stored = len(new)
        return result

    def read(self, client_kind: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        group = self.log_group(client_kind)
        start_ms, end_ms = _to_ms(start), _to_ms(end)
        if end_ms <= start_ms:
            return []
        rows = []
        paginator = self.logs.get_paginator("filter_log_events")
        try:
            # endTime is inclusive in CloudWatch Logs; the window is half-open
            for page in paginator.paginate(
                logGroupName=group, startTime=start_ms, endTime=end_ms - 1
            ):
                rows.extend((e["timestamp"], e["message"]) for e in page.get("events", []))
        except self.logs.exceptions.ResourceNotFoundException:
            return []
        return _dedupe_sorted(rows)
