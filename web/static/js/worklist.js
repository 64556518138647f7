// Work list: live over /ws (any consult event re-fetches the rows, at most once a
// second, never while a reassign form is being filled in), countdowns to each
// deadline, and reassignment through the JSON API without leaving the page.
import { connectLive } from "./live.js";
import { api, fmtDuration, fmtTime } from "./util.js";

const root = document.getElementById("worklist");
const status = document.getElementById("worklist-status");
const THROTTLE_MS = 1000;
let timer = null;
let lastFetch = 0;

function busy() {
  const rows = document.getElementById("worklist-rows");
  if (rows && rows.contains(document.activeElement) && document.activeElement.tagName !== "A") {
    return true;
  }
  return [...root.querySelectorAll("form.reassign")].some(
    (form) => form.elements.reason.value.trim() || form.elements.to.value);
}

function schedule(delay = Math.max(0, lastFetch + THROTTLE_MS - Date.now())) {
  if (timer) return;
  timer = setTimeout(refresh, delay);
}

async function refresh() {
  timer = null;
  if (busy()) { schedule(2000); return; }
  lastFetch = Date.now();
  try {
    const response = await fetch("/worklist?fragment=rows", {
      credentials: "same-origin",
      // A refresh on a live event is not the person's activity (session idle timer).
      headers: { Accept: "text/html", "X-Econsult-Background": "1" } });
    if (!response.ok) throw new Error(String(response.status));
    const html = await response.text();
    if (busy()) { schedule(2000); return; }
    const next = new DOMParser().parseFromString(html, "text/html").getElementById("worklist-rows");
    if (next) document.getElementById("worklist-rows").replaceWith(document.adoptNode(next));
    status.textContent = `Updated ${fmtTime(new Date().toISOString(), { withZone: true })}`;
    tick();
  } catch {
    status.textContent = "Update failed; retrying on the next event";
  }
}

function tick() {
  const now = Date.now();
  for (const node of root.querySelectorAll(".countdown[data-due]")) {
    const left = Date.parse(node.dataset.due) - now;
    node.textContent = left >= 0 ? `${fmtDuration(left)} left` : `overdue by ${fmtDuration(-left)}`;
    node.closest("tr")?.classList.toggle("overdue", left < 0);
  }
}

root.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.reassign");
  if (!form) return;
  event.preventDefault();
  const error = form.querySelector(".row-error");
  const button = form.querySelector("button");
  const to = form.elements.to.value;
  const body = to === "pool" ? { pool: true } : { specialist: to };
  body.reason = form.elements.reason.value;
  button.disabled = true;
  error.hidden = true;
  try {
    await api("POST", `/api/v1/consults/${form.dataset.id}/reassign`, body);
    form.reset();
    status.textContent = to === "pool" ? "Sent to the pool" : "Reassigned";
    document.activeElement?.blur();
    schedule(0);
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});

connectLive({ after: root.dataset.after, onEvent: () => schedule(), onReconnect: () => schedule(0) });
tick();
setInterval(tick, 1000);
