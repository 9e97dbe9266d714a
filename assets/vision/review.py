"""Images that web users and devices shared: a queue a person reviews before any of it trains.

Nothing a client sends enters a training set by itself: an upload waits under
``incoming/images/<day>/<uploader>/`` with the label its sender suggested and the model it was
shared for, and only a person's decision (``edgeline images accept|reject``, or the
``review_shared_images`` job) moves it into ``raw/images/<model>/<label>/reviewed-<name>`` or
removes it. A new class starts only when the
reviewer says so (``new_class``), so no number of uploads with a made-up label can add one.
Each decision is kept under ``reviews/images/<day>/``.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

from assets.catalog import SINGLE_IMAGE_MODEL
from assets.vision.dataset import IMAGE_SUFFIXES, safe_name
from resources import layout
from resources.artifacts import ArtifactStore
from resources.errors import EdgelineError

ACCEPTED = "reviewed-"  # the name of an accepted image in raw/images/<label>/
ADOPTED_UNREVIEWED = "shared-"  # what Edgeline before the review queue copied there by itself


class ReviewError(EdgelineError, ValueError):
    """A review decision that cannot be applied; the message says why (nothing was changed)."""


@dataclass(frozen=True)
class SharedImage:
    key: str
    suggested_label: str | None
    uploader: str | None
    day: str
    bytes: int
    model: str = SINGLE_IMAGE_MODEL  # the model it was shared for (uploads before: the one)


def _image_keys(store: ArtifactStore, prefix: str) -> list[str]:
    return [k for k in store.list_keys(prefix) if PurePosixPath(k).suffix.lower() in IMAGE_SUFFIXES]


def pending_images(store: ArtifactStore) -> list[SharedImage]:
    """Every shared image waiting for a decision, oldest day first."""
    pending = []
    for key in _image_keys(store, layout.INCOMING_IMAGES):
        sidecar_key = layout.image_sidecar(key)
        sidecar = store.get_json(sidecar_key) if store.exists(sidecar_key) else {}
        pending.append(
            SharedImage(
                key=key,
                suggested_label=sidecar.get("label") or None,
                uploader=sidecar.get("device_id"),
                day=layout.parse_incoming_image(key)[0],
                bytes=int(sidecar.get("bytes") or store.size(key)),
                model=sidecar.get("model") or SINGLE_IMAGE_MODEL,
            )
        )
    return pending


def count_pending(store: ArtifactStore) -> int:
    """How many images wait (from one listing: no image is read)."""
    return len(_image_keys(store, layout.INCOMING_IMAGES))


def suggested_labels(pending: list[SharedImage]) -> dict[str, int]:
    """Waiting images by the label their senders suggested ("-" for none), most first."""
    return dict(Counter(p.suggested_label or "-" for p in pending).most_common())


def requeue_unreviewed(store: ArtifactStore, model: str) -> int:
    """Put back in the queue what an earlier Edgeline adopted into ``model``'s images unreviewed
    (``shared-<name>``): after an upgrade too, nothing trains that no person accepted. Where the
    upload still waits in the queue, the copy is simply removed. Returns how many."""
    waiting = {PurePosixPath(k).name for k in _image_keys(store, layout.INCOMING_IMAGES)}
    today = datetime.now(UTC).date()
    requeued = 0
    tree = layout.model_images(model)
    for key in _image_keys(store, tree):
        found = layout.parse_labelled_image(tree, key)
        if not found or not found[1].startswith(ADOPTED_UNREVIEWED):
            continue
        label, name = found
        original = name[len(ADOPTED_UNREVIEWED) :]
        if original not in waiting:
            target = layout.incoming_image(today, "adopted-unreviewed", original)
            store.put_bytes(target, store.get_bytes(key))
            store.put_json(
                layout.image_sidecar(target),
                {"label": label, "device_id": None, "bytes": store.size(key), "model": model},
            )
        store.delete(key)
        requeued += 1
    return requeued


def classes(store: ArtifactStore, model: str) -> set[str]:
    """The labels ``model``'s images hold (a user's folders and accepted images)."""
    tree = layout.model_images(model)
    return {
        parsed[0]
        for parsed in (layout.parse_labelled_image(tree, k) for k in store.list_keys(tree))
        if parsed
    }


def _queued(store: ArtifactStore, keys: list[str]) -> dict[str, SharedImage]:
    if not keys:
        raise ReviewError("name at least one image (its key, as `edgeline images review` lists)")
    queue = {image.key: image for image in pending_images(store)}
    unknown = [k for k in keys if k not in queue]
    if unknown:
        raise ReviewError(
            f"not in the review queue: {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"
        )
    return {k: queue[k] for k in keys}


def _decided(
    store: ArtifactStore, image: SharedImage, decision: str, by: str, **details: str | None
) -> None:
    """Keep the decision, then take the image out of the queue."""
    now = datetime.now(UTC)
    name = PurePosixPath(image.key).name
    store.put_json(
        layout.image_review(now.date(), name),
        {
            "decision": decision,
            "image_key": image.key,
            "suggested_label": image.suggested_label,
            "uploader": image.uploader,
            "by": by,
            "at": now.isoformat(),
            **details,
        },
    )
    store.delete(layout.image_sidecar(image.key))
    store.delete(image.key)


def _check_by(by: str) -> str:
    if not by.strip():
        raise ReviewError("a review decision needs a non-blank 'by'")
    return by.strip()


def accept_images(
    store: ArtifactStore,
    keys: list[str],
    by: str,
    label: str | None = None,
    new_class: bool = False,
) -> list[str]:
    """Move the named images into ``raw/images/<model>/<label>/`` (the model each was shared
    for; ``label``, else each one's suggested label); a label that is not a class of that model
    yet needs ``new_class``. Returns where each went."""
    by = _check_by(by)
    images = _queued(store, keys)
    known = {model: classes(store, model) for model in {i.model for i in images.values()}}
    targets = {}
    for key, image in images.items():
        chosen = label or image.suggested_label
        if not chosen:
            raise ReviewError(f"{key} came without a label: accept it with --label")
        chosen = safe_name(chosen.strip()).strip("-.")
        if not chosen:
            raise ReviewError(f"{key}: the label has no letters or digits")
        if chosen not in known[image.model] and not new_class:
            raise ReviewError(
                f"{key}: {chosen!r} is not a class of {image.model} yet (classes: "
                f"{', '.join(sorted(known[image.model])) or 'none'}); pass --new-class to start "
                "it, or --label to file it under another"
            )
        targets[key] = (
            chosen,
            layout.model_image(image.model, chosen, ACCEPTED + PurePosixPath(key).name),
        )
    for key, image in images.items():
        label_of, target = targets[key]
        store.put_bytes(target, store.get_bytes(key))
        _decided(store, image, "accepted", by, label=label_of, target=target, model=image.model)
    return [targets[key][1] for key in keys]


def reject_images(store: ArtifactStore, keys: list[str], by: str, reason: str) -> int:
    """Remove the named images from the queue (their bytes are deleted; the decision kept)."""
    by = _check_by(by)
    if not reason.strip():
        raise ReviewError("a rejection needs a reason")
    images = _queued(store, keys)
    for image in images.values():
        _decided(store, image, "rejected", by, reason=reason.strip())
    return len(images)
