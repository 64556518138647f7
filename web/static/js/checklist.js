// Workup checklists: render a checklist's JSON Schema as form items (the GP form, and
// the staff editor's live preview), collect and check the answers. The server checks
// them again against the version it stores; this only saves the GP a round trip.
import { api, el } from "./util.js";

const KIND_TEXT_AREA = 200; // free text longer than this gets a text area

function kindOf(prop) {
  if (prop.type === "string") return prop.enum ? "choice" : prop.format === "date" ? "date" : "text";
  if (prop.type === "number" || prop.type === "integer") return "number";
  return prop.type;
}

function control(name, prop, id) {
  const kind = kindOf(prop);
  if (kind === "boolean") {
    // A select, not a checkbox: an unticked box would read as "not answered".
    return el("select", { id, "data-item": name },
      el("option", { value: "", text: "Not answered" }),
      el("option", { value: "true", text: "Yes" }), el("option", { value: "false", text: "No" }));
  }
  if (kind === "choice") {
    const labels = prop["x-enum-labels"] || prop.enum;
    return el("select", { id, "data-item": name }, el("option", { value: "", text: "Not answered" }),
      ...prop.enum.map((value, i) => el("option", { value, text: labels[i] })));
  }
  if (kind === "date") return el("input", { id, type: "date", "data-item": name });
  if (kind === "number") {
    const attrs = { id, type: "number", step: prop.type === "integer" ? "1" : "any",
                    inputMode: "decimal", "data-item": name };
    if (prop.minimum !== undefined) attrs.min = String(prop.minimum);
    if (prop.maximum !== undefined) attrs.max = String(prop.maximum);
    return el("input", attrs);
  }
  const long = (prop.maxLength || 0) > KIND_TEXT_AREA;
  return el(long ? "textarea" : "input", { id, "data-item": name, rows: long ? "2" : undefined,
                                           maxLength: prop.maxLength || 2000 });
}

// Items into `container`, ids `${prefix}${name}` and error slots `err-${prefix}${name}`.
export function renderChecklist(container, schema, prefix = "checklist.") {
  container.textContent = "";
  if (!schema || !schema.properties) return;
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties)) {
    const id = `${prefix}${name}`;
    const tag = required.has(name) ? el("span", { class: "badge required", text: "required" })
      : prop["x-recommended"] ? el("span", { class: "badge recommended", text: "recommended" }) : null;
    const hintId = `hint-${id}`;
    const input = control(name, prop, id);
    input.setAttribute("aria-describedby", `err-${id} ${hintId}`);
    if (required.has(name)) input.setAttribute("aria-required", "true");
    container.append(el("div", { class: "stack checklist-item", "data-name": name },
      el("label", { htmlFor: id }, prop.title, prop["x-unit"] ? ` (${prop["x-unit"]})` : "", " ", tag),
      input,
      prop.description ? el("p", { class: "hint", id: hintId, text: prop.description }) : null,
      el("p", { class: "field-error", id: `err-${id}`, hidden: true })));
  }
}

export function collectAnswers(container) {
  const answers = {};
  for (const input of container.querySelectorAll("[data-item]")) {
    const value = input.value.trim();
    if (value !== "") answers[input.dataset.item] = value;
  }
  return answers;
}

// The first required item left blank, as [name, title], or null.
export function firstMissing(schema, answers) {
  for (const name of (schema && schema.required) || []) {
    if (answers[name] === undefined) return [name, schema.properties[name].title];
  }
  return null;
}

// --- the GP form ---------------------------------------------------------------------

export function initChecklist(form) {
  const section = document.getElementById("clinical-fields");
  if (!section) return;
  const specialty = document.getElementById("specialty");
  const reason = document.getElementById("reason");
  const items = document.getElementById("checklist-items");
  const hidden = document.getElementById("checklist-answers");
  const intro = document.getElementById("checklist-intro");
  const named = document.getElementById("specialist");
  const gp = document.getElementById("gp");
  let checklists = [];
  // A resumed draft's reason, specialist and answers, applied once the specialty's
  // checklists have loaded (the options do not exist before).
  let pending = null;

  const current = () => checklists.find((c) => c.reason === reason.value) || null;
  const sync = () => {
    const chosen = current();
    hidden.value = chosen ? JSON.stringify(collectAnswers(items)) : "";
  };

  function showReason() {
    const chosen = current();
    renderChecklist(items, chosen ? chosen.schema : null);
    if (chosen && pending && pending.answers) {
      for (const input of items.querySelectorAll("[data-item]")) {
        const value = pending.answers[input.dataset.item];
        if (value !== undefined && value !== null) input.value = String(value);
      }
    }
    pending = null;
    intro.hidden = !chosen;
    if (chosen) {
      intro.textContent = `${chosen.title} (checklist version ${chosen.version}): ` +
        "the specialist needs the required items; recommended ones make a useful answer likelier.";
    }
    sync();
  }

  let loads = 0; // only the latest load fills the lists (a resume may start a second)
  async function loadSpecialty() {
    const load = ++loads;
    const slug = specialty.value;
    checklists = [];
    reason.length = 1;
    named.length = 1;
    if (slug) {
      try { checklists = await api("GET", `/api/v1/specialties/${slug}/checklists`); }
      catch { checklists = []; }
      if (specialty.value !== slug || load !== loads) return;
      for (const c of checklists) reason.append(el("option", { value: c.reason, text: c.title }));
      if (pending && pending.reason) reason.value = pending.reason;
      const query = gp && gp.value ? `?gp=${encodeURIComponent(gp.value)}` : "";
      try {
        const choice = await api("GET", `/api/v1/specialties/${slug}/specialists${query}`);
        if (specialty.value !== slug || load !== loads) return;
        for (const s of choice.specialists) {
          named.append(el("option", { value: s.email,
            text: s.credentials ? `${s.name}, ${s.credentials}` : s.name }));
        }
        named.value = (pending && pending.specialist) || choice.usual || "";
        document.getElementById("specialist-usual").hidden = !choice.usual;
      } catch { /* naming a specialist is optional */ }
    }
    reason.closest(".stack").hidden = checklists.length === 0;
    showReason();
  }

  reason.addEventListener("change", showReason);
  const edited = (event) => {
    sync();
    const slot = event.target.id && document.getElementById(`err-${event.target.id}`);
    if (slot) slot.hidden = true;
    event.target.removeAttribute("aria-invalid");
  };
  items.addEventListener("input", edited);
  items.addEventListener("change", edited);
  specialty.addEventListener("change", loadSpecialty);
  if (gp) gp.addEventListener("change", loadSpecialty);

  // Runs before the form's own submit handler (capture, on the form itself): a required
  // item left blank stops the send here, with the same message the server would give.
  form.addEventListener("submit", (event) => {
    sync();
    const chosen = current();
    const missing = chosen && firstMissing(chosen.schema, collectAnswers(items));
    if (!missing) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const [name, title] = missing;
    const slot = document.getElementById(`err-checklist.${name}`);
    const input = document.getElementById(`checklist.${name}`);
    slot.textContent = `${title} is required.`;
    slot.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }, true);

  loadSpecialty();
  return {
    // Fields of a saved draft: choose its reason and fill its answers in again.
    restore(saved) {
      let answers = {};
      try { answers = saved.checklist ? JSON.parse(saved.checklist) : {}; } catch { answers = {}; }
      pending = { reason: saved.reason || "", specialist: saved.specialist || "", answers };
      return loadSpecialty();
    },
  };
}
