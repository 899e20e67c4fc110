// What survives a closed page or a dropped network: the draft and the outbox in localStorage,
// photos (Blobs) in IndexedDB, all keyed by the draft's Idempotency-Key.
const DRAFT_KEY = "geo.field.draft";
const OUTBOX_KEY = "geo.field.outbox";

// A UUID v4; crypto.randomUUID needs a secure context (https or localhost), getRandomValues does not.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function read(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

export function loadDraft() {
  const d = read(DRAFT_KEY, null);
  return d && d.key ? d : { key: newKey() };
}

export function saveDraft(draft) { localStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); }

export function loadOutbox() { return read(OUTBOX_KEY, []); }

export function saveOutbox(items) { localStorage.setItem(OUTBOX_KEY, JSON.stringify(items)); }

export function updateItem(key, changes) {
  const items = loadOutbox();
  const item = items.find((i) => i.key === key);
  if (item) Object.assign(item, changes);
  saveOutbox(items);
  return item;
}

// --- photos in IndexedDB ------------------------------------------------------------------------
let dbPromise;
function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open("geo-field", 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore("photos", { keyPath: "id" }).createIndex("draft", "draft");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return dbPromise;
}

function tx(mode, fn) {
  return db().then((d) => new Promise((resolve, reject) => {
    const t = d.transaction("photos", mode);
    const result = fn(t.objectStore("photos"));
    t.oncomplete = () => resolve(result.result ?? result);
    t.onerror = () => reject(t.error);
  }));
}

export async function setPhotos(draftKey, files) {
  await deletePhotos(draftKey);
  const blobs = await Promise.all([...files].map(async (f) => new Blob([await f.arrayBuffer()], { type: f.type })));
  return tx("readwrite", (store) => {
    blobs.forEach((blob, i) => store.put({ id: `${draftKey}:${i}`, draft: draftKey, name: files[i].name, blob }));
    return {};
  });
}

export function getPhotos(draftKey) {
  return tx("readonly", (store) => store.index("draft").getAll(draftKey));
}

export async function deletePhotos(draftKey) {
  const photos = await getPhotos(draftKey);
  return tx("readwrite", (store) => { for (const p of photos) store.delete(p.id); return {}; });
}
