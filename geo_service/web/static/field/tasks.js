// Field tasks near the officer: clearing patches seen from space that an investigator sent to the field
// ("verify clearing at ..."). The last list fetched is kept on the phone, so it shows without a network.
// Each task shows its patch outline (drawn from the GeoJSON as SVG), area, alert dates and where it is; the
// officer logs the incident for it (the form is filled in; the outbox sends the incident, then the outcome
// with the incident's number), or records a false alarm / already known. Text goes in through textContent only.
import { ApiError, NetworkError, call } from "./api.js";
import { currentLang, t } from "./i18n.js";

const KEY = "geo.field.tasks";
const $ = (id) => document.getElementById(id);
let onLog = () => {};
let position = () => null;

function load() {
  try { return JSON.parse(localStorage.getItem(KEY) || "null") || { tasks: [] }; } catch { return { tasks: [] }; }
}

function save(state) { localStorage.setItem(KEY, JSON.stringify(state)); }

// The patch outline as a small SVG: longitudes scaled by cos(latitude) so the shape is not stretched.
// (The empty <svg> of the page is cloned: it carries the SVG namespace, which the script does not spell out.)
function outline(geometry) {
  const svg = $("outline-template").cloneNode(false);
  svg.removeAttribute("id");
  svg.removeAttribute("hidden");
  const polygons = geometry?.type === "MultiPolygon" ? geometry.coordinates
    : geometry?.type === "Polygon" ? [geometry.coordinates] : [];
  const points = polygons.flat(2);
  if (!points.length) return svg;
  const k = Math.cos((points.reduce((s, p) => s + p[1], 0) / points.length) * Math.PI / 180);
  const xs = points.map((p) => p[0] * k), ys = points.map((p) => p[1]);
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const span = Math.max(maxX - minX, maxY - minY) || 1e-6;
  const d = polygons.map((poly) => poly.map((ring) => ring.map((p, i) => {
    const x = 8 + ((p[0] * k - minX) / span) * 80, y = 88 - ((p[1] - minY) / span) * 80;
    return `${i ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`;
  }).join("") + "Z").join("")).join("");
  const path = document.createElementNS(svg.namespaceURI, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill-rule", "evenodd");
  svg.append(path);
  return svg;
}

function line(text, cls) {
  const p = document.createElement("p");
  if (cls) p.className = cls;
  p.textContent = text;
  return p;
}

export function render() {
  const state = load();
  const list = $("tasks-list");
  list.replaceChildren();
  $("tasks-status").textContent = state.fetchedAt
    ? t("tasks_found", { n: state.tasks.length, km: (state.radius / 1000).toFixed(0) })
    : "";
  for (const task of state.tasks) {
    const li = document.createElement("li");
    li.dataset.task = task.id;
    li.dataset.patch = task.patch_id;
    const en = currentLang() === "en";
    const head = document.createElement("strong");
    head.textContent = en ? task.title_en : task.title_th;
    li.append(outline(task.outline), head);
    const p = task.patch;
    li.append(line(t("task_figures", {
      rai: p.area_rai.toFixed(2), ha: p.area_ha.toFixed(2), m: Math.round(task.distance_m ?? 0).toLocaleString(),
    }), "note"));
    li.append(line(`${t("task_sources")}: ${p.sources.join(", ")}`, "note"));
    // what burned near the patch, in the server's words (a list kept from before they were sent: the short mark)
    if (p.cleared_by_fire) li.append(line((en ? task.fire_en : task.fire_th) || t("task_fire"), "note fire"));
    if (task.note) li.append(line(`${t("task_note")}: ${task.note}`, "note"));
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    const log = document.createElement("button");
    log.type = "button";
    log.className = "log-task";
    log.textContent = t("task_log");
    log.onclick = () => onLog(task);
    buttons.append(log);
    for (const outcome of ["false_alarm", "already_known"]) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `small outcome-${outcome}`;
      b.textContent = t(`task_${outcome}`);
      b.onclick = () => close(task, outcome, li);
      buttons.append(b);
    }
    li.append(buttons);
    list.append(li);
  }
}

// A task closed without an incident (false alarm, already known): needs the network.
async function close(task, outcome, li) {
  try {
    await call(`/api/v1/forest-loss/tasks/${encodeURIComponent(task.id)}/outcome`, { method: "POST", json: { outcome } });
    forget(task.id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) { forget(task.id); return; }
    li.append(line(e instanceof NetworkError ? t("network_error") : e.message, "error"));
  }
}

export function forget(taskId) {
  const state = load();
  state.tasks = state.tasks.filter((x) => x.id !== taskId);
  save(state);
  render();
}

async function find() {
  const here = await position();
  if (!here) { $("tasks-status").textContent = t("tasks_need_position"); return; }
  const radius = Number($("tasks-radius").value);
  $("tasks-status").textContent = t("checking");
  try {
    const r = await call(`/api/v1/forest-loss/tasks?near=${here.lon},${here.lat}&radius_m=${radius}`);
    save({ tasks: r.data.tasks, radius, fetchedAt: new Date().toISOString() });
    render();
  } catch (e) {
    $("tasks-status").textContent = e instanceof NetworkError ? `${t("network_error")} — ${t("tasks_cached")}` : e.message;
  }
}

export function init({ logIncident, where }) {
  onLog = logIncident;
  position = where;
  $("tasks-find").addEventListener("click", () => { find(); });
  render();
}
