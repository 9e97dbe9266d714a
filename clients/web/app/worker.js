// The inference worker: the page never freezes while a photo is decoded or the model runs.
// It loads onnxruntime-web from the gateway, creates sessions from verified bytes (never from a
// URL, so a WebGPU session that falls back to wasm does not download the model again) and
// turns a photo into the top 5 labels.

import { fitSquare, jpegDraft, jpegSize, rgbaToNchw, topK } from "./image.js";
import { sha256Hex } from "./models.js";
import { configureRuntime, sessionOptions } from "./session.js";
import { expandWeights } from "./weights.js";

let ort = null;
let runtime = null; // { backend, threads }
let active = null; // { session, inputName, outputName, size, labels, backend }
let queue = Promise.resolve();

async function init({ ortBase, backend, threads }) {
  ort = await import(`${ortBase}${backend === "webgpu" ? "ort.webgpu.min.mjs" : "ort.wasm.min.mjs"}`);
  configureRuntime(ort, { ortBase, threads });
  runtime = { backend, threads };
  return { version: ort.env.versions.web };
}

async function createSession(bytes, backend) {
  return ort.InferenceSession.create(new Uint8Array(bytes), sessionOptions(backend));
}

/** The model to run: ``bytes`` as they are, or the fp32 model that compact weights expand to,
 *  checked against the sha256 the manifest names (the model the platform's gate judged). */
async function modelBytes(bytes, compact) {
  if (!compact) return bytes;
  const expanded = await expandWeights(bytes);
  const sha = await sha256Hex(expanded);
  if (sha !== compact.expandedSha256) {
    throw new Error(
      `${compact.file} expands to sha256 ${sha.slice(0, 12)}…, not the manifest's ${compact.expandedSha256.slice(0, 12)}…: refused`,
    );
  }
  return expanded;
}

async function load({ bytes: downloaded, compact, size, labels }) {
  const started = performance.now();
  const bytes = await modelBytes(downloaded, compact);
  const expanded = performance.now();
  let backend = runtime.backend;
  let fallback = null;
  let session;
  try {
    session = await createSession(bytes, backend);
  } catch (error) {
    if (backend !== "webgpu") throw error;
    fallback = `WebGPU could not run this model (${error.message || error}); using wasm`;
    backend = "wasm";
    session = await createSession(bytes, backend);
  }
  const model = { session, inputName: session.inputNames[0], outputName: session.outputNames[0], size, labels, backend };
  const created = performance.now();
  // one run on a blank image: the first photo then takes as long as every other one
  const blank = new ort.Tensor("float32", new Float32Array(3 * size * size), [1, 3, size, size]);
  await session.run({ [model.inputName]: blank });
  const previous = active;
  active = model;
  if (previous) await previous.session.release();
  return {
    backend,
    threads: runtime.threads,
    fallback,
    expand_ms: compact ? expanded - started : 0,
    create_ms: created - expanded,
    warmup_ms: performance.now() - created,
  };
}

async function unload() {
  if (active) {
    const previous = active;
    active = null;
    await previous.session.release();
  }
}

// where a JPEG's frame header lies: after its EXIF (with a thumbnail), XMP and ICC segments, each
// at most 64 kB; a file with more before it is decoded at full size
const JPEG_HEADER_BYTES = 256 * 1024;

/** The photo decoded upright as the training pipeline decodes it: a JPEG at least twice the
 *  model's size at 1/2, 1/4 or 1/8 scale (the decoder skips most of a 12 MP photo's work, as
 *  Pillow's draft does), anything else at full size. A JPEG no larger than the header's read is
 *  decoded from the bytes that read brought: the file crosses from the browser once, not twice.
 *  { image (closed by the caller), width, height }. */
async function decodePhoto(blob, size) {
  if ("ImageDecoder" in self) {
    const start = new Uint8Array(await blob.slice(0, JPEG_HEADER_BYTES).arrayBuffer());
    const whole = start.length === blob.size;
    const stored = jpegSize(start);
    const draft = stored && jpegDraft(stored.width, stored.height, size);
    if (draft && (draft.scale > 1 || whole)) {
      const decoder = new ImageDecoder({
        data: whole ? start : blob.stream(),
        type: "image/jpeg",
        desiredWidth: draft.width, // Chromium decodes at the largest DCT scale within this: the draft's
        desiredHeight: draft.height,
        colorSpaceConversion: "none",
      });
      try {
        const { image } = await decoder.decode(); // a VideoFrame that drawImage turns upright
        return { image, width: image.displayWidth, height: image.displayHeight };
      } finally {
        decoder.close();
      }
    }
  }
  const image = await createImageBitmap(blob, {
    imageOrientation: "from-image",
    colorSpaceConversion: "none", // as the training pipeline reads pixels (Pillow ignores ICC)
    premultiplyAlpha: "none",
  });
  return { image, width: image.width, height: image.height };
}

async function pixelsOf(blob, size) {
  const { image, width, height } = await decodePhoto(blob, size);
  const decoded = performance.now();
  const { resizedWidth, resizedHeight, left, top } = fitSquare(width, height, size);
  const canvas = new OffscreenCanvas(size, size);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(image, -left, -top, resizedWidth, resizedHeight);
  image.close();
  const rgba = context.getImageData(0, 0, size, size).data;
  return { pixels: rgbaToNchw(rgba, size), decoded, decodedSize: [width, height] };
}

async function classify({ blob }) {
  if (!active) throw new Error("no model is loaded");
  const model = active;
  const started = performance.now();
  const { pixels, decoded } = await pixelsOf(blob, model.size);
  const prepared = performance.now();
  const input = new ort.Tensor("float32", pixels, [1, 3, model.size, model.size]);
  const outputs = await model.session.run({ [model.inputName]: input });
  const ran = performance.now();
  const probabilities = outputs[model.outputName].data;
  const top = topK(probabilities, model.labels, 5);
  input.dispose?.();
  outputs[model.outputName].dispose?.();
  const finished = performance.now();
  return {
    top,
    backend: model.backend,
    timings: {
      decode_ms: decoded - started,
      preprocess_ms: prepared - decoded,
      inference_ms: ran - prepared,
      postprocess_ms: finished - ran,
      worker_ms: finished - started,
    },
  };
}

// the pixels classify feeds the model, for checking the page's preprocessing against the pipeline's
async function preprocess({ blob }) {
  if (!active) throw new Error("no model is loaded");
  const { pixels, decodedSize } = await pixelsOf(blob, active.size);
  return { pixels, size: active.size, decoded: decodedSize };
}

const handlers = { init, load, unload, classify, preprocess };

self.onmessage = (event) => {
  const { id, type, ...message } = event.data;
  // one request at a time: a session does not run two inferences at once
  queue = queue.then(async () => {
    try {
      self.postMessage({ id, ok: true, result: await handlers[type](message) });
    } catch (error) {
      self.postMessage({ id, ok: false, error: String(error.message || error) });
    }
  });
};
