// The alerts page: sign in (the field form's API module), subscriptions, contacts, the in-app list.
import { signIn, session, forgetToken, call, ApiError } from "/static/field/api.js";

const TEXT = JSON.parse(document.getElementById("page-text").textContent);
let lang = "th";
const $ = (id) => document.getElementById(id);

function t(key) { return (TEXT[key] || {})[lang] || key; }

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
}

function show(message) {
  $("message").textContent = message;
  $("message").hidden = !message;
}

function item(text, button) {
  const li = document.createElement("li");
  li.textContent = text;  // textContent: never HTML from the server's data
  if (button) li.append(" ", button);
  return li;
}

// Reads overlap (a language switch, a save, a delete each read the lists again): only the latest read is shown, so an
// older read answering late never puts back a list or an address the officer has just changed. The lists are
// aria-busy while a read is out.
let reads = 0;
let readsOut = 0;

async function refresh() {
  const read = ++reads;
  readsOut += 1;
  $("main").setAttribute("aria-busy", "true");
  try {
    await showLists(read);
  } finally {
    readsOut -= 1;
    if (!readsOut) $("main").setAttribute("aria-busy", "false");
  }
}

async function showLists(read) {
  const [recent, subs, contacts] = await Promise.all([
    call("/api/v1/alerts/recent"), call("/api/v1/alerts/subscriptions"), call("/api/v1/alerts/contacts"),
  ]);
  if (read !== reads) return;  // a later read is out: it shows the newer state
  $("recent").replaceChildren(...(recent.data.length ? recent.data.map((a) => {
    const li = item(`${a.title} — ${a.where} — ${a.when} `);
    const link = document.createElement("a");
    link.href = a.link; link.textContent = "🗺";
    li.append(link);
    return li;
  }) : [item(t("none"))]));
  $("subscriptions").replaceChildren(...(subs.data.length ? subs.data.map((s) => {
    const del = document.createElement("button");
    del.type = "button"; del.className = "small"; del.textContent = t("delete");
    del.addEventListener("click", async () => {
      try { await call(`/api/v1/alerts/subscriptions/${s.id}`, { method: "DELETE" }); await refresh(); }
      catch (e) { show(e.message); }
    });
    const subject = s.subject_type === "polygon" ? t("polygon") : `${t(s.subject_type)} ${s.subject_code}`;
    return item(`#${s.id} ${subject}: ${s.kinds.map(t).join(", ")} (${t(s.delivery)}; ${s.channels.join(", ")})`, del);
  }) : [item(t("none"))]));
  for (const k of ["email", "line_user_id", "webhook_url"]) $(k).value = contacts.data[k] || "";
}

function signedIn() {
  const s = session();
  $("signin").hidden = !!s;
  $("main").hidden = !s;
  if (s) { $("user-name").textContent = s.username; refresh().catch((e) => show(e.message)); }
}

$("lang").addEventListener("click", () => {
  lang = lang === "th" ? "en" : "th";
  applyLanguage();
  if (session()) refresh().catch((e) => show(e.message));  // the lists in the new language
});
$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try { await signIn($("username").value.trim(), $("password").value); $("signin-error").hidden = true; signedIn(); }
  catch (e) { $("signin-error").textContent = e.message; $("signin-error").hidden = false; }
});
$("signout").addEventListener("click", () => { forgetToken(); signedIn(); });
$("subscribe").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const body = {
    subject_type: form.get("subject_type"),
    kinds: form.getAll("kinds"),
    min_confidence: form.get("min_confidence"),
    delivery: form.get("delivery"),
    digest_time: form.get("digest_time") || "07:00",
    language: form.get("language"),
    channels: form.getAll("channels"),
  };
  if (body.subject_type === "polygon") body.polygon = JSON.parse(form.get("polygon") || "null");
  else body.subject_code = form.get("subject_code").trim();
  if (form.get("quiet_start") && form.get("quiet_end")) {
    body.quiet_start = form.get("quiet_start"); body.quiet_end = form.get("quiet_end");
  }
  try { await call("/api/v1/alerts/subscriptions", { method: "POST", json: body }); show(""); await refresh(); }
  catch (e) { show(e instanceof ApiError ? e.message : String(e)); }
});
$("contacts").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const json = {};
  for (const k of ["email", "line_user_id", "webhook_url"]) json[k] = $(k).value.trim() || null;
  try { await call("/api/v1/alerts/contacts", { method: "PUT", json }); show(""); await refresh(); }
  catch (e) { show(e.message); }
});
applyLanguage();
signedIn();
