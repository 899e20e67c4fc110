// Sends queued incidents: the same Idempotency-Key on every attempt, so a retry after a lost
// response gets the incident created the first time (200 Idempotent-Replayed), never a duplicate.
// Triggers: the `online` event, a retry timer with exponential back-off, sign-in, page load.
import { ApiError, NetworkError, call } from "./api.js";
import { deletePhotos, getPhotos, loadOutbox, saveOutbox, updateItem } from "./store.js";

const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 60_000;
let running = null;
let timer = null;
let onChange = () => {};
let onSignInNeeded = () => {};

export function configure({ changed, needSignIn }) {
  onChange = changed;
  onSignInNeeded = needSignIn;
}

const KEEP_SENT = 20;  // sent reports listed on the phone; older ones are forgotten (they are on the server)

export function enqueue(key, body, photoCount) {
  let items = loadOutbox();
  if (!items.some((i) => i.key === key)) {
    items.push({ key, body, photoCount, state: "waiting", attempts: 0, queuedAt: new Date().toISOString() });
  }
  const sent = items.filter((i) => i.state === "sent" && !i.photoError);
  const forget = new Set(sent.slice(0, Math.max(0, sent.length - KEEP_SENT)).map((i) => i.key));
  items = items.filter((i) => !forget.has(i.key));
  saveOutbox(items);
  onChange();
}

export function remove(key) {
  saveOutbox(loadOutbox().filter((i) => i.key !== key));
  onChange();
}

// One flush at a time; a flush requested while one runs starts again when it ends.
export function flush() {
  if (running) { running.again = true; return running.promise; }
  running = { again: false };
  running.promise = (async () => {
    try {
      do { running.again = false; await flushOnce(); } while (running.again);
    } finally { running = null; }
  })();
  return running.promise;
}

function pending(item) { return ["waiting", "signin", "sending", "photos"].includes(item.state); }

async function flushOnce() {
  clearTimeout(timer);
  timer = null;
  let retry = false;
  for (const item of loadOutbox().filter(pending)) {
    const outcome = await sendItem(item);
    onChange();
    if (outcome === "retry") retry = true;
    if (outcome === "signin" || outcome === "retry") break;  // the rest would fail the same way
  }
  if (retry) schedule();
}

function schedule() {
  const attempts = Math.max(1, ...loadOutbox().filter(pending).map((i) => i.attempts || 1));
  const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1));
  timer = setTimeout(flush, delay);
}

async function sendItem(item) {
  try {
    if (!item.incidentId) {
      updateItem(item.key, { state: "sending", attempts: (item.attempts || 0) + 1 });
      onChange();
      const r = await call("/api/v1/incidents", { method: "POST", json: item.body,
                                                  headers: { "Idempotency-Key": item.key } });
      item = updateItem(item.key, { incidentId: r.data.id, reference: r.data.reference,
                                    state: item.photoCount ? "photos" : "sent", sentAt: new Date().toISOString() });
      onChange();
    }
    if (item.state === "photos") await sendPhotos(item);
    return "done";
  } catch (e) {
    if (e instanceof NetworkError || (e instanceof ApiError && (e.status >= 500 || e.status === 429))) {
      updateItem(item.key, { state: item.incidentId ? "photos" : "waiting" });
      return "retry";
    }
    if (e instanceof ApiError && e.status === 401) {
      updateItem(item.key, { state: item.incidentId ? "photos" : "signin" });
      onSignInNeeded();
      return "signin";
    }
    const where = item.incidentId ? { state: "sent", photoError: errorOf(e) } : { state: "refused", error: errorOf(e) };
    updateItem(item.key, where);
    return "done";
  }
}

function errorOf(e) {
  return { code: e.code || "error", message: e.message, status: e.status || 0 };
}

// Photos go after the incident exists; uploading the same file again is idempotent on the server.
async function sendPhotos(item) {
  const photos = await getPhotos(item.key);
  if (photos.length) {
    const form = new FormData();
    for (const p of photos) form.append("files", p.blob, p.name);
    await call(`/api/v1/incidents/${encodeURIComponent(item.incidentId)}/photos`, { method: "POST", form });
  }
  await deletePhotos(item.key);
  updateItem(item.key, { state: "sent", photosSent: photos.length });
}
