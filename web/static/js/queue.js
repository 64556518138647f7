// Specialist queue: rows appear, change and leave from /ws queue fields alone, each with
// a live countdown to its deadline. Patient names for new rows come from one list fetch.
import { connectLive } from "./live.js";
import { api, fmtDuration, fmtTime, STATE_LABELS } from "./util.js";

const root = document.getElementById("queue");
const list = document.getElementById("queue-list");
const empty = document.getElementById("queue-empty");
const template = document.getElementById("queue-row-template");
const me = Number(root.dataset.me);
const mine = new Set((root.dataset.specialties || "").split(",").filter(Boolean));
const OPEN = new Set(["assigned", "in_review", "awaiting_gp"]);
const AT_RISK_MS = 0; // overdue is past the deadline; "at risk" comes from the server
let nameFetch = null;

function belongs(event) {
  return (event.assigned_to === me && OPEN.has(event.state)) ||
    (event.state === "pooled" && mine.has(event.specialty));
}

function rowFor(id) {
  return list.querySelector(`li[data-id="${id}"]`);
}

function newRow(id) {
  const row = template.content.firstElementChild.cloneNode(true);
  row.dataset.id = id;
  row.querySelector(".qlink").href = `/consults/${id}`;
  row.querySelector(".patient").textContent = "New consult";
  row.classList.add("new");
  return row;
}

function apply(row, event) {
  row.dataset.state = event.state;
  row.dataset.due = event.due_at || "";
  row.dataset.specialty = event.specialty;
  row.dataset.urgency = event.urgency;
  row.querySelector(".specialty").textContent = event.specialty;
  const urgency = row.querySelector(".badge[class*='urgency-']");
  urgency.className = `badge urgency-${event.urgency}`;
  urgency.textContent = (event.urgency || "").replace("_", "-");
  const state = row.querySelector(".state");
  state.className = `badge state-${event.state} state`;
  state.textContent = STATE_LABELS[event.state] || event.state;
  const countdown = row.querySelector(".countdown");
  countdown.dataset.due = event.due_at || "";
  const time = row.querySelector("time");
  if (time) {
    time.dateTime = event.due_at || "";
    time.textContent = fmtTime(event.due_at);
  }
  row.classList.toggle("at-risk", Boolean(event.at_risk));
  row.classList.toggle("overdue", Boolean(event.breached));
}

function sort() {
  const rows = [...list.children];
  const key = (row) => row.dataset.due || "9999";
  rows.sort((a, b) => key(a).localeCompare(key(b)));
  for (const row of rows) list.append(row);
  empty.hidden = rows.length > 0;
}

function tick() {
  const now = Date.now();
  for (const row of list.children) {
    const node = row.querySelector(".countdown");
    const due = row.dataset.due;
    if (!due) {
      node.textContent = row.dataset.state === "awaiting_gp" ? "waiting for the GP" : "clock paused";
      continue;
    }
    const left = Date.parse(due) - now;
    node.textContent = left >= AT_RISK_MS ? `${fmtDuration(left)} left`
      : `overdue by ${fmtDuration(-left)}`;
    if (left < 0) row.classList.add("overdue");
  }
}

// One request fills in the names of every row that arrived since the last one.
function fetchNames() {
  if (nameFetch) return;
  nameFetch = setTimeout(async () => {
    try {
      const { consults } = await api("GET", "/api/v1/consults", undefined,
                                         { background: true });
      for (const c of consults) {
        const row = rowFor(c.id);
        if (row && c.patient_name) row.querySelector(".patient").textContent = c.patient_name;
      }
    } catch { /* rows keep "New consult"; the link still opens it */ }
    nameFetch = null;
  }, 300);
}

function notify(event) {
  if (!document.hidden || !("Notification" in window)) return;
  if (Notification.permission !== "granted") return;
  // No patient data: what kind of consult, and where.
  const note = new Notification("New consult in your queue", {
    body: `${event.urgency.replace("_", "-")} ${event.specialty} consult`, tag: event.consult_id,
  });
  note.addEventListener("click", () => { window.focus(); location.href = `/consults/${event.consult_id}`; });
}

function onEvent(event) {
  if (!event.consult_id || !event.state) return;
  let row = rowFor(event.consult_id);
  if (!belongs(event)) {
    if (row) row.remove();
    sort();
    return;
  }
  if (!row) {
    row = newRow(event.consult_id);
    list.append(row);
    fetchNames();
    notify(event);
  }
  apply(row, event);
  sort();
  tick();
}

const notifyButton = document.getElementById("enable-notifications");
if ("Notification" in window && Notification.permission === "default") {
  notifyButton.hidden = false;
  notifyButton.addEventListener("click", async () => {
    await Notification.requestPermission();
    notifyButton.hidden = Notification.permission !== "default";
  });
}

connectLive({ after: root.dataset.after, onEvent });
tick();
setInterval(tick, 1000);
