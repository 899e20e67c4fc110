// The service's API: sign-in token kept with its expiry, JSON calls, one error shape.
const AUTH_KEY = "geo.field.auth";

export class NetworkError extends Error {}

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "http_error";
    this.details = error?.details || [];
  }
}

export function session() {
  try {
    const s = JSON.parse(localStorage.getItem(AUTH_KEY) || "null");
    return s && s.token && s.expiresAt > Date.now() + 30_000 ? s : null;
  } catch { return null; }
}

export function lastUser() {
  try { return JSON.parse(localStorage.getItem(AUTH_KEY) || "null")?.username || ""; } catch { return ""; }
}

export function forgetToken() {
  const username = lastUser();
  localStorage.setItem(AUTH_KEY, JSON.stringify({ username }));
}

export async function signIn(username, password) {
  const body = new URLSearchParams({ username, password });
  const r = await send("/api/v1/auth/token", { method: "POST", body });
  localStorage.setItem(AUTH_KEY, JSON.stringify({
    token: r.data.access_token, username: r.data.username, expiresAt: Date.now() + r.data.expires_in * 1000,
  }));
  return r.data;
}

async function send(url, options) {
  let response;
  try {
    response = await fetch(url, { ...options, credentials: "omit", cache: "no-store" });
  } catch (e) {
    throw new NetworkError(String(e));
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON: a proxy page or an empty body */ }
  if (!response.ok) throw new ApiError(response.status, data?.error);
  return { status: response.status, headers: response.headers, data };
}

// An authenticated call; a missing or expired token is a 401 without a round trip.
export async function call(url, { method = "GET", json, form, headers = {} } = {}) {
  const s = session();
  if (!s) throw new ApiError(401, { code: "unauthorized", message: "Sign in first." });
  const h = { ...headers, Authorization: `Bearer ${s.token}` };
  let body;
  if (json !== undefined) { h["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  try {
    return await send(url, { method, headers: h, body });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) forgetToken();
    throw e;
  }
}
