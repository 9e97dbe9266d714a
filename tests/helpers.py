"""Plain helpers the tests import (fixtures stay in the conftest files)."""

import hashlib
import uuid
from collections.abc import Callable

import boto3

from resources import layout
from resources.artifacts import json_bytes


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


def alter_published_manifest(
    store, model: str, alter: Callable[[bytes], bytes], channel: str = "stable"
) -> None:
    """Rewrite the manifest ``channel`` names, behind the store, and the sha256 its pointer
    records with it: what a platform publishing that manifest would leave (the gateway serves a
    manifest only when it hashes to the sha256 its pointer records)."""
    pointer_key = layout.channel(model, channel)
    pointer = store.get_json(pointer_key)
    data = alter(store.get_bytes(pointer["manifest_key"]))
    alter_behind_the_store(store, pointer["manifest_key"], data)
    pointer["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    alter_behind_the_store(store, pointer_key, json_bytes(pointer))


def dismiss_dagster_dialogs(page) -> None:
    """Click Dagster UI's welcome dialog away whenever it shows, before any action: it comes a
    moment after a page loads, and its backdrop takes every click while it is open."""
    page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
