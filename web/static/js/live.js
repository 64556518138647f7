// The page's live connection to /ws: resumes with ?after=<last id>, reconnects with
// exponential backoff, and says when it is offline. Events carry queue fields only.

const HEARTBEAT_TIMEOUT_MS = 50_000; // the server pings every 20 s
const MAX_BACKOFF_MS = 15_000;
const SESSION_ENDED = 4401;

function banner() {
  let node = document.getElementById("live-status");
  if (!node) {
    node = document.createElement("div");
    node.id = "live-status";
    node.className = "live-status";
    node.setAttribute("role", "status");
    node.setAttribute("aria-live", "polite");
    node.hidden = true;
    document.body.prepend(node);
  }
  return node;
}

function show(text, kind) {
  const node = banner();
  node.textContent = "";
  node.dataset.kind = kind;
  if (kind === "ended") {
    // session.js offers the in-place sign-in; the link stays for pages without it.
    document.dispatchEvent(new CustomEvent("econsult:session-ended"));
    node.append("Your session has ended. ");
    const link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent(location.pathname);
    link.textContent = "Log in again";
    node.append(link);
  } else {
    node.append(text);
  }
  node.hidden = false;
}

export function connectLive({ after, onEvent, onReconnect }) {
  let last = Number(after) || 0;
  let attempts = 0;
  let socket = null;
  let watchdog = null;
  let stopped = false;
  let everOpened = false;
  let timer = null;

  const url = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws?after=${last}`;
  };

  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => socket && socket.close(), HEARTBEAT_TIMEOUT_MS);
  };

  const open = () => {
    if (stopped) return;
    socket = new WebSocket(url());
    socket.addEventListener("open", () => {
      const wasOffline = attempts > 0 || everOpened;
      attempts = 0;
      everOpened = true;
      banner().hidden = true;
      document.body.dataset.live = "online";
      arm();
      if (wasOffline && onReconnect) onReconnect();
    });
    socket.addEventListener("message", (message) => {
      arm();
      let data;
      try { data = JSON.parse(message.data); } catch { return; }
      if (data.type === "ping" || data.type === "resync") return;
      if (typeof data.id === "number" && data.id > last) last = data.id;
      onEvent(data);
    });
    socket.addEventListener("close", (event) => {
      clearTimeout(watchdog);
      document.body.dataset.live = "offline";
      if (event.code === SESSION_ENDED || event.code === 1008) {
        stopped = true;
        show("", "ended");
        return;
      }
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts) * (0.75 + Math.random() / 2);
      attempts += 1;
      show("Offline: reconnecting…", "offline");
      timer = setTimeout(retry, delay);
    });
  };

  // A refused handshake looks like a network failure to the page: ask whether the
  // session is still there before trying again.
  const retry = async () => {
    timer = null;
    if (attempts >= 2) {
      try {
        const response = await fetch("/api/v1/me", {
          credentials: "same-origin", headers: { "X-Econsult-Background": "1" } });
        if (response.status === 401) { stopped = true; show("", "ended"); return; }
      } catch { /* still offline */ }
    }
    open();
  };

  // Signed in again in place (session.js): the socket comes back, replaying from `last`.
  document.addEventListener("econsult:signed-in", () => {
    if (!stopped) return;
    stopped = false;
    attempts = 0;
    banner().hidden = true;
    open();
  });
  window.addEventListener("online", () => {
    if (timer !== null && !stopped) { clearTimeout(timer); attempts = 0; retry(); }
  });
  open();
  return { get last() { return last; } };
}
