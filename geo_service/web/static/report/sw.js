// Service worker of the public report page: keeps the page and its files (and the field form's shared ones) so
// it opens with no network. Network first, the cache when offline; API calls are never touched.
const CACHE = "geo-report-v1";
const ASSETS = ["/report", "/static/report/report.js", "/static/report/report.css", "/static/field/field.css",
                "/static/field/i18n.js", "/static/field/store.js", "/static/field/icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("geo-report") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!ASSETS.includes(url.pathname)) return;
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
