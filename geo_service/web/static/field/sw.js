// Service worker of the field form: keeps the form's own page and files so it opens without a network.
// Network first (an update is picked up as soon as there is a connection), the cache when offline.
// API calls are never touched: the outbox in the page sends them.
const CACHE = "geo-field-v2";
const ASSETS = ["/field", "/static/field/field.css", "/static/field/icon.svg", "/static/field/app.js", "/static/field/api.js",
                "/static/field/i18n.js", "/static/field/outbox.js", "/static/field/store.js", "/static/field/tasks.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("geo-field") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname !== "/field" && !url.pathname.startsWith("/static/field/")) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      if (response.ok) await cache.put(url.pathname, response.clone());
      return response;
    } catch (err) {
      const cached = await cache.match(url.pathname);
      if (cached) return cached;
      throw err;
    }
  })());
});
