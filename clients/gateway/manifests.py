"""Published manifests as the gateway serves them: read from the store once per version.

A manifest is written once, when its version is published, and the channel pointer (or a
rollout's candidate) names it with its sha256. Every poll still reads the pointer and the rollout
afresh, so a revocation or a rollout step is seen at once; the manifest they name is kept by
that sha256 after its first read, which saves a fleet's polls one store read each. The bytes read
must hash to the sha256 named: a manifest changed behind the pointer's back is refused, not
served under an ETag that says otherwise.
"""

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from resources.artifacts import ArtifactStore


class ManifestMismatchError(RuntimeError):
    """The stored manifest is not the one its channel pointer (or rollout) names."""


@dataclass
class PublishedManifests:
    """The manifests polls asked for, newest ``capacity`` kept (a few KB each), by key and
    sha256; safe to share between the gateway's threads."""

    artifacts: ArtifactStore
    capacity: int = 256
    _kept: "OrderedDict[tuple[str, str], bytes]" = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def resize(self, capacity: int) -> None:
        """Keep at most ``capacity`` manifests from now on (0: read every poll's afresh)."""
        with self._lock:
            self.capacity = capacity
            self._trim()

    def _trim(self) -> None:
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)

    def read(self, key: str, sha256: str | None) -> dict[str, Any]:
        """A fresh copy of the manifest at ``key`` that hashes to ``sha256``; one named without
        a sha256 (pointers written before it was recorded) is read each time, unchecked.
        Raises ArtifactNotFoundError for a missing one, ManifestMismatchError for another."""
        if sha256 is None:
            return self.artifacts.get_json(key)
        with self._lock:
            data = self._kept.get((key, sha256))
            if data is not None:
                self._kept.move_to_end((key, sha256))
        if data is None:
            data = self.artifacts.get_bytes(key)
            found = hashlib.sha256(data).hexdigest()
            if found != sha256:
                raise ManifestMismatchError(
                    f"{key} has sha256 {found[:12]}..., not the {sha256[:12]}... its channel "
                    "names: it was changed after publication"
                )
            with self._lock:
                self._kept[(key, sha256)] = data
                self._trim()
        return json.loads(data)
