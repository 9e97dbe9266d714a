"""What the agent keeps on disk: verified model files with the one in use, and the telemetry
outbox (SQLite, WAL) that a crash cannot empty."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import threading
from pathlib import Path

from clients.pi.gateway_client import ModelRefused


class ModelCache:
    """Verified model files on disk and a ``current.json`` that names the one in use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, model: str, version: int, precision: str) -> Path:
        return self.directory / f"{model}-v{version}-{precision}.onnx"

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def install(self, path: Path, data: bytes, sha256: str) -> Path:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ModelRefused(
                f"{path.name}: sha256 does not match the manifest; keeping the current model"
            )
        self._write(path, data)
        return path

    def cached(self, path: Path, sha256: str) -> bool:
        return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256

    def set_current(self, state: dict | None) -> None:
        self._write(self.directory / "current.json", json.dumps(state).encode())

    def current(self) -> dict | None:
        path = self.directory / "current.json"
        return json.loads(path.read_text()) if path.is_file() else None


class Outbox:
    """Telemetry waiting for the gateway, on disk (SQLite, WAL): a SIGKILL loses nothing that
    was put. Bounded: past ``max_events`` the oldest go first, and are counted. With each event
    it keeps how far its source got, so that a restart resumes after it."""

    def __init__(self, path: Path, max_events: int = 10_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        # one connection, used under a lock from whichever thread the agent runs in
        self.db = sqlite3.connect(
            str(path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self.lock = threading.RLock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # each commit survives the process dying
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " body TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS progress (source TEXT PRIMARY KEY, position REAL NOT NULL);"
        )

    def put(self, event: dict, source: str | None = None, position: float | None = None) -> None:
        """Queue ``event`` and, in the same transaction, record that ``source`` got as far as
        ``position``: a crash leaves both or neither."""
        with self.lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO events (body) VALUES (?)", (json.dumps(event),))
            if source is not None and position is not None:
                self.db.execute(
                    "INSERT INTO progress VALUES (?, ?) "
                    "ON CONFLICT(source) DO UPDATE SET position = excluded.position",
                    (source, position),
                )
            (count,) = self.db.execute("SELECT COUNT(*) FROM events").fetchone()
            if count > self.max_events:
                excess = count - self.max_events
                self.db.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
                    (excess,),
                )
                self._bump(overflowed=excess)

    def progress(self, source: str) -> float | None:
        """How far ``source`` got (the position of its last reading scored), if it ever did."""
        with self.lock:
            row = self.db.execute(
                "SELECT position FROM progress WHERE source = ?", (source,)
            ).fetchone()
        return row[0] if row else None

    def peek(self, limit: int) -> list[tuple[int, dict]]:
        with self.lock:
            rows = self.db.execute(
                "SELECT seq, body FROM events ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def remove(self, seqs: list[int], **counts: int) -> None:
        """Take sent or refused events off the queue and count them, in one transaction."""
        with self.lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s in seqs])
            self._bump(**counts)

    def _bump(self, **counts: int) -> None:
        for name, value in counts.items():
            if value:
                self.db.execute(
                    "INSERT INTO counters VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (name, value),
                )

    def __len__(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def counters(self) -> dict[str, int]:
        counts = {"sent": 0, "rejected": 0, "refused": 0, "overflowed": 0}
        with self.lock:
            counts.update(self.db.execute("SELECT name, value FROM counters").fetchall())
        return counts
