"""Small image sets the tests make themselves: quick to learn, so gates see a confident model."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from resources import LocalArtifactStore

PREFIX = "raw/images/image-classifier/"  # the images of the model the tests declare

COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 210)}


def colour_image(rgb: tuple[int, int, int], rng: np.random.Generator, size: int = 40) -> bytes:
    """A noisy field of one colour with a grey box somewhere: easy, but not a constant."""
    pixels = np.clip(np.array(rgb) + rng.normal(0, 12, (size, size, 3)), 0, 255)
    x, y = rng.integers(0, size // 2, 2)
    pixels[y : y + size // 4, x : x + size // 4] = rng.integers(90, 170)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_colour_images(store, per_class: int = 50, seed: int = 0, prefix: str = PREFIX) -> int:
    rng = np.random.default_rng(seed)
    for label, rgb in COLOURS.items():
        for i in range(per_class):
            store.put_bytes(f"{prefix}{label}/{label}-{seed}-{i:03d}.png", colour_image(rgb, rng))
    return per_class * len(COLOURS)


@pytest.fixture
def colour_store(tmp_path) -> LocalArtifactStore:
    store = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    write_colour_images(store)
    return store


def declared_size_png(width: int, height: int) -> bytes:
    """A few hundred bytes that declare a width x height picture (a decompression bomb when
    large): a valid header, one compressed row of zeros, and the end."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def declare_image_model(store, instance, name: str = "image-classifier", **training) -> str:
    """Declare an image model as a user does, and make it a partition of ``instance``."""
    from assets.catalog import ModelSpec, declare_model
    from orchestration.models import add_model_partitions

    declare_model(store, ModelSpec(name, "image", training=training))
    add_model_partitions(instance, store)
    return name
