// The login's second step: a TOTP code, a passkey, a recovery code, or a first
// enrolment. Each success sets the new session's cookie; then on to the target page.
import { api } from "./util.js";
import { getPasskey } from "./webauthn.js";
import { confirmEnrolment, showCodes, startEnrolment } from "./totp_enrol.js";

const root = document.getElementById("mfa");
const target = root.dataset.target || "/";
const errorBox = document.getElementById("mfa-error");

function fail(err) {
  errorBox.textContent = err.message || String(err);
  errorBox.hidden = false;
}

function done() {
  window.location.assign(target);
}

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const button = form.querySelector("button");
    button.disabled = true;
    try { await handler(form); } catch (err) { fail(err); } finally { button.disabled = false; }
  });
}

onSubmit("totp-form", async (form) => {
  await api("POST", "/api/v1/auth/mfa/verify", { code: form.elements.code.value });
  done();
});

onSubmit("recovery-form", async (form) => {
  await api("POST", "/api/v1/auth/mfa/verify",
            { recovery_code: form.elements.recovery_code.value });
  done();
});

const start = document.getElementById("enrol-start");
if (start) {
  start.addEventListener("click", async () => {
    errorBox.hidden = true;
    try { await startEnrolment(); start.hidden = true; } catch (err) { fail(err); }
  });
}

onSubmit("enrol-confirm", async (form) => {
  const found = await confirmEnrolment(form.elements.code.value);
  document.getElementById("enrol").hidden = true;
  showCodes(found.recovery_codes);
  document.getElementById("continue").focus();
});

const passkey = document.getElementById("passkey-login");
if (passkey) {
  passkey.addEventListener("click", async () => {
    errorBox.hidden = true;
    passkey.disabled = true;
    try {
      const options = await api("POST", "/api/v1/auth/mfa/webauthn/authenticate/options");
      const credential = await getPasskey(options.publicKey);
      await api("POST", "/api/v1/auth/mfa/webauthn/authenticate/verify", { credential });
      done();
    } catch (err) {
      fail(err);
    } finally {
      passkey.disabled = false;
    }
  });
}
