// The session, seen from any page: a warning two minutes before the idle logoff with
// "Stay signed in", and when the session has ended (idle, or a logout in another
// tab) an in-place sign-in that leaves the page as it was, refreshes the CSRF token
// the page's scripts use and lets the request the person made go through.
//
// Only the person's own doing keeps the session alive: this script's status checks
// and the pages' background refreshes carry X-Econsult-Background, which the server
// does not count; pressing a key or clicking is counted (it sends a keep-alive when the
// warning would otherwise show).
import { BACKGROUND, csrf, setCsrf, setSessionRecovery } from "./util.js";

const body = document.body;
const myId = Number(body.dataset.userId || 0);
let endsAt = 0; // ms since epoch, as the server last said
let warnMs = 120_000;
let timer = null;
let lastInput = 0;
let lastTold = Date.now(); // when the server last told us the session's end
let ended = false;
let pending = null; // {promise, resolve} while the sign-in dialog waits

for (const type of ["keydown", "pointerdown"]) {
  document.addEventListener(type, (event) => {
    if (!event.target.closest || !event.target.closest("#session-warning, #session-signin")) {
      lastInput = Date.now();
    }
  }, { capture: true, passive: true });
}

function schedule(status) {
  endsAt = Date.now() + status.seconds_left * 1000;
  warnMs = status.warn_seconds * 1000;
  lastTold = Date.now();
  clearTimeout(timer);
  const untilWarning = endsAt - warnMs - Date.now();
  if (untilWarning > 0) {
    timer = setTimeout(atWarningTime, untilWarning);
  } else {
    showWarning();
  }
}

let signIns = 0; // a 401 asked for before the latest sign-in says nothing about now

async function status() {
  const asked = signIns;
  try {
    const response = await fetch("/api/v1/session", {
      credentials: "same-origin", headers: { Accept: "application/json", ...BACKGROUND } });
    if (response.status === 401) return asked === signIns ? null : undefined;
    if (!response.ok) throw new Error(String(response.status));
    return await response.json();
  } catch {
    return undefined; // offline: ask again later
  }
}

async function keepAlive() {
  const response = await fetch("/api/v1/session/keepalive", {
    method: "POST", credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRF-Token": csrf } });
  if (response.status === 401 || response.status === 403) return null;
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}

async function atWarningTime() {
  const now = await status();
  if (now === null) return sessionEnded();
  if (now === undefined) { timer = setTimeout(atWarningTime, 15_000); return; }
  if (now.seconds_left * 1000 > now.warn_seconds * 1000 + 2000) {
    schedule(now); // something the person did (here or in another tab) extended it
    return;
  }
  if (lastInput > lastTold) {
    // They are typing or clicking on this page: that is activity the server cannot see.
    const kept = await keepAlive().catch(() => undefined);
    if (kept) { schedule(kept); return; }
  }
  schedule(now);
}

// --- the warning --------------------------------------------------------------------

function warningBox() {
  let box = document.getElementById("session-warning");
  if (box) return box;
  box = document.createElement("div");
  box.id = "session-warning";
  box.className = "session-warning";
  box.setAttribute("role", "alertdialog");
  box.setAttribute("aria-labelledby", "session-warning-text");
  box.hidden = true;
  const text = document.createElement("p");
  text.id = "session-warning-text";
  const stay = document.createElement("button");
  stay.type = "button";
  stay.className = "primary";
  stay.id = "stay-signed-in";
  stay.textContent = "Stay signed in";
  stay.addEventListener("click", async () => {
    stay.disabled = true;
    try {
      const kept = await keepAlive();
      if (kept) {
        box.hidden = true;
        clearInterval(countdown);
        countdown = null;
        schedule(kept);
      } else sessionEnded();
    } catch {
      text.textContent = "Could not reach the server; try again.";
    } finally {
      stay.disabled = false;
    }
  });
  box.append(text, stay);
  document.body.append(box);
  return box;
}

let countdown = null;

function showWarning() {
  const box = warningBox();
  const text = document.getElementById("session-warning-text");
  const tick = () => {
    const left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    if (left <= 0) {
      clearInterval(countdown);
      countdown = null;
      box.hidden = true;
      confirmEnded();
      return;
    }
    const m = Math.floor(left / 60), s = String(left % 60).padStart(2, "0");
    text.textContent = `For your patients' privacy you will be signed out in ${m}:${s} `
      + "unless you stay. Nothing you typed is lost either way.";
  };
  clearInterval(countdown);
  countdown = setInterval(tick, 1000);
  tick();
  if (box.hidden) {
    box.hidden = false;
    document.getElementById("stay-signed-in").focus({ preventScroll: true });
  }
}

async function confirmEnded() {
  const now = await status();
  if (now === null) sessionEnded();
  else if (now) schedule(now);
  else timer = setTimeout(confirmEnded, 15_000);
}

// --- signing in again, in place -----------------------------------------------------

function signInDialog() {
  let dialog = document.getElementById("session-signin");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "session-signin";
  dialog.className = "session-signin";
  dialog.setAttribute("aria-labelledby", "signin-title");
  dialog.innerHTML = `
    <form method="dialog" id="signin-form" class="stack" novalidate>
      <h2 id="signin-title">Your session has ended</h2>
      <p>Sign in again to carry on. This page stays as it is: what you typed is kept,
         and what you were doing goes through once you are signed in.</p>
      <div class="error" id="signin-error" role="alert" hidden></div>
      <label for="signin-email">Email</label>
      <input id="signin-email" name="email" type="email" autocomplete="username" required>
      <label for="signin-password">Password</label>
      <input id="signin-password" name="password" type="password"
             autocomplete="current-password" required>
      <div id="signin-second" class="stack" hidden>
        <label for="signin-code">Code from your authenticator app, or a recovery code</label>
        <input id="signin-code" name="code" autocomplete="one-time-code" inputmode="text"
               maxlength="64">
      </div>
      <div class="signin-buttons">
        <button type="submit" class="primary" id="signin-submit">Sign in</button>
        <button type="button" class="link" id="signin-elsewhere">I signed in in another tab</button>
      </div>
    </form>`;
  document.body.append(dialog);
  dialog.addEventListener("cancel", (event) => event.preventDefault()); // Esc keeps it
  dialog.querySelector("#signin-email").value = body.dataset.userEmail || "";
  dialog.querySelector("#signin-form").addEventListener("submit", signIn);
  dialog.querySelector("#signin-elsewhere").addEventListener("click", adoptOtherTab);
  return dialog;
}

function signInError(message) {
  const node = document.getElementById("signin-error");
  node.textContent = message;
  node.hidden = !message;
}

// The second step of a login that owes one (ECONSULT_MFA_REQUIRED): a TOTP or recovery
// code is entered here, against the pending session the password step opened; a passkey
// or a first enrolment needs the login page (in another tab).
let pendingCsrf = null;

async function secondStep(button) {
  const code = document.getElementById("signin-code").value.trim();
  if (!code) { signInError("Enter the code."); return; }
  button.disabled = true;
  try {
    const response = await fetch("/api/v1/auth/mfa/verify", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json",
                 "X-CSRF-Token": pendingCsrf },
      body: JSON.stringify(code.includes("-") ? { recovery_code: code } : { code }) });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (!response.ok) {
      signInError((data && data.error && data.error.message)
        || `The code was not accepted (${response.status}).`);
      return;
    }
    pendingCsrf = null;
    document.getElementById("signin-second").hidden = true;
    document.getElementById("signin-code").value = "";
    signedIn(data);
  } catch {
    signInError("Could not reach the server. Nothing is lost: try again.");
  } finally {
    button.disabled = false;
  }
}

async function signIn(event) {
  event.preventDefault();
  const button = document.getElementById("signin-submit");
  if (pendingCsrf) { await secondStep(button); return; }
  const email = document.getElementById("signin-email").value.trim();
  const password = document.getElementById("signin-password").value;
  if (!email || !password) { signInError("Enter your email and password."); return; }
  button.disabled = true;
  signInError("");
  try {
    const response = await fetch("/api/v1/auth/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ email, password }) });
    let data = null;
    try { data = await response.json(); } catch { data = null; }
    if (!response.ok) {
      signInError((data && data.error && data.error.message)
        || `Could not sign in (${response.status}).`);
      return;
    }
    if (data.mfa_required) {
      const methods = data.methods || [];
      if (methods.includes("totp") || methods.includes("recovery_code")) {
        pendingCsrf = data.csrf_token;
        document.getElementById("signin-second").hidden = false;
        document.getElementById("signin-code").focus();
        signInError("");
        return;
      }
      signInError("This account's second step needs the login page: open /login in a new "
        + "tab, sign in there, then press \"I signed in in another tab\".");
      return;
    }
    signedIn(data);
  } catch {
    signInError("Could not reach the server. Nothing is lost: try again.");
  } finally {
    button.disabled = false;
  }
}

async function adoptOtherTab() {
  signInError("");
  try {
    const response = await fetch("/api/v1/me", {
      credentials: "same-origin", headers: { Accept: "application/json", ...BACKGROUND } });
    if (!response.ok) { signInError("No session yet: sign in here or in the other tab first."); return; }
    signedIn(await response.json());
  } catch {
    signInError("Could not reach the server. Nothing is lost: try again.");
  }
}

function signedIn(data, { quiet = false } = {}) {
  if (myId && data.user && data.user.id !== myId) {
    signInError("That is another person's account; this page belongs to the one who "
      + "opened it. Sign in as them, or reload the page to work as yourself.");
    return;
  }
  setCsrf(data.csrf_token);
  signIns += 1;
  ended = false;
  const dialog = document.getElementById("session-signin");
  if (dialog) {
    document.getElementById("signin-password").value = "";
    if (dialog.open) dialog.close();
  }
  body.dataset.session = "live";
  document.dispatchEvent(new CustomEvent("econsult:signed-in"));
  if (!quiet) announce("signed-in");
  if (pending) { pending.resolve(true); pending = null; }
  status().then((now) => { if (now) schedule(now); });
}

function sessionEnded() {
  clearTimeout(timer);
  clearInterval(countdown);
  const box = document.getElementById("session-warning");
  if (box) box.hidden = true;
  ended = true;
  body.dataset.session = "ended";
  const dialog = signInDialog();
  if (!dialog.open) {
    dialog.showModal();
    const email = document.getElementById("signin-email");
    (email.value ? document.getElementById("signin-password") : email).focus();
  }
}

// The page's request was refused for want of a session (401), or with the CSRF token
// of a session that has been replaced (403): another tab may have signed in already,
// in which case its token is adopted without asking; otherwise the dialog asks.
async function recover() {
  if (!pending) {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    pending = { promise, resolve };
    try {
      const response = await fetch("/api/v1/me", {
        credentials: "same-origin", headers: { Accept: "application/json", ...BACKGROUND } });
      if (response.ok) {
        const data = await response.json();
        if (!myId || data.user.id === myId) {
          if (data.csrf_token !== csrf) { signedIn(data); return true; }
        }
      }
    } catch { /* offline: the dialog says so when they try */ }
    if (pending) sessionEnded();
    return pending ? pending.promise : true;
  }
  return pending.promise;
}

// Other tabs of the same browser: a logout there ends this page's session too (the
// dialog comes up now, not at the next click), and a sign-in there gives this page
// the new session's CSRF token (for its scripts and its plain forms) without asking.
const channel = "BroadcastChannel" in window ? new BroadcastChannel("econsult-session") : null;

function announce(type) {
  if (channel) channel.postMessage({ type });
}

async function adoptQuietly() {
  try {
    const response = await fetch("/api/v1/me", {
      credentials: "same-origin", headers: { Accept: "application/json", ...BACKGROUND } });
    if (!response.ok) return;
    const data = await response.json();
    if ((!myId || data.user.id === myId) && (ended || data.csrf_token !== csrf)) {
      signedIn(data, { quiet: true });
    }
  } catch { /* offline */ }
}

async function afterLogoutElsewhere() {
  for (const wait of [800, 2000, 5000]) { // the other tab's logout may still be on its way
    await new Promise((r) => setTimeout(r, wait));
    if (ended) return;
    if (await status() === null) { sessionEnded(); return; }
  }
}

if (channel) {
  channel.addEventListener("message", (event) => {
    const type = event.data && event.data.type;
    if (type === "logged-out") afterLogoutElsewhere();
    else if (type === "signed-in") adoptQuietly();
  });
}
document.addEventListener("submit", (event) => {
  if (event.target.classList && event.target.classList.contains("logout")) announce("logged-out");
}, true);

setSessionRecovery(recover);
document.addEventListener("econsult:session-ended", () => { if (!ended) recover(); });
announce("signed-in"); // a page opened after a login: other tabs take its token
status().then((now) => {
  if (now === null) sessionEnded();
  else if (now) schedule(now);
});
