"""The page's preprocessing module (clients/web/app/image.js) under Node, against Pillow's."""

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from assets.vision.dataset import fit_square

IMAGE_JS = Path(__file__).resolve().parents[2] / "clients" / "web" / "app" / "image.js"


def run_module(script: str) -> object:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    source = f"import * as image from {json.dumps(IMAGE_JS.as_uri())};\n{script}"
    done = subprocess.run(
        [node, "--input-type=module", "-e", source], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_crop_geometry_matches_pillow_for_every_shape():
    """Resize and crop land on the same pixels as the training pipeline's fit_square, halves
    included (Python rounds them to even)."""
    cases = [
        (w, h, s) for s in (32, 64, 224) for w in range(s, 3 * s, 7) for h in (s, s + 1, 2 * s + 1)
    ]
    cases += [(5, 2, 4), (7, 2, 4), (640, 480, 224), (4032, 3024, 224), (33, 33, 32)]
    computed = run_module(
        f"console.log(JSON.stringify({json.dumps(cases)}.map(([w, h, s]) => image.fitSquare(w, h, s))))"
    )
    for (width, height, size), geometry in zip(cases, computed, strict=True):
        scale = size / min(width, height)
        resized = (max(size, round(width * scale)), max(size, round(height * scale)))
        assert (geometry["resizedWidth"], geometry["resizedHeight"]) == resized, (width, height)
        assert geometry["left"] == (resized[0] - size) // 2
        assert geometry["top"] == (resized[1] - size) // 2


def test_pixels_become_nchw_like_the_training_input():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((6, 6, 1), 255, np.uint8)], axis=2)
    nchw = run_module(
        f"console.log(JSON.stringify(Array.from(image.rgbaToNchw({json.dumps(rgba.ravel().tolist())}, 6))))"
    )
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    with Image.open(buffer) as decoded:
        expected = np.asarray(fit_square(decoded, 6), np.float32).transpose(2, 0, 1)
    assert np.array_equal(np.array(nchw, np.float32).reshape(3, 6, 6), expected)


def test_top_k_and_input_spec():
    result = run_module(
        """console.log(JSON.stringify({
            top: image.topK(new Float32Array([0.1, 0.6, 0.05, 0.25]), ["a", "b", "c", "d"], 3),
            size: image.inputSize({ input: { name: "pixels", shape: [null, 3, 96, 96], dtype: "float32" } }),
            refused: (() => { try { image.inputSize({ input: { shape: [null, 96, 96, 3], dtype: "float32" } }); }
                              catch (error) { return error.message; } })(),
        }))"""
    )
    assert [entry["label"] for entry in result["top"]] == ["b", "d", "a"]
    assert result["top"][0]["confidence"] == pytest.approx(0.6)
    assert result["size"] == 96 and "expected float32 [N, 3, S, S]" in result["refused"]


def test_unsure_threshold_and_label_list():
    """The manifest's unsure_below, else min(0.5, 2 / classes) (a manifest from before it)."""
    result = run_module(
        """const labels = (n) => Array.from({ length: n }, (_, i) => `c${i}`);
        console.log(JSON.stringify({
            given: image.unsureBelow({ labels: labels(4), unsure_below: 0.83 }),
            fallback: [2, 3, 4, 5, 10].map((n) => image.unsureBelow({ labels: labels(n) })),
            short: image.labelList(["cat", "dog", "cross"]),
            long: image.labelList(labels(15)),
        }))"""
    )
    assert result["given"] == 0.83
    assert result["fallback"] == pytest.approx([0.5, 0.5, 0.5, 0.4, 0.2])
    assert result["short"] == "cat, dog, cross"
    assert result["long"] == "c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11 and 3 more"


def jpeg(width: int, height: int, **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def test_jpeg_size_is_read_from_the_frame_header_past_exif_and_icc(tmp_path):
    """The page reads a JPEG's stored size before decoding it, whatever segments come first
    (a phone's EXIF with its thumbnail, an ICC profile, a progressive file); anything else, or a
    file cut before its frame header, gives null (the page then decodes at full size)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the stored size is what the decoder scales
    exif[0x010F] = "x" * 30_000  # a long maker note
    files = {
        "plain": (jpeg(4032, 3024), (4032, 3024)),
        "exif_icc": (jpeg(3024, 4032, exif=exif, icc_profile=b"\0" * 40_000), (3024, 4032)),
        "progressive": (jpeg(641, 479, progressive=True), (641, 479)),
    }
    png = io.BytesIO()
    Image.new("RGB", (640, 480)).save(png, "PNG")
    heads = {name: data[: 256 * 1024] for name, (data, _) in files.items()}
    heads["png"] = png.getvalue()
    heads["cut"] = files["exif_icc"][0][:60_000]
    heads["empty"] = b""
    for name, head in heads.items():
        (tmp_path / name).write_bytes(head)
    sizes = run_module(
        f"const fs = await import('node:fs');\nconst names = {json.dumps(list(heads))};\n"
        "console.log(JSON.stringify(Object.fromEntries(names.map((name) => "
        f"[name, image.jpegSize(new Uint8Array(fs.readFileSync({json.dumps(str(tmp_path))} + '/' + name)))]))))"
    )
    for name, (_, (width, height)) in files.items():
        assert sizes[name] == {"width": width, "height": height}, name
    assert sizes["png"] is None and sizes["cut"] is None and sizes["empty"] is None


def test_jpeg_draft_scale_is_pillows():
    """The page asks its decoder for the size Pillow's draft decodes to in fit_square (the
    training pipeline), so both resize from the same reduced image."""
    shapes = [(4032, 3024), (3024, 4032), (1280, 960), (640, 480), (449, 300), (128, 128)]
    cases = [(w, h, s) for w, h in shapes for s in (32, 64, 96, 224)]
    computed = run_module(
        f"console.log(JSON.stringify({json.dumps(cases)}.map(([w, h, s]) => image.jpegDraft(w, h, s))))"
    )
    for (width, height, size), draft in zip(cases, computed, strict=True):
        with Image.open(io.BytesIO(jpeg(width, height))) as opened:
            opened.draft("RGB", (2 * size, 2 * size))
            assert (draft["width"], draft["height"]) == opened.size, (width, height, size)
            assert draft["scale"] == -(-width // opened.size[0])
    scales = {(w, h, s): d["scale"] for (w, h, s), d in zip(cases, computed, strict=True)}
    assert scales[(4032, 3024, 224)] == 4 and scales[(4032, 3024, 64)] == 8
    assert scales[(640, 480, 224)] == 1 and scales[(640, 480, 64)] == 2
