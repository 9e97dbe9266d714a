"""ArtifactStore: models, manifests, datasets and reports, in a directory or an S3 bucket.

Both implementations lay keys out the same way, so ``deploy/<model>/stable.json`` is a file
under the local root or an object under the bucket prefix. Every write is atomic: a reader
sees the old bytes or the new bytes, never a part. Model files and published versions' files
are written once (``layout.is_write_once``): the store refuses other bytes under such a key.
Pointers that several writers move (channels) change by compare-and-swap.

The stores import no Dagster (the gateway installs without it); the Dagster resources in
``resources.store_resources`` are these stores with their fields as config.
"""

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from resources.aws import AwsSettings, error_code
from resources.errors import (
    ArtifactNotFoundError,
    ConcurrentWriteError,
    ImmutableArtifactError,
    InvalidKeyError,
)
from resources.keys import validate_key, validate_prefix
from resources.layout import deployed_file, is_write_once

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DEFAULT_URL_EXPIRY_S = 15 * 60
Item = TypeVar("Item")
Result = TypeVar("Result")


class ArtifactStore(BaseModel, ABC):
    """Put, get, list and delete artifacts by key; hand clients a URL to download one."""

    model_config = ConfigDict(frozen=True)

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store ``data`` under ``key``, replacing what was there in one atomic step; under a
        write-once key, only if nothing or the same bytes are there (else
        ``ImmutableArtifactError``)."""

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike, content_type: str | None = None) -> None:
        """Store the file at ``path`` under ``key`` (streamed, not read into memory), with
        ``put_bytes``'s rule for write-once keys."""

    @abstractmethod
    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The bytes under ``key`` and a tag that follows them (None if absent): what
        ``compare_and_swap`` expects. As with S3's ETag, the same bytes carry the same tag, so a
        document that several writers move must change with every move (a channel pointer
        counts its generation)."""

    @abstractmethod
    def compare_and_swap(
        self, key: str, data: bytes, expected_tag: str | None, content_type: str | None = None
    ) -> str:
        """Write ``data`` only if ``key`` still holds what ``read_tagged`` returned with
        ``expected_tag`` (None: only if nothing is stored); else ``ConcurrentWriteError``.
        Returns the new tag."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The bytes under ``key``; ``ArtifactNotFoundError`` if there are none."""

    @abstractmethod
    def get_file(self, key: str, path: str | os.PathLike) -> Path:
        """Copy the artifact under ``key`` to ``path`` (atomically) and return the path."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int:
        """Bytes stored under ``key``; ``ArtifactNotFoundError`` if there are none."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a key that is not there is not an error."""

    @abstractmethod
    def download_url(self, key: str, expires_in_s: int | None = None) -> str:
        """A URL a client can GET the artifact from (presigned on S3; via the gateway locally)."""

    def download_origin(self) -> str | None:
        """The origin (scheme://host[:port]) of ``download_url``'s URLs when they are not the
        gateway's own: a page may fetch from there and nowhere else."""
        return None

    def map_concurrently(
        self, function: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[Result]:
        """``map(function, items)`` for calls that each make a request to this store, with as
        many in flight as suit it (one for a directory, several for S3), results in order."""
        return map(function, items)

    def get_many(self, keys: Iterable[str]) -> Iterator[bytes]:
        """The bytes under each of ``keys``, in order: a folder of images, read as fast as the
        store allows."""
        return self.map_concurrently(self.get_bytes, keys)

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> int:
        """``put_bytes`` each ``(key, data)``; returns how many were stored."""
        return sum(1 for _ in self.map_concurrently(lambda item: self.put_bytes(*item), items))

    def put_json(self, key: str, document: Any) -> None:
        """Write a small JSON document (a manifest, a channel pointer) atomically."""
        self.put_bytes(key, json_bytes(document), content_type="application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def find_json(self, key: str) -> Any | None:
        """The JSON document under ``key``, or None when there is none: one read, where
        ``exists`` then ``get_json`` is two round trips on S3 and a race with a delete."""
        try:
            return self.get_json(key)
        except ArtifactNotFoundError:
            return None

    def put_frame(self, key: str, frame: "pd.DataFrame") -> None:
        """Write a table as Parquet (readings, telemetry roll-ups)."""
        self.put_bytes(key, frame_bytes(frame), content_type=PARQUET)

    def get_frame(self, key: str) -> "pd.DataFrame":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(self.get_bytes(key)))

    def get_table(self, key: str) -> "pa.Table":
        """A Parquet table as Arrow, for readers that reshape it before pandas does."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(self.get_bytes(key)))


PARQUET = "application/vnd.apache.parquet"


def json_bytes(document: Any) -> bytes:
    """A JSON document as the store writes it (the same document gives the same bytes)."""
    return json.dumps(document, indent=2, sort_keys=True).encode()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ordered_map(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int
) -> Iterator[Result]:
    """``map(function, items)`` on ``workers`` threads, results in order. At most twice
    ``workers`` calls are submitted ahead of the one being read, so a folder of phone photos
    never sits in memory at once; the first error is raised when its result is reached."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="store") as pool:
        ahead: deque[Future[Result]] = deque()
        for item in items:
            ahead.append(pool.submit(function, item))
            if len(ahead) >= 2 * workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _refused(key: str) -> ImmutableArtifactError:
    return ImmutableArtifactError(
        f"refusing to overwrite {key!r}: model files and published versions are written once "
        "(a new run or version writes under its own key)"
    )


def frame_bytes(frame: "pd.DataFrame") -> bytes:
    """A table as Parquet bytes, without its index (the same table gives the same bytes)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


class LocalArtifactStore(ArtifactStore):
    """A directory laid out exactly like the bucket (the local default)."""

    root: str = Field(description="Directory that holds every artifact.")
    gateway_url: str = Field(
        default="",
        description="Base URL of the gateway that serves local artifacts to clients; empty: "
        "URLs relative to whichever gateway a client asks.",
    )

    def _path(self, key: str) -> Path:
        return Path(self.root) / validate_key(key)

    def _write_atomically(self, key: str, write: Any, create_only: bool = False) -> None:
        """Write to a temporary file beside the target, then move it in place in one step; with
        ``create_only``, link it in (which fails if the target exists) and accept only a target
        that already holds the same bytes."""
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKeyError(f"cannot store {key!r}: a part of its path is a file") from None
        if target.is_dir():
            raise InvalidKeyError(f"cannot store {key!r}: other keys live under it")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            if not create_only:
                os.replace(tmp, target)
                return
            try:
                os.link(tmp, target)
            except FileExistsError:
                if sha256_file(Path(tmp)) != sha256_file(target):
                    raise _refused(key) from None
            except OSError as error:  # a filesystem without hard links (FAT, some shares)
                raise ImmutableArtifactError(
                    f"cannot write {key!r} once and for all: {self.root} is on a filesystem "
                    f"without hard links ({error.strerror}); keep EDGELINE_HOME on a local disk"
                ) from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._write_atomically(key, lambda handle: handle.write(data), is_write_once(key))

    def put_file(self, key: str, path: str | os.PathLike, content_type: str | None = None) -> None:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"cannot store {key!r}: {source} is not a file")

        def copy(handle: Any) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, handle, 1 << 20)

        self._write_atomically(key, copy, is_write_once(key))

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """An exclusive lock (between processes too) on a hidden file beside ``key``."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(f".{target.name}.lock"), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        return data, hashlib.sha256(data).hexdigest()

    def compare_and_swap(
        self, key: str, data: bytes, expected_tag: str | None, content_type: str | None = None
    ) -> str:
        with self._locked(key):
            current = self.read_tagged(key)
            if (current[1] if current else None) != expected_tag:
                raise ConcurrentWriteError(f"{key!r} changed since it was read")
            self._write_atomically(key, lambda handle: handle.write(data))
        return hashlib.sha256(data).hexdigest()

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFoundError(f"no artifact under key {key!r} in {self.root}") from None

    def get_file(self, key: str, path: str | os.PathLike) -> Path:
        source = self._path(key)
        if not source.is_file():
            raise ArtifactNotFoundError(f"no artifact under key {key!r} in {self.root}")
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(f".{destination.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
        return destination

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():  # missing, a folder, or under a file
            raise ArtifactNotFoundError(f"no artifact under key {key!r} in {self.root}")
        return path.stat().st_size

    def _walk(self, under: str) -> Iterator[str]:
        root = Path(self.root)
        start = root / under
        if not start.is_dir():
            return
        for directory, _, files in os.walk(start):
            for name in files:
                if name.startswith(".") and name.endswith((".tmp", ".lock")):
                    continue  # a write in progress, a compare-and-swap's lock
                yield Path(directory, name).relative_to(root).as_posix()

    def list_keys(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        # walk only the folder the prefix lies in, not the whole store
        under = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        return sorted(key for key in self._walk(under) if key.startswith(prefix))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def download_url(self, key: str, expires_in_s: int | None = None) -> str:
        quoted = urllib.parse.quote(validate_key(key))
        return f"{self.gateway_url.rstrip('/')}/v1/artifacts/{quoted}"  # relative without a base


# S3's answers to a failed condition (412), and to a conditional write while another to the same
# key is in flight (409)
_PRECONDITION_FAILED = ("PreconditionFailed", "412")
_IN_FLIGHT = ("ConditionalRequestConflict", "409")
PUT_ONCE_ATTEMPTS = 5


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects under ``s3://<bucket>/<prefix>/``."""

    bucket: str = Field(description="S3 bucket (must exist).")
    prefix: str = Field(default="edgeline", description="Key prefix inside the bucket.")
    url_expiry_s: int = Field(
        default=DEFAULT_URL_EXPIRY_S, ge=1, le=7 * 24 * 3600, description="Presigned URL lifetime."
    )
    concurrent_requests: int = Field(
        default=8,
        ge=1,
        le=10,  # botocore's connection pool holds 10
        description="Requests in flight at once when a set of objects (a folder of images) is "
        "read or written.",
    )
    aws: AwsSettings = Field(default_factory=AwsSettings)

    @property
    def s3(self) -> Any:
        return self.aws.cached_client("s3")

    def map_concurrently(
        self, function: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[Result]:
        self.aws.cached_client("s3")  # made here, once, before the threads share it
        return ordered_map(function, items, self.concurrent_requests)

    def _object_key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix.strip('/')}/{key}" if self.prefix.strip("/") else key

    def _strip(self, object_key: str) -> str:
        base = self.prefix.strip("/")
        return object_key[len(base) + 1 :] if base else object_key

    @staticmethod
    def _is_missing(error: Exception) -> bool:
        return error_code(error) in ("NoSuchKey", "404", "NotFound")

    def _put_once(self, key: str, body: Any, digest: str, content_type: str | None) -> None:
        """A conditional PUT (``If-None-Match: *``): S3 itself refuses a second writer (412); the
        same bytes already there count as written. A 409 (another conditional write to the key
        still in flight) is tried again once that one has had time to land."""
        extra = {"ContentType": content_type} if content_type else {}
        for attempt in range(PUT_ONCE_ATTEMPTS):
            if hasattr(body, "seek"):
                body.seek(0)
            try:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self._object_key(key),
                    Body=body,
                    IfNoneMatch="*",
                    **extra,
                )
                return
            except self.s3.exceptions.ClientError as error:
                code = error_code(error)
                if code in _IN_FLIGHT and attempt + 1 < PUT_ONCE_ATTEMPTS:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                if code not in _PRECONDITION_FAILED:
                    raise
            if hashlib.sha256(self.get_bytes(key)).hexdigest() != digest:
                raise _refused(key) from None
            return

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        if is_write_once(key):
            self._put_once(key, data, hashlib.sha256(data).hexdigest(), content_type)
            return
        extra = {"ContentType": content_type} if content_type else {}
        self.s3.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data, **extra)

    def put_file(self, key: str, path: str | os.PathLike, content_type: str | None = None) -> None:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"cannot store {key!r}: {source} is not a file")
        if is_write_once(key):  # one conditional PUT (up to 5 GB), streamed from the file
            with source.open("rb") as body:
                self._put_once(key, body, sha256_file(source), content_type)
            return
        extra = {"ExtraArgs": {"ContentType": content_type}} if content_type else {}
        self.s3.upload_file(str(source), self.bucket, self._object_key(key), **extra)

    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            found = self.s3.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except self.s3.exceptions.ClientError as error:
            if self._is_missing(error):
                return None
            raise
        return found["Body"].read(), found["ETag"]

    def compare_and_swap(
        self, key: str, data: bytes, expected_tag: str | None, content_type: str | None = None
    ) -> str:
        condition = {"IfMatch": expected_tag} if expected_tag else {"IfNoneMatch": "*"}
        extra = {"ContentType": content_type} if content_type else {}
        try:
            written = self.s3.put_object(
                Bucket=self.bucket, Key=self._object_key(key), Body=data, **condition, **extra
            )
        except self.s3.exceptions.ClientError as error:
            if error_code(error) in (*_PRECONDITION_FAILED, *_IN_FLIGHT):
                raise ConcurrentWriteError(f"{key!r} changed since it was read") from None
            raise
        return written["ETag"]

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"].read()
        except self.s3.exceptions.ClientError as error:
            if self._is_missing(error):
                raise ArtifactNotFoundError(
                    f"no artifact under key {key!r} in s3://{self.bucket}/{self.prefix}"
                ) from None
            raise

    def get_file(self, key: str, path: str | os.PathLike) -> Path:
        destination = Path(path)
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(f".{destination.name}.tmp")
        try:
            self.s3.download_file(self.bucket, self._object_key(key), str(tmp))
        except self.s3.exceptions.ClientError as error:
            tmp.unlink(missing_ok=True)
            if self._is_missing(error):
                raise ArtifactNotFoundError(
                    f"no artifact under key {key!r} in s3://{self.bucket}/{self.prefix}"
                ) from None
            raise
        os.replace(tmp, destination)
        return destination

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except self.s3.exceptions.ClientError as error:
            if self._is_missing(error):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise ArtifactNotFoundError(
                f"no artifact under key {key!r} in s3://{self.bucket}/{self.prefix}"
            )
        return int(head["ContentLength"])

    def list_keys(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        base = self.prefix.strip("/")
        full_prefix = f"{base}/{prefix}" if base else prefix
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=full_prefix
        ):
            keys.extend(self._strip(item["Key"]) for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def download_origin(self) -> str | None:
        # where a published model file's presigned URL points (nothing is fetched)
        url = urllib.parse.urlsplit(
            self.download_url(deployed_file("any-model", 1, "model.onnx"), 60)
        )
        return f"{url.scheme}://{url.netloc}"

    def download_url(self, key: str, expires_in_s: int | None = None) -> str:
        return self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._object_key(key)},
            ExpiresIn=expires_in_s or self.url_expiry_s,
        )
