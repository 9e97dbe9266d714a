"""Publishing an approved model version for the clients: files, manifest, device job, channel.

Layout in the artifact store (the bucket on aws):
    deploy/<model>/<version>/<files>        immutable once written, sha256-checked
    deploy/<model>/<version>/manifest.json  written after every file it names
    deploy/<model>/<version>/iot-job.json   the device job document (Pi fleets)
    deploy/<model>/<channel>.json           the pointer clients poll, moved last, by compare-and-swap
"""

import hashlib
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from assets.deployment.rollout import held_candidate
from edgeline_contract.manifest import MANIFEST_SCHEMA, MIN_CLIENT_VERSION, manifest_problems
from resources import layout
from resources.artifacts import ArtifactStore, json_bytes
from resources.errors import ArtifactNotFoundError, ConcurrentWriteError, EdgelineError
from resources.registry import APPROVED, ModelRegistry

POINTER_SCHEMA = "edgeline.channel/1"
# Which backends run each task's model. Each one ranks the variants by what was measured on it:
# the Pi runs onnxruntime's CPU provider, the same one the pipeline times, so it takes the fastest
# measured variant. In the browser, bench/web.py timed onnxruntime-web 1.30's wasm backend in
# Chromium with the page's own session options (bare session.run p50 against fp32 at 1 thread,
# five runs on a 2-core x86): fp16 1.34-1.49x slower at 224 px (1.28-1.38x on the demo's 64 px
# model), int8 1.18-1.32x (0.99-1.05x). Neither beat fp32, so wasm prefers fp32. WebGPU computes
# in fp16 on the GPU and downloads half the bytes (not measured here: headless Chromium has only
# a software adapter).
BACKENDS = {"image-classification": ("web-wasm", "web-webgpu"), "anomaly-detection": ("pi",)}
WEB_PREFERENCE = {"web-wasm": ("fp32", "fp16"), "web-webgpu": ("fp16", "fp32")}
# Backends that download a variant's compact weights (assets/conversion/compact.py) where it
# has some that passed their gate, and expand them before running: the page's wasm runs the
# expanded fp32 model at fp32's speed (bench/web.py) from about a third of its bytes. WebGPU
# gets the fp16 file, already half; the Pi keeps the plain file.
COMPACT_BACKENDS = ("web-wasm",)


class PublishError(EdgelineError, RuntimeError):
    """A version that must not be published as it stands (not approved, files missing or altered)."""


@dataclass(frozen=True)
class PublishResult:
    model: str
    version: int
    manifest_key: str
    copied: tuple[str, ...]  # keys written by this call (empty when it was already published)
    channel_from: int | None
    channel_to: int | None


def recommended_variant(variants: list[dict[str, Any]], backend: str = "cpu") -> str:
    """The variant ``backend`` should download, among those that passed their gate (compact
    weights are a way to download a variant, not one: ``recommended_encoding``)."""
    passed = [
        v for v in variants if v.get("gate", {}).get("passed", False) and not v.get("expands_to")
    ]
    if not passed:
        raise PublishError("no variant passed its gate: nothing to recommend")
    if backend in WEB_PREFERENCE:
        names = {v["precision"] for v in passed}
        preferred = [p for p in WEB_PREFERENCE[backend] if p in names]
        if preferred:
            return preferred[0]
    return min(passed, key=lambda v: v["latency"]["threads_1"]["p50_ms"])["precision"]


def build_manifest(
    model: str, version: int, card: dict[str, Any], created: datetime
) -> dict[str, Any]:
    """The versioned document a client reads to pick, download and check a model file.

    Deterministic: the same version always gives the same bytes (``created`` is the version's
    registration time, not the publish time), so publishing twice, or twice at once, leaves the
    channel's hash matching the manifest. It carries what clients need; the lineage (run ids,
    weights, commits) stays in the registry's card.
    """
    task = card["task"]
    plain = [v for v in card["variants"] if not v.get("expands_to")]
    variants = [
        {
            "precision": v["precision"],
            "file": PurePosixPath(v["key"]).name,
            "key": layout.deployed_file(model, version, PurePosixPath(v["key"]).name),
            "sha256": v["sha256"],
            "bytes": v["bytes"],
            "input": {k: v["input_spec"][k] for k in ("name", "shape", "dtype")},
            "outputs": v["outputs"],
            "latency_ms": {threads: t["p50_ms"] for threads, t in v["latency"].items()},
            "gate_passed": bool(v.get("gate", {}).get("passed", False)),
        }
        for v in plain
    ]
    for compact in (v for v in card["variants"] if v.get("expands_to")):
        expands_to = compact["expands_to"]
        entry = next(e for e in variants if e["precision"] == expands_to["precision"])
        entry.setdefault("compact", []).append(
            {
                "encoding": expands_to["encoding"],
                "file": PurePosixPath(compact["key"]).name,
                "key": layout.deployed_file(model, version, PurePosixPath(compact["key"]).name),
                "sha256": compact["sha256"],
                "bytes": compact["bytes"],
                "expanded_sha256": expands_to["sha256"],
                "gate_passed": bool(compact.get("gate", {}).get("passed", False)),
            }
        )
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "model": model,
        "version": version,
        "created": created.astimezone(UTC).isoformat(),
        "task": task["kind"],
        "variants": variants,
        "recommended": {
            backend: recommended_variant(card["variants"], backend)
            for backend in BACKENDS.get(task["kind"], ("cpu",))
        },
        "preprocessing": card["variants"][0]["input_spec"].get("description", ""),
        "min_client_version": MIN_CLIENT_VERSION,
    }
    encodings = {}
    for backend in COMPACT_BACKENDS:
        precision = manifest["recommended"].get(backend)
        entry = next((e for e in variants if e["precision"] == precision), {})
        passed = [c for c in entry.get("compact", []) if c["gate_passed"]]
        if passed:
            encodings[backend] = passed[0]["encoding"]
    if encodings:
        manifest["recommended_encoding"] = encodings
    if "labels" in task:
        manifest["labels"] = task["labels"]
    baseline = card.get("baseline") or {}
    if "unsure_below" in baseline:  # chosen on the validation set (a card from before: none)
        manifest["unsure_below"] = baseline["unsure_below"]
    if "threshold" in task:
        manifest["threshold"] = task["threshold"]
        manifest["signals"] = task["signals"]
        manifest["window"] = task["window"]
        if "profile" in task:  # units, valid ranges and the interval: what a device must send
            manifest["profile"] = task["profile"]
    problems = manifest_problems(manifest)
    if problems:  # no client could read it: a bug here or a card the contract does not cover
        named = "; ".join(f"{field} {message}" for field, message in problems[:5])
        raise PublishError(f"{model} v{version}: the manifest breaks {MANIFEST_SCHEMA}: {named}")
    return manifest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def publish_model_version(
    store: ArtifactStore, registry: ModelRegistry, model: str, version: int, channel: str = "stable"
) -> PublishResult:
    """Copy and verify every variant, write manifest and device job, then move the channel.

    Publishing a version that is already published writes nothing but may move the channel,
    once its manifest is shown to hold this registered version's files: a registry whose
    numbering started again on the same store (a new group prefix, a group deleted and made
    again) must not send clients another model's files under a reused version number.
    """
    described = registry.describe_version(model, version)
    if described.status != APPROVED:
        raise PublishError(
            f"{model} v{version} is {described.status}, not Approved: not publishing"
        )
    manifest_key = layout.manifest(model, version)
    copied: list[str] = []
    card = registry.get_model_card(model, version)
    existing = store.find_json(manifest_key)
    if existing is not None:
        _check_published_files(existing, card, model, version)
    else:
        manifest = build_manifest(model, version, card, described.created_at)
        published = _manifest_files(manifest)
        for source in card["variants"]:
            try:
                data = store.get_bytes(source["key"])
            except ArtifactNotFoundError:
                raise PublishError(
                    f"{model} v{version}: variant file {source['key']} is missing"
                ) from None
            if _sha256(data) != source["sha256"] or len(data) != source["bytes"]:
                raise PublishError(
                    f"{model} v{version}: {source['key']} does not match the registered sha256 "
                    f"{source['sha256'][:12]}...; refusing to publish an altered file"
                )
            key = published[source["sha256"]]
            store.put_bytes(key, data, content_type="application/octet-stream")
            copied.append(key)
        if "labels" in manifest:
            store.put_json(layout.labels(model, version), manifest["labels"])
            copied.append(layout.labels(model, version))
        if "pi" in manifest["recommended"]:
            store.put_json(
                layout.device_job(model, version), iot_job_document(manifest, manifest_key)
            )
            copied.append(layout.device_job(model, version))
        store.put_json(manifest_key, manifest)
        copied.append(manifest_key)
    before, after = update_channel(store, registry, model, channel)
    return PublishResult(model, version, manifest_key, tuple(copied), before, after)


def _manifest_files(manifest: dict[str, Any]) -> dict[str, str]:
    """Every file a manifest names, variants and their compact encodings: sha256 -> key."""
    return {
        entry["sha256"]: entry["key"]
        for variant in manifest.get("variants", [])
        for entry in (variant, *variant.get("compact", []))
    }


def _check_published_files(
    manifest: dict[str, Any], card: dict[str, Any], model: str, version: int
) -> None:
    registered = {variant["sha256"] for variant in card["variants"]}
    if set(_manifest_files(manifest)) != registered:
        raise PublishError(
            f"{model} v{version}: {layout.manifest(model, version)} already holds other files "
            "than this registered version's: the registry numbers versions again from one on "
            "this store (a changed EDGELINE_SAGEMAKER_GROUP_PREFIX, or a model group deleted and "
            "made again); refusing to serve another model's files under v"
            f"{version}"
        )


def iot_job_document(manifest: dict[str, Any], manifest_key: str) -> dict[str, Any]:
    """What each Pi is told to do: fetch this manifest, check it, switch to the model."""
    return {
        "operation": "edgeline.update-model",
        "model": manifest["model"],
        "version": manifest["version"],
        "manifest_key": manifest_key,
        "variant": manifest["recommended"].get("pi"),
        "min_client_version": manifest["min_client_version"],
    }


def read_channel(
    store: ArtifactStore, model: str, channel: str = "stable"
) -> dict[str, Any] | None:
    return store.find_json(layout.channel(model, channel))


def _channel_target(store: ArtifactStore, registry: ModelRegistry, model: str) -> int | None:
    """The newest version that is approved now and fully published (its manifest written), and
    not held back by a running rollout (its canary share gets it; everyone, once promoted)."""
    held = held_candidate(store, model)
    approved = sorted((v.version for v in registry.list_versions(model, APPROVED)), reverse=True)
    return next(
        (v for v in approved if v != held and store.exists(layout.manifest(model, v))),
        None,
    )


class ChannelContentionError(PublishError):
    """The channel kept changing under this writer: it never won a compare-and-swap."""


CHANNEL_ATTEMPTS = 50


def update_channel(
    store: ArtifactStore, registry: ModelRegistry, model: str, channel: str = "stable"
) -> tuple[int | None, int | None]:
    """Point the channel at the newest version that is approved now and fully published.

    Called after a publication and after a rejection; when nothing qualifies the pointer says
    so (version null) rather than keep naming a revoked version. The pointer moves by
    compare-and-swap (its generation counts the moves), and the writer that won reads the
    registry again: a decision made while it wrote sends it round once more, so the registry's
    last decision always wins, whoever writes last. Returns (from, to).
    """
    key = layout.channel(model, channel)
    first: int | None = None
    for attempt in range(CHANNEL_ATTEMPTS):
        read = store.read_tagged(key)
        current = json.loads(read[0]) if read else None
        before = current.get("version") if current else None
        first = before if attempt == 0 else first
        target = _channel_target(store, registry, model)
        if current is not None and before == target:
            return first, target
        pointer: dict[str, Any] = {
            "schema": POINTER_SCHEMA,
            "model": model,
            "channel": channel,
            "version": target,
            "generation": int(current.get("generation", 0) if current else 0) + 1,
            "updated": datetime.now(UTC).isoformat(),
            "previous_version": before,
        }
        if target is not None:
            manifest_key = layout.manifest(model, target)
            pointer["manifest_key"] = manifest_key
            pointer["manifest_sha256"] = _sha256(store.get_bytes(manifest_key))
        try:
            store.compare_and_swap(
                key, json_bytes(pointer), read[1] if read else None, "application/json"
            )
        except ConcurrentWriteError:
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another writer moved it
            continue
        if _channel_target(store, registry, model) == target:
            return first, target
    raise ChannelContentionError(
        f"{model}: the {channel} channel changed under every one of {CHANNEL_ATTEMPTS} attempts"
    )
