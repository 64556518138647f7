// Consult thread: acts through the JSON API and re-reads the consult whenever /ws says
// it changed (the socket carries no clinical content; GET /api/v1/consults/{id} does).
import { answerBlock, answerParts, initAnswerForm, syncAnswerFields } from "./answer.js";
import { connectLive } from "./live.js";
import { api, el, STATE_LABELS, timeEl } from "./util.js";
import { setupViewer } from "./viewer.js";

const root = document.getElementById("thread");
const id = root.dataset.id;
const me = Number(root.dataset.me);
const errorBox = document.getElementById("thread-error");
const noticeBox = document.getElementById("thread-notice");
const OUTCOMES = JSON.parse(root.dataset.outcomes || "{}");
let refreshTimer = null;
let handedOn = false; // rerouted by the caller: losing sight of it is the expected end

// What the caller may do now comes from the server (policy and state machine); the page
// only shows or hides the matching forms and buttons.
function applyActions(consult) {
  const actions = new Set(consult.actions || []);
  const forms = root.querySelectorAll("form.action");
  let any = false;
  for (const form of forms) {
    const buttons = form.querySelectorAll("button[data-step]");
    for (const button of buttons) button.hidden = !actions.has(button.dataset.step);
    const show = buttons.length ? [...buttons].some((b) => !b.hidden)
      : actions.has(form.dataset.step);
    form.hidden = !show;
    any = any || show;
  }
  const none = document.getElementById("no-actions");
  if (none) none.hidden = any;
  const replyLabel = document.getElementById("reply-label");
  if (replyLabel) {
    replyLabel.textContent = consult.state === "awaiting_gp" ? "Answer the clarification"
      : consult.state === "answered" ? "Follow up with the specialist" : "Message the specialist";
  }
  const kind = document.getElementById("message-kind");
  if (kind) {
    for (const option of kind.options) {
      option.hidden = option.disabled = !actions.has(option.dataset.step);
    }
    if (kind.selectedOptions[0] && kind.selectedOptions[0].disabled) kind.value = "message";
    syncMinutes();
  }
}

function syncMinutes() {
  const row = document.getElementById("minutes-row");
  if (row) row.hidden = document.getElementById("message-kind").value !== "answer";
  syncAnswerFields();
}

function thumbs(images) {
  if (!images || !images.length) return null;
  return el("ul", { class: "thumbs" }, ...images.map((img) => {
    const label = (img.label || "other").replace("_", "-");
    const warnings = img.warnings && img.warnings.length ? el("ul", { class: "photo-warnings" },
      ...img.warnings.map((w) => el("li", { class: "warning", "data-code": w.code, text: w.message })))
      : null;
    return el("li", {}, el("button", {
      type: "button", class: "thumb", "data-full": `/api/v1/images/${img.id}`,
      "data-image": img.id, "data-label": img.label || "other",
      "aria-label": `Open ${label} photo full size`,
    }, el("img", { src: `/api/v1/images/${img.id}/thumbnail`, alt: `${label} photo`,
                   loading: "lazy" }),
    el("span", { class: "thumb-label", text: label })), warnings);
  }));
}

function attachmentList(items) {
  if (!items || !items.length) return null;
  return el("ul", { class: "attachments" }, ...items.map((a) => el("li", {},
    el("a", { class: "attachment", href: `/api/v1/attachments/${a.id}`, download: a.filename,
              "data-attachment": a.id, text: a.filename }), " ",
    el("small", { text: `PDF · ${a.pages} page${a.pages === 1 ? "" : "s"} · ` +
      `${Math.round(a.size_bytes / 1024)} KB` +
      (a.removed && a.removed.length ? ` · removed before storing: ${a.removed.join(", ")}` : "") }))));
}

const KIND_BADGES = { clarification_request: "asks for clarification", answer: "answer",
                      addendum: "addendum" };

function messageItem(m) {
  const kind = KIND_BADGES[m.kind] || null;
  return el("li", {
    class: `message kind-${m.kind}${m.author === me ? " mine" : ""}`, "data-id": m.id },
  el("p", { class: "message-head" }, el("strong", { text: m.author_name }), " ",
    kind ? el("span", { class: "badge kind", text: kind }) : null, " ", timeEl(m.at)),
  el("p", { class: "prose", text: m.body }), answerBlock(m), thumbs(m.images),
  attachmentList(m.attachments));
}

// An addendum is shown under the answer before it (as the server renders it).
function renderMessages(messages) {
  const list = document.getElementById("messages");
  if (!list) return;
  list.textContent = "";
  let answer = null;
  for (const m of messages) {
    if (m.kind === "addendum" && answer) {
      let addenda = answer.querySelector(".addenda");
      if (!addenda) {
        addenda = el("ol", { class: "addenda messages", "aria-label": "Addenda to this answer" });
        answer.append(addenda);
      }
      addenda.append(messageItem(m));
      continue;
    }
    const item = messageItem(m);
    list.append(item);
    if (m.kind === "answer") answer = item;
  }
  document.getElementById("no-messages").hidden = messages.length > 0;
}

function renderSurvey(consult) {
  const survey = document.getElementById("survey");
  if (!survey) return;
  survey.hidden = consult.state !== "closed";
  document.getElementById("survey-outcome").textContent =
    OUTCOMES[consult.outcome] || consult.outcome || "—";
  document.getElementById("survey-usefulness").textContent =
    consult.usefulness ? `${consult.usefulness} of 5` : "—";
  document.getElementById("survey-comment").textContent = consult.close_comment || "—";
}

function renderTimeline(events) {
  const list = document.getElementById("timeline");
  list.textContent = "";
  for (const e of events) {
    list.append(el("li", { "data-id": e.id }, timeEl(e.at), " ",
      el("span", { class: "event-type", text: e.type.replaceAll("_", " ") }), " · ",
      el("span", { class: "actor", text: e.actor_name })));
  }
}

function render(consult) {
  root.dataset.state = consult.state;
  const badge = document.getElementById("state-badge");
  badge.className = `badge state-${consult.state}`;
  badge.textContent = STATE_LABELS[consult.state] || consult.state;
  document.getElementById("urgency").textContent = consult.urgency.replace("_", "-") +
    (consult.converted_to ? ` · converted to ${consult.converted_to.replace("_", " ")}` : "");
  document.getElementById("assignee").textContent = consult.assignee ? consult.assignee.name
    : consult.state === "pooled" ? "Specialty pool" : "—";
  const due = document.getElementById("due");
  due.textContent = "";
  due.append(consult.due_at ? timeEl(consult.due_at, { withZone: true }) : "—");
  if (consult.messages) renderMessages(consult.messages);
  renderSurvey(consult);
  renderTimeline(consult.events || []);
  applyActions(consult);
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

async function refresh() {
  refreshTimer = null;
  try {
    render(await api("GET", `/api/v1/consults/${id}`, undefined, { background: true }));
  } catch (error) {
    if (error.status === 404) {
      for (const form of root.querySelectorAll("form.action")) form.hidden = true;
      if (handedOn) return; // the reroute notice already says where it went
      showError("This consult is no longer yours to see (it was rerouted or taken by a colleague).");
      for (const form of root.querySelectorAll("form.action")) form.hidden = true;
    } else if (error.status === 401) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
    }
  }
}

function scheduleRefresh() {
  if (refreshTimer === null) refreshTimer = setTimeout(refresh, 150);
}

function requestFor(form, submitter) {
  const data = new FormData(form);
  const base = `/api/v1/consults/${id}`;
  switch (form.dataset.step) {
    case "acknowledge": return [`${base}/acknowledge`, undefined];
    case "return_to_pool": return [`${base}/return`, undefined];
    case "cancel": return [`${base}/cancel`, undefined];
    case "convert": return [`${base}/convert`, { to: submitter ? submitter.value : "",
                                                 reason: data.get("reason") || "" }];
    case "reroute":
      return [`${base}/reroute`, { specialty: data.get("specialty"), reason: data.get("reason") }];
    case "close":
      return [`${base}/close`, { outcome: data.get("outcome"),
        usefulness: data.get("usefulness") ? Number(data.get("usefulness")) : null,
        comment: data.get("comment") || "" }];
    case "gp_message": {
      const files = form.querySelector('input[name="images"]').files;
      const documents = form.querySelector('input[name="attachments"]').files;
      if (!files.length && !documents.length) {
        return [`${base}/messages`, { body: data.get("body"), kind: "message" }];
      }
      const body = new FormData();
      body.append("body", data.get("body"));
      body.append("kind", "message");
      const labels = [...form.querySelectorAll("#reply-photos select")].map((s) => s.value);
      [...files].forEach((file, i) => {
        body.append("images", file, file.name);
        body.append("image_labels", labels[i] || "other");
      });
      for (const file of documents) body.append("attachments", file, file.name);
      return [`${base}/messages`, body];
    }
    case "addendum": return [`${base}/messages`, { body: data.get("body"), kind: "addendum" }];
    case "specialist_message": {
      const kind = data.get("kind");
      const payload = { body: data.get("body"), kind };
      if (kind === "answer") {
        payload.minutes = data.get("minutes") || null;
        Object.assign(payload, answerParts(form));
      }
      return [`${base}/messages`, payload];
    }
    default: return [null, null];
  }
}

function clearFieldError(form, name) {
  const slot = form.querySelector(`.field-error[data-field="${name}"]`);
  if (slot) { slot.hidden = true; slot.textContent = ""; }
  for (const input of form.querySelectorAll(`[name="${name}"]`)) input.removeAttribute("aria-invalid");
}

function fieldErrors(form, error) {
  for (const node of form.querySelectorAll(".field-error")) clearFieldError(form, node.dataset.field);
  const slot = error && error.field && form.querySelector(`.field-error[data-field="${error.field}"]`);
  if (slot) {
    slot.textContent = error.message;
    slot.hidden = false;
    const input = form.querySelector(`[name="${error.field}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return true;
  }
  return false;
}

// A field's error goes as soon as the field is changed (the server checks again on send).
function watchFields(form) {
  const clear = (event) => { if (event.target.name) clearFieldError(form, event.target.name); };
  form.addEventListener("input", clear);
  form.addEventListener("change", clear);
}

function showNotice(message) {
  noticeBox.textContent = "";
  if (message) noticeBox.append(...message);
  noticeBox.hidden = !message;
}

// A reroute hands the consult on: say where it went, and leave nothing to press.
function rerouted(form, summary) {
  handedOn = true;
  const select = form.querySelector('[name="specialty"]');
  const name = (select && select.selectedOptions[0] && select.selectedOptions[0].textContent)
    || summary.specialty;
  const where = summary.state === "pooled" ? `the ${name} pool` : `a ${name} specialist on call`;
  showNotice([`Rerouted to ${name}: it went to ${where}, and has left your queue. `,
    el("a", { href: "/queue", text: "Back to the queue" })]);
  for (const f of root.querySelectorAll("form.action")) f.hidden = true;
  document.getElementById("no-actions").hidden = true;
}

for (const form of root.querySelectorAll("form.action")) {
  watchFields(form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const buttons = form.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    showError("");
    fieldErrors(form, null);
    try {
      const [path, body] = requestFor(form, event.submitter);
      const answer = await api("POST", path, body);
      if (form.dataset.step === "reroute") {
        rerouted(form, answer);
        form.reset();
        await refresh();
        return;
      }
      form.reset();
      if (replyPhotos && form.contains(replyPhotos)) replyPhotos.textContent = "";
      syncMinutes();
      syncAnswerFields();
      await refresh();
    } catch (error) {
      if (!fieldErrors(form, error)) showError(error.message);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
}

const kindSelect = document.getElementById("message-kind");
if (kindSelect) kindSelect.addEventListener("change", syncMinutes);

// Photos added to a reply: the same labels (slots) and the same quality check as at
// submit (POST /images/check, nothing stored); the GP sees the warnings before sending.
const replyImages = document.getElementById("reply-images");
const replyPhotos = document.getElementById("reply-photos");
if (replyImages && replyPhotos) {
  const labels = (replyPhotos.dataset.labels || "overview,close_up,dermoscopy,other").split(",");
  replyImages.addEventListener("change", async () => {
    replyPhotos.textContent = "";
    const files = [...replyImages.files];
    const rows = files.map((file, i) => {
      const select = el("select", { "aria-label": `Kind of photo ${i + 1}` },
        ...labels.map((l) => el("option", { value: l, text: l.replace("_", "-") })));
      select.value = i === 0 ? "close_up" : "other";
      const warnings = el("ul", { class: "warnings" });
      replyPhotos.append(el("li", {}, el("span", { text: file.name }), " ", select, warnings));
      return warnings;
    });
    if (!files.length) return;
    const body = new FormData();
    for (const file of files) body.append("images", file, file.name);
    try {
      const { images } = await api("POST", "/api/v1/images/check", body);
      images.forEach((info, i) => {
        for (const w of info.warnings) rows[i].append(el("li", { class: "warning", text: w.message }));
      });
    } catch (error) {
      rows[0].append(el("li", { class: "warning", text: error.message }));
    }
  });
}

setupViewer(root);

applyActions({ state: root.dataset.state, actions: JSON.parse(root.dataset.actions || "[]") });
initAnswerForm();
connectLive({
  after: root.dataset.after,
  onEvent: (event) => { if (event.consult_id === id) scheduleRefresh(); },
  onReconnect: scheduleRefresh,
});
