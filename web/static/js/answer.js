// Structured answers: the letter-like block a signed answer renders as, the answer
// form's extra parts, and the specialist's own templates (GET/POST /answer-templates).
import { api, el } from "./util.js";

const PARTS = [["impression", "Impression"], ["plan", "Recommendation / plan"],
  ["refer_if", "Refer or act sooner if"], ["follow_up", "Follow-up"]];

export function answerBlock(m) {
  if (!m.signatory) return null;
  const list = el("dl");
  for (const [name, label] of PARTS) {
    if (m[name]) list.append(el("dt", { text: label }), el("dd", { text: m[name] }));
  }
  const s = m.signatory;
  const signature = s.name + (s.credentials ? `, ${s.credentials}` : "") +
    (s.registration ? ` · Registration ${s.registration}` : "");
  const advised = m.referral_advised === null || m.referral_advised === undefined ? null
    : el("p", { class: "advised", text: m.referral_advised ? "A face-to-face referral is advised."
      : "A face-to-face referral is not needed now." });
  return el("div", { class: "answer-letter" }, list, advised,
    el("p", { class: "signature", text: signature }));
}

// The parts to send with an answer (JSON body of POST /consults/{id}/messages).
export function answerParts(form) {
  const data = new FormData(form);
  const parts = {};
  for (const [name] of PARTS) parts[name] = (data.get(name) || "").trim();
  parts.referral_advised = data.get("referral_advised") === "true";
  return parts;
}

export function syncAnswerFields() {
  const fields = document.getElementById("answer-fields");
  const kind = document.getElementById("message-kind");
  if (fields && kind) fields.hidden = kind.value !== "answer";
}

export async function initAnswerForm() {
  const picker = document.getElementById("answer-template");
  const form = document.getElementById("message-form");
  if (!picker || !form) return;
  let templates = [];
  const fill = async () => {
    try { templates = (await api("GET", "/api/v1/answer-templates")).templates; }
    catch { templates = []; }
    picker.length = 1;
    for (const t of templates) picker.append(el("option", { value: t.id, text: t.title }));
  };
  picker.addEventListener("change", () => {
    const t = templates.find((x) => x.id === picker.value);
    if (!t) return;
    for (const name of ["body", "impression", "plan", "refer_if", "follow_up"]) {
      const input = form.querySelector(`[name="${name}"]`);
      if (input && t[name]) input.value = t[name];
    }
  });
  document.getElementById("save-template").addEventListener("click", async () => {
    const title = window.prompt("A title for this template");
    if (!title) return;
    const data = new FormData(form);
    const body = { title };
    for (const name of ["body", "impression", "plan", "refer_if", "follow_up"]) {
      body[name] = data.get(name) || "";
    }
    try {
      await api("POST", "/api/v1/answer-templates", body);
      await fill();
    } catch (error) { window.alert(error.message); }
  });
  document.getElementById("message-kind").addEventListener("change", syncAnswerFields);
  syncAnswerFields();
  await fill();
}
