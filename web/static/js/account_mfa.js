// /account, second factor: replace the authenticator app, add and remove passkeys,
// make new recovery codes.
import { api } from "./util.js";
import { createPasskey } from "./webauthn.js";
import { confirmEnrolment, showCodes, startEnrolment } from "./totp_enrol.js";

const errorBox = document.getElementById("mfa-error");
const notice = document.getElementById("mfa-notice");

function say(text) {
  errorBox.hidden = true;
  notice.textContent = text;
  notice.hidden = false;
}

function fail(err) {
  notice.hidden = true;
  errorBox.textContent = err.message || String(err);
  errorBox.hidden = false;
}

async function guarded(button, fn) {
  button.disabled = true;
  try { await fn(); } catch (err) { fail(err); } finally { button.disabled = false; }
}

const totpStart = document.getElementById("totp-start");
totpStart.addEventListener("click", () => guarded(totpStart, startEnrolment));

document.getElementById("enrol-confirm").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  guarded(form.querySelector("button"), async () => {
    const found = await confirmEnrolment(form.elements.code.value);
    document.getElementById("enrol-qr").hidden = true;
    document.getElementById("totp-state").textContent = "Set up.";
    document.getElementById("codes-left").textContent = "10 of 10 left.";
    showCodes(found.recovery_codes);
    say("Authenticator app set up. Save your new recovery codes below.");
  });
});

const codesNew = document.getElementById("codes-new");
codesNew.addEventListener("click", () => guarded(codesNew, async () => {
  const found = await api("POST", "/api/v1/auth/mfa/recovery-codes");
  document.getElementById("codes-left").textContent = "10 of 10 left.";
  showCodes(found.recovery_codes);
  say("New recovery codes made; the old ones no longer work.");
}));

document.getElementById("passkey-add").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  guarded(form.querySelector("button"), async () => {
    const options = await api("POST", "/api/v1/auth/mfa/webauthn/register/options");
    const credential = await createPasskey(options.publicKey);
    const name = form.elements.name.value || "Passkey";
    const added = await api("POST", "/api/v1/auth/mfa/webauthn/register/verify",
                            { credential, name });
    document.getElementById("no-passkeys")?.remove();
    const li = document.createElement("li");
    li.dataset.id = added.id;
    li.textContent = `${added.name} · added just now`;
    document.getElementById("passkeys").append(li);
    say("Passkey added.");
  });
});

document.getElementById("passkeys").addEventListener("click", (event) => {
  const button = event.target.closest(".passkey-remove");
  if (!button) return;
  guarded(button, async () => {
    await api("DELETE", `/api/v1/auth/mfa/webauthn/passkeys/${encodeURIComponent(button.dataset.id)}`);
    button.closest("li").remove();
    say("Passkey removed.");
  });
});
