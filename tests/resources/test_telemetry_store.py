"""TelemetryStore contract: SQLite (WAL) and CloudWatch Logs (moto over HTTP), same tests."""

import enum
import json
import signal
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resources.errors import InvalidTelemetryEventError
from resources.telemetry import (
    _ENCODER,
    MAX_EVENT_AGE,
    CloudWatchTelemetryStore,
    SqliteTelemetryStore,
    _append_queue,
    _AppendQueue,
    load_json,
    prepare_events,
    same_json,
    stored_json,
)

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


class Level(enum.Enum):
    HIGH = 2


# documents as JSON holds them, with what orjson and json write differently or refuse: NaN,
# Infinity, integers past 64 bits, exponents, non-ASCII and control characters, nulls
_JSON_OBJECTS = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats()
        | st.text(st.characters(exclude_categories=())),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ),
)


def event(kind: str = "web", at: datetime = HOUR, **extra) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "client_kind": kind,
        "timestamp": at.isoformat(),
        "latency_ms": 12.5,
        **extra,
    }


def test_append_then_read_window(telemetry_store):
    inside = [event(at=HOUR + timedelta(minutes=m)) for m in (0, 15, 59)]
    outside = [event(at=HOUR - timedelta(seconds=1)), event(at=HOUR + timedelta(hours=1))]
    assert telemetry_store.append(inside + outside).stored == 5
    got = telemetry_store.read("web", HOUR, HOUR + timedelta(hours=1))
    assert [e["event_id"] for e in got] == [e["event_id"] for e in inside]  # half-open, by time
    assert got[0]["latency_ms"] == 12.5


def test_any_window_reads_exactly_its_events_across_hours(telemetry_store):
    """Windows that start and end anywhere (a millisecond off an hour, inside one, across
    several) read the events in [start, end), as a filter over them all would."""
    ms = timedelta(milliseconds=1)
    times = [HOUR - ms, HOUR, HOUR + ms, HOUR + timedelta(minutes=30)]
    times += [HOUR + timedelta(hours=1) - ms, HOUR + timedelta(hours=1), HOUR + timedelta(hours=2)]
    events = [event(at=at) for at in times]
    telemetry_store.append(events)
    windows = [
        (HOUR, HOUR + timedelta(hours=1)),
        (HOUR + ms, HOUR + timedelta(hours=1) - ms),
        (HOUR - ms, HOUR + timedelta(hours=1) + ms),
        (HOUR + timedelta(minutes=10), HOUR + timedelta(hours=3)),
        (HOUR + timedelta(minutes=30), HOUR + timedelta(minutes=30)),
        (HOUR - timedelta(hours=2), HOUR),
    ]
    for start, end in windows:
        expected = [e["event_id"] for e, at in zip(events, times, strict=True) if start <= at < end]
        assert [e["event_id"] for e in telemetry_store.read("web", start, end)] == expected


def test_a_sqlite_store_reads_by_its_hour_index_and_a_store_made_before_it_gets_it(tmp_path):
    """The hour's read is a search of the index, not a scan; a file with the index on time
    that stores made before keeps its events and gets the index on the hour instead."""
    import sqlite3

    path = tmp_path / "telemetry.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (event_id TEXT PRIMARY KEY, client_kind TEXT NOT NULL,"
        " ts_ms INTEGER NOT NULL, body TEXT NOT NULL);"
        "CREATE INDEX events_by_time ON events (client_kind, ts_ms);"
    )
    written = event()
    ((_, event_id, kind, ts_ms, body),), _ = prepare_events([written])
    with old:
        old.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (event_id, kind, ts_ms, body))
    old.close()
    store = SqliteTelemetryStore(path=str(path))
    got = store.read("web", HOUR, HOUR + timedelta(hours=1))
    assert [e["event_id"] for e in got] == [written["event_id"]]
    with store._connect() as connection:
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        plan = connection.execute(
            "EXPLAIN QUERY PLAN " + SqliteTelemetryStore.READ_WINDOW, ("web", 0, 1)
        ).fetchall()
    assert "events_by_hour" in indexes and "events_by_time" not in indexes
    assert "USING INDEX events_by_hour" in " ".join(str(row[-1]) for row in plan)


@settings(max_examples=300, deadline=None)
@given(document=_JSON_OBJECTS)
def test_stored_json_is_json_s_document_or_json_s_refusal(document):
    """The fast encoding holds the document that ``json`` writes (sorted keys, no spaces) and
    refuses what ``json`` refuses: NaN and Infinity at any depth, whatever else is beside them."""
    try:
        expected = _ENCODER.encode(document)
    except ValueError:
        with pytest.raises(ValueError):
            stored_json(document)
        return
    written = stored_json(document)
    assert _ENCODER.encode(json.loads(written)) == expected
    assert same_json(expected, written)


@settings(max_examples=300, deadline=None)
@given(document=_JSON_OBJECTS, as_bytes=st.booleans(), ascii_only=st.booleans())
@example(document={"s": "\ud800", "n": 2**64}, as_bytes=False, ascii_only=False)
def test_load_json_reads_what_json_reads(document, as_bytes, ascii_only):
    """Integers past 64 bits stay integers (orjson would read them as floats), and NaN,
    Infinity and lone surrogates (escaped, or raw in a str) are read as ``json`` reads them;
    what ``json`` refuses is refused alike."""
    text = json.dumps(document, ensure_ascii=ascii_only)
    data = text.encode("utf-8", "surrogatepass") if as_bytes else text

    def outcome(load):
        try:
            return json.dumps(load(data))
        except ValueError as error:
            return type(error)

    assert outcome(load_json) == outcome(json.loads)


def test_a_retry_of_an_event_that_json_spelled_is_a_duplicate_and_other_content_a_conflict(
    tmp_path,
):
    """A store holds bodies that ``json`` wrote (before orjson wrote them): the same event sent
    again is a duplicate however each spelled it, and an event id with other content stays a
    conflict (``true`` is not ``1``)."""
    store = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    old = event(note="café ☕", score=1e-05, flag=True)
    ((_, event_id, kind, ts_ms, _),), _ = prepare_events([old])
    with store._connect() as connection, connection:
        connection.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            (event_id, kind, ts_ms, _ENCODER.encode(old)),
        )
    assert "\\u00e9" in _ENCODER.encode(old) and "é" in stored_json(old)
    again = store.append([dict(old)])
    assert (again.stored, again.duplicates, again.conflicts) == (0, 1, 0)
    changed = store.append([{**old, "flag": 1}, {**old, "note": "cafe"}])
    assert (changed.stored, changed.duplicates, changed.conflicts) == (0, 0, 2)
    (read,) = store.read("web", HOUR, HOUR + timedelta(minutes=1))
    assert read["note"] == "café ☕" and read["flag"] is True


def test_the_same_event_spelled_two_ways_in_one_batch_is_a_duplicate(tmp_path):
    """A character outside the BMP as one code point and as its two surrogates: the same
    document (``json`` writes both alike), whichever encoder wrote each body."""
    store = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    first = event(note="\U0001f600")
    result = store.append([first, {**first, "note": "\ud83d\ude00"}])
    assert (result.stored, result.duplicates, result.conflicts) == (1, 1, 0)


def test_an_event_nested_past_what_json_writes_is_refused_by_itself(tmp_path):
    """Refused as not storable, the batch's other events stored; and two bodies nested past
    what ``json`` writes compare as different, without an error that would fail the group."""
    store = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    nested: list = []
    for _ in range(5_000):
        nested = [nested]
    result = store.append([good := event(), event(extra=nested)])
    assert result.stored == 1 and "not storable" in result.refused[0][2]
    assert [e["event_id"] for e in store.read("web", HOUR, HOUR + timedelta(minutes=1))] == [
        good["event_id"]
    ]
    deep = "[" * 1_010 + "]" * 1_010  # orjson reads it; json cannot write it back
    assert not same_json(f'{{"a":{deep}}}', f'{{"a":{deep},"b":1}}')


def test_read_keeps_client_kinds_apart(telemetry_store):
    web, pi = event("web"), event("pi", reconstruction_error=0.02)
    telemetry_store.append([web, pi])
    window = (HOUR - timedelta(minutes=1), HOUR + timedelta(minutes=1))
    assert [e["event_id"] for e in telemetry_store.read("web", *window)] == [web["event_id"]]
    assert telemetry_store.read("pi", *window)[0]["reconstruction_error"] == 0.02


def test_repeated_event_ids_are_read_once_and_other_content_is_a_conflict(
    telemetry_store, environment
):
    first = event()
    assert telemetry_store.append([first]).stored == 1
    retried = telemetry_store.append([first, dict(first)])  # a client retrying
    changed = telemetry_store.append([{**first, "latency_ms": 99.0}])  # the id, other content
    in_batch = telemetry_store.append([second := event(), {**second, "latency_ms": 1.0}])
    got = telemetry_store.read("web", HOUR, HOUR + timedelta(minutes=1))
    assert sorted(e["event_id"] for e in got) == sorted([first["event_id"], second["event_id"]])
    assert next(e for e in got if e["event_id"] == first["event_id"])["latency_ms"] == 12.5
    assert (in_batch.stored, in_batch.duplicates, in_batch.conflicts) == (1, 0, 1)
    if environment == "local":  # SQLite sees what it stored before; Logs only the batch
        assert (retried.stored, retried.duplicates) == (0, 2)
        assert (changed.stored, changed.conflicts) == (0, 1)
    else:
        assert (retried.stored, retried.duplicates) == (1, 1)


def test_empty_window_and_empty_store(telemetry_store):
    assert telemetry_store.read("pi", HOUR, HOUR + timedelta(hours=1)) == []
    assert telemetry_store.append([]).stored == 0


def test_large_batch_across_days_round_trips(telemetry_store):
    start = datetime.now(UTC) - timedelta(days=2)
    events = [event(at=start + timedelta(seconds=13 * i)) for i in range(12_000)]  # ~43 h
    assert telemetry_store.append(events).stored == 12_000
    got = telemetry_store.read("web", start, start + timedelta(days=3))
    assert len(got) == 12_000
    assert {e["event_id"] for e in got} == {e["event_id"] for e in events}


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"event_id": None}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"client_kind": "tv"}, "client_kind"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-01-01T00:00:00"}, "time zone"),
        ({"timestamp": (datetime.now(UTC) - timedelta(days=30)).isoformat()}, "14 days"),
        ({"blob": "x" * 300_000}, "larger than"),
        ({"latency_ms": float("nan")}, "not storable"),
        ({"latency_ms": float("inf"), "note": None}, "not storable"),
        ({"tags": {"a", "b"}}, "not storable"),
        ({"sent": datetime.now(UTC)}, "not storable"),
        ({"sent": uuid.uuid4()}, "not storable"),
        ({"level": Level.HIGH}, "not storable"),
        ({"raw": orjson.Fragment(b"NaN")}, "not storable"),
    ],
)
def test_a_bad_event_is_refused_by_itself_and_the_good_ones_stored(telemetry_store, broken, field):
    """As PutLogEvents does: one bad event never costs the batch its good ones."""
    good = event()
    bad = {**event(), **broken}
    if broken.get("event_id") is None and "event_id" in broken:
        bad.pop("event_id")
    result = telemetry_store.append([good, bad])
    assert result.stored == 1
    ((index, _, why),) = result.refused
    assert index == 1 and "event 1" in why and field in why
    window = (HOUR - timedelta(days=1), HOUR + timedelta(days=1))
    assert [e["event_id"] for e in telemetry_store.read("web", *window)] == [good["event_id"]]


def test_one_clock_decides_the_age_boundary(telemetry_store):
    """An event a millisecond inside the limit by the caller's clock is stored, whatever the
    store's own clock says by the time it writes (once a whole batch was refused)."""
    now = datetime.now(UTC) - timedelta(seconds=30)  # the request's clock, taken earlier
    edge = event(at=now - MAX_EVENT_AGE + timedelta(milliseconds=1))
    assert telemetry_store.append([edge], now=now).stored == 1
    late = telemetry_store.append([event(at=now - MAX_EVENT_AGE - timedelta(milliseconds=1))], now)
    assert late.stored == 0 and "14 days old" in late.refused[0][2]


def test_read_unknown_kind_is_refused(telemetry_store):
    with pytest.raises(InvalidTelemetryEventError, match="tv"):
        telemetry_store.read("tv", HOUR, HOUR + timedelta(hours=1))


def test_cloudwatch_batches_respect_put_log_events_limits():
    now = datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    events = [event(at=start + timedelta(seconds=3 * i), blob="y" * 400) for i in range(30_000)]
    rows, refused = prepare_events(events[::-1], now=now)  # unsorted on purpose
    assert refused == []
    batches = list(CloudWatchTelemetryStore.batches(rows))
    assert sum(len(b) for _, _, b in batches) == 30_000
    for _, day, batch in batches:
        stamps = [e["timestamp"] for e in batch]
        assert stamps == sorted(stamps)
        assert len(batch) <= 10_000
        assert sum(len(e["message"].encode()) + 26 for e in batch) <= 1_048_576
        days = {datetime.fromtimestamp(s / 1000, UTC).strftime("%Y-%m-%d") for s in stamps}
        assert days == {day}


def test_sqlite_connections_are_kept_per_thread_for_the_same_file(tmp_path):
    """A thread uses its connection again (opening one is most of a small append); another
    thread opens its own, and a file removed and made again gets a new one, not the old."""
    path = tmp_path / "telemetry.sqlite"
    store = SqliteTelemetryStore(path=str(path))
    store.append([event()])
    with store._connect() as first, store._connect() as again:
        assert first is again
    elsewhere = []

    def connect_elsewhere() -> None:
        with store._connect() as connection:
            elsewhere.append(connection)

    thread = threading.Thread(target=connect_elsewhere)
    thread.start()
    thread.join()
    assert elsewhere[0] is not first
    for leftover in tmp_path.glob("telemetry.sqlite*"):  # a reset: the file and its WAL go
        leftover.unlink()
    fresh = SqliteTelemetryStore(path=str(path))
    written = event()
    assert fresh.append([written]).stored == 1
    window = (HOUR - timedelta(minutes=1), HOUR + timedelta(minutes=1))
    assert [e["event_id"] for e in fresh.read("web", *window)] == [written["event_id"]]
    with fresh._connect() as current:
        assert current is not first


def test_batches_racing_on_the_same_ids_count_each_send_once(tmp_path):
    """Five threads (each its own connection, as the gateway's) send the same 2,000 events at
    once, one of them other content for a quarter of the ids: each id is stored once, and
    every other send is a duplicate of what was stored or a conflict with it, exactly (the
    store asked for the ids before writing, outside the write's lock, and counted a conflict
    that a concurrent batch stored meanwhile as a duplicate: 2 runs of 3)."""
    store = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    events = [event() for _ in range(2000)]
    changed = [{**e, "latency_ms": 99.0} if i % 4 == 0 else e for i, e in enumerate(events)]
    sends = [events] * 4 + [changed]
    start = threading.Barrier(len(sends))
    results = [None] * len(sends)

    def send(position: int) -> None:
        start.wait()
        results[position] = store.append(sends[position])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kept = {
        e["event_id"]: e["latency_ms"] for e in store.read("web", HOUR, HOUR + timedelta(hours=1))
    }
    assert sorted(kept) == sorted(e["event_id"] for e in events)
    assert sum(r.stored for r in results) == 2000
    other = sum(e["latency_ms"] != kept[e["event_id"]] for batch in sends for e in batch)
    assert sum(r.conflicts for r in results) == other
    assert sum(r.duplicates for r in results) == 5 * 2000 - 2000 - other


def wait_for_queue(path: str, size: int) -> None:
    """Until ``size`` batches stand in this process's append queue for ``path``."""
    deadline = time.monotonic() + 30
    while len(_append_queue(path).waiting) < size:
        assert time.monotonic() < deadline, "the batches did not queue up"
        time.sleep(0.005)


def locked_for_writing(path: str) -> sqlite3.Connection:
    """Another connection that holds the file's write lock until it rolls back: appends queue."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def appending(store: SqliteTelemetryStore, batches: list[list[dict]]) -> tuple[list, list]:
    """A thread of its own appending each batch, started in this order, each queued before the
    next starts: the threads, and where each batch's result (or the database's error) lands."""
    results: list[object] = [None] * len(batches)

    def send(position: int) -> None:
        try:
            results[position] = store.append(batches[position])
        except sqlite3.DatabaseError as error:
            results[position] = error

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(len(batches))]
    for queued, thread in enumerate(threads, start=1):
        thread.start()
        wait_for_queue(store.path, queued)
    return threads, results


def queued_in_order(store: SqliteTelemetryStore, batches: list[list[dict]]) -> list[object]:
    """The batches queued in this order while the file's write lock is held, then the lock let
    go: the first is written alone, those behind it together (up to ``MAX_EVENTS`` a group).
    Each batch's result, or the database's error."""
    holder = locked_for_writing(store.path)
    threads, results = appending(store, batches)
    holder.rollback()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a batch was left waiting"
    assert not _append_queue(store.path).waiting
    return results


@pytest.fixture
def refusing_store(tmp_path) -> SqliteTelemetryStore:
    """A SQLite store whose database refuses an event with "refused" in it (a trigger): a write
    that fails inside SQLite, as a full disk would."""
    store = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    store.append([event()])  # the schema, made before any lock is taken
    with store._connect() as connection:
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.body LIKE '%refused%'"
            " BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
        )
    return store


def stored_ids(store: SqliteTelemetryStore) -> set[str]:
    return {e["event_id"] for e in store.read("web", HOUR, HOUR + timedelta(hours=1))}


def test_batches_queued_behind_a_write_are_written_together_and_fail_together(refusing_store):
    """While one append writes, the batches that threads append meanwhile wait, and the first of
    them writes them all in one transaction, each counted for itself (an id in two batches of
    one group: stored by the first, a duplicate for the second; other content for it in a third:
    a conflict). A batch the database refuses fails its group: every batch of it gets the error
    and none is stored; the next append works."""
    store = refusing_store
    shared = event()
    changed = {**shared, "latency_ms": 99.0}
    batches = [[event()], [event(), shared], [shared, event()], [changed, event()]]
    counts = [(r.stored, r.duplicates, r.conflicts) for r in queued_in_order(store, batches)]
    assert counts == [(1, 0, 0), (2, 0, 0), (1, 1, 0), (1, 0, 1)]
    alone, with_refused, refused = [event()], [event()], [event(note="refused")]
    results = queued_in_order(store, [alone, with_refused, refused])
    assert results[0].stored == 1
    for failed in results[1:]:  # one group: all or none
        assert isinstance(failed, sqlite3.IntegrityError), failed
        assert "refused by a trigger" in str(failed)
    assert results[1] is not results[2]  # each thread raised an error of its own
    ids = stored_ids(store)
    assert ids >= {e["event_id"] for batch in [*batches, alone] for e in batch}
    assert with_refused[0]["event_id"] not in ids and refused[0]["event_id"] not in ids
    assert store.append(with_refused).stored == 1


def test_a_group_holds_at_most_max_events(refusing_store):
    """Batches queued behind a write are grouped up to ``MAX_EVENTS`` events (a batch larger than
    that alone): a refused batch fails only the group it falls in."""
    store, cap = refusing_store, _AppendQueue.MAX_EVENTS
    big, over, small = [event() for _ in range(cap - 100)], [event() for _ in range(200)], [event()]
    huge = [event() for _ in range(cap + 1)]
    batches = [[event()], big, over, small, [event(note="refused")], huge, [event()]]
    results = queued_in_order(store, batches)
    assert [r.stored for r in results[:2]] == [1, cap - 100]  # the second group: big alone
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results[2:5])  # over, small, refused
    assert [r.stored for r in results[5:]] == [cap + 1, 1]  # huge alone, then the last
    ids = stored_ids(store)
    assert not ids & {e["event_id"] for batch in batches[2:5] for e in batch}


def test_an_append_waits_for_a_locked_file_one_timeout_in_all(tmp_path, monkeypatch):
    """Batches queued behind a write that cannot get the file (another process holds its write
    lock) each give up after the busy timeout from when they were appended, not after the
    timeouts of every batch before them in turn (4 batches: 1, 2, 3, 4 timeouts before)."""
    monkeypatch.setattr("resources.telemetry._BUSY_TIMEOUT_S", 1.5)
    store = SqliteTelemetryStore(path=str(tmp_path / "telemetry.sqlite"))
    store.append([event()])
    holder = locked_for_writing(store.path)
    started = time.monotonic()
    try:
        threads, results = appending(store, [[event()] for _ in range(4)])
        for thread in threads:
            thread.join(timeout=30)
        took = time.monotonic() - started
    finally:
        holder.rollback()
    for failed in results:
        assert isinstance(failed, sqlite3.OperationalError), failed
        assert "locked" in str(failed)
    assert took < 2 * 1.5, f"the four batches took {took:.1f} s to give up"
    assert not _append_queue(store.path).waiting
    assert store.append([event()]).stored == 1
    store._write_together([], 0.001)  # a leader with a millisecond left: only for its write
    with store._connect() as connection:
        assert connection.execute("PRAGMA busy_timeout").fetchone() == (1500,)


def test_an_append_interrupted_while_it_waits_leaves_the_queue_to_the_others(tmp_path):
    """A thread interrupted while its batch waits its turn (a signal in the main thread) takes
    its batch out of the queue: it is not stored, and the batch queued behind it is written, not
    left waiting for a leader that is gone. (A batch already taken into a group is written with
    it: the interrupted thread only stops waiting for its result.)"""
    path = str(tmp_path / "telemetry.sqlite")
    store = SqliteTelemetryStore(path=path)
    store.append([event()])

    class Interrupted(Exception):
        pass

    def interrupt(*_) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    holder = locked_for_writing(path)
    leader, behind, interrupted = [event()], [event()], [event()]
    sent: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda: sent.update(leader=store.append(leader)), daemon=True)
    ]
    threads[0].start()
    wait_for_queue(path, 1)
    main = threading.get_ident()

    def queue_behind_then_interrupt() -> None:
        wait_for_queue(path, 2)  # the main thread's batch waits behind the leader's
        threads.append(
            threading.Thread(target=lambda: sent.update(behind=store.append(behind)), daemon=True)
        )
        threads[-1].start()
        wait_for_queue(path, 3)
        signal.pthread_kill(main, signal.SIGUSR1)

    helper = threading.Thread(target=queue_behind_then_interrupt, daemon=True)
    helper.start()
    try:
        with pytest.raises(Interrupted):
            store.append(interrupted)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        holder.rollback()
    helper.join(timeout=30)
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a batch was left waiting"
    assert sent["leader"].stored == 1 and sent["behind"].stored == 1
    ids = {e["event_id"] for e in store.read("web", HOUR, HOUR + timedelta(hours=1))}
    assert interrupted[0]["event_id"] not in ids
    assert {leader[0]["event_id"], behind[0]["event_id"]} <= ids
