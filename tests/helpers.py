"""Plain helpers the tests import (fixtures stay in the conftest files)."""

import uuid

import boto3


def unique_name(stem: str) -> str:
    """A name no other test (or earlier run against the same moto server) uses."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def alter_behind_the_store(store, key: str, data: bytes | None) -> None:
    """Replace (or, with None, delete) an artifact the way someone with the disk or other rights
    on the bucket could, not through the store and its policy (which refuse to rewrite or delete
    a model file): what publishing and registration must still catch."""
    from pathlib import Path

    if hasattr(store, "root"):
        path = Path(store.root, key)
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        return
    s3 = boto3.client("s3")  # not the store's client: not Edgeline's call, not its policy's
    if data is None:
        s3.delete_object(Bucket=store.bucket, Key=store._object_key(key))
    else:
        s3.put_object(Bucket=store.bucket, Key=store._object_key(key), Body=data)
