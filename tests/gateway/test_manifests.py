"""The gateway reads a published manifest once per version (the pointer names it by sha256),
sees a revocation at the next poll all the same, and refuses a manifest changed after
publication rather than serve it under the pointer's ETag."""

import httpx

from assets.deployment.planning import decide_version
from clients.gateway.manifests import ManifestMismatchError, PublishedManifests
from resources import LocalArtifactStore, SqliteModelRegistry, layout
from resources.artifacts import json_bytes
from tests.gateway.conftest import TOKEN
from tests.helpers import alter_behind_the_store
from tests.pi.test_agent import MODEL, register_and_publish


class CountedReads:
    """A store's reads, recorded: what PublishedManifests asks of it."""

    def __init__(self, store) -> None:
        self.store, self.reads = store, []

    def get_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return self.store.get_bytes(key)

    def get_json(self, key: str):
        self.reads.append(key)
        return self.store.get_json(key)


def test_a_published_manifest_is_read_once_per_version(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    counted = CountedReads(store)
    manifests = PublishedManifests(counted, capacity=1)
    register_and_publish(store, registry, threshold=9.0)
    pointer = store.get_json(layout.channel(MODEL))
    first = manifests.read(pointer["manifest_key"], pointer["manifest_sha256"])
    first["variants"].clear()  # a caller's copy: changing it changes nothing kept
    again = manifests.read(pointer["manifest_key"], pointer["manifest_sha256"])
    assert again == store.get_json(pointer["manifest_key"]) and again["variants"]
    assert counted.reads == [pointer["manifest_key"]]

    register_and_publish(store, registry, threshold=9.0)  # v2: a new key and sha256
    newer = store.get_json(layout.channel(MODEL))
    assert manifests.read(newer["manifest_key"], newer["manifest_sha256"])["version"] == 2
    # capacity 1: v1's was let go, and is read (and checked) again when asked for
    manifests.read(pointer["manifest_key"], pointer["manifest_sha256"])
    assert counted.reads == [
        pointer["manifest_key"],
        newer["manifest_key"],
        pointer["manifest_key"],
    ]
    # a pointer from before sha256s were recorded: read each time, as it was
    manifests.read(pointer["manifest_key"], None)
    assert len(counted.reads) == 4
    # resized to nothing, as the bench measures it: what was kept goes, and each poll reads
    manifests.resize(0)
    for _ in range(2):
        manifests.read(pointer["manifest_key"], pointer["manifest_sha256"])
    assert counted.reads[4:] == [pointer["manifest_key"]] * 2


def test_a_manifest_changed_after_publication_is_refused(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    register_and_publish(store, registry, threshold=9.0)
    pointer = store.get_json(layout.channel(MODEL))
    altered = {**store.get_json(pointer["manifest_key"]), "min_client_version": "0.0.1"}
    alter_behind_the_store(store, pointer["manifest_key"], json_bytes(altered))
    try:
        PublishedManifests(store).read(pointer["manifest_key"], pointer["manifest_sha256"])
    except ManifestMismatchError as refused:
        assert pointer["manifest_key"] in str(refused) and "changed after publication" in str(
            refused
        )
    else:
        raise AssertionError("an altered manifest was read as the published one")


def test_polls_see_a_revocation_at_once_and_never_an_altered_manifest(gateway, tmp_path):
    url, store, _ = gateway
    registry = SqliteModelRegistry(path=str(tmp_path / "registry.sqlite"))
    v1 = register_and_publish(store, registry, threshold=9.0)
    v2 = register_and_publish(store, registry, threshold=9.0)
    device = {"Authorization": f"Bearer {TOKEN}"}
    channel = f"{url}/v1/models/{MODEL}/channels/stable"
    for _ in range(3):  # v2's manifest is kept after the first of these
        polled = httpx.get(channel, headers=device)
        assert polled.status_code == 200 and polled.json()["version"] == v2
    decide_version(registry, store, MODEL, v2, "reject", "flags too much", "qa")
    back = httpx.get(channel, headers=device)
    assert back.status_code == 200 and back.json()["version"] == v1  # the pointer is read afresh
    assert back.headers["ETag"] == f'"{store.get_json(layout.channel(MODEL))["manifest_sha256"]}"'

    # v3, changed behind the store once published and before any poll: refused, by name
    v3 = register_and_publish(store, registry, threshold=9.0)
    key = layout.manifest(MODEL, v3)
    alter_behind_the_store(store, key, json_bytes({**store.get_json(key), "window": 1}))
    refused = httpx.get(channel, headers=device)
    assert refused.status_code == 502, refused.text
    assert key in refused.json()["detail"] and "changed after publication" in refused.text
