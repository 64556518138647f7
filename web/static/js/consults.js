// GP: "My consults". Rows keep their state and due columns current from /ws events;
// "More consults" appends the next page from the API (the same filters, the cursor),
// so every consult can be reached without leaving the page.
import { connectLive } from "./live.js";
import { api, el, fmtTime, STATE_LABELS, timeEl } from "./util.js";

const root = document.getElementById("my-consults");
const tbody = root.querySelector("tbody");
const groups = JSON.parse(root.dataset.groups || "{}");
const me = Number(root.dataset.me);
const gpColumn = "gpColumn" in root.dataset;
const more = document.getElementById("more");
const shown = document.getElementById("shown-count");
let cursor = root.dataset.cursor || null;

function lastGroup() {
  const heads = tbody.querySelectorAll("tr.group");
  return heads.length ? heads[heads.length - 1].dataset.group : null;
}

function badge(cls, text) { return el("span", { class: `badge ${cls}`, text }); }

function rowOf(c) {
  const patient = el("td", { "data-label": "Patient" },
    el("a", { href: `/consults/${c.id}`, text: c.patient_name || "Consult" }),
    c.patient_age !== null && c.patient_age !== undefined ? el("span", { class: "age", text: ` ${c.patient_age} y` }) : null,
    c.follow_up ? badge("label-follow-up", "Follow-up") : null,
    c.converted_to ? badge("label-converted", `Converted to ${c.converted_to.replaceAll("_", " ")}`) : null,
    el("div", { class: "hint" }, `sent ${fmtTime(c.submitted_at)}`,
      c.submitted_by && c.submitted_by !== c.gp_id
        ? el("span", { class: "sent-by", text: c.submitted_by === me ? " by you" : " by a delegate" }) : null));
  const specialty = el("td", { "data-label": "Specialty" }, c.specialty,
    c.urgency !== "routine" ? badge(`urgency-${c.urgency}`, c.urgency.replace("_", "-")) : null);
  const row = el("tr", { "data-id": c.id }, patient);
  if (gpColumn) row.append(el("td", { class: "gp", "data-label": "GP", text: c.gp_name || "—" }));
  row.append(specialty,
    el("td", { class: "state", "data-label": "State" }, badge(`state-${c.state}`, STATE_LABELS[c.state] || c.state)),
    el("td", { class: "assignee", "data-label": "Specialist",
               text: c.assigned_to ? (c.assignee_name || "—") : c.state === "pooled" ? "Specialty pool" : "—" }),
    el("td", { class: "due", "data-label": "Due" }, c.due_at ? timeEl(c.due_at, { withZone: true }) : "—"));
  return row;
}

function append(consults) {
  const columns = gpColumn ? 6 : 5;
  for (const c of consults) {
    const group = groups[c.state] || "Other";
    if (group !== lastGroup()) {
      tbody.append(el("tr", { class: "group", "data-group": group },
        el("th", { colSpan: columns, scope: "colgroup", text: group })));
    }
    tbody.append(rowOf(c));
  }
  const count = tbody.querySelectorAll("tr[data-id]").length;
  shown.textContent = `${count} shown${cursor ? "; more below" : "; that is all"}`;
  if (count) {
    document.getElementById("empty").hidden = true;
    document.getElementById("consult-table").hidden = false;
  }
}

if (more) {
  more.addEventListener("click", async (event) => {
    event.preventDefault();
    if (!cursor) return;
    more.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `${root.dataset.api}&cursor=${encodeURIComponent(cursor)}`);
      cursor = page.next_cursor;
      append(page.consults);
      more.hidden = !cursor;
    } catch (error) {
      if (error.status === 401) location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      shown.textContent = error.message;
    } finally {
      more.removeAttribute("aria-busy");
    }
  });
}

function update(event) {
  let row = tbody.querySelector(`tr[data-id="${event.consult_id}"]`);
  if (!row) {
    // A filtered or paged list shows what was asked for; only the plain list grows.
    if ("filtered" in root.dataset || event.type !== "submitted") return;
    // A consult sent from another tab or device: link to it; its details live behind the link.
    row = rowOf({ id: event.consult_id, state: event.state, specialty: event.specialty || "",
                  urgency: event.urgency || "routine", submitted_at: event.at,
                  assigned_to: event.assigned_to, patient_name: "New consult" });
    // Newest first within its group: straight under the group's heading.
    const group = groups[event.state] || "Open";
    const head = tbody.querySelector(`tr.group[data-group="${group}"]`);
    if (head) head.after(row);
    else {
      tbody.prepend(row);
      row.before(el("tr", { class: "group", "data-group": group },
        el("th", { colSpan: gpColumn ? 6 : 5, scope: "colgroup", text: group })));
    }
    document.getElementById("empty").hidden = true;
    document.getElementById("consult-table").hidden = false;
  }
  if (event.state) {
    row.dataset.state = event.state;
    const cell = row.querySelector(".state");
    cell.textContent = "";
    cell.append(badge(`state-${event.state}`, STATE_LABELS[event.state] || event.state));
  }
  if ("due_at" in event) {
    const cell = row.querySelector(".due");
    cell.textContent = "";
    cell.append(event.due_at ? timeEl(event.due_at, { withZone: true }) : "—");
  }
  if (event.state === "pooled") row.querySelector(".assignee").textContent = "Specialty pool";
  if (event.type === "follow_up" && !row.querySelector(".label-follow-up")) {
    row.querySelector("td a").after(badge("label-follow-up", "Follow-up"));
  }
  row.classList.add("changed");
}

connectLive({ after: root.dataset.after, onEvent: update });
