// Words of the page in Thai (default) and English; the server renders Thai, this switches languages.
const TEXT = JSON.parse(document.getElementById("page-text").textContent);
const LANG_KEY = "geo.field.lang";
let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "th";
const listeners = [];

export function currentLang() { return lang; }

// t("accuracy", {m: 12}) -> "Accuracy ± 12 m"; unknown keys come back as the key itself.
export function t(key, vars = {}) {
  const entry = TEXT[key];
  let s = entry ? entry[lang] : key;
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export function has(key) { return Object.hasOwn(TEXT, key); }

// Static labels carry data-t; everything is set with textContent (never HTML).
export function applyLanguage() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) { listeners.push(fn); }

export function toggleLanguage() {
  lang = lang === "th" ? "en" : "th";
  localStorage.setItem(LANG_KEY, lang);
  applyLanguage();
}
