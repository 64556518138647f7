// GP: new consult form. Guided photo slots with previews and quality warnings, a real
// upload progress bar, inline errors that keep what was typed, one consult per form.
import { initChecklist } from "./checklist.js";
import { api, csrf, el, fmtTime } from "./util.js";

const form = document.getElementById("consult-form");
const specialty = document.getElementById("specialty");
const urgency = document.getElementById("urgency");
const derm = document.getElementById("derm-fields");
const submitButton = document.getElementById("submit-consult");
const formError = document.getElementById("form-error");
const offered = JSON.parse(form.dataset.offered || "{}");
const photos = new Map(); // slot -> File
let idempotencyKey = newKey();
let submitting = false;

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function syncSpecialty() {
  const slug = specialty.value;
  derm.hidden = slug !== "dermatology";
  const allowed = offered[slug] || ["urgent", "routine"];
  for (const option of urgency.options) {
    option.hidden = option.disabled = !allowed.includes(option.value);
  }
  if (urgency.selectedOptions[0] && urgency.selectedOptions[0].disabled) urgency.value = "routine";
}

function clearErrors() {
  formError.hidden = true;
  formError.textContent = "";
  for (const node of form.querySelectorAll(".field-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

function showError(field, message) {
  const slot = field && document.getElementById(`err-${field}`);
  const input = field && document.getElementById(field);
  if (slot) {
    slot.textContent = message;
    slot.hidden = false;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } else slot.scrollIntoView({ block: "center" });
  } else {
    formError.textContent = message;
    formError.hidden = false;
    formError.scrollIntoView({ block: "center" });
  }
}

async function checkQuality(slotNode, file) {
  const list = slotNode.querySelector(".warnings");
  list.textContent = "";
  const data = new FormData();
  data.append("images", file);
  let result;
  try {
    result = await api("POST", "/api/v1/images/check", data);
  } catch (error) {
    // The check is advice only; an unreadable or too-large file is reported by it too.
    if (error.status && error.status < 500 && error.status !== 404) {
      list.append(el("li", { class: "warn", text: error.message }));
    }
    return;
  }
  const info = (result && result.images && result.images[0]) || null;
  if (!info || photos.get(slotNode.dataset.slot) !== file) return;
  for (const warning of info.warnings || []) {
    list.append(el("li", { class: "warn", "data-code": warning.code, text: warning.message }));
  }
  if (info.width && info.height) {
    slotNode.querySelector(".photo-name").textContent += ` · ${info.width}×${info.height}`;
  }
}

function setPhoto(slot, file) {
  const slotNode = form.querySelector(`.photo-slot[data-slot="${slot}"]`);
  const preview = slotNode.querySelector(".preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  slotNode.querySelector(".warnings").textContent = "";
  slotNode.querySelector(".remove-photo").hidden = !file;
  if (!file) {
    photos.delete(slot);
    preview.hidden = true;
    preview.removeAttribute("src");
    slotNode.querySelector(".photo-name").textContent = "";
    slotNode.classList.remove("filled");
    return;
  }
  photos.set(slot, file);
  preview.src = URL.createObjectURL(file);
  preview.alt = `Preview of the ${slot.replace("_", "-")} photo`;
  preview.hidden = false;
  slotNode.classList.add("filled");
  slotNode.querySelector(".photo-name").textContent =
    `${file.name} · ${(file.size / 1048576).toFixed(1)} MB`;
  checkQuality(slotNode, file);
}

function buildBody() {
  const data = new FormData();
  const isDerm = specialty.value === "dermatology";
  for (const node of form.elements) {
    if (!node.name || node.type === "file") continue;
    if (!isDerm && derm.contains(node)) continue;
    if (node.value !== "") data.append(node.name, node.value);
  }
  if (isDerm) {
    for (const [slot, file] of photos) {
      data.append("images", file, file.name);
      data.append("image_labels", slot);
    }
  }
  const documents = document.getElementById("attachments");
  for (const file of (documents && documents.files) || []) {
    data.append("attachments", file, file.name);
  }
  return data;
}

function setProgress(fraction) {
  const percent = Math.round(fraction * 100);
  document.getElementById("upload-progress").value = percent;
  document.getElementById("upload-percent").textContent = `${percent} %`;
}

function send(body) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/consults");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Idempotency-Key", idempotencyKey);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) setProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, body: xhr.response }));
    xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
    xhr.send(body);
  });
}

// A delegate sends on a GP's behalf (the form's "For which GP"): the confirmation names them.
function forWhom() {
  const gp = document.getElementById("gp");
  const chosen = gp && gp.value && gp.selectedOptions[0];
  return chosen ? ` for ${chosen.textContent}` : "";
}

async function showSent(created) {
  form.hidden = true;
  const section = document.getElementById("consult-sent");
  const link = document.getElementById("sent-link");
  link.href = `/consults/${created.id}`;
  let to = `the ${created.specialty} pool: every ${created.specialty} specialist can take it`;
  try {
    const detail = await api("GET", `/api/v1/consults/${created.id}`);
    if (detail.assignee) to = `${detail.assignee.name} (${created.specialty}, on call)`;
  } catch { /* the link still works */ }
  document.getElementById("sent-to").textContent = `Sent${forWhom()} to ${to}.`;
  document.getElementById("sent-due").textContent = created.due_at
    ? `Answer due by ${fmtTime(created.due_at)}.` : "";
  section.hidden = false;
  section.focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (submitting) return;
  submitting = true;
  submitButton.disabled = true;
  clearErrors();
  setProgress(0);
  document.getElementById("upload").hidden = false;
  try {
    const { status, body } = await send(buildBody());
    if (status === 201) {
      await showSent(body);
      return;
    }
    const error = (body && body.error) || {};
    if (status === 0) {
      showError(null, "Could not reach the server. Nothing is lost: try again.");
    } else {
      showError(error.field === "image_labels" ? "images" : error.field,
                error.message || `The consult could not be sent (${status}).`);
    }
  } finally {
    submitting = false;
    submitButton.disabled = false;
    if (!form.hidden) document.getElementById("upload").hidden = true;
  }
});

for (const input of form.querySelectorAll('input[type="file"]')) {
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) setPhoto(input.dataset.slot, input.files[0]);
    input.value = "";
  });
}
for (const button of form.querySelectorAll(".remove-photo")) {
  button.addEventListener("click", () => setPhoto(button.dataset.slot, null));
}
specialty.addEventListener("change", syncSpecialty);
syncSpecialty();
initChecklist(form); // reason for referral, its checklist, usual specialist (checklist.js)
