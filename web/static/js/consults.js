// GP: "My consults" keeps its state and due columns current from /ws events.
import { connectLive } from "./live.js";
import { el, STATE_LABELS, timeEl } from "./util.js";

const root = document.getElementById("my-consults");
const tbody = root.querySelector("tbody");

function update(event) {
  let row = tbody.querySelector(`tr[data-id="${event.consult_id}"]`);
  if (!row) {
    // A consult sent from another tab or device: link to it; its details live behind the link.
    row = el("tr", { "data-id": event.consult_id },
      el("td", {}, el("a", { href: `/consults/${event.consult_id}`, text: "New consult" })),
      el("td", { text: event.specialty || "" }), el("td", { class: "state" }),
      el("td", { class: "assignee", text: "—" }), el("td", { class: "due" }));
    // A delegate's list has a GP column; the GP's name is behind the link, like the rest.
    if ("gpColumn" in root.dataset) row.children[0].after(el("td", { class: "gp", text: "—" }));
    tbody.prepend(row);
    document.getElementById("empty").hidden = true;
    document.getElementById("consult-table").hidden = false;
  }
  if (event.state) {
    const cell = row.querySelector(".state");
    cell.textContent = "";
    cell.append(el("span", { class: `badge state-${event.state}`,
                             text: STATE_LABELS[event.state] || event.state }));
  }
  if ("due_at" in event) {
    const cell = row.querySelector(".due");
    cell.textContent = "";
    cell.append(event.due_at ? timeEl(event.due_at) : "—");
  }
  if (event.state === "pooled") row.querySelector(".assignee").textContent = "Specialty pool";
  row.classList.add("changed");
}

connectLive({ after: root.dataset.after, onEvent: update });
