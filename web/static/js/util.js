// Shared helpers for the consult pages: CSRF, JSON API calls, times in the program's zone.

export const csrf = document.body.dataset.csrf || "";
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
export async function api(method, path, body) {
  const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
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
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
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
