// The public report page: no account. The draft is kept on every change; "send" puts the report in an outbox
// (localStorage, photos in IndexedDB) that sends it now or when the network is back, always with the same
// Idempotency-Key, so a retry after a lost answer gets the same receipt code and never a second report.
// Contact details leave the phone's outbox as soon as the report is sent. Every value from the user or the
// server reaches the page through textContent only.
import { applyLanguage, has, onLanguageChange, t, toggleLanguage } from "../field/i18n.js";
import { newKey } from "../field/store.js";

const $ = (id) => document.getElementById(id);
const DRAFT_KEY = "geo.report.draft";
const OUTBOX_KEY = "geo.report.outbox";
const DISTRICTS_KEY = "geo.report.districts";
const MEMBER_KEY = "geo.report.member";
const FIELDS = ["position", "datum", "observed", "description", "contact-name", "contact-phone", "contact-email",
                "contact-line", "contact-note", "website"];
const FIRST_RETRY_MS = 2000, MAX_RETRY_MS = 60_000;

class NetworkError extends Error {}
class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status; this.code = error?.code || "http_error";
  }
}

async function send(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { ...options, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  } catch (e) { throw new NetworkError(String(e)); }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) throw new ApiError(response.status, data?.error);
  return { status: response.status, data };
}

function read(key, fallback) { try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; } }
function loadDraft() { const d = read(DRAFT_KEY, null); return d && d.key ? d : { key: newKey() }; }
function saveDraft() { localStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); }
function loadOutbox() { return read(OUTBOX_KEY, []); }
function saveOutbox(items) { localStorage.setItem(OUTBOX_KEY, JSON.stringify(items)); }
function updateItem(key, changes) {
  const items = loadOutbox();
  const item = items.find((i) => i.key === key);
  if (item) Object.assign(item, changes);
  saveOutbox(items);
  return item;
}

// --- a network member's sign-in (optional): their reports carry the token, the server seals their name ----
function memberSession() {
  const m = read(MEMBER_KEY, null);
  return m && m.token && m.expiresAt > Date.now() + 30_000 ? m : null;
}

function showMember() {
  const m = memberSession();
  $("member-bar").hidden = !m;
  $("member-box").hidden = !!m;
  $("member-name").textContent = m ? m.username : "";
}

async function memberSignIn(event) {
  event.preventDefault();
  $("member-error").hidden = true;
  try {
    const body = new URLSearchParams({ username: $("member-username").value.trim(), password: $("member-password").value });
    const r = await send("/api/v1/citizen/auth/token", { method: "POST", body });
    localStorage.setItem(MEMBER_KEY, JSON.stringify({ token: r.data.access_token, username: r.data.username,
                                                      expiresAt: Date.now() + r.data.expires_in * 1000 }));
    $("member-password").value = "";
    for (const i of loadOutbox()) if (i.state === "signin") updateItem(i.key, { state: "waiting" });
    showMember();
    renderOutbox();
    flush();
  } catch (e) {
    $("member-error").textContent = `${errorTitle(e)}${e instanceof ApiError ? `: ${e.message}` : ""}`;
    $("member-error").hidden = false;
  }
}

async function memberSignOut() {
  const m = memberSession();
  localStorage.removeItem(MEMBER_KEY);
  showMember();
  if (m) {
    try { await send("/api/v1/citizen/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${m.token}` } }); } catch { /* offline: the token expires */ }
  }
}

// --- photos in IndexedDB ------------------------------------------------------------------------------
let dbPromise;
function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open("geo-report", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("photos", { keyPath: "draft" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return dbPromise;
}
function tx(mode, fn) {
  return db().then((d) => new Promise((resolve, reject) => {
    const t_ = d.transaction("photos", mode);
    const req = fn(t_.objectStore("photos"));
    t_.oncomplete = () => resolve(req?.result);
    t_.onerror = () => reject(t_.error);
  }));
}
async function setPhotos(key, files) {
  const list = await Promise.all([...files].map(async (f) => ({ name: f.name, blob: new Blob([await f.arrayBuffer()], { type: f.type }) })));
  return tx("readwrite", (s) => s.put({ draft: key, list }));
}
async function getPhotos(key) { return (await tx("readonly", (s) => s.get(key)))?.list || []; }
function deletePhotos(key) { return tx("readwrite", (s) => s.delete(key)); }

// --- draft ----------------------------------------------------------------------------------------------
let draft = loadDraft();
let located = null;

function bangkokNow() {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Bangkok", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23" }).formatToParts(new Date()).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

function fillForm() {
  for (const f of FIELDS) if (draft[f] !== undefined) $(f).value = draft[f];
  if (!draft.observed) $("observed").value = bangkokNow();
  for (const r of document.querySelectorAll("input[name=kind]")) r.checked = r.value === (draft.kind || "encroachment");
  showAccuracy(); drawMarker(); showPhotoCount();
}

function keepDraft() {
  for (const f of FIELDS) draft[f] = $(f).value;
  draft.kind = document.querySelector("input[name=kind]:checked")?.value || "encroachment";
  saveDraft();
  $("draft-status").textContent = t("draft_saved");
}

function locationBody() {
  if (draft.geo) {
    const loc = { lat: draft.geo.lat, lon: draft.geo.lon, datum: "WGS84" };
    if (draft.geo.accuracy != null) loc.accuracy_m = draft.geo.accuracy;
    return loc;
  }
  return { text: $("position").value.trim(), datum: $("datum").value };
}

function showAccuracy() {
  const el = $("accuracy");
  el.hidden = !draft.geo;
  if (!draft.geo) return;
  el.textContent = draft.geo.accuracy != null ? t("accuracy", { m: Math.round(draft.geo.accuracy) })
    : t("map_picked", { lat: draft.geo.lat.toFixed(5), lon: draft.geo.lon.toFixed(5) });
}

async function showPhotoCount() {
  const n = (await getPhotos(draft.key)).length;
  $("photo-count").textContent = n ? t("photos_selected", { n }) : "";
}

function errorTitle(e) {
  if (e instanceof NetworkError) return t("network_error");
  return has(`err_${e.code}`) ? t(`err_${e.code}`) : t("err_default");
}

function areaName(a) {
  if (!a) return "—";
  return document.documentElement.lang === "en" ? `${a.name_en} (${a.name_th})` : `${a.name_th} (${a.name_en})`;
}

// A new position: the last check's place and refusal are about another point and go (both boxes sit below the
// submit button, so their closing never moves it); a check still out for the old position no longer holds the
// button, and its answer is dropped when it comes (checkPosition compares the positions).
function positionChanged() {
  located = null;
  checks += 1;
  $("place").hidden = true;
  $("locate-error").hidden = true;
  $("position").setAttribute("aria-invalid", "false");
  $("check-position").disabled = false;
}

let checks = 0;  // the number of the latest check (or position change): only its end frees the button
async function checkPosition() {
  const body = locationBody();
  if (!body.text && body.lat == null) return;
  const sig = JSON.stringify(body);
  const mine = ++checks;
  $("check-position").disabled = true;
  try {
    const r = await send("/api/v1/citizen/locate", { method: "POST", headers: { "Content-Type": "application/json" },
                                                    body: JSON.stringify(body) });
    if (JSON.stringify(locationBody()) !== sig) return;  // an answer for a position since changed: not shown
    located = r.data;
    $("locate-error").hidden = true;
    $("position").setAttribute("aria-invalid", "false");
    const p = r.data.place;
    $("place-text").textContent = p.outside_province ? t("outside_province_place")
      : `${t("district")} ${areaName(p.district)} · ${t("subdistrict")} ${areaName(p.subdistrict)} · `
        + t(p.in_reserve ? "in_reserve" : "not_in_reserve");
    $("place").hidden = false;
  } catch (e) {
    if (JSON.stringify(locationBody()) !== sig) return;  // a refusal of a position since changed: not shown either
    located = null;
    $("place").hidden = true;
    $("locate-error-title").textContent = errorTitle(e);
    $("locate-error-message").textContent = e instanceof ApiError ? e.message : "";
    $("locate-error").hidden = false;  // below the submit button: its opening never moves the button
    $("position").setAttribute("aria-invalid", String(e instanceof ApiError));
  } finally { if (mine === checks) $("check-position").disabled = false; }
}

// --- the map: district outlines (public data, kept for offline use) drawn in SVG; a tap picks the point --
let frame = null;  // {minLon, maxLat, kx, ky, scale}
function project(lon, lat) { return [(lon - frame.minLon) * frame.kx * frame.scale + frame.dx, (frame.maxLat - lat) * frame.scale + frame.dy]; }
function unproject(x, y) { return [(x - frame.dx) / frame.scale / frame.kx + frame.minLon, frame.maxLat - (y - frame.dy) / frame.scale]; }

function rings(geom) {
  if (!geom) return [];
  return geom.type === "Polygon" ? geom.coordinates : geom.type === "MultiPolygon" ? geom.coordinates.flat() : [];
}

function drawMap(fc) {
  const svg = $("map");
  const all = fc.features.flatMap((f) => rings(f.geometry)).flat();
  if (!all.length) { $("map-status").textContent = t("map_unavailable"); return; }
  const lons = all.map((c) => c[0]), lats = all.map((c) => c[1]);
  const minLon = Math.min(...lons), maxLon = Math.max(...lons), minLat = Math.min(...lats), maxLat = Math.max(...lats);
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const scale = 940 / Math.max((maxLon - minLon) * kx, maxLat - minLat);
  frame = { minLon, maxLat, kx, scale, dx: 30 + (940 - (maxLon - minLon) * kx * scale) / 2, dy: 30 + (940 - (maxLat - minLat) * scale) / 2 };
  svg.replaceChildren();
  for (const f of fc.features) {
    const d = rings(f.geometry).map((ring) => "M" + ring.map((c) => project(c[0], c[1]).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = f.properties?.name_th || "";
    path.append(title);
    svg.append(path);
  }
  $("map-status").textContent = "";
  drawMarker();
}

function drawMarker() {
  const svg = $("map");
  svg.querySelector("circle")?.remove();
  if (!frame || !draft.geo) return;
  const [x, y] = project(draft.geo.lon, draft.geo.lat);
  const c = document.createElementNS("http://www.w3.org/2000/svg", "circle");
  c.setAttribute("cx", x.toFixed(1)); c.setAttribute("cy", y.toFixed(1)); c.setAttribute("r", "12");
  svg.append(c);
}

async function loadMap() {
  const cached = read(DISTRICTS_KEY, null);
  if (cached) drawMap(cached);
  try {
    const r = await send("/api/v1/districts?simplify=150");
    localStorage.setItem(DISTRICTS_KEY, JSON.stringify(r.data));
    drawMap(r.data);
  } catch { if (!cached) $("map-status").textContent = t("map_unavailable"); }
}

function mapTap(event) {
  if (!frame) return;
  const svg = $("map");
  const pt = svg.createSVGPoint();
  pt.x = event.clientX; pt.y = event.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  const [lon, lat] = unproject(p.x, p.y);
  draft.geo = { lat: +lat.toFixed(6), lon: +lon.toFixed(6), accuracy: null, source: "map" };
  $("position").value = "";
  positionChanged();
  keepDraft(); showAccuracy(); drawMarker();
  if (navigator.onLine) checkPosition();
}

// --- outbox ---------------------------------------------------------------------------------------------
let running = null, timer = null;

function pending(i) { return i.state === "waiting" || i.state === "sending"; }

function flush() {
  if (running) { running.again = true; return running.promise; }
  running = { again: false };
  running.promise = (async () => {
    try { do { running.again = false; await flushOnce(); } while (running.again); } finally { running = null; }
  })();
  return running.promise;
}

async function flushOnce() {
  clearTimeout(timer); timer = null;
  let retry = false;
  for (const item of loadOutbox().filter(pending)) {
    const outcome = await sendItem(item);
    renderOutbox();
    if (outcome === "retry") { retry = true; break; }
  }
  if (retry) {
    const attempts = Math.max(1, ...loadOutbox().filter(pending).map((i) => i.attempts || 1));
    timer = setTimeout(flush, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1)));
  }
}

async function sendItem(item) {
  const member = item.member ? memberSession() : null;
  if (item.member && !member) {  // never sent as the public when it was meant as a member's report
    updateItem(item.key, { state: "signin" });
    return "signin";
  }
  updateItem(item.key, { state: "sending", attempts: (item.attempts || 0) + 1 });
  renderOutbox();
  try {
    const form = new FormData();
    form.append("report", JSON.stringify(item.body));
    for (const p of await getPhotos(item.key)) form.append("photos", p.blob, p.name);
    const headers = { "Idempotency-Key": item.key };
    if (member) headers.Authorization = `Bearer ${member.token}`;
    const r = await send("/api/v1/citizen/reports", { method: "POST", body: form, headers });
    // sent: the contact details and the photos leave this phone; the receipt code stays
    updateItem(item.key, { state: "sent", receipt: r.data.receipt, body: { kind: item.body.kind }, sentAt: new Date().toISOString() });
    await deletePhotos(item.key);
    return "done";
  } catch (e) {
    if (e instanceof NetworkError || (e instanceof ApiError && (e.status >= 500 || e.status === 429))) {
      updateItem(item.key, { state: "waiting" });
      return "retry";
    }
    if (e instanceof ApiError && e.status === 401 && item.member) {
      localStorage.removeItem(MEMBER_KEY);
      showMember();
      updateItem(item.key, { state: "signin" });
      return "signin";
    }
    // refused for good (a 4xx): it will never be sent, so the contact details leave this phone now too (the
    // rest stays, for the reporter to see what was refused, until "forget")
    const { contact: _dropped, ...kept } = item.body;
    updateItem(item.key, { state: "refused", body: kept, error: { code: e.code, message: e.message } });
    return "done";
  }
}

function renderOutbox() {
  const list = $("outbox-list");
  list.replaceChildren();
  for (const item of loadOutbox().slice().reverse()) {
    const li = document.createElement("li");
    li.dataset.state = item.state;
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = `${t(`state_${item.state}`)} · ${t(`kind_${item.body?.kind}`)}`;
    li.append(state);
    if (item.receipt) {
      const p = document.createElement("p");
      p.textContent = `${t("receipt")}: `;
      const code = document.createElement("span");
      code.className = "receipt";
      code.textContent = item.receipt;
      p.append(code);
      const keep = document.createElement("p");
      keep.className = "note";
      keep.textContent = t("receipt_keep");
      li.append(p, keep);
    }
    if (item.error) {
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = `${errorTitle(item.error)}: ${item.error.message}`;
      li.append(p);
    }
    if (!pending(item)) {
      const b = document.createElement("button");
      b.type = "button"; b.className = "small link"; b.textContent = t("forget");
      b.onclick = async () => { saveOutbox(loadOutbox().filter((i) => i.key !== item.key)); await deletePhotos(item.key); renderOutbox(); };
      li.append(b);
    }
    list.append(li);
  }
}

async function submit(event) {
  event.preventDefault();
  keepDraft();
  const loc = locationBody();
  const err = $("form-error");
  if (!loc.text && loc.lat == null) { err.textContent = t("need_position"); err.hidden = false; return; }
  err.hidden = true;
  const body = { kind: draft.kind, location: loc, description: $("description").value.trim(), website: $("website").value };
  if ($("observed").value) body.observed_at = `${$("observed").value}:00`;
  const contact = { name: $("contact-name").value.trim(), phone: $("contact-phone").value.trim(),
                    email: $("contact-email").value.trim(), line_id: $("contact-line").value.trim(),
                    note: $("contact-note").value.trim() };
  if (Object.values(contact).some(Boolean)) body.contact = contact;
  const items = loadOutbox();
  if (!items.some((i) => i.key === draft.key)) {
    items.push({ key: draft.key, body, state: "waiting", attempts: 0, member: !!memberSession() });
  }
  saveOutbox(items);
  // a new, empty draft (the queued one keeps its key and photos)
  draft = { key: newKey(), kind: draft.kind };
  saveDraft();
  $("report").reset();
  positionChanged();  // the sent report's place or refusal is not about the new, empty draft
  fillForm();
  renderOutbox();
  flush();
}

// --- follow-up with the receipt -------------------------------------------------------------------------
async function follow(event) {
  event?.preventDefault();
  const receipt = $("receipt-input").value.trim();
  $("follow-error").hidden = true;
  try {
    const r = await send("/api/v1/citizen/receipt", { headers: { "X-Receipt": receipt } });
    const en = document.documentElement.lang === "en";
    $("follow-status").textContent = en ? r.data.status_en : r.data.status_th;
    $("follow-reason").textContent = r.data.reason ? `${t("reason")}: ${r.data.reason}` : "";
    $("follow-result").hidden = false;
  } catch (e) {
    $("follow-result").hidden = true;
    $("follow-error").textContent = `${errorTitle(e)}${e instanceof ApiError ? `: ${e.message}` : ""}`;
    $("follow-error").hidden = false;
  }
}

async function addInformation() {
  const form = new FormData();
  form.append("text", $("add-text").value);
  for (const f of $("add-photos").files) form.append("photos", f, f.name);
  try {
    await send("/api/v1/citizen/receipt/additions", { method: "POST", body: form, headers: { "X-Receipt": $("receipt-input").value.trim() } });
    $("add-status").textContent = t("added");
    $("add-text").value = "";
    $("add-photos").value = "";
  } catch (e) { $("add-status").textContent = `${errorTitle(e)}${e instanceof ApiError ? `: ${e.message}` : ""}`; }
}

// --- network and start -------------------------------------------------------------------------------------
function showNetwork() {
  const el = $("network");
  el.className = `network ${navigator.onLine ? "online" : "offline"}`;
  el.textContent = t(navigator.onLine ? "online" : "offline");
}

function useLocation() {
  if (!navigator.geolocation) { $("accuracy").hidden = false; $("accuracy").textContent = t("geo_unavailable"); return; }
  $("accuracy").hidden = false;
  $("accuracy").textContent = t("locating");
  navigator.geolocation.getCurrentPosition((pos) => {
    draft.geo = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy, source: "gps" };
    $("position").value = "";
    positionChanged();
    keepDraft(); showAccuracy(); drawMarker();
    if (navigator.onLine) checkPosition();
  }, () => { $("accuracy").textContent = t("geo_failed"); }, { enableHighAccuracy: true, timeout: 20_000, maximumAge: 30_000 });
}

$("lang").addEventListener("click", toggleLanguage);
$("member-form").addEventListener("submit", memberSignIn);
$("member-signout").addEventListener("click", memberSignOut);
onLanguageChange(() => { renderOutbox(); showNetwork(); showAccuracy(); showPhotoCount(); });
$("report").addEventListener("input", (e) => {
  if (e.target.id === "position" || e.target.id === "datum") { draft.geo = null; positionChanged(); drawMarker(); showAccuracy(); }
  keepDraft();
});
$("report").addEventListener("change", keepDraft);
$("photos").addEventListener("change", async (e) => { await setPhotos(draft.key, [...e.target.files].slice(0, 5)); showPhotoCount(); });
$("map").addEventListener("click", mapTap);
$("use-location").addEventListener("click", useLocation);
$("check-position").addEventListener("click", checkPosition);
$("report").addEventListener("submit", submit);
$("follow-form").addEventListener("submit", follow);
$("add-send").addEventListener("click", addInformation);
window.addEventListener("online", () => { showNetwork(); flush(); });
window.addEventListener("offline", showNetwork);

applyLanguage();
showMember();
fillForm();
showNetwork();
renderOutbox();
loadMap();
flush();
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/report/sw.js", { scope: "/report" }).catch(() => {});
