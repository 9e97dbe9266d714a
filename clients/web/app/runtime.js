// Where the model runs (WebGPU where the browser really has a GPU, else wasm), with how many
// threads, and the offline shell: decided before the inference worker starts.

async function detectWebGPU() {
  if (!("gpu" in navigator)) return { available: false, reason: "this browser has no WebGPU" };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { available: false, reason: "no WebGPU adapter" };
    const info = adapter.info || {};
    if (info.isFallbackAdapter || adapter.isFallbackAdapter) {
      return { available: false, reason: "only a software WebGPU adapter" };
    }
    return { available: true, adapter: [info.vendor, info.architecture].filter(Boolean).join(" ") };
  } catch (error) {
    return { available: false, reason: `WebGPU failed: ${error.message || error}` };
  }
}

/** The backend and thread count; ``threads`` 0 means one per core, up to 4. */
export async function detectRuntime({ threads = 0, backend = "auto" } = {}) {
  const isolated = self.crossOriginIsolated === true;
  const cores = navigator.hardwareConcurrency || 1;
  const webgpu = backend === "wasm" ? { available: false, reason: "wasm requested" } : await detectWebGPU();
  // threaded wasm needs SharedArrayBuffer, which only cross-origin isolated pages get
  const count = isolated ? Math.max(1, Math.min(threads || Math.min(4, cores), cores)) : 1;
  return { backend: webgpu.available ? "webgpu" : "wasm", threads: count, webgpu, isolated, cores };
}

/**
 * Register the service worker and, on a first visit, wait until it has stored the shell and
 * taken control (or failed). The inference worker starts after this, so that the runtime's
 * 14 MB of wasm is downloaded once (by the shell) and compiled from the cache, where the browser
 * also keeps its compiled code for the next visit.
 */
export async function offlineShell(timeoutMs = 20000) {
  if (!("serviceWorker" in navigator)) return "unsupported";
  let registration;
  try {
    registration = await navigator.serviceWorker.register("/sw.js");
  } catch (error) {
    console.warn("no offline support:", error);
    return "failed";
  }
  const installing = registration.installing || registration.waiting;
  if (navigator.serviceWorker.controller || !installing) return "ready";
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), timeoutMs);
    const done = (state) => {
      clearTimeout(timer);
      resolve(state);
    };
    navigator.serviceWorker.addEventListener("controllerchange", () => done("ready"), { once: true });
    installing.addEventListener("statechange", () => {
      if (installing.state === "redundant") done("failed");
    });
  });
}
