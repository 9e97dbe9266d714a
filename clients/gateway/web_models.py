"""Which image models web pages may open: the configured ones, else every image model published
on the page's channel (and the default). A page opens one at /m/<model>; / lists them when
there is more than one. The answer is kept a few seconds: manifests are read to know a
model's task, and every web call asks."""

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from clients.gateway.manifests import ManifestMismatchError, PublishedManifests
from clients.gateway.settings import GatewaySettings
from resources import layout
from resources.artifacts import ArtifactStore
from resources.errors import ArtifactNotFoundError

IMAGE_TASK = "image-classification"
log = logging.getLogger("edgeline.gateway")


def published_web_model(
    artifacts: ArtifactStore, manifests: PublishedManifests, model: str, channel: str
) -> dict[str, Any] | None:
    """What a page needs to choose ``model`` (version, classes, download size), if an image
    model's version is published on ``channel``."""
    try:
        pointer = artifacts.get_json(layout.channel(model, channel))
        if not pointer.get("version"):
            return None
        manifest = manifests.read(pointer["manifest_key"], pointer.get("manifest_sha256"))
    except ArtifactNotFoundError:
        return None
    except ManifestMismatchError as refused:
        log.error("not listing %s for web pages: %s", model, refused)
        return None
    if manifest.get("task") != IMAGE_TASK:
        return None
    wasm = manifest.get("recommended", {}).get("web-wasm", "fp32")
    variant = next((v for v in manifest["variants"] if v["precision"] == wasm), None)
    encoding = manifest.get("recommended_encoding", {}).get("web-wasm")
    compact = next(
        (c for c in (variant or {}).get("compact", []) if c["encoding"] == encoding), None
    )
    return {
        "model": model,
        "version": manifest["version"],
        "labels": manifest.get("labels", []),
        "bytes": (compact or variant or {}).get("bytes"),  # what a page downloads
        "page": f"/m/{model}",
    }


@dataclass
class WebModels:
    """The served image models, read at most every ``ttl_s`` seconds."""

    settings: GatewaySettings
    artifacts: ArtifactStore
    manifests: PublishedManifests
    ttl_s: float = 5.0
    _read_at: float = -1e9
    _models: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def candidates(self) -> set[str]:
        if self.settings.web_models:
            return {*self.settings.web_models, self.settings.web_model}
        published = {
            found[0]
            for key in self.artifacts.list_keys(layout.DEPLOY)
            if (found := layout.parse_channel(key)) and found[1] == self.settings.web_channel
        }
        return published | {self.settings.web_model}

    def listed(self) -> list[dict[str, Any]]:
        """Each served model that has a published version, by name."""
        with self._lock:
            if time.monotonic() - self._read_at > self.ttl_s:
                found = (
                    published_web_model(
                        self.artifacts, self.manifests, name, self.settings.web_channel
                    )
                    for name in sorted(self.candidates())
                )
                self._models = [m for m in found if m is not None]
                self._read_at = time.monotonic()
            return list(self._models)

    def serves(self, model: str) -> bool:
        """Whether a page may open ``model`` (the default always: it may not be published yet)."""
        if model == self.settings.web_model or model in self.settings.web_models:
            return True
        return any(m["model"] == model for m in self.listed())
