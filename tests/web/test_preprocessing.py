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
