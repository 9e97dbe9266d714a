// The service worker: keeps the app shell (the page, its modules, onnxruntime-web's wasm build)
// so that the page starts and classifies with no network at all after the first visit. The
// gateway writes the shell's file list and version into this file; a new version installs a new
// shell cache and drops the old one. Models are cached by the page itself, by sha256.

const SHELL = __EDGELINE_SHELL__;
const SHELL_CACHE = `edgeline-shell-${SHELL.version}`;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL.urls.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((name) => name.startsWith("edgeline-shell-") && name !== SHELL_CACHE).map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

async function fromShell(request) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) return hit;
  const response = await fetch(request);
  // the WebGPU build of the runtime is not in the shell: keep it once a browser has used it
  if (response.ok && new URL(request.url).pathname.startsWith("/app/vendor/")) {
    await cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/" || url.pathname.startsWith("/app/")) {
    event.respondWith(fromShell(event.request));
  } else if (url.pathname.startsWith("/m/")) {
    event.respondWith(fromShell(new Request("/"))); // a model's page is the same page
  }
});
