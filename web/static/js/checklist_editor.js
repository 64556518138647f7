// Staff: edit a workup checklist's JSON Schema with a live preview of the GP's form.
import { renderChecklist } from "./checklist.js";
import { api, el, fmtTime } from "./util.js";

const specialty = document.getElementById("cl-specialty");
const reason = document.getElementById("cl-reason");
const newReason = document.getElementById("cl-new-reason");
const text = document.getElementById("cl-schema");
const preview = document.getElementById("cl-preview");
const errorBox = document.getElementById("cl-error");
const versionNote = document.getElementById("cl-version");
const versions = document.getElementById("cl-versions");
let checklists = [];

function showError(message) {
  errorBox.textContent = message || "";
  errorBox.hidden = !message;
}

function updatePreview() {
  let schema;
  try { schema = JSON.parse(text.value); } catch (error) {
    showError(`Not valid JSON yet: ${error.message}`);
    return;
  }
  showError("");
  renderChecklist(preview, schema, "preview.");
}

async function loadVersions(slug, chosen) {
  versions.textContent = "";
  if (!chosen) return;
  try {
    const all = await api("GET", `/api/v1/specialties/${slug}/checklists/${chosen}/versions`);
    for (const v of all) versions.append(el("li", { text: `Version ${v.version}: ${v.title}` }));
  } catch { /* a new reason has none yet */ }
}

function showReason() {
  const chosen = checklists.find((c) => c.reason === reason.value);
  text.value = chosen ? JSON.stringify(chosen.schema, null, 2) : "";
  versionNote.textContent = chosen ? `Current version: ${chosen.version}` : "";
  updatePreview();
  loadVersions(specialty.value, chosen && chosen.reason);
}

async function loadSpecialty(select) {
  checklists = await api("GET", `/api/v1/specialties/${specialty.value}/checklists`);
  reason.textContent = "";
  for (const c of checklists) reason.append(el("option", { value: c.reason, text: c.title }));
  if (select) reason.value = select;
  showReason();
}

document.getElementById("cl-save").addEventListener("click", async () => {
  let schema;
  try { schema = JSON.parse(text.value); } catch (error) {
    showError(`Not valid JSON: ${error.message}`);
    return;
  }
  const target = newReason.value.trim() || reason.value;
  try {
    const saved = await api("PUT", `/api/v1/specialties/${specialty.value}/checklists/${target}`,
                            { schema });
    newReason.value = "";
    await loadSpecialty(saved.reason);
    versionNote.textContent = `Saved version ${saved.version} at ${fmtTime(new Date().toISOString())}.`;
  } catch (error) {
    showError(error.field ? `${error.message} (${error.field})` : error.message);
  }
});

text.addEventListener("input", updatePreview);
reason.addEventListener("change", showReason);
specialty.addEventListener("change", () => loadSpecialty());
loadSpecialty();
