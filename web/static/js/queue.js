// Specialist queue: rows appear, change and leave from /ws queue fields alone, each with
// a live countdown to its deadline. The patient, the GP, a line of the question and the
// photo count come over the authorised list API (the socket carries no patient data):
// for new rows in one fetch, and for "More consults" a page at a time. The Answered and
// All mine tabs (and a search) are lists that only update the rows they show.
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
const live = "live" in root.dataset;
const more = document.getElementById("more");
const shown = document.getElementById("shown-count");
let cursor = root.dataset.cursor || null;
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

// What the list API says of a consult: the parts of the row the socket cannot fill.
function fill(row, c) {
  row.querySelector(".patient").textContent = c.patient_name || "Consult";
  row.querySelector(".age").textContent = c.patient_age !== null && c.patient_age !== undefined
    ? `${c.patient_age} y` : "";
  row.querySelector(".gp-name").textContent = c.gp_name || "a GP";
  const photos = Number(c.photo_count || 0);
  row.querySelector(".photos").textContent = `${photos} photo${photos === 1 ? "" : "s"}`;
  const preview = row.querySelector(".qpreview");
  preview.textContent = c.question_preview || "";
  preview.title = c.question_preview || "";
  row.querySelector(".label-follow-up").hidden = !c.follow_up;
  const converted = row.querySelector(".label-converted");
  converted.hidden = !c.converted_to;
  converted.textContent = c.converted_to ? `Converted to ${c.converted_to.replaceAll("_", " ")}` : "";
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
    time.textContent = fmtTime(event.due_at, { withZone: true });
  }
  row.classList.toggle("at-risk", Boolean(event.at_risk));
  row.classList.toggle("overdue", Boolean(event.breached));
}

function sort() {
  const rows = [...list.children];
  if (!live) { empty.hidden = rows.length > 0; return; }
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
      node.textContent = row.dataset.state === "awaiting_gp" ? "waiting for the GP"
        : OPEN.has(row.dataset.state) || row.dataset.state === "pooled" ? "clock paused"
          : STATE_LABELS[row.dataset.state] || row.dataset.state;
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
      const { consults } = await api("GET", "/api/v1/consults?limit=200", undefined,
                                     { background: true });
      for (const c of consults) {
        const row = rowFor(c.id);
        if (row) fill(row, c);
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
  if (!live) { // a list, not the live queue: keep the rows it shows current
    if (row) { apply(row, event); tick(); }
    if (row && event.type === "follow_up") row.querySelector(".label-follow-up").hidden = false;
    return;
  }
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
  if (event.type === "follow_up") row.querySelector(".label-follow-up").hidden = false;
  if (event.converted_to) fill(row, { ...rowData(row), converted_to: event.converted_to });
  sort();
  tick();
}

function rowData(row) {
  const converted = row.querySelector(".label-converted");
  return {
    patient_name: row.querySelector(".patient").textContent,
    patient_age: (row.querySelector(".age").textContent.match(/\d+/) || [null])[0],
    gp_name: row.querySelector(".gp-name").textContent,
    photo_count: Number((row.querySelector(".photos").textContent.match(/\d+/) || [0])[0]),
    question_preview: row.querySelector(".qpreview").textContent,
    follow_up: !row.querySelector(".label-follow-up").hidden,
    converted_to: converted.hidden ? null : converted.textContent.replace("Converted to ", "").replaceAll(" ", "_"),
  };
}

if (more) {
  more.addEventListener("click", async (event) => {
    event.preventDefault();
    if (!cursor) return;
    more.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `${root.dataset.api}&cursor=${encodeURIComponent(cursor)}`);
      cursor = page.next_cursor;
      for (const c of page.consults) {
        if (rowFor(c.id)) continue;
        const row = newRow(c.id);
        row.classList.remove("new");
        apply(row, c);
        fill(row, c);
        list.append(row);
      }
      more.hidden = !cursor;
      shown.textContent = `${list.children.length} shown${cursor ? "; more below" : "; that is all"}`;
      tick();
    } catch (error) {
      if (error.status === 401) location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      shown.textContent = error.message;
    } finally {
      more.removeAttribute("aria-busy");
    }
  });
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
