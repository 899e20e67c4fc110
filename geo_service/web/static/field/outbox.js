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

// task: {id, patchId} when the incident is the field check of a clearing patch: once the incident exists,
// the task's outcome (verified, with the incident's number) is sent too, so the incident links back to the patch.
export function enqueue(key, body, photoCount, task = null) {
  let items = loadOutbox();
  if (!items.some((i) => i.key === key)) {
    items.push({ key, body, photoCount, task, state: "waiting", attempts: 0, queuedAt: new Date().toISOString() });
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

function pending(item) { return ["waiting", "signin", "sending", "photos", "task"].includes(item.state); }

function afterPhotos(item) { return item.task && !item.taskDone ? "task" : "sent"; }

// Where a failed item resumes: before the incident exists, from the start; after, at the step that failed.
function resume(key) {
  const cur = loadOutbox().find((i) => i.key === key);
  if (!cur?.incidentId) return "waiting";
  return cur.state === "task" ? "task" : "photos";
}

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
                                    state: item.photoCount ? "photos" : afterPhotos(item),
                                    sentAt: new Date().toISOString() });
      onChange();
    }
    if (item.state === "photos") item = await sendPhotos(item);
    if (item.state === "task") await sendOutcome(item);
    return "done";
  } catch (e) {
    if (e instanceof NetworkError || (e instanceof ApiError && (e.status >= 500 || e.status === 429))) {
      updateItem(item.key, { state: resume(item.key) });
      return "retry";
    }
    if (e instanceof ApiError && e.status === 401) {
      const at = resume(item.key);
      updateItem(item.key, { state: at === "waiting" ? "signin" : at });
      onSignInNeeded();
      return "signin";
    }
    const cur = loadOutbox().find((i) => i.key === item.key) || item;
    const where = !cur.incidentId ? { state: "refused", error: errorOf(e) }
      : cur.state === "task" ? { state: "sent", taskError: errorOf(e) }
      : { state: afterPhotos(cur), photoError: errorOf(e) };
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
  return updateItem(item.key, { state: afterPhotos(item), photosSent: photos.length });
}

// The task's outcome once its incident exists; a task already closed (409) is done too.
async function sendOutcome(item) {
  try {
    await call(`/api/v1/forest-loss/tasks/${encodeURIComponent(item.task.id)}/outcome`, {
      method: "POST", json: { outcome: "verified", incident_id: item.incidentId },
    });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409)) throw e;
  }
  return updateItem(item.key, { state: "sent", taskDone: true });
}
