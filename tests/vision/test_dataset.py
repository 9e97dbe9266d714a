"""Image folder checks, hash-keyed splits, demo data and folder ingestion."""

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from assets.vision.dataset import (
    DecodedImages,
    assign_split,
    build_image_dataset,
    fit_square,
    ingest_image_folder,
    load_pixels,
)
from assets.vision.demo_data import SHAPES, generate_demo_images
from resources import LocalArtifactStore
from tests.vision.conftest import PREFIX, declared_size_png, write_colour_images


def _png(size=(40, 40), colour=(10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_corrupt_and_non_image_files_are_skipped_and_reported(colour_store):
    good = _png()
    colour_store.put_bytes("raw/images/image-classifier/red/truncated.png", good[: len(good) // 2])
    colour_store.put_bytes(
        "raw/images/image-classifier/red/random.jpg", np.random.default_rng(0).bytes(500)
    )
    colour_store.put_bytes("raw/images/image-classifier/red/notes.txt", b"hello")
    colour_store.put_bytes("raw/images/image-classifier/red/tiny.png", _png((8, 8)))
    colour_store.put_bytes(
        "raw/images/image-classifier/blue/copy.png",
        colour_store.get_bytes("raw/images/image-classifier/red/red-0-000.png"),
    )
    colour_store.put_bytes("raw/images/image-classifier/loose.png", good)
    # decompression bombs (once a DecompressionBombError that failed the asset for good, or an
    # 11000 x 11000 picture decoded in full): refused from the header, never decoded
    colour_store.put_bytes(
        "raw/images/image-classifier/red/bomb.png", declared_size_png(20_000, 20_000)
    )
    colour_store.put_bytes(
        "raw/images/image-classifier/red/huge.png", declared_size_png(11_000, 11_000)
    )
    # 30 MP in a PNG (a zlib bomb of 49 MP took 650 MB to check): not decoded in full
    colour_store.put_bytes(
        "raw/images/image-classifier/red/big.png", declared_size_png(6_000, 5_000)
    )
    dataset = build_image_dataset(colour_store, PREFIX)
    reasons = dict(dataset.skipped)
    assert "more than 50,000,000 pixels" in reasons.pop("raw/images/image-classifier/red/bomb.png")
    assert "at most 50,000,000 pixels" in reasons.pop("raw/images/image-classifier/red/huge.png")
    assert "a 6000x5000 PNG takes 90 MB to decode; at most 24 megapixels" in reasons.pop(
        "raw/images/image-classifier/red/big.png"
    )
    assert (
        set(reasons)
        == {
            "raw/images/image-classifier/red/truncated.png",
            "raw/images/image-classifier/red/random.jpg",
            "raw/images/image-classifier/red/notes.txt",
            "raw/images/image-classifier/red/tiny.png",
            "raw/images/image-classifier/red/red-0-000.png",  # same bytes as blue/copy.png, which sorts first
            "raw/images/image-classifier/loose.png",
        }
    )
    assert "not a readable image" in reasons["raw/images/image-classifier/red/truncated.png"]
    assert (
        "not a readable JPEG, PNG or WebP image"
        in reasons["raw/images/image-classifier/red/random.jpg"]
    )
    assert "not an image file type" in reasons["raw/images/image-classifier/red/notes.txt"]
    assert "too small" in reasons["raw/images/image-classifier/red/tiny.png"]
    assert (
        "duplicate of raw/images/image-classifier/blue/copy.png"
        in reasons["raw/images/image-classifier/red/red-0-000.png"]
    )
    assert len(dataset.records) == 150
    assert dataset.labels == ("blue", "green", "red")


def test_split_is_stable_when_images_are_added(colour_store):
    before = build_image_dataset(colour_store, PREFIX)
    write_colour_images(colour_store, per_class=30, seed=1)
    after = build_image_dataset(colour_store, PREFIX)
    split_after = {r.key: r.split for r in after.records}
    assert all(split_after[r.key] == r.split for r in before.records)
    assert len(after.records) == 240
    assert after.data_version != before.data_version
    assert build_image_dataset(colour_store, PREFIX).data_version == after.data_version


def test_split_fractions_are_roughly_right():
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4000)]
    splits = [assign_split(h) for h in hashes]
    assert 0.12 < splits.count("test") / len(splits) < 0.18
    assert 0.12 < splits.count("val") / len(splits) < 0.18


def test_one_class_is_refused_with_a_clear_error(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    store.put_bytes("raw/images/image-classifier/only/a.png", _png())
    with pytest.raises(ValueError, match="at least two <label>/ folders"):
        build_image_dataset(store, PREFIX)


def test_fit_square_crops_without_stretching():
    image = Image.new("RGB", (200, 100), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 40, 100))  # a white band on the far left is cropped away
    square = fit_square(image, 50)
    assert square.size == (50, 50)
    assert np.asarray(square).max() == 0


def test_fit_square_turns_phone_photos_upright():
    """A phone stores a portrait photo landscape with EXIF orientation 6; what the browser shows
    (and the web page feeds the model) is the upright picture, so training sees that too."""
    upright = np.zeros((60, 40, 3), np.uint8)  # portrait: red top half, blue bottom half
    upright[:30, :, 0] = 255
    upright[30:, :, 2] = 255
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as the sensor saw it
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    with Image.open(buffer) as image:
        pixels = np.asarray(fit_square(image, 20), np.int16)
    assert pixels[:8, :, 0].mean() > 200 and pixels[:8, :, 2].mean() < 50  # red on top
    assert pixels[-8:, :, 2].mean() > 200 and pixels[-8:, :, 0].mean() < 50  # blue below


def test_load_pixels_shapes(colour_store):
    dataset = build_image_dataset(colour_store, PREFIX)
    pixels, targets = load_pixels(colour_store, dataset.split("train"), dataset.labels, 24)
    assert pixels.dtype == np.uint8 and pixels.shape[1:] == (3, 24, 24)
    assert set(targets.tolist()) == {0, 1, 2}


class CountedReads:
    """The keys ``load_pixels`` reads from a store."""

    def __init__(self, store) -> None:
        self.store, self.keys = store, []

    def get_many(self, keys):
        keys = list(keys)
        self.keys += keys
        return self.store.get_many(keys)


def test_an_image_is_read_and_decoded_once_per_size(colour_store):
    dataset = build_image_dataset(colour_store, PREFIX)
    train = dataset.split("train")
    store, decoded = CountedReads(colour_store), DecodedImages(max_bytes=2**20)
    first, targets = load_pixels(store, train, dataset.labels, 24, decoded)
    again, same_targets = load_pixels(store, train, dataset.labels, 24, decoded)
    assert np.array_equal(first, again) and np.array_equal(targets, same_targets)
    assert store.keys == [r.key for r in train]  # the second call read nothing
    again[:] = 0  # a caller's array: what is kept stays as decoded
    assert np.array_equal(load_pixels(store, train, dataset.labels, 24, decoded)[0], first)
    load_pixels(store, train[:2], dataset.labels, 20, decoded)  # another size: read again
    assert store.keys[len(train) :] == [r.key for r in train[:2]]


def test_an_image_changed_behind_its_record_is_decoded_as_read_and_not_kept(colour_store):
    dataset = build_image_dataset(colour_store, PREFIX)
    changed, *others = dataset.split("train")[:3]
    colour_store.put_bytes(changed.key, _png(colour=(1, 2, 3)))
    store, decoded = CountedReads(colour_store), DecodedImages(max_bytes=2**20)
    pixels, _ = load_pixels(store, [changed, *others], dataset.labels, 8, decoded)
    assert pixels[0].reshape(3, -1).mean(axis=1).round().tolist() == [1, 2, 3]
    load_pixels(store, [changed, *others], dataset.labels, 8, decoded)
    assert store.keys[3:] == [changed.key]  # its sha256 is not the record's: read each time


def test_decoded_images_beyond_their_bound_are_let_go_oldest_first(colour_store):
    dataset = build_image_dataset(colour_store, PREFIX)
    a, b, c = dataset.split("train")[:3]
    store = CountedReads(colour_store)
    decoded = DecodedImages(max_bytes=2 * 3 * 8 * 8)  # two images of 8 px
    load_pixels(store, [a, b], dataset.labels, 8, decoded)
    load_pixels(store, [a], dataset.labels, 8, decoded)  # a is now the newer of the two
    load_pixels(store, [c], dataset.labels, 8, decoded)  # b goes
    load_pixels(store, [a, b, c], dataset.labels, 8, decoded)
    assert store.keys == [a.key, b.key, c.key, b.key]


def test_demo_images_are_deterministic_and_varied():
    first = list(generate_demo_images(per_class=3, size=64, seed=3))
    again = list(generate_demo_images(per_class=3, size=64, seed=3))
    other = list(generate_demo_images(per_class=3, size=64, seed=4))
    assert first == again
    assert [d for _, d in first] != [d for _, d in other]
    assert {k.split("/")[0] for k, _ in first} == set(SHAPES) and len(SHAPES) >= 5
    assert {k.rsplit(".", 1)[1] for k, _ in first} == {"png", "jpg", "webp"}
    images = [np.asarray(Image.open(io.BytesIO(d)).convert("RGB"), dtype=float) for _, d in first]
    assert all(img.std() > 10 for img in images)  # textured, not flat


def test_ingest_image_folder(tmp_path):
    folder = tmp_path / "mine"
    (folder / "cat s").mkdir(parents=True)
    (folder / "dog").mkdir()
    (folder / "cat s" / "a b.png").write_bytes(_png())
    (folder / "dog" / "x.webp").write_bytes(_png())
    (folder / "dog" / "readme.md").write_text("no")
    (folder / "stray.png").write_bytes(_png())
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    copied, left_out = ingest_image_folder(folder, store, PREFIX)
    assert copied == {"cat-s": 1, "dog": 1}
    assert store.list_keys("raw/images/image-classifier/") == [
        "raw/images/image-classifier/cat-s/a-b.png",
        "raw/images/image-classifier/dog/x.webp",
    ]
    assert {p for p, _ in left_out} == {"dog/readme.md", "stray.png"}
    with pytest.raises(NotADirectoryError, match="nope"):
        ingest_image_folder(tmp_path / "nope", store, PREFIX)
