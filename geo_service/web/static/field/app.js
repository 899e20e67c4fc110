// The field form: draft kept on every change, position checked with /locate before saving,
// submit queues the incident in the outbox, which sends it now or when the network is back.
// Every value from the user or the server reaches the page through textContent only.
import { ApiError, NetworkError, call, forgetToken, lastUser, session, signIn } from "./api.js";
import { applyLanguage, currentLang, has, onLanguageChange, t, toggleLanguage } from "./i18n.js";
import * as outbox from "./outbox.js";
import * as tasks from "./tasks.js";
import { getPhotos, loadDraft, loadOutbox, newKey, saveDraft, setPhotos } from "./store.js";

const $ = (id) => document.getElementById(id);
const form = $("incident");
const FIELDS = ["kind", "severity", "description", "observed", "position", "datum"];
let draft = loadDraft();
let located = null;        // {sig, place} of the last successful /locate for the draft's position
let locateProblem = null;  // the last /locate error, shown until the position changes
let checksOut = 0;         // /locate calls not yet answered

// --- time ----------------------------------------------------------------------------------------
function bangkokNow() {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Bangkok", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date()).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

// --- draft -----------------------------------------------------------------------------------------
function fillForm() {
  for (const f of FIELDS) if (draft[f] !== undefined) $(f).value = draft[f];
  if (!draft.observed) $("observed").value = bangkokNow();
  showAccuracy();
  showPhotoCount();
  showTask();
}

// --- field tasks (clearing patches to verify) ---------------------------------------------------------
function showTask() {
  $("task-banner").hidden = !draft.task;
  if (draft.task) $("task-banner-text").textContent = t("task_for", { id: draft.task.patchId });
}

// The officer's position for "tasks near me": the draft's GPS fix, a typed "lat, lon", or the device's position.
function wherePosition() {
  if (draft.geo) return Promise.resolve({ lat: draft.geo.lat, lon: draft.geo.lon });
  const m = $("position").value.trim().match(/^(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)$/);
  if (m) return Promise.resolve({ lat: Number(m[1]), lon: Number(m[2]) });
  if (!navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => navigator.geolocation.getCurrentPosition(
    (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }), () => resolve(null),
    { enableHighAccuracy: true, timeout: 30_000, maximumAge: 60_000 }));
}

// Fill the form for a task: land clearing at the patch, its title as the description (the officer edits both).
function logForTask(task) {
  draft = {
    ...draft, kind: "land_clearing", description: currentLang() === "en" ? task.title_en : task.title_th,
    position: `${task.lat.toFixed(6)}, ${task.lon.toFixed(6)}`, datum: "WGS84", geo: null,
    task: { id: task.id, patchId: task.patch_id },
  };
  saveDraft(draft);
  positionChanged();
  fillForm();
  locate().catch(() => {});
  form.scrollIntoView();
}

function keepDraft() {
  for (const f of FIELDS) draft[f] = $(f).value;
  saveDraft(draft);
  $("draft-status").textContent = t("draft_saved");
}

function locationBody() {
  const loc = draft.geo
    ? { lat: draft.geo.lat, lon: draft.geo.lon, accuracy_m: draft.geo.accuracy, datum: "WGS84" }
    : { text: $("position").value.trim(), datum: $("datum").value };
  if (draft.confirmOutside) loc.confirm_outside_province = true;
  return loc;
}

function positionChanged() {
  draft.confirmOutside = false;
  located = null;
  locateProblem = null;
  placeBox("hidden");
  $("locate-error").hidden = true;
  $("position").setAttribute("aria-invalid", "false");
}

// --- where the point falls ------------------------------------------------------------------------
function name(area) {
  if (!area) return "—";
  const [first, second] = document.documentElement.lang === "en" ? [area.name_en, area.name_th] : [area.name_th, area.name_en];
  return `${first} (${second})`;
}

function showPlace() {
  if (!located) return;
  const p = located.place;
  const near = p.nearest_district;
  $("place-district").textContent = !p.outside_province ? name(p.district)
    : near ? t("outside_province_near", { km: (p.province_distance_m / 1000).toFixed(1), district: name(near),
                                          dkm: (near.distance_m / 1000).toFixed(1) })
    : t("outside_province_place");
  const pos = located.position;
  $("place-read-as").textContent = pos?.read_as
    ? t("read_as", { text: pos.read_as, name: document.documentElement.lang === "en" ? pos.format_name.en
                                                                                      : pos.format_name.th })
    : "";
  $("place-subdistrict").textContent = name(p.subdistrict);
  $("place-protected").textContent = p.protected_areas.length
    ? p.protected_areas.map((a) => `${document.documentElement.lang === "en" ? a.name_en : a.name_th}`
                                   + (a.illustrative ? ` ${t("illustrative")}` : "")).join("; ")
    : t("none");
  const reserve = [t(p.in_reserve ? "in_reserve" : "not_in_reserve")];
  if (p.reserve_distance_m != null) reserve.push(t("reserve_distance", { m: Math.round(p.reserve_distance_m).toLocaleString() }));
  $("place-reserve").textContent = reserve.join(" · ");
  placeBox("answer");
}

// The place box (below the submit button, so that nothing it shows can move the button under a finger):
// "hidden", "checking" (a neutral line while /locate is out) or "answer"; aria-busy until the answer is complete.
function placeBox(state) {
  $("place").hidden = state === "hidden";
  $("place-checking").hidden = state !== "checking";
  $("place-answer").hidden = state !== "answer";
  $("place").setAttribute("aria-busy", String(state === "checking"));
}

function showProblem() {
  const box = $("locate-error");  // below the submit button, like the place box: its opening never moves the button
  $("position").setAttribute("aria-invalid", String(Boolean(locateProblem)));
  if (!locateProblem) { box.hidden = true; return; }
  const e = locateProblem;
  $("locate-error-title").textContent = errorTitle(e);
  $("locate-error-message").textContent = e.message;
  const suggestion = e.details?.find((d) => d && d.suggestion)?.suggestion;
  const apply = $("apply-suggestion");
  apply.hidden = !suggestion;
  if (suggestion) {
    const lat = suggestion.lat.toFixed(6), lon = suggestion.lon.toFixed(6);
    apply.textContent = `${t("did_you_mean", { lat, lon })} — ${t("apply_suggestion")}`;
    apply.onclick = () => {
      draft.geo = null;
      $("position").value = `${lat}, ${lon}`;
      $("datum").value = "WGS84";
      positionChanged();
      keepDraft();
      locate();
    };
  }
  $("confirm-outside").hidden = e.code !== "outside_province";
  box.hidden = false;
}

function errorTitle(e) {
  if (e instanceof NetworkError) return t("network_error");
  return has(`err_${e.code}`) ? t(`err_${e.code}`) : t("err_default");
}

async function locate() {
  const body = locationBody();
  if (!draft.geo && !body.text) return false;
  const sig = JSON.stringify(body);
  if (located?.sig === sig) return true;
  const button = $("check-position");
  checksOut += 1;  // busy until every check out has answered (leaving the box and a submit can overlap)
  button.disabled = true;
  button.setAttribute("aria-busy", "true");  // shows its "checking" label (field.css: .stacked)
  if (!located) placeBox("checking");
  try {
    const r = await call("/api/v1/incidents/locate", { method: "POST", json: body });
    if (JSON.stringify(locationBody()) !== sig) return false;  // the position changed meanwhile
    located = { sig, place: r.data.place, position: r.data.position };
    locateProblem = null;
    showProblem();
    showPlace();
    return true;
  } catch (e) {
    if (!located) placeBox("hidden");
    if (e instanceof ApiError && e.status === 401) { askSignIn(true); throw e; }
    if (e instanceof NetworkError) throw e;
    // A refusal of a position the officer has since changed (a second check of the old position answering late, after
    // "did you mean" was applied) is not shown: the current position's own check decides.
    if (JSON.stringify(locationBody()) !== sig) return false;
    located = null;
    locateProblem = e;
    placeBox("hidden");
    showProblem();
    return false;
  } finally {
    checksOut -= 1;
    if (!checksOut) {
      button.disabled = false;
      button.setAttribute("aria-busy", "false");
    }
  }
}

// --- the device's position ------------------------------------------------------------------------
function showAccuracy() {
  const el = $("accuracy");
  el.hidden = !draft.geo;
  if (draft.geo) el.textContent = t("accuracy", { m: Math.round(draft.geo.accuracy) });
}

function useLocation() {
  const el = $("accuracy");
  el.hidden = false;
  if (!navigator.geolocation) { el.textContent = t("geo_unavailable"); return; }
  el.textContent = t("locating");
  navigator.geolocation.getCurrentPosition((pos) => {
    const { latitude, longitude, accuracy } = pos.coords;
    positionChanged();
    draft.geo = { lat: latitude, lon: longitude, accuracy };
    $("position").value = `${latitude.toFixed(6)}, ${longitude.toFixed(6)}`;
    $("datum").value = "WGS84";
    keepDraft();
    showAccuracy();
    locate().catch(() => {});
  }, (err) => {
    el.textContent = `${t("geo_failed")}: ${err.message}`;
  }, { enableHighAccuracy: true, timeout: 30_000, maximumAge: 0 });
}

// --- photos ----------------------------------------------------------------------------------------
async function showPhotoCount() {
  const n = (await getPhotos(draft.key)).length;
  draft.photoCount = n;
  $("photo-count").textContent = n ? t("photos_selected", { n }) : "";
}

// --- submit ----------------------------------------------------------------------------------------
function showFormError(message) {
  $("form-error").hidden = !message;
  $("form-error").textContent = message || "";
}

async function submit(event) {
  event.preventDefault();
  keepDraft();
  showFormError("");
  if (!draft.geo && !$("position").value.trim()) { showFormError(t("need_position")); return; }
  // Online without a session (it expired, or a check just answered 401 and forgot the token): ask to sign in and keep
  // the draft, whether or not a check answered before this press (the outcome used to depend on that timing). Offline,
  // the report is queued as before and waits for the network, then for a sign-in.
  if (navigator.onLine && !session()) { askSignIn(Boolean(lastUser())); return; }
  if (navigator.onLine) {
    try {
      if (!(await locate())) return;  // the problem is shown below the button
    } catch (e) {
      if (!(e instanceof NetworkError)) return;  // 401: sign-in asked; the draft stays
    }
  }
  const body = {
    kind: $("kind").value, severity: $("severity").value, description: $("description").value,
    observed_at: $("observed").value ? `${$("observed").value.slice(0, 16)}:00+07:00` : undefined,
    location: locationBody(), tags: [],
  };
  outbox.enqueue(draft.key, body, draft.photoCount || 0, draft.task || null);
  if (draft.task) tasks.forget(draft.task.id);  // queued: its outcome goes with the incident
  draft = { key: newKey(), kind: body.kind, severity: "medium", datum: $("datum").value };
  saveDraft(draft);
  form.reset();
  positionChanged();
  fillForm();
  $("draft-status").textContent = "";
  outbox.flush();
}

// --- outbox view -------------------------------------------------------------------------------------
function renderOutbox() {
  const list = $("outbox-list");
  list.replaceChildren();
  for (const item of loadOutbox().slice().reverse()) {
    const li = document.createElement("li");
    li.dataset.state = item.state;
    li.dataset.key = item.key;
    const head = document.createElement("div");
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = t(`state_${item.state}`);
    head.append(state, ` ${item.reference || ""} · ${t(`kind_${item.body.kind}`)}`);
    if (item.state === "waiting" && item.attempts) head.append(` (${t("attempt", { n: item.attempts })})`);
    if (item.photoCount) head.append(` · ${t("photos")} ${item.photosSent ?? 0}/${item.photoCount}`);
    li.append(head);
    const where = document.createElement("div");
    where.className = "note";
    where.textContent = item.body.location.text || `${item.body.location.lat}, ${item.body.location.lon}`;
    li.append(where);
    if (item.task) {
      const task = document.createElement("div");
      task.className = "note";
      task.textContent = t("task_for", { id: item.task.patchId });
      li.append(task);
    }
    for (const problem of [item.error, item.photoError, item.taskError].filter(Boolean)) {
      const p = document.createElement("p");
      p.className = "error";
      const head = problem === item.photoError ? t("photos_failed")
        : problem === item.taskError ? t("task_failed") : errorTitle(problem);
      p.textContent = `${head}: ${problem.message}`;
      li.append(p);
    }
    if (item.state === "refused") {
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = t("edit_again");
      again.onclick = () => editAgain(item);
      li.append(again);
    }
    list.append(li);
  }
}

function editAgain(item) {
  const b = item.body;
  const loc = b.location;
  draft = {
    key: item.error?.code === "idempotency_key_reused" ? newKey() : item.key,
    kind: b.kind, severity: b.severity, description: b.description, observed: (b.observed_at || "").slice(0, 16),
    position: loc.text ?? `${loc.lat}, ${loc.lon}`, datum: loc.datum || "WGS84",
    geo: loc.text ? null : { lat: loc.lat, lon: loc.lon, accuracy: loc.accuracy_m },
  };
  saveDraft(draft);
  outbox.remove(item.key);
  positionChanged();
  fillForm();
  locate().catch(() => {});
  form.scrollIntoView();
}

// --- sign-in ---------------------------------------------------------------------------------------
function askSignIn(expired = false) {
  $("signin").hidden = false;
  $("user-bar").hidden = true;
  $("signin-reason").textContent = expired ? `${t("session_expired")}. ${t("signin_note")}.` : t("signin_note");
  if (!$("username").value) $("username").value = lastUser();
}

function showUser() {
  const s = session();
  if (!s) { askSignIn(Boolean(lastUser())); return; }
  $("signin").hidden = true;
  $("user-bar").hidden = false;
  $("user-name").textContent = s.username;
}

async function doSignIn(event) {
  event.preventDefault();
  const err = $("signin-error");
  err.hidden = true;
  $("signin-button").disabled = true;
  try {
    await signIn($("username").value.trim(), $("password").value);
    $("password").value = "";
    showUser();
    outbox.flush();
    if (!located && (draft.geo || $("position").value.trim())) locate().catch(() => {});
  } catch (e) {
    err.textContent = `${t("signin_failed")}: ${e instanceof NetworkError ? t("network_error") : e.message}`;
    err.hidden = false;
  } finally {
    $("signin-button").disabled = false;
  }
}

// --- network ---------------------------------------------------------------------------------------
function showNetwork() {
  const el = $("network");
  el.className = `network ${navigator.onLine ? "online" : "offline"}`;
  el.textContent = navigator.onLine ? t("online") : t("offline");
}

// --- start -----------------------------------------------------------------------------------------
function start() {
  applyLanguage();
  fillForm();
  showUser();
  showNetwork();
  renderOutbox();
  outbox.configure({ changed: renderOutbox, needSignIn: () => askSignIn(true) });

  $("lang").addEventListener("click", toggleLanguage);
  onLanguageChange(() => {
    showNetwork(); renderOutbox(); showAccuracy(); showPlace(); showProblem(); showPhotoCount(); showTask(); tasks.render();
  });
  tasks.init({ logIncident: logForTask, where: wherePosition });
  $("task-cancel").addEventListener("click", () => { draft.task = null; saveDraft(draft); showTask(); });
  form.addEventListener("input", (e) => {
    if (e.target.id === "position" || e.target.id === "datum") { draft.geo = null; positionChanged(); showAccuracy(); }
    keepDraft();
  });
  form.addEventListener("change", (e) => {
    if (e.target.id === "position" || e.target.id === "datum") locate().catch(() => {});
  });
  form.addEventListener("submit", submit);
  $("check-position").addEventListener("click", () => locate().catch(() => {}));
  $("use-location").addEventListener("click", useLocation);
  $("confirm-outside").addEventListener("click", () => {
    draft.confirmOutside = true;
    keepDraft();
    locate().catch(() => {});
  });
  $("photos").addEventListener("change", async (e) => {
    await setPhotos(draft.key, e.target.files);
    showPhotoCount();
  });
  $("signin-form").addEventListener("submit", doSignIn);
  $("signout").addEventListener("click", () => { forgetToken(); askSignIn(false); });
  window.addEventListener("online", () => { showNetwork(); outbox.flush(); });
  window.addEventListener("offline", showNetwork);
  window.addEventListener("storage", renderOutbox);  // another tab changed the outbox

  if (draft.geo || draft.position) locate().catch(() => {});
  outbox.flush();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field" }).catch(() => {});
  }
}

start();
