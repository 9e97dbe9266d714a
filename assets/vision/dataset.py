"""An image folder in the artifact store -> a checked, deterministically split dataset.

The split of each image follows from its content hash alone, so adding images never moves
the ones already there from train to test. Unreadable, truncated, tiny or duplicate files are
skipped and reported, never a crash.
"""

import hashlib
import io
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, ImageOps

from resources import layout
from resources.artifacts import ArtifactStore
from resources.images import read_image_header

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MIN_SIDE_PX = 16
# decoding memory: a JPEG decodes at a reduced scale (DCT scaling) to what is needed; a PNG or
# WebP cannot, so one above this is skipped (a 49 MP PNG took 650 MB and 1.6 s to check)
DECODE_MAX_PIXELS = 24_000_000
CHECK_SIZE = 1024  # a JPEG is checked for truncation decoded at no less than this
SPLITS = ("train", "val", "test")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """``text`` usable as a key segment: anything but letters, digits and ``._-`` becomes ``-``."""
    return _SAFE.sub("-", text)


@dataclass(frozen=True)
class ImageRecord:
    key: str
    label: str
    sha256: str
    split: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageDataset:
    prefix: str
    labels: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (key, reason)

    @property
    def data_version(self) -> str:
        """Content hash of the set: same images and labels, same version."""
        digest = hashlib.sha256()
        for record in sorted(self.records, key=lambda r: r.sha256):
            digest.update(f"{record.sha256} {record.label}\n".encode())
        return digest.hexdigest()[:16]

    def split(self, name: str) -> list[ImageRecord]:
        return [r for r in self.records if r.split == name]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split per label."""
        table = {split: Counter() for split in SPLITS}
        for record in self.records:
            table[record.split][record.label] += 1
        return {split: dict(sorted(counter.items())) for split, counter in table.items()}


def assign_split(sha256: str, val_fraction: float = 0.15, test_fraction: float = 0.15) -> str:
    """Map a content hash to train/val/test; stable for each file, whatever else is added."""
    position = int(sha256[:12], 16) / float(16**12)
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction:
        return "val"
    return "train"


def inspect_image(data: bytes) -> tuple[int, int]:
    """Check the header (format, pixel count: no decompression bombs), then decode it all, in
    bounded memory (catches truncation); return (width, height). ValueError says why not,
    whatever went wrong."""
    header = read_image_header(data)
    if min(header.width, header.height) < MIN_SIDE_PX:
        raise ValueError(
            f"too small ({header.width}x{header.height} px; at least {MIN_SIDE_PX} px a side)"
        )
    pixels = header.width * header.height
    if header.extension != "jpg" and pixels > DECODE_MAX_PIXELS:
        raise ValueError(
            f"a {header.width}x{header.height} {header.extension.upper()} takes "
            f"{pixels * 3 // 1_000_000} MB to decode; at most {DECODE_MAX_PIXELS // 1_000_000} "
            "megapixels (resize it, or save it as JPEG)"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (CHECK_SIZE, CHECK_SIZE))  # JPEG only: at a reduced scale
            image.load()
    except Exception as error:  # any failure to decode skips the file; it never fails the set
        raise ValueError(f"not a readable image ({type(error).__name__}: {error})") from None
    return header.width, header.height


def build_image_dataset(
    store: ArtifactStore,
    prefix: str,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> ImageDataset:
    """Scan ``<prefix><label>/<file>`` and check every image."""
    records: list[ImageRecord] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    images: list[tuple[str, str]] = []  # (key, label)
    for key in store.list_keys(prefix):
        found = layout.parse_labelled_image(prefix, key)
        if not found:
            skipped.append((key, "not in a <label>/<image> folder"))
            continue
        label, name = found
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((key, f"not an image file type ({', '.join(sorted(IMAGE_SUFFIXES))})"))
            continue
        images.append((key, label))
    for (key, label), data in zip(images, store.get_many(key for key, _ in images), strict=True):
        sha = hashlib.sha256(data).hexdigest()
        if sha in seen:
            skipped.append((key, f"duplicate of {seen[sha]}"))
            continue
        try:
            width, height = inspect_image(data)
        except ValueError as error:
            skipped.append((key, str(error)))
            continue
        seen[sha] = key
        split = assign_split(sha, val_fraction, test_fraction)
        records.append(ImageRecord(key, label, sha, split, width, height))
    labels = tuple(sorted({r.label for r in records}))
    if len(labels) < 2:
        raise ValueError(
            f"{prefix} holds {len(records)} usable images in {len(labels)} class folder(s); "
            "a classifier needs at least two <label>/ folders with images"
        )
    for record_key, reason in skipped:
        log.warning("skipped %s: %s", record_key, reason)
    return ImageDataset(prefix, labels, tuple(records), tuple(skipped))


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Turn upright (EXIF orientation, as browsers show a phone's photo), resize the shorter side
    to ``size`` and centre-crop: no stretching. The web client does the same before it feeds the
    model (clients/web/app/image.js)."""
    image.draft("RGB", (2 * size, 2 * size))  # a large JPEG decodes at a reduced scale
    image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    scale = size / min(width, height)
    resized = image.resize(
        (max(size, round(width * scale)), max(size, round(height * scale))),
        Image.Resampling.BILINEAR,
    )
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


class DecodedImages:
    """Images decoded to a size, kept by the sha256 of their file, the newest ``max_bytes`` of
    them. A run's steps run in one process when the CLI or the demo runs the job, and they read
    the same splits: training, the export's parity check, each variant's gate and int8
    calibration, the evaluation. Without this, each image was fetched and decoded 5 to 7 times
    a run (the aws demo: 2,944 S3 GETs for 600 images; 1,348 with it). Safe to share between
    threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._kept: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, sha256: str, size: int) -> np.ndarray | None:
        with self._lock:
            pixels = self._kept.get((sha256, size))
            if pixels is not None:
                self._kept.move_to_end((sha256, size))
            return pixels

    def put(self, sha256: str, size: int, pixels: np.ndarray) -> None:
        """Keep ``pixels`` (decoded from a file with this sha256): read-only from now on."""
        pixels.setflags(write=False)
        with self._lock:
            if (sha256, size) in self._kept:
                return
            self._kept[(sha256, size)] = pixels
            self._bytes += pixels.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= dropped.nbytes


# this process's: 512 MiB holds 3,400 images at 224 px, 43,000 at 64 px
DECODED_IMAGES = DecodedImages(max_bytes=512 * 2**20)


def decode_pixels(data: bytes, size: int) -> np.ndarray:
    """An image file as uint8 CHW pixels of ``size`` (``fit_square``)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(fit_square(image, size), dtype=np.uint8).transpose(2, 0, 1)


def load_pixels(
    store: ArtifactStore,
    records: Iterable[ImageRecord],
    labels: tuple[str, ...],
    size: int,
    decoded: DecodedImages = DECODED_IMAGES,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode records into uint8 NCHW pixels of ``size`` and int64 label indices; an image
    decoded before at this size (``decoded``, by its file's sha256) is neither read nor decoded
    again. A file whose bytes no longer hash to its record's sha256 is decoded as read, and
    not kept under that sha256."""
    index = {label: i for i, label in enumerate(labels)}
    records = list(records)
    found = {r.key: decoded.get(r.sha256, size) for r in records}
    missing = [r for r in records if found[r.key] is None]
    for record, data in zip(missing, store.get_many(r.key for r in missing), strict=True):
        found[record.key] = decode_pixels(data, size)
        if hashlib.sha256(data).hexdigest() == record.sha256:
            decoded.put(record.sha256, size, found[record.key])
    log.debug(
        "%d images of %d px: %d read and decoded, %d decoded before",
        len(records),
        size,
        len(missing),
        len(records) - len(missing),
    )
    if not records:
        return np.zeros((0, 3, size, size), np.uint8), np.zeros((0,), np.int64)
    pixels = np.stack([found[r.key] for r in records])
    return pixels, np.asarray([index[r.label] for r in records], dtype=np.int64)


def ingest_image_folder(
    folder: Path, store: ArtifactStore, prefix: str
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Copy a user's ``<label>/<image>`` folder into the artifact store.

    Returns images copied per label and ``(path, reason)`` for what was left out. Names are
    made key-safe (anything but letters, digits and ``._-`` becomes ``-``); content is not
    checked here: ``image_dataset`` checks every file and reports what it skips.
    """
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of <label>/<image> sub-folders")
    copied: dict[str, int] = {}
    left_out: list[tuple[str, str]] = []
    chosen: list[tuple[str, Path]] = []  # (key, file)
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(folder)
        if len(relative.parts) != 2:
            left_out.append((str(relative), "not directly in a <label>/ folder"))
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            left_out.append((str(relative), "not a jpg, png or webp file"))
            continue
        label, name = (safe_name(part) for part in relative.parts)
        chosen.append((layout.labelled_image(prefix, label, name), path))
        copied[label] = copied.get(label, 0) + 1
    for _ in store.map_concurrently(lambda target: store.put_file(*target), chosen):
        pass
    return copied, left_out
