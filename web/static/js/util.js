// Shared helpers for the consult pages: CSRF, JSON API calls, times in the program's zone.
// Importers that send the CSRF token must read `csrf` when they send, not copy it once.

// The session's CSRF token. A binding, not a copy: after an in-place sign-in
// (session.js) setCsrf() replaces it, and every importer sees the new one.
export let csrf = document.body.dataset.csrf || "";

export function setCsrf(token) {
  csrf = token || "";
  document.body.dataset.csrf = csrf;
  for (const input of document.querySelectorAll('input[name="csrf_token"]')) input.value = csrf;
}

// A request the page makes on its own (polling, status checks): it must not keep an
// idle session alive, so the server does not count it as the person's activity.
export const BACKGROUND = { "X-Econsult-Background": "1" };

// session.js registers how to get a live session back (an in-place sign-in); the
// API helpers below wait for it and retry the request the person made, once.
let recoverSession = null;
export function setSessionRecovery(fn) { recoverSession = fn; }

export function sessionLost(status, body) {
  const code = body && body.error && body.error.code;
  return status === 401 || (status === 403 && code === "csrf");
}

async function recovered() {
  return recoverSession ? recoverSession() : false;
}
export const zone = document.body.dataset.tz || undefined;

// The zone's offsets from the server's zone data ([from epoch s, offset s, abbreviation]):
// the browser's own zone data may be older or newer, and every screen must show the
// same instant as the same text (econsult.clock.format_local: "Wed 02 Dec 2026 17:00").
const rules = JSON.parse(document.body.dataset.tzRules || "[]");
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n) => String(n).padStart(2, "0");

function ruleAt(seconds) {
  let low = 0, high = rules.length - 1, found = null;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (rules[mid][0] <= seconds) { found = rules[mid]; low = mid + 1; } else high = mid - 1;
  }
  return found;
}

// withZone: the zone's abbreviation after the time, where it matters (deadlines).
export function fmtTime(iso, { withZone = false } = {}) {
  if (!iso) return "";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return "";
  const rule = ruleAt(Math.floor(ms / 1000));
  const offset = rule ? rule[1] : -new Date(ms).getTimezoneOffset() * 60;
  const d = new Date(ms + offset * 1000); // read with the UTC getters: local wall time
  const text = `${DAYS[d.getUTCDay()]} ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ` +
    `${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
  return withZone && rule ? `${text} ${rule[2]}` : text;
}

export function timeEl(iso, options) {
  const t = document.createElement("time");
  t.dateTime = iso || "";
  t.textContent = fmtTime(iso, options);
  return t;
}

// "2 h 05 min", "3 d 4 h", "45 s": a deadline readable at a glance.
export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m > 0) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `Request failed (${status}).`);
    this.status = status;
    this.field = err.field || null;
    this.code = err.code || null;
  }
}

// JSON (object body) or multipart (FormData body) to the API, with the CSRF header.
// An ended session (401, or a CSRF token of a session that was replaced) waits for
// the in-place sign-in and is retried once: the person's action is not lost.
export async function api(method, path, body, options = {}) {
  const { headers: extra = {}, background = false } = options;
  for (let attempt = 0; ; attempt += 1) {
    const headers = { "X-CSRF-Token": csrf, Accept: "application/json", ...extra,
                      ...(background ? BACKGROUND : {}) };
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload,
                                         credentials: "same-origin" });
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch { data = null; }
    }
    if (response.ok) return data;
    if (attempt === 0 && !background && sessionLost(response.status, data)
        && await recovered()) continue;
    throw new ApiError(response.status, data);
  }
}

// A multipart upload with progress events (XMLHttpRequest: fetch has none), with the
// same recovery as api(). Resolves {status, body}; status 0 when the network failed.
export async function upload(path, formData, { onProgress, headers = {} } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const result = await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.responseType = "json";
      if (onProgress) {
        xhr.upload.addEventListener("progress", (event) => {
          if (event.lengthComputable) onProgress(event.loaded / event.total);
        });
      }
      xhr.addEventListener("load", () => resolve({ status: xhr.status, body: xhr.response }));
      xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
      xhr.send(formData);
    });
    if (attempt === 0 && sessionLost(result.status, result.body) && await recovered()) continue;
    return result;
  }
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      node.setAttribute(key, value);
    } else node[key] = value;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

export const STATE_LABELS = {
  assigned: "Waiting for the specialist", pooled: "In the specialty pool",
  in_review: "In review", awaiting_gp: "Clarification requested", answered: "Answered",
  closed: "Closed", cancelled: "Cancelled",
};
