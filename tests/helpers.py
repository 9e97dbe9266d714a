"""Plain helpers the tests import (fixtures stay in the conftest files)."""

import uuid


def unique_name(stem: str) -> str:
    """A name no other test (or earlier run against the same moto server) uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def write_behind_the_store(store, key: str, data: bytes) -> None:
    """Replace an artifact the way someone with the disk or the bucket could, not through the
    store (which refuses to rewrite a model file): what publishing must still catch."""
    from pathlib import Path

    if hasattr(store, "root"):
        Path(store.root, key).write_bytes(data)
    else:
        store.s3.put_object(Bucket=store.bucket, Key=store._object_key(key), Body=data)
