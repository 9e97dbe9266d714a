"""The review queue of shared images, and `edgeline images review|accept|reject`: a suggested
label is only a suggestion, a new class needs the reviewer's word, and every decision is kept."""

import numpy as np
import pytest

from assets.vision.review import (
    ReviewError,
    accept_images,
    pending_images,
    reject_images,
    requeue_unreviewed,
)
from orchestration.cli import main
from resources.environment import local_resources
from tests.vision.conftest import colour_image, write_colour_images


def queue(store, name: str, label: str | None, uploader: str = "web-1") -> str:
    key = f"incoming/images/2026-12-01/{uploader}/{name}.png"
    store.put_bytes(key, colour_image((9, 9, 9), np.random.default_rng(len(name))))
    store.put_json(key + ".json", {"label": label, "device_id": uploader, "bytes": 10})
    return key


def test_accept_and_reject_move_images_out_of_the_queue_and_keep_the_decision(colour_store):
    rose, cat, unlabelled = (
        queue(colour_store, "a", "red"),
        queue(colour_store, "b", "cat"),
        queue(colour_store, "c", None),
    )
    assert [p.key for p in pending_images(colour_store)] == [rose, cat, unlabelled]
    with pytest.raises(ReviewError, match="'cat' is not a class of image-classifier yet"):
        accept_images(colour_store, [rose, cat], "qa")
    with pytest.raises(ReviewError, match="came without a label"):
        accept_images(colour_store, [unlabelled], "qa")
    with pytest.raises(ReviewError, match=r"not in the review queue: incoming/images/x\.png"):
        accept_images(colour_store, ["incoming/images/x.png"], "qa")
    assert len(pending_images(colour_store)) == 3  # a refused decision changes nothing
    assert accept_images(colour_store, [rose], "qa") == [
        "raw/images/image-classifier/red/reviewed-a.png"
    ]
    assert accept_images(colour_store, [cat], "qa", new_class=True) == [
        "raw/images/image-classifier/cat/reviewed-b.png"
    ]
    with pytest.raises(ReviewError, match="needs a reason"):
        reject_images(colour_store, [unlabelled], "qa", " ")
    assert reject_images(colour_store, [unlabelled], "qa", "not a colour") == 1
    assert pending_images(colour_store) == []
    reviews = colour_store.list_keys("reviews/images/")
    assert len(reviews) == 3
    decisions = {colour_store.get_json(k)["image_key"]: colour_store.get_json(k) for k in reviews}
    assert decisions[cat]["decision"] == "accepted" and decisions[cat]["label"] == "cat"
    assert decisions[unlabelled] | {"at": None} == {
        "decision": "rejected",
        "image_key": unlabelled,
        "suggested_label": None,
        "uploader": "web-1",
        "by": "qa",
        "at": None,
        "reason": "not a colour",
    }
    assert colour_store.list_keys("incoming/") == []  # the rejected bytes are gone


def test_images_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGELINE_ENV", "local")
    monkeypatch.setenv("EDGELINE_HOME", str(tmp_path))
    store = local_resources(tmp_path)["artifacts"]
    write_colour_images(store, per_class=2)
    keys = [queue(store, f"x{i}", "flood") for i in range(3)]
    assert main(["images", "review"]) == 0
    out = capsys.readouterr().out
    assert "3 shared images wait for review; by suggested label: {'flood': 3}" in out
    assert "classes of image-classifier now: blue, green, red" in out
    assert main(["images", "accept", "--suggested", "flood"]) == 2
    assert "'flood' is not a class of image-classifier yet" in capsys.readouterr().out
    assert main(["images", "accept", keys[0], "--label", "blue", "--by", "ana"]) == 0
    assert store.exists("raw/images/image-classifier/blue/reviewed-x0.png")
    assert main(["images", "reject", "--suggested", "flood"]) == 2  # no reason
    assert main(["images", "reject", "--suggested", "flood", "--reason", "spam"]) == 0
    assert "rejected 2 images" in capsys.readouterr().out
    assert pending_images(store) == []


def test_images_adopted_unreviewed_by_an_earlier_edgeline_go_back_to_the_queue(colour_store):
    """Before the queue, raw_images copied labelled uploads into raw/images/image-classifier/<label>/shared-*
    by itself; after an upgrade none of them may keep training."""
    waiting = queue(colour_store, "still-queued", "red")  # the copy's original still waits
    colour_store.put_bytes(
        "raw/images/image-classifier/red/shared-still-queued.png", colour_store.get_bytes(waiting)
    )
    colour_store.put_bytes(
        "raw/images/image-classifier/hacked-class/shared-gone.png", b"\x89PNG..."
    )
    colour_store.put_bytes("raw/images/image-classifier/red/reviewed-ok.png", b"\x89PNG...")
    assert requeue_unreviewed(colour_store, "image-classifier") == 2
    assert not colour_store.list_keys("raw/images/image-classifier/hacked-class/")
    assert not colour_store.exists("raw/images/image-classifier/red/shared-still-queued.png")
    assert colour_store.exists(
        "raw/images/image-classifier/red/reviewed-ok.png"
    )  # a person accepted that one
    pending = {p.key.rsplit("/", 1)[1]: p for p in pending_images(colour_store)}
    assert set(pending) == {"still-queued.png", "gone.png"}
    assert pending["gone.png"].suggested_label == "hacked-class"
    assert pending["gone.png"].uploader is None
    assert requeue_unreviewed(colour_store, "image-classifier") == 0
