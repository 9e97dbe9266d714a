// Model files: downloaded once with progress, checked against the manifest's sha256 before any
// use, kept in Cache Storage under their sha256 (so a file is never fetched twice, and going
// back to a previous version needs no download), and pruned to what the page may still need.

import { ENCODINGS } from "./weights.js";

const MODEL_CACHE = "edgeline-models-v1";
const STATE_PREFIX = "edgeline.model."; // + the model's name: each model's page keeps its own
const LEGACY_STATE_KEY = "edgeline.model"; // a page from before it served several models

export class IntegrityError extends Error {}

const cacheUrl = (sha256) => `/__edgeline__/models/${sha256}`;

export async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The cached bytes of ``sha256`` if they are there and still match it. */
export async function cachedModel(sha256) {
  const cache = await caches.open(MODEL_CACHE);
  const hit = await cache.match(cacheUrl(sha256));
  if (!hit) return null;
  const bytes = await hit.arrayBuffer();
  if ((await sha256Hex(bytes)) === sha256) return bytes;
  await cache.delete(cacheUrl(sha256));
  return null;
}

export async function storeModel(sha256, bytes) {
  const cache = await caches.open(MODEL_CACHE);
  await cache.put(cacheUrl(sha256), new Response(bytes, { headers: { "Content-Type": "application/octet-stream" } }));
}

/** The files other models' pages run, and those they would go back to: a page prunes none of them. */
function savedFiles() {
  const shas = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key.startsWith(STATE_PREFIX)) continue;
    const saved = JSON.parse(localStorage.getItem(key) || "null");
    const variant = saved?.manifest.variants.find((v) => v.precision === saved.variant);
    if (variant) shas.push(variant.sha256, ...(variant.compact || []).map((c) => c.sha256));
    if (saved?.previous_sha256) shas.push(saved.previous_sha256);
  }
  return shas;
}

/** Drop every cached model file but those named and those another model's page runs. */
export async function pruneModels(keep) {
  const kept = [...keep, ...savedFiles()];
  const cache = await caches.open(MODEL_CACHE);
  for (const request of await cache.keys()) {
    const sha = new URL(request.url).pathname.split("/").pop();
    if (!kept.includes(sha)) await cache.delete(request);
  }
}

/** Download a variant, reporting (received, total) bytes; IntegrityError if it is not the file the manifest names. */
export async function downloadModel(variant, onProgress) {
  const response = await fetch(new URL(variant.url, location.href), { cache: "no-store", mode: "cors" });
  if (!response.ok) throw new Error(`download of ${variant.file} failed: HTTP ${response.status}`);
  const total = variant.bytes;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.byteLength;
    if (received > total) {
      await reader.cancel();
      throw new IntegrityError(`${variant.file} is larger than the ${total} bytes the manifest names`);
    }
    onProgress(received, total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const sha = await sha256Hex(bytes);
  if (sha !== variant.sha256) {
    throw new IntegrityError(
      `${variant.file}: sha256 ${sha.slice(0, 12)}… does not match the manifest's ${variant.sha256.slice(0, 12)}…`,
    );
  }
  return bytes.buffer;
}

/** The variant this backend should run: the manifest's recommendation for it, else fp32. */
export function chooseVariant(manifest, backend, forced = null) {
  const recommended = manifest.recommended || {};
  const wanted = forced || recommended[`web-${backend}`] || "fp32";
  return (
    manifest.variants.find((v) => v.precision === wanted) ||
    manifest.variants.find((v) => v.precision === "fp32") ||
    manifest.variants[0]
  );
}

/** What to download for ``variant`` on ``backend``: its compact weights (to expand in the worker)
 *  where the manifest recommends an encoding this page expands, else its file. ``forced``
 *  ("none", or an encoding) overrides the manifest. */
export function chooseDownload(manifest, variant, backend, forced = null) {
  const wanted = forced || manifest.recommended_encoding?.[`web-${backend}`];
  return (variant.compact || []).find((c) => c.encoding === wanted && ENCODINGS.includes(c.encoding)) || variant;
}

/** What ``model``'s page ran last: its manifest, ETag, variant (so that it starts offline) and the
 * sha256 of the file it ran before (``previous_sha256``, kept for going back). */
export function savedModelState(model) {
  const saved = JSON.parse(localStorage.getItem(STATE_PREFIX + model) || "null");
  if (saved) return saved;
  const legacy = JSON.parse(localStorage.getItem(LEGACY_STATE_KEY) || "null");
  return legacy?.manifest.model === model ? legacy : null;
}

export function saveModelState(model, state) {
  localStorage.removeItem(LEGACY_STATE_KEY);
  if (state) localStorage.setItem(STATE_PREFIX + model, JSON.stringify(state));
  else localStorage.removeItem(STATE_PREFIX + model);
}
