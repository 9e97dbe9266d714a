// The page: pick, drop, paste or take a photo; classify it in a Web Worker with the newest
// approved model; stay on that model as approvals and revocations move the channel; keep
// working offline; report each prediction.
//
// Query options for power users and benchmarks: ?threads=N, ?backend=wasm, ?variant=fp16,
// ?encoding=none (download the variant's file, not its compact weights).

import { clientRefusal, loadContract, problems } from "./contract.js";
import { GatewaySession, GatewayUnreachable } from "./gateway.js";
import { inputSize, labelList, unsureBelow } from "./image.js";
import {
  IntegrityError,
  cachedModel,
  chooseDownload,
  chooseVariant,
  downloadModel,
  pruneModels,
  saveModelState,
  savedModelState,
  storeModel,
} from "./models.js";
import { detectRuntime, offlineShell } from "./runtime.js";
import { TelemetryQueue } from "./telemetry.js";

const ORT_BASE = `${location.origin}/app/vendor/ort/`;
const DEFAULT_CONFIG = { model: "image-classifier", channel: "stable", manifest_poll_s: 300 };
const options = new URLSearchParams(location.search);
// /m/<model> (or ?model=) opens that model; / opens the gateway's default, or lists the models
const pathModel = location.pathname.match(/^\/m\/([A-Za-z0-9][A-Za-z0-9-]{0,62})\/?$/);
const chosenModel = pathModel ? pathModel[1] : options.get("model");
const $ = (id) => document.getElementById(id);

// ---- the worker, as promises -------------------------------------------------------------

class InferenceWorker {
  constructor() {
    this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    this.pending = new Map();
    this.next = 0;
    this.worker.onmessage = ({ data }) => {
      const { resolve, reject } = this.pending.get(data.id);
      this.pending.delete(data.id);
      if (data.ok) resolve(data.result);
      else reject(new Error(data.error));
    };
  }

  call(type, message = {}, transfer = []) {
    const id = (this.next += 1);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...message }, transfer);
    });
  }
}

// ---- state -------------------------------------------------------------------------------

const state = {
  session: new GatewaySession(),
  worker: null, // a promise of the InferenceWorker, settled once its runtime has loaded
  runtime: null, // { backend, threads, webgpu, isolated, cores }
  current: null, // { manifest, variant, download (the variant or its compact weights), etag, backend, load }
  paused: null, // why the page does not classify, when it does not
  refusedSha: new Set(), // files that failed their check in this visit: not downloaded again
  checking: null,
};

const config = () => ({
  ...DEFAULT_CONFIG,
  ...(state.session.config || {}),
  ...(chosenModel ? { model: chosenModel } : {}),
});

function setStatus(text, status) {
  $("status").textContent = text;
  document.body.dataset.status = status;
}

function notice(text, kind = "warning") {
  const box = $("notice");
  box.hidden = !text;
  box.textContent = text || "";
  box.className = `notice ${kind}`;
}

function formatBytes(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

function showProgress(label, fraction) {
  $("progress-wrap").hidden = fraction === null;
  $("progress-label").textContent = label;
  $("progress").value = fraction ?? 0;
}

function showModel() {
  const { current, runtime } = state;
  $("model-name").textContent = current?.manifest.model ?? config().model;
  $("model-version").textContent = current ? `v${current.manifest.version}` : "–";
  $("model-variant").textContent = current?.variant.precision ?? "–";
  $("model-size").textContent = current ? formatBytes(current.download.bytes) : "–";
  $("backend").textContent = current?.backend ?? runtime?.backend ?? "–";
  $("threads").textContent = runtime ? String(runtime.threads) : "–";
  const labels = current?.manifest.labels;
  $("model-classes").hidden = !labels;
  $("model-classes").textContent = labels ? `This model knows: ${labelList(labels)}.` : "";
  document.body.dataset.modelVersion = current ? String(current.manifest.version) : "";
  document.body.dataset.variant = current?.variant.precision ?? "";
  document.body.dataset.encoding = current?.download.encoding ?? "";
  document.body.dataset.backend = current?.backend ?? "";
}

function ready(detail = "") {
  const { manifest, variant } = state.current;
  setStatus(`Ready · ${manifest.model} v${manifest.version} · ${variant.precision}${detail}`, "ready");
}

// ---- the model: follow the channel -------------------------------------------------------

async function activate(manifest, etag, { announce = true, previousSha = null } = {}) {
  const variant = chooseVariant(manifest, state.runtime.backend, options.get("variant"));
  // the variant's file, or its compact weights, which the worker expands back into that model
  const download = chooseDownload(manifest, variant, state.runtime.backend, options.get("encoding"));
  const what = download.encoding ? `${variant.precision}, ${download.encoding} weights` : variant.precision;
  const size = inputSize(variant);
  let bytes = await cachedModel(download.sha256);
  const fresh = !bytes;
  if (bytes) {
    setStatus(`Loading v${manifest.version} from cache…`, "loading");
    showProgress(`Loading v${manifest.version} (${what}) from this device's cache`, 1);
  } else {
    if (state.refusedSha.has(download.sha256)) {
      throw new IntegrityError(`v${manifest.version} (${download.file}) was refused earlier in this visit`);
    }
    setStatus(`Downloading v${manifest.version}…`, "loading");
    const label = (received, total) =>
      `Downloading v${manifest.version} (${what}): ${formatBytes(received)} of ${formatBytes(total)}`;
    showProgress(label(0, download.bytes), 0);
    try {
      bytes = await downloadModel(download, (received, total) => showProgress(label(received, total), received / total));
    } catch (error) {
      if (error instanceof IntegrityError) state.refusedSha.add(download.sha256);
      throw error;
    }
  }
  const worker = await state.worker;
  const compact = download.encoding ? { file: download.file, expandedSha256: download.expanded_sha256 } : null;
  // the worker gets a copy of a download, which is kept only once the worker has accepted it
  // (compact weights that do not expand to the manifest's model are refused there)
  const handed = fresh ? bytes.slice(0) : bytes;
  const loaded = await worker.call("load", { bytes: handed, compact, size, labels: manifest.labels }, [handed]);
  if (fresh) {
    // a full or unavailable cache costs a download next time, not this model
    await storeModel(download.sha256, bytes).catch((error) => console.warn("the model was not cached:", error));
  }
  const previous = state.current;
  // the file this page ran before (what it downloaded: compact weights or the file), kept
  // across restarts too: a revocation or an aborted rollout sends a page back to it, and that
  // then needs no download
  if (previous) {
    previousSha = previous.download.sha256 !== download.sha256 ? previous.download.sha256 : previous.previousSha;
  }
  state.current = { manifest, variant, download, etag, backend: loaded.backend, load: loaded, previousSha };
  state.paused = null;
  saveCurrent();
  await pruneModels([download.sha256, previousSha].filter(Boolean));
  showProgress("", null);
  showModel();
  const switched = announce && previous && previous.manifest.version !== manifest.version;
  markResult(manifest.version);
  if (loaded.fallback) notice(loaded.fallback);
  else if (switched && manifest.version < previous.manifest.version) {
    // the channel names the newest approved version: going back means the newer one was revoked
    notice(`v${previous.manifest.version} was revoked: back to v${manifest.version}, the newest approved version.`, "info");
  } else if (switched) {
    notice(`Switched from v${previous.manifest.version} to v${manifest.version}, the newest approved version.`, "info");
  } else notice(null);
  ready();
}

function saveCurrent() {
  const { manifest, etag, variant, previousSha } = state.current;
  saveModelState(config().model, { manifest, etag, variant: variant.precision, previous_sha256: previousSha });
}

async function pause(reason) {
  state.paused = reason;
  if (state.current) await (await state.worker).call("unload");
  state.current = null;
  saveModelState(config().model, null);
  showModel();
  setStatus("Paused: no approved model", "paused");
  notice(reason, "error");
}

async function checkChannel() {
  const { model, channel } = config();
  const headers = state.current?.etag ? { "If-None-Match": state.current.etag } : {};
  let response;
  try {
    response = await state.session.fetch(`/v1/models/${encodeURIComponent(model)}/channels/${encodeURIComponent(channel)}`, {
      headers,
    });
  } catch (error) {
    if (!(error instanceof GatewayUnreachable)) throw error;
    if (state.current) setStatus(`Offline · using cached v${state.current.manifest.version}`, "offline");
    else if (!state.paused) setStatus("Offline, and no model on this device yet", "offline");
    return;
  }
  if (response.status === 304) {
    if (state.current) ready();
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 404 && "version" in body) {
    const was = state.current ? `v${state.current.manifest.version}` : body.revoked ? `v${body.revoked}` : "the last version";
    await pause(`No approved version of ${model}: ${was} was revoked. Classification is paused until a version is approved.`);
    return;
  }
  if (!response.ok) {
    notice(`Could not check for a newer model (HTTP ${response.status}: ${body.detail || "no detail"}).`);
    return;
  }
  const etag = response.headers.get("ETag");
  const same = state.current && state.current.manifest.version === body.version;
  if (same) {
    state.current.etag = etag;
    saveCurrent();
    ready();
    return;
  }
  try {
    const refusal = clientRefusal(body, (await loadContract()).manifest);
    if (refusal) throw new Error(refusal); // a newer platform's manifest: keep what runs
    await activate(body, etag);
  } catch (error) {
    showProgress("", null);
    const keeping = state.current ? `still using v${state.current.manifest.version}` : "no model to use yet";
    notice(`v${body.version} was not used: ${error.message}. ${keeping[0].toUpperCase()}${keeping.slice(1)}.`, "error");
    if (state.current) ready(" (newer version refused)");
    else setStatus("No usable model", "error");
  }
}

function checkSoon() {
  state.checking ??= checkChannel()
    .catch((error) => notice(`Model check failed: ${error.message}`, "error"))
    .finally(() => {
      state.checking = null;
      showSharing(); // a renewed token carries the gateway's current settings
    });
  return state.checking;
}

// ---- classify, share, report ---------------------------------------------------------------

const telemetry = new TelemetryQueue({
  send: (events) =>
    state.session.fetch("/v1/telemetry", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ events }),
    }),
  onChange: () => showTelemetry(),
});

const counted = (n, one, many) => `${n} ${n === 1 ? one : many}`;

async function showTelemetry() {
  const s = await telemetry.stats();
  const refused = s.rejected + s.dropped;
  if (!s.sent && !s.queued && !refused && !s.overflowed) {
    $("telemetry-stats").textContent = "No predictions sent yet.";
    return;
  }
  const parts = [`${counted(s.sent, "prediction", "predictions")} reported`];
  if (s.queued) parts.push(`${s.queued} waiting to be sent`);
  if (refused) parts.push(`${refused} refused by the server`);
  if (s.overflowed) parts.push(`${s.overflowed} dropped while offline`);
  $("telemetry-stats").textContent = `${parts.join(" · ")}.`;
}

/** Mark the answer on screen as old once another version is in use (a person sees which
 *  model gave it), and unmark it when the version that gave it is back. */
function markResult(version) {
  const from = Number(document.body.dataset.resultVersion || 0);
  const stale = Boolean(from) && from !== version;
  $("result-card").classList.toggle("stale", stale);
  $("result-stale").hidden = !stale;
  $("result-stale").textContent = stale
    ? `This answer came from v${from}; v${version} is in use now. Choose the photo again for its answer.`
    : "";
}

function renderResult(result, totalMs) {
  const list = $("predictions");
  list.replaceChildren(
    ...result.top.map(({ label, confidence }) => {
      const item = document.createElement("li");
      const percent = `${(confidence * 100).toFixed(1)} %`;
      const name = Object.assign(document.createElement("span"), { className: "label", textContent: label });
      const value = Object.assign(document.createElement("span"), { className: "value", textContent: percent });
      const track = Object.assign(document.createElement("div"), { className: "bar-track" });
      track.setAttribute("role", "presentation");
      const fill = Object.assign(document.createElement("div"), { className: "bar-fill" });
      fill.style.width = `${Math.max(0.5, confidence * 100)}%`;
      track.append(fill);
      item.append(name, value, track);
      item.setAttribute("aria-label", `${label}: ${percent}`);
      return item;
    }),
  );
  list.hidden = false;
  // below the version's threshold the answer is likely none of the classes: say so, above the list
  const { manifest } = state.current;
  const unsure = result.top[0].confidence < unsureBelow(manifest);
  $("result-card").classList.toggle("unsure", unsure);
  $("result-unsure").hidden = !unsure;
  $("result-unsure").textContent = unsure ? `Not sure — this photo may not be any of: ${labelList(manifest.labels)}.` : "";
  $("result-empty").hidden = true;
  $("timings").hidden = false;
  $("latency").textContent = `${result.timings.inference_ms.toFixed(1)} ms`;
  $("total").textContent = `${totalMs.toFixed(1)} ms`;
  document.body.dataset.answers = String(Number(document.body.dataset.answers || 0) + 1);
  document.body.dataset.resultVersion = String(manifest.version);
  markResult(manifest.version);
}

// the gateway says whether it takes shared photos (EDGELINE_WEB_SHARING); when it does not,
// the switch is off and says so
function showSharing() {
  const allowed = config().sharing !== false;
  const share = $("share");
  share.disabled = !allowed;
  if (!allowed) share.checked = false;
  $("share-label").disabled = !allowed || !share.checked;
  $("share-off").hidden = allowed;
  document.body.dataset.sharing = allowed ? "on" : "off";
}

// a shared photo is sent at most 2048 px on its longer side (a phone's 12-50 MP photo is
// scaled down here, turned upright, as JPEG): the gateway takes at most 12 MP and 5 MB
const SHARE_MAX_SIDE = 2048;
const SHARE_MAX_BYTES = 5 * 1024 * 1024;

async function shareable(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, SHARE_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  if (scale === 1 && file.size <= SHARE_MAX_BYTES) {
    bitmap.close();
    return file; // as it is (its EXIF orientation too, which the pipeline applies)
  }
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  return canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
}

async function sharePhoto(file) {
  const label = $("share-label").value.trim();
  const query = `?model=${encodeURIComponent(config().model)}${label ? `&label=${encodeURIComponent(label)}` : ""}`;
  const body = await shareable(file);
  const response = await state.session.fetch(`/v1/images${query}`, { method: "POST", body });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || body.errors?.[0]?.message || `HTTP ${response.status}`);
  }
  return (await response.json()).image_key;
}

async function classify(file) {
  if (!state.current) {
    throw new Error(state.paused || "The model is not ready yet.");
  }
  const { manifest, variant } = state.current;
  const started = performance.now();
  let result;
  try {
    result = await (await state.worker).call("classify", { blob: file });
  } catch (error) {
    // a failed inference is counted like an answer: a version that fails on real photos shows
    const failure = { outcome: "error", failure: failureText(error) };
    await report(await inferenceEvent(manifest, variant, performance.now() - started, failure));
    throw error;
  }
  const totalMs = performance.now() - started;
  renderResult(result, totalMs);
  const answered = result.top.every((entry) => Number.isFinite(entry.confidence));
  const event = await inferenceEvent(
    manifest,
    variant,
    result.timings.inference_ms,
    answered ? { top_k: result.top } : { outcome: "unscored", failure: "the model's output is not a finite number" },
    result.backend,
  );
  if (answered && $("share").checked) {
    try {
      event.image_key = await sharePhoto(file);
    } catch (error) {
      notice(`The photo was classified but not shared: ${error.message}.`);
    }
  }
  await report(event);
  return { ...result, totalMs, event };
}

/** The telemetry event of one inference on this page: ``outcome`` its prediction, or why none. */
async function inferenceEvent(manifest, variant, latencyMs, outcome, backend = state.current.backend) {
  return {
    schema: (await loadContract()).telemetrySchema,
    event_id: crypto.randomUUID(),
    client_kind: "web",
    device_id: state.session.browserId,
    model: manifest.model,
    model_version: manifest.version,
    variant: variant.precision,
    backend,
    threads: state.runtime.threads,
    timestamp: new Date().toISOString(),
    latency_ms: Math.min(Math.round(latencyMs * 1000) / 1000, 600000),
    ...outcome,
  };
}

function failureText(error) {
  const text = String(error?.message || error).replace(/\s+/g, " ").trim() || "no reason given";
  return text.length <= 200 ? text : `${text.slice(0, 197)}...`;
}

/** Queue an event for the gateway, checked as the gateway will check it: a broken event says
 * which field, here and now. A page without a browser id (no gateway session) reports nothing. */
async function report(event) {
  if (!event.device_id) return;
  const contract = await loadContract();
  const broken = problems(event, contract.event);
  if (broken.length) notice(`This prediction is not reported: ${broken[0][0]} ${broken[0][1]}.`, "error");
  else await telemetry.add(event);
}

function preview(file) {
  const image = $("preview");
  if (image.src) URL.revokeObjectURL(image.src);
  image.src = URL.createObjectURL(file);
  image.alt = `Your photo: ${file.name || "pasted image"}`;
  image.hidden = false;
}

async function onPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    notice(`${file.name || "That file"} is not an image.`, "error");
    return;
  }
  preview(file);
  try {
    await classify(file);
    showAnswer();
  } catch (error) {
    notice(`Could not classify this photo: ${error.message}`, "error");
  }
}

/** Bring the answer into view when it is below the fold (a phone's single column). */
function showAnswer() {
  const card = $("result-card").getBoundingClientRect();
  if (card.top > window.innerHeight * 0.6 || card.bottom < 0) $("result-card").scrollIntoView({ block: "start" });
}

// ---- wiring ----------------------------------------------------------------------------------

function wireInputs() {
  // dropping and pasting need a mouse and a keyboard: a touch screen is offered the buttons only
  if (!window.matchMedia("(any-pointer: fine)").matches) $("drop-hint").textContent = "Choose a photo, or take one:";
  for (const id of ["photo-input", "camera-input"]) {
    $(id).addEventListener("change", (event) => {
      onPhoto(event.target.files[0]);
      event.target.value = "";
    });
  }
  const zone = $("dropzone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    onPhoto(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) onPhoto(item.getAsFile());
  });
  $("share").addEventListener("change", (event) => {
    $("share-label").disabled = !event.target.checked;
  });
  window.addEventListener("online", () => {
    checkSoon();
    telemetry.flush();
  });
  // a person coming back to the tab sees the newest approved version, not the poll's
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") checkSoon();
  });
  window.addEventListener("focus", () => checkSoon());
}

async function start() {
  wireInputs();
  setStatus("Starting the runtime…", "starting");
  state.runtime = await detectRuntime({
    threads: Number(options.get("threads")) || 0,
    backend: options.get("backend") || "auto",
  });
  showModel();
  // the offline shell (with the runtime's wasm) is stored first, then the worker loads the runtime
  // from it; meanwhile the model is checked and downloaded here
  state.worker = offlineShell().then(async () => {
    const worker = new InferenceWorker();
    const { backend, threads } = state.runtime;
    await worker.call("init", { ortBase: ORT_BASE, backend, threads });
    return worker;
  });
  await state.session.token().catch(() => null); // offline on a first visit: the check says so
  if (!chosenModel && (await showChooser())) return; // several models: the person picks one
  const saved = savedModelState(config().model);
  if (saved) {
    try {
      await activate(saved.manifest, saved.etag, { announce: false, previousSha: saved.previous_sha256 });
    } catch (error) {
      console.warn("the saved model could not be loaded", error);
    }
  }
  await checkSoon();
  await state.worker; // a runtime that failed to load says so here
  setInterval(checkSoon, config().manifest_poll_s * 1000);
  showTelemetry();
  telemetry.flush();
}

/** At /, when the gateway serves several models: list them (name, version, classes, size),
 * each a link to its own page. False, showing nothing, when there is one (or no answer). */
async function showChooser() {
  let listed;
  try {
    const response = await state.session.fetch("/v1/web/models");
    if (!response.ok) return false;
    listed = (await response.json()).models;
  } catch {
    return false; // offline: the default model's page works from its cache
  }
  if (listed.length < 2) return false;
  const list = $("model-list");
  for (const model of listed) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = model.page;
    link.textContent = model.model;
    link.dataset.model = model.model;
    const facts = document.createElement("span");
    const size = model.bytes ? `, ${formatBytes(model.bytes)}` : "";
    facts.textContent = ` v${model.version} · ${model.labels.length} classes (${model.labels.join(", ")})${size}`;
    item.append(link, facts);
    list.append(item);
  }
  for (const card of document.querySelectorAll("main > section.card:not(#chooser)")) card.hidden = true;
  $("chooser").hidden = false;
  setStatus(`${listed.length} models: choose one`, "choose");
  return true;
}

// for the console and for tests: the same paths the page's own controls take
window.edgeline = {
  state,
  classify,
  preprocess: async (blob) => (await state.worker).call("preprocess", { blob }),
  checkChannel: checkSoon,
  flushTelemetry: () => telemetry.flush(),
  telemetryStats: () => telemetry.stats(),
  started: start().catch((error) => {
    setStatus("Could not start", "error");
    notice(`Edgeline could not start: ${error.message}`, "error");
    throw error;
  }),
};
