// GP: new consult form, saved as a server-side draft as it is typed (debounced) and
// when a photo is attached. A photo is uploaded once, into the draft: the slot says
// "checking…" while it goes up and is processed, then shows the server's JPEG preview
// (HEIC too) and the quality warnings. Send sends the draft, photos by reference.
// /consults/new?draft=ID resumes a draft. When the session ends, session.js signs in
// again in place and the request that was refused goes through: nothing is emptied.
import { initChecklist } from "./checklist.js";
import { api, csrf, el, fmtTime, upload } from "./util.js";

const SAVE_AFTER_MS = 1000;
const form = document.getElementById("consult-form");
const specialty = document.getElementById("specialty");
const urgency = document.getElementById("urgency");
const derm = document.getElementById("derm-fields");
const submitButton = document.getElementById("submit-consult");
const formError = document.getElementById("form-error");
const statusLine = document.getElementById("draft-status");
const offered = JSON.parse(form.dataset.offered || "{}");
const photos = new Map(); // slot -> {id, label, width, height, warnings}
const uploading = new Map(); // slot -> Promise of the upload in flight
let draftId = new URLSearchParams(location.search).get("draft");
let creating = null;
let dirty = false;
let saveTimer = null;
let saving = Promise.resolve();
let submitting = false;

function syncSpecialty() {
  const slug = specialty.value;
  derm.hidden = slug !== "dermatology";
  const allowed = offered[slug] || ["urgent", "routine"];
  for (const option of urgency.options) {
    option.hidden = option.disabled = !allowed.includes(option.value);
  }
  if (urgency.selectedOptions[0] && urgency.selectedOptions[0].disabled) urgency.value = "routine";
}

function setStatus(text, kind = "") {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
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

// --- the draft ----------------------------------------------------------------------

function fields() {
  const out = {};
  for (const node of form.elements) {
    if (!node.name || node.type === "file") continue;
    out[node.name] = node.value;
  }
  return out;
}

function fill(saved) {
  for (const [name, value] of Object.entries(saved)) {
    const node = form.elements.namedItem(name);
    if (node && node.type !== "file") node.value = value;
  }
  syncSpecialty();
  if (checklist) checklist.restore(saved);
}

function remember(id) {
  draftId = id;
  // A reload, or coming back to this address, resumes the draft.
  history.replaceState(null, "", `/consults/new?draft=${id}`);
}

function ensureDraft() {
  if (draftId) return Promise.resolve(draftId);
  if (!creating) {
    dirty = false; // what is typed now goes into the new draft
    creating = api("POST", "/api/v1/drafts", fields())
      .then((draft) => { remember(draft.id); return draft.id; })
      .catch((error) => { dirty = true; throw error; })
      .finally(() => { creating = null; });
  }
  return creating;
}

async function saveNow() {
  if (!draftId) await ensureDraft(); // made with the form as it is now
  if (!dirty) return; // typed while it was being made: that goes now
  dirty = false;
  try {
    await api("PUT", `/api/v1/drafts/${draftId}`, fields());
  } catch (error) {
    dirty = true;
    throw error;
  }
}

// Saves run one after another, the latest form each time.
function flush() {
  clearTimeout(saveTimer);
  saveTimer = null;
  const run = saving.then(saveNow, saveNow);
  saving = run.then(() => {
    setStatus(`Draft saved ${fmtTime(new Date().toISOString())}.`);
  }, (error) => {
    setStatus(`Not saved yet (${error.message}); it is tried again as you type.`, "error");
    if (error.field && error.status === 400) showError(error.field, error.message);
  });
  return run;
}

function changed(event) {
  if (event.target.type === "file" || submitting) return;
  dirty = true;
  setStatus("Saving…");
  clearTimeout(saveTimer);
  if (!draftId && !creating) {
    flush().catch(() => {}); // the first input creates the draft
  } else {
    saveTimer = setTimeout(() => flush().catch(() => {}), SAVE_AFTER_MS);
  }
}

// Closing the tab within the second after typing: the last keystrokes still go.
function saveOnLeave() {
  if (!dirty || submitting) return;
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
  const body = JSON.stringify(fields());
  if (draftId) {
    clearTimeout(saveTimer);
    fetch(`/api/v1/drafts/${draftId}`, { method: "PUT", headers, body, keepalive: true,
                                         credentials: "same-origin" });
    dirty = false;
  } else {
    ensureDraft().catch(() => {});
  }
}

// --- photos -------------------------------------------------------------------------

function slotNode(slot) {
  return form.querySelector(`.photo-slot[data-slot="${slot}"]`);
}

function previewUrl(image) {
  return `/api/v1/drafts/${draftId}/images/${image.id}/preview`;
}

function showPhoto(slot, image) {
  const node = slotNode(slot);
  const preview = node.querySelector(".preview");
  node.querySelector(".checking").hidden = true;
  node.querySelector(".remove-photo").hidden = !image;
  const list = node.querySelector(".warnings");
  list.textContent = "";
  if (!image) {
    photos.delete(slot);
    preview.hidden = true;
    preview.removeAttribute("src");
    node.querySelector(".photo-name").textContent = "";
    node.classList.remove("filled");
    return;
  }
  photos.set(slot, image);
  preview.alt = `Preview of the ${slot.replace("_", "-")} photo`;
  preview.src = previewUrl(image);
  preview.hidden = false;
  node.classList.add("filled");
  node.querySelector(".photo-name").textContent = `${image.width}×${image.height}`;
  for (const warning of image.warnings || []) {
    list.append(el("li", { class: "warn", "data-code": warning.code, text: warning.message }));
  }
}

function showChecking(slot, file) {
  const node = slotNode(slot);
  const checking = node.querySelector(".checking");
  const bar = checking.querySelector("progress");
  node.querySelector(".preview").hidden = true;
  node.querySelector(".warnings").textContent = "";
  node.querySelector(".remove-photo").hidden = true;
  node.querySelector(".photo-name").textContent =
    `${file.name} · ${(file.size / 1048576).toFixed(1)} MB`;
  checking.querySelector(".checking-text").textContent = "Uploading…";
  bar.value = 0;
  checking.hidden = false;
  return (fraction) => {
    bar.value = Math.round(fraction * 100);
    if (fraction >= 1) checking.querySelector(".checking-text").textContent = "Checking photo…";
  };
}

function slotError(slot, message) {
  showPhoto(slot, null);
  slotNode(slot).querySelector(".warnings").append(el("li", { class: "bad", text: message }));
}

async function attach(slot, file) {
  const earlier = uploading.get(slot);
  if (earlier) await earlier.catch(() => {});
  const job = (async () => {
    const progress = showChecking(slot, file);
    let id;
    try {
      id = await ensureDraft();
    } catch (error) {
      slotError(slot, `The photo could not be saved: ${error.message}`);
      return;
    }
    const previous = photos.get(slot);
    if (previous) {
      try {
        await api("DELETE", `/api/v1/drafts/${id}/images/${previous.id}`);
      } catch (error) {
        if (error.status !== 404) { slotError(slot, error.message); return; }
      }
      photos.delete(slot);
    }
    const data = new FormData();
    data.append("images", file, file.name || "photo");
    data.append("label", slot);
    const { status, body } = await upload(`/api/v1/drafts/${id}/images`, data,
                                          { onProgress: progress });
    if (status === 201 && body.images && body.images[0]) {
      showPhoto(slot, body.images[0]);
      if (!dirty && !saveTimer) setStatus(`Draft saved ${fmtTime(new Date().toISOString())}.`);
    } else if (status === 0) {
      slotError(slot, "Could not reach the server; choose the photo again.");
    } else {
      slotError(slot, (body && body.error && body.error.message)
        || `The photo was not accepted (${status}).`);
    }
  })();
  uploading.set(slot, job);
  try { await job; } finally { if (uploading.get(slot) === job) uploading.delete(slot); }
}

async function removePhoto(slot) {
  const image = photos.get(slot);
  if (!image) return;
  try {
    await api("DELETE", `/api/v1/drafts/${draftId}/images/${image.id}`);
  } catch (error) {
    if (error.status !== 404) { showError("images", error.message); return; }
  }
  showPhoto(slot, null);
}

// --- resuming -----------------------------------------------------------------------

async function resume() {
  setStatus("Opening your draft…");
  form.inert = true; // nothing typed meanwhile is overwritten by the saved draft
  let draft;
  try {
    draft = await api("GET", `/api/v1/drafts/${draftId}`);
  } catch (error) {
    form.inert = false;
    if (error.status === 404) {
      draftId = null;
      history.replaceState(null, "", "/consults/new");
      setStatus("That draft is no longer here (it was sent or discarded). This is a new consult.");
    } else {
      setStatus(`The draft could not be opened (${error.message}); reload to try again.`,
                "error");
    }
    return;
  }
  fill(draft.fields);
  const free = ["overview", "close_up", "dermoscopy", "other"];
  for (const image of draft.images) {
    const slot = free.includes(image.label) ? image.label : free[0];
    if (!slot) break;
    free.splice(free.indexOf(slot), 1);
    showPhoto(slot, image);
  }
  form.inert = false;
  setStatus(`Draft restored, last saved ${fmtTime(draft.updated_at)}.`);
}

// --- sending ------------------------------------------------------------------------

// PDFs go with the send (a draft keeps photos, not documents); without any, a plain POST.
async function sendDraft() {
  const documents = document.getElementById("attachments");
  const files = [...((documents && documents.files) || [])];
  if (!files.length) return api("POST", `/api/v1/drafts/${draftId}/send`);
  const data = new FormData();
  for (const file of files) data.append("attachments", file, file.name);
  const { status, body } = await upload(`/api/v1/drafts/${draftId}/send`, data);
  if (status === 201 || status === 200) return body;
  const err = new Error((body && body.error && body.error.message)
    || (status ? `The consult could not be sent (${status}).` : ""));
  err.status = status;
  err.field = body && body.error ? body.error.field || null : null;
  throw err;
}

// A delegate sends on a GP's behalf (the form's "For which GP"): the confirmation names them.
function forWhom() {
  const gp = document.getElementById("gp");
  const chosen = gp && gp.value && gp.selectedOptions[0];
  return chosen ? ` for ${chosen.textContent}` : "";
}

async function showSent(created) {
  form.hidden = true;
  statusLine.hidden = true;
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
  setStatus("Sending…");
  try {
    await Promise.all([...uploading.values()].map((job) => job.catch(() => {})));
    dirty = dirty || !draftId;
    await flush();
    if (specialty.value !== "dermatology") {
      // Photos go with dermatology consults only (the form hides them otherwise).
      for (const slot of [...photos.keys()]) await removePhoto(slot);
    }
    const created = await sendDraft();
    history.replaceState(null, "", "/consults/new");
    await showSent(created);
  } catch (error) {
    if (!error.status) {
      showError(null, "Could not reach the server. Nothing is lost: try again.");
    } else {
      showError(error.field === "image_labels" ? "images" : error.field,
                error.message || `The consult could not be sent (${error.status}).`);
    }
    setStatus("Not sent yet: your draft is kept.", "error");
  } finally {
    submitting = false;
    submitButton.disabled = false;
  }
});

form.addEventListener("input", changed);
form.addEventListener("change", changed);
for (const input of form.querySelectorAll('input[type="file"][data-slot]')) {
  input.addEventListener("change", () => {
    if (input.files && input.files[0]) attach(input.dataset.slot, input.files[0]);
    input.value = "";
  });
}
for (const button of form.querySelectorAll(".remove-photo")) {
  button.addEventListener("click", () => removePhoto(button.dataset.slot));
}
specialty.addEventListener("change", syncSpecialty);
window.addEventListener("pagehide", saveOnLeave);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") saveOnLeave();
});
syncSpecialty();
// Reason for referral, its checklist, usual specialist (checklist.js).
const checklist = initChecklist(form);
if (draftId) resume();
