// "My consults": the drafts not sent yet, first, each with "resume" and "discard".
import { api, el, fmtTime } from "./util.js";

const section = document.getElementById("drafts");
const list = document.getElementById("draft-list");
const me = Number(document.body.dataset.userId || 0);

function row(draft) {
  const title = draft.patient_name || "No patient name yet";
  const resume = el("a", { class: "button small", href: `/consults/new?draft=${draft.id}`,
                           text: "Resume" });
  resume.append(el("span", { class: "sr", text: ` the draft for ${title}` }));
  const discard = el("button", { type: "button", class: "small danger discard-draft",
                                 text: "Discard" });
  discard.append(el("span", { class: "sr", text: ` the draft for ${title}` }));
  const by = draft.author && draft.author.id !== me ? ` · started by ${draft.author.name}` : "";
  const photos = draft.photos ? ` · ${draft.photos} photo${draft.photos > 1 ? "s" : ""}` : "";
  const item = el("li", { class: "draft-row", "data-id": draft.id },
    el("div", { class: "what" },
      el("strong", { class: "patient", text: title }),
      el("span", { class: "hint", text: ` ${draft.specialty || ""}${photos} · saved `
                                        + `${fmtTime(draft.updated_at)}${by}` }),
      draft.question ? el("div", { class: "question", text: draft.question }) : null),
    el("div", { class: "actions" }, resume, discard));
  discard.addEventListener("click", async () => {
    if (!window.confirm(`Discard the draft for ${title}? Its photos are deleted too.`)) return;
    discard.disabled = true;
    try {
      await api("DELETE", `/api/v1/drafts/${draft.id}`);
      item.remove();
      section.hidden = list.children.length === 0;
    } catch (error) {
      discard.disabled = false;
      item.append(el("p", { class: "error", role: "alert", text: error.message }));
    }
  });
  return item;
}

async function load() {
  try {
    const { drafts, keep_days: keep } = await api("GET", "/api/v1/drafts");
    if (keep) {
      document.getElementById("drafts-keep").textContent =
        `Saved as you typed. A draft left untouched for ${keep} days is removed, with its photos.`;
    }
    list.replaceChildren(...drafts.map(row));
    section.hidden = drafts.length === 0;
  } catch {
    section.hidden = true; // the consults below are still there
  }
}

load();
