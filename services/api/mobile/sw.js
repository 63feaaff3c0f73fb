// duban's phone app: the service worker keeps the app's own files, so the app opens and
// takes reports with no network. The API is never cached here: reports wait in IndexedDB
// (app.js) and are sent, idempotently, when the network returns.
const VERSION = "__VERSION__";
const SHELL = [
  "/m/",
  "/m/manifest.webmanifest",
  "/m/static/app.js",
  "/m/static/app.css",
  "/m/static/icon-192.png",
  "/m/static/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(VERSION).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== VERSION).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith("/m/")) return; // the API and the dashboard: the network
  const key = event.request.mode === "navigate" ? "/m/" : url.pathname;
  event.respondWith(
    caches.match(key).then((hit) => hit || fetch(event.request)),
  );
});
