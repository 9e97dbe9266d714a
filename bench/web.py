"""Web client benchmark, one headless Chromium run: the page against bare onnxruntime-web.

    .venv/bin/python -m bench.web [--runs 10] [--rounds 6] [--photo 640x480] [--compact-only]

For the published model (the newest one `make demo` published under EDGELINE_HOME, else the
demo's configuration with random weights) and for a 224 px MobileNetV2 (random weights):
- photo to answer p50 (decode, resize, crop, inference, top 5, through the page's worker)
  against a bare ``session.run`` p50 on the same model bytes, backend and threads, in a bare
  worker on the same page; the two alternate in rounds so that machine noise hits both (goal
  <= 1.3x). The bare worker configures onnxruntime-web and creates its sessions with the page's
  own module (clients/web/app/session.js: batch fixed to 1, no spinning threads), so the ratio
  is what the page adds around ``session.run``, not a difference in session options;
- bare p50 at 1 and 2 threads (cross-origin isolated) for fp32, fp16 and int8 (the published
  int8 file when there is one, else made as the pipeline makes it, ``convert_to_int8``), the
  variants taking turns in rounds: what the manifest's web preference should follow;
- phone photos: photo-to-answer p50 for a 12 MP (4032x3024) JPEG, PNG and WebP against the
  640x480 JPEG's, through the page at the same threads, all taking turns in the same rounds as
  the bare loop (goal <= 1.5x: a phone's photo costs about what a small one does); beside each,
  the training pipeline's decode and resize of the same file in Pillow (fit_square), for scale;
- cold start: first visit to first answer, and the bytes transferred (compressed);
- warm start offline: a new tab with the gateway stopped and the network off;
- compact weights, on the 224 px model: a first visit's bytes when the page downloads fp32's
  compact weights (fp16, deflated; expanded to fp32 in the worker) against one that downloads
  the fp32 file (goal <= 0.6x), and photo-to-answer p50 of the expanded model against the fp32
  file's, two tabs alternating in rounds (goal <= 1.05x: the same graph).

Prints one JSON document and writes bench/results/web.json.
"""

import argparse
import base64
import io
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from assets.conversion.compact import expand
from assets.conversion.variants import convert_to_int8
from assets.vision.dataset import fit_square
from bench.report import emit_report
from bench.vision import demo_pixels
from orchestration.browser import CHROMIUM, CHROMIUM_ARGS
from orchestration.demo import DemoSettings
from resources import layout
from tests.gateway.server import Gateway
from tests.web.support import (
    ClassifierFiles,
    approve_and_publish,
    export_classifier,
    register_classifier,
)

GOAL = 1.3
PHONE_GOAL = 1.5  # a 12 MP photo's photo-to-answer against a 640x480 JPEG's
PHONE_SIZE = (4032, 3024)  # a phone camera's 12 MP
PHONE_FORMATS = {"jpeg_12mp": "JPEG", "png_12mp": "PNG", "webp_12mp": "WEBP"}
SMALL = "jpeg_640x480"  # the benchmark's small photo (--photo)
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# compact weights (issue 24): a first visit with them against one with the fp32 file, and the
# expanded model's photo-to-answer against the fp32 file's (the same graph: noise only)
COMPACT_BYTES_GOAL = 0.6
COMPACT_SPEED_GOAL = 1.05
COMPACT = "model.fp16_weights.weights"  # the compact weights' file, as the lineage names it
# between runs, on both sides: the page finishes showing and recording one answer (as it does
# for a person) before the next photo, and the bare loop pauses alike
PAUSE_MS = 40
DEMO_SIZE, DEMO_WIDTH = DemoSettings().image_size, DemoSettings().width_mult
VARIANTS = ("fp32", "fp16", "int8")
# bare session.run, one worker per thread count (the runtime's threads are set once per worker),
# holding a session per variant, each created as the page creates its own (session.js)
BARE_WORKER = """
let ort;
const sessions = {};
async function init({ ortBase, appBase, threads, models, size }) {
  ort = await import(ortBase + "ort.wasm.min.mjs");
  const { configureRuntime, sessionOptions } = await import(appBase + "session.js");
  configureRuntime(ort, { ortBase, threads });
  const pixels = new Float32Array(3 * size * size).map(() => Math.random() * 255);
  for (const [name, url] of Object.entries(models)) {
    const bytes = await (await fetch(url)).arrayBuffer();
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), sessionOptions("wasm"));
    sessions[name] = { session, feeds: { [session.inputNames[0]]: new ort.Tensor("float32", pixels, [1, 3, size, size]) } };
    for (let i = 0; i < 3; i += 1) await session.run(sessions[name].feeds);
  }
  return { ok: true };
}
async function run({ name, runs, pauseMs }) {
  const { session, feeds } = sessions[name];
  const times = [];
  for (let i = 0; i < runs; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    const started = performance.now();
    await session.run(feeds);
    times.push(performance.now() - started);
  }
  return { times };
}
self.onmessage = async ({ data }) => {
  try {
    self.postMessage(await (data.type === "init" ? init(data) : run(data)));
  } catch (error) {
    self.postMessage({ error: String(error.message || error) });
  }
};
"""
BARE_OPEN = """
async ([threads, models, size]) => {
  const worker = new Worker("/bench/bare-worker.js", { type: "module" });
  const ask = (message) => new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
    worker.postMessage(message);
  });
  const base = location.origin;
  await ask({ type: "init", ortBase: base + "/app/vendor/ort/", appBase: base + "/app/", threads, models, size });
  (window.benchBare ||= {})[threads] = ask;
}
"""
BARE_RUN = """
async ([threads, name, runs, pauseMs]) => (await window.benchBare[threads]({ type: "run", name, runs, pauseMs })).times
"""
PUT_PHOTO = """
([name, b64, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  (window.benchPhotos ||= {})[name] = new Blob([bytes], { type });
}
"""
PAGE_RUN = """
async ([name, runs, pauseMs]) => {
  const blob = window.benchPhotos[name];
  const results = [];
  for (let i = 0; i < runs; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, pauseMs));  // a person's pace, not a burst
    const r = await window.edgeline.classify(blob);
    results.push({ total: r.totalMs, ...r.timings });
  }
  return results;
}
"""
STAGES = ("decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms", "worker_ms")


@dataclass(frozen=True)
class Photo:
    """A benchmark photo: its encoded bytes and format."""

    data: bytes
    format: str

    def describe(self) -> str:
        return f"{Image.open(io.BytesIO(self.data)).size} {self.format}, {len(self.data)} bytes"


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def natural_photo(width: int, height: int, seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A photo with the structure of a photo (smooth gradients, edges, sensor noise), encoded as
    a camera or an app would (JPEG and WebP at quality 90, PNG lossless)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pixels = np.stack(
        [
            128 + 90 * np.sin(x / 37 + y / 53),
            128 + 80 * np.cos(x / 29 - y / 71),
            128 + 70 * np.sin((x + y) / 41),
        ],
        axis=-1,
    )
    cx, cy, r = width * 0.6, height * 0.45, min(width, height) * 0.25
    pixels[(x - cx) ** 2 + (y - cy) ** 2 < r**2] = (220, 190, 40)
    pixels += 6 * rng.standard_normal(pixels.shape, dtype=np.float32)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, fmt, quality=90)
    return buffer.getvalue()


def pipeline_decode_ms(photo: Photo, size: int, runs: int = 5) -> float:
    """The training pipeline's decode, turn and resize of the same file (Pillow's fit_square):
    what the same work costs outside the browser."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with Image.open(io.BytesIO(photo.data)) as image:
            fit_square(image, size)
        times.append((time.perf_counter() - started) * 1000)
    return p50(times)


def add_int8(files: ClassifierFiles) -> dict:
    """The int8 file next to fp32 as the pipeline makes it (calibrated on the demo's images) unless
    it is there; what its converter chose."""
    import onnx

    target = files.path("int8")
    if not target.exists():
        calibration, _ = demo_pixels(64, files.image_size, seed=2)
        convert_to_int8(files.path("fp32"), target, calibration.astype(np.float32))
    properties = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    return json.loads(properties.get("edgeline.int8", "{}"))


def published_or_demo_model(directory: Path) -> tuple[ClassifierFiles, str]:
    """The newest model `make demo` published locally (with its int8 file when the lineage
    published one), else the demo's configuration."""
    from resources.environment import edgeline_home

    deploy = edgeline_home() / "artifacts" / "deploy" / "image-classifier"
    pointer = deploy / "stable.json"
    if pointer.is_file() and json.loads(pointer.read_text()).get("version"):
        manifest = json.loads(
            (
                edgeline_home() / "artifacts" / json.loads(pointer.read_text())["manifest_key"]
            ).read_text()
        )
        directory.mkdir(parents=True)
        for variant in manifest["variants"]:
            if variant["precision"] in VARIANTS:
                source = edgeline_home() / "artifacts" / variant["key"]
                shutil.copy(source, directory / f"model.{variant['precision']}.onnx")
        size = manifest["variants"][0]["input"]["shape"][2]
        files = ClassifierFiles(directory, tuple(manifest["labels"]), size)
        return files, f"published image-classifier v{manifest['version']} ({edgeline_home()})"
    from assets.vision.demo_data import SHAPES
    from assets.vision.model import build_mobilenet_v2

    labels = tuple(sorted(SHAPES))
    module = build_mobilenet_v2(len(labels), width_mult=DEMO_WIDTH)
    files = export_classifier(module, labels, DEMO_SIZE, directory)
    return files, f"the demo's configuration ({DEMO_SIZE} px, width {DEMO_WIDTH}), random weights"


def mobilenet_224(directory: Path) -> ClassifierFiles:
    from assets.vision.model import build_mobilenet_v2

    labels = ("a", "b", "c", "d", "e")
    return export_classifier(
        build_mobilenet_v2(len(labels)), labels, 224, directory, "mobilenet-v2-224"
    )


class Traffic:
    """Bytes that crossed the network (compressed), service worker included."""

    def __init__(self, context) -> None:
        self.bytes = 0
        self.requests = 0
        context.on("requestfinished", self._finished)

    def _finished(self, request) -> None:
        response = request.response()
        if response is None or response.from_service_worker:
            return
        sizes = request.sizes()
        self.bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        self.requests += 1


def serve_bare_worker(context, files: ClassifierFiles) -> dict[str, str]:
    """The bare worker and the model files it loads, on the page's origin; {variant: URL path}."""
    isolated = {
        "Cross-Origin-Embedder-Policy": "require-corp",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    context.route(
        "**/bench/bare-worker.js",
        lambda route: route.fulfill(
            body=BARE_WORKER, headers={**isolated, "Content-Type": "text/javascript"}
        ),
    )

    def model_file(route) -> None:  # /bench/model.<variant>.onnx
        variant = route.request.url.rsplit("/", 1)[-1].split(".")[1]
        route.fulfill(
            path=str(files.path(variant)),
            headers={**isolated, "Content-Type": "application/octet-stream"},
        )

    context.route("**/bench/model.*.onnx", model_file)
    models = {variant: f"/bench/model.{variant}.onnx" for variant in VARIANTS}
    return models


def open_bare(page, threads: int, models: dict[str, str], size: int) -> None:
    page.evaluate(BARE_OPEN, [threads, models, size])


def run_bare(page, threads: int, variant: str, runs: int) -> list[float]:
    return page.evaluate(BARE_RUN, [threads, variant, runs, PAUSE_MS])


def start_page(context, url: str, query: str = "") -> tuple[object, float]:
    """Open the page and wait until it is ready; (page, ms from navigation to ready)."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{url}/{query}")
    page.wait_for_selector(
        "body[data-status='ready'], body[data-status='offline']", timeout=120_000
    )
    page.wait_for_selector(
        "body[data-model-version]:not([data-model-version=''])", state="attached"
    )
    return page, (time.perf_counter() - started) * 1000


def put_photos(page, photos: dict[str, Photo]) -> None:
    """Hand the photos to the page as the Blobs a file input gives it."""
    for name, photo in photos.items():
        page.evaluate(PUT_PHOTO, [name, base64.b64encode(photo.data).decode(), MIME[photo.format]])


def first_answer_ms(page) -> float:
    return page.evaluate(PAGE_RUN, [SMALL, 1, 0])[0]["total"]


def compare(page, names: list[str], threads: int, runs: int, rounds: int):
    """Photo-to-answer of each photo through the page and bare session.run of fp32 (a bare
    worker at ``threads`` must be open), taking turns in rounds (the order turning each round);
    ({photo: (p50, stage p50s)}, bare p50)."""
    totals: dict[str, list[float]] = {name: [] for name in names}
    stages: dict[str, list[dict]] = {name: [] for name in names}
    bare_times: list[float] = []
    for name in names:
        page.evaluate(PAGE_RUN, [name, 3, PAUSE_MS])  # warm
    turns = [*names, "bare"]
    for round_ in range(rounds):
        shift = round_ % len(turns)
        for turn in turns[shift:] + turns[:shift]:
            if turn == "bare":
                bare_times += run_bare(page, threads, "fp32", runs)
                continue
            results = page.evaluate(PAGE_RUN, [turn, runs, PAUSE_MS])
            totals[turn] += [r["total"] for r in results]
            stages[turn] += results
    photos = {
        name: (p50(totals[name]), {key: p50([s[key] for s in stages[name]]) for key in STAGES})
        for name in names
    }
    return photos, p50(bare_times)


def bare_by_variant(page, thread_counts: list[int], runs: int, rounds: int) -> dict[str, float]:
    """Bare session.run p50 of every variant at each thread count (bare workers open), the
    variants and thread counts taking turns in rounds so that machine noise hits them all."""
    times: dict[str, list[float]] = {}
    pairs = [(variant, n) for n in thread_counts for variant in VARIANTS]
    for round_ in range(rounds):
        shift = round_ % len(pairs)
        for variant, n in pairs[shift:] + pairs[:shift]:
            times.setdefault(f"{variant}_threads_{n}", []).extend(run_bare(page, n, variant, runs))
    return {key: p50(times[key]) for key in sorted(times)}


def measure_model(
    playwright, files: ClassifierFiles, photos: dict[str, Photo], runs: int, rounds: int
) -> dict:
    small = {SMALL: photos[SMALL]}
    int8_choice = add_int8(files)
    root = Path(tempfile.mkdtemp(prefix="edgeline-bench-web-"))
    gateway = Gateway(root, poll_s=3600, model=files.model).start()
    try:
        version = register_classifier(gateway.store, gateway.registry, files, "bench")
        approve_and_publish(gateway.store, gateway.registry, version, files.model)
        # a real profile on disk, as a person's browser has (an incognito context's in-memory
        # HTTP cache keeps no file over about a megabyte, so the shell would be fetched twice)
        context = playwright.chromium.launch_persistent_context(
            str(root / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        models = serve_bare_worker(context, files)
        traffic = Traffic(context)
        page, ready_ms = start_page(context, gateway.url)
        cold = {"ready_ms": round(ready_ms, 1)}
        put_photos(page, small)
        started = time.perf_counter()
        first = first_answer_ms(page)
        cold["first_answer_ms"] = round(ready_ms + (time.perf_counter() - started) * 1000, 1)
        cold["first_photo_ms"] = round(first, 2)
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_timeout(1500)  # the shell's installation finishes (revalidated, not re-sent)
        cold["bytes_transferred"] = traffic.bytes
        cold["requests"] = traffic.requests
        cold["model_bytes"] = files.path("fp32").stat().st_size

        runtime = page.evaluate("window.edgeline.state.runtime")
        threads = runtime["threads"]
        thread_counts = sorted({1, threads})
        for n in thread_counts:
            open_bare(page, n, models, files.image_size)
        put_photos(page, photos)
        compared = {threads: compare(page, list(photos), threads, runs, rounds)}
        if threads != 1:
            one_thread, _ = start_page(context, gateway.url, "?threads=1")
            open_bare(one_thread, 1, {"fp32": models["fp32"]}, files.image_size)
            put_photos(one_thread, small)
            compared[1] = compare(one_thread, [SMALL], 1, runs, rounds)
            one_thread.close()
        bare = bare_by_variant(page, thread_counts, runs, rounds)

        # warm start offline: the gateway down and no network, in a new tab of the same browser
        gateway.stop()
        context.set_offline(True)
        before = traffic.bytes
        offline_page, offline_ready = start_page(context, gateway.url)
        put_photos(offline_page, small)
        started = time.perf_counter()
        first_answer_ms(offline_page)
        warm = {
            "first_answer_ms": round(offline_ready + (time.perf_counter() - started) * 1000, 1),
            "bytes_transferred": traffic.bytes - before,
        }
        context.close()
        by_photo, bare_p50 = compared[threads]
        photo_p50, breakdown = by_photo[SMALL]
        return {
            "model": files.model,
            "image_size": files.image_size,
            "backend": runtime["backend"],
            "threads": threads,
            "cross_origin_isolated": runtime["isolated"],
            "photo": photos[SMALL].describe(),
            "photo_to_answer_p50_ms": photo_p50,
            "bare_session_run_p50_ms": bare_p50,
            "ratio": round(photo_p50 / bare_p50, 3),
            "goal": GOAL,
            "pass": photo_p50 / bare_p50 <= GOAL,
            "page_stages_p50_ms": breakdown,
            "by_threads": {
                f"threads_{n}": {
                    "photo_to_answer_p50_ms": at_n[SMALL][0],
                    "bare_p50_ms": bare_n,
                    "ratio": round(at_n[SMALL][0] / bare_n, 3),
                }
                for n, (at_n, bare_n) in sorted(compared.items())
            },
            "phone_photos": {
                name: {
                    "photo": photos[name].describe(),
                    "photo_to_answer_p50_ms": by_photo[name][0],
                    "vs_640x480_jpeg": round(by_photo[name][0] / photo_p50, 3),
                    "goal": PHONE_GOAL,
                    "pass": by_photo[name][0] / photo_p50 <= PHONE_GOAL,
                    "page_stages_p50_ms": by_photo[name][1],
                    "pipeline_decode_resize_p50_ms": pipeline_decode_ms(
                        photos[name], files.image_size
                    ),
                }
                for name in PHONE_FORMATS
            },
            "bare_session_run_p50_ms_by_variant_and_threads": bare,
            "bare_p50_vs_fp32": {
                f"{variant}_threads_{n}": round(
                    bare[f"{variant}_threads_{n}"] / bare[f"fp32_threads_{n}"], 3
                )
                for variant in VARIANTS[1:]
                for n in thread_counts
            },
            "bytes_by_variant": {v: files.path(v).stat().st_size for v in VARIANTS},
            "int8_conversion": int8_choice,
            "cold_start": cold,
            "warm_start_offline": warm,
        }
    finally:
        gateway.stop()
        shutil.rmtree(root, ignore_errors=True)


def first_visit(playwright, profile: Path, url: str, query: str, photo: Photo) -> tuple:
    """A first visit in a fresh browser profile, to the first answer and the installed shell:
    (the browser context, its page, what it cost)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS
    )
    traffic = Traffic(context)
    page, ready_ms = start_page(context, url, query)
    put_photos(page, {SMALL: photo})
    started = time.perf_counter()
    first_answer_ms(page)
    first = ready_ms + (time.perf_counter() - started) * 1000
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_timeout(1500)  # the shell's installation finishes (revalidated, not re-sent)
    current = page.evaluate("window.edgeline.state.current")
    return (
        context,
        page,
        {
            "bytes_transferred": traffic.bytes,
            "requests": traffic.requests,
            "model_download_bytes": current["download"]["bytes"],
            "downloaded": current["download"]["file"],
            "first_answer_ms": round(first, 1),
            "expand_ms": round(current["load"]["expand_ms"], 1),
            "session_create_ms": round(current["load"]["create_ms"], 1),
        },
    )


def measure_compact_weights(
    playwright, files: ClassifierFiles, photo: Photo, runs: int, rounds: int
) -> dict:
    """fp32's compact weights (what publishing now recommends to wasm) against the fp32 file
    (``?encoding=none``: what the page downloaded before): first-visit bytes, each in a fresh
    browser profile; then photo-to-answer p50 of the expanded model against the fp32 file's,
    a tab each in one browser, alternating in rounds (each round's first tab taking turns)."""
    root = Path(tempfile.mkdtemp(prefix="edgeline-bench-compact-"))
    gateway = Gateway(root, poll_s=3600, model=files.model).start()
    try:
        version = register_classifier(gateway.store, gateway.registry, files, "bench", compact=True)
        approve_and_publish(gateway.store, gateway.registry, version, files.model)
        before_context, _, before = first_visit(
            playwright, root / "profile-fp32", gateway.url, "?encoding=none", photo
        )
        before_context.close()
        context, first_page, after = first_visit(
            playwright, root / "profile-compact", gateway.url, "", photo
        )
        first_page.close()  # two new tabs alike: neither is the one that installed the shell
        compact_page, _ = start_page(context, gateway.url, "")
        fp32_page, _ = start_page(context, gateway.url, "?encoding=none")
        tabs = {"expanded": compact_page, "fp32_file": fp32_page}
        times: dict[str, list[float]] = {name: [] for name in tabs}
        for page in tabs.values():
            page.bring_to_front()
            put_photos(page, {SMALL: photo})
            page.evaluate(PAGE_RUN, [SMALL, 3, PAUSE_MS])  # warm
        for round_ in range(rounds):
            order = list(tabs) if round_ % 2 == 0 else list(reversed(tabs))
            for name in order:
                tabs[name].bring_to_front()  # a background tab's renderer runs at low priority
                results = tabs[name].evaluate(PAGE_RUN, [SMALL, runs, PAUSE_MS])
                times[name] += [r["total"] for r in results]
        threads = compact_page.evaluate("window.edgeline.state.runtime.threads")
        # the models alone: bare session.run of the expansion and of the fp32 file, one worker
        # holding both, taking turns in rounds (no page, no tab between them)
        files.path("expanded").write_bytes(
            expand(gateway.store.get_bytes(layout.deployed_file(files.model, version, COMPACT)))
        )
        compact_page.bring_to_front()
        serve_bare_worker(context, files)  # serves /bench/model.<name>.onnx from the files
        bare_models = {name: f"/bench/model.{name}.onnx" for name in ("expanded", "fp32")}
        open_bare(compact_page, threads, bare_models, files.image_size)
        bare: dict[str, list[float]] = {"expanded": [], "fp32": []}
        for round_ in range(rounds):
            for name in list(bare) if round_ % 2 == 0 else list(reversed(bare)):
                bare[name] += run_bare(compact_page, threads, name, runs)
        context.close()
        expanded_p50, fp32_p50 = p50(times["expanded"]), p50(times["fp32_file"])
        ratio = after["bytes_transferred"] / before["bytes_transferred"]
        return {
            "model": files.model,
            "image_size": files.image_size,
            "threads": threads,
            "fp32_bytes": files.path("fp32").stat().st_size,
            "compact_bytes": after["model_download_bytes"],
            "compact_vs_fp32_file": round(
                after["model_download_bytes"] / files.path("fp32").stat().st_size, 3
            ),
            "first_visit_fp32_file": before,
            "first_visit_compact": after,
            "first_visit_bytes_ratio": round(ratio, 3),
            "first_visit_bytes_goal": COMPACT_BYTES_GOAL,
            "first_visit_bytes_pass": ratio <= COMPACT_BYTES_GOAL,
            "photo_to_answer_p50_ms": {"expanded": expanded_p50, "fp32_file": fp32_p50},
            "photo_to_answer_p50_ratio": round(expanded_p50 / fp32_p50, 3),
            "photo_to_answer_goal": COMPACT_SPEED_GOAL,
            "photo_to_answer_pass": expanded_p50 / fp32_p50 <= COMPACT_SPEED_GOAL,
            "bare_session_run_p50_ms": {name: p50(t) for name, t in bare.items()},
            "bare_session_run_p50_ratio": round(p50(bare["expanded"]) / p50(bare["fp32"]), 3),
        }
    finally:
        gateway.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="runs per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--photo", default="640x480", help="WIDTHxHEIGHT of the small JPEG photo")
    parser.add_argument("--output", default="bench/results/web.json")
    parser.add_argument(
        "--compact-only",
        action="store_true",
        help="only the compact weights' first visit and speed, on the 224 px model",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    width, height = (int(v) for v in args.photo.split("x"))
    photos = {SMALL: Photo(natural_photo(width, height), "JPEG")}
    photos |= {
        name: Photo(natural_photo(*PHONE_SIZE, fmt=fmt), fmt) for name, fmt in PHONE_FORMATS.items()
    }
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        large = mobilenet_224(Path(tmp) / "mobilenet224")
        compact = measure_compact_weights(playwright, large, photos[SMALL], args.runs, args.rounds)
        if args.compact_only:
            emit_report(
                {
                    "benchmark": "web",
                    "browser": chromium,
                    "cores": os.cpu_count(),
                    "runs": args.runs * args.rounds,
                    "compact_weights": compact,
                },
                args.output,
            )
            return
        published, source = published_or_demo_model(Path(tmp) / "published")
        models = {
            "published": {
                "source": source,
                **measure_model(playwright, published, photos, args.runs, args.rounds),
            },
            "mobilenet_v2_224": {
                "source": "torchvision MobileNetV2 (width 1.0), random weights",
                **measure_model(playwright, large, photos, args.runs, args.rounds),
            },
        }
    emit_report(
        {
            "benchmark": "web",
            "browser": chromium,
            "cores": os.cpu_count(),
            "runs": args.runs * args.rounds,
            "models": models,
            "compact_weights": compact,
        },
        args.output,
    )


if __name__ == "__main__":
    main()
