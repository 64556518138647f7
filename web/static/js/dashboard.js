// Live counts on /dashboard: on any consult event from /ws, re-fetch the aggregates for
// the page's filters (at most once every 2 s) and update the cells marked data-key /
// data-field. Charts and tables beyond those cells refresh on reload. No socket, no
// harm: the page is complete without this script.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.fetch || !window.WebSocket) return;
  var query = root.getAttribute("data-query") || "";
  var status = document.getElementById("live-status");
  var THROTTLE_MS = 2000;
  var lastFetch = 0, pending = null, backoff = 1000, lastId = null;

  function say(text) { if (status) status.textContent = text; }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var hours = seconds / 3600;
    return hours < 48 ? hours.toFixed(1) + " h" : (hours / 24).toFixed(1) + " d";
  }
  function pct(v) { return v === null || v === undefined ? "–" : v.toFixed(1) + "%"; }
  function count(v) { return Number(v || 0).toLocaleString("en-US"); }
  var FORMAT = {
    median_seconds_to_answer: duration, p90_seconds_to_answer: duration,
    within_target_pct: pct, referral_avoided_pct: pct
  };

  function apply(key, stats) {
    var cells = root.querySelectorAll('[data-key="' + key.replace(/"/g, "") + '"]');
    for (var i = 0; i < cells.length; i++) {
      var field = cells[i].getAttribute("data-field");
      if (!(field in stats)) continue;
      var text = (FORMAT[field] || count)(stats[field]);
      if (cells[i].textContent !== text) {
        cells[i].textContent = text;
        cells[i].classList.add("changed");
      }
    }
  }

  function refresh() {
    pending = null;
    lastFetch = Date.now();
    fetch("/api/v1/turnaround?" + query, { credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Econsult-Background": "1" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        (data.groups || []).forEach(function (g) { apply(g.specialty + "|" + g.urgency, g); });
        if (data.totals) apply("totals", data.totals);
        // The one time format, from the server's zone rules (util.js).
        var now = new Date().toISOString();
        import("/static/js/util.js").then(function (u) {
          say("Live · updated " + u.fmtTime(now, { withZone: true }));
        });
      })
      .catch(function () { say("Live · update failed, will retry on the next event"); });
  }

  function schedule() {
    if (pending) return;
    var wait = Math.max(0, lastFetch + THROTTLE_MS - Date.now());
    pending = setTimeout(refresh, wait);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + "/ws" + (lastId !== null ? "?after=" + lastId : "");
    var ws;
    try { ws = new WebSocket(url); } catch (e) { return; }
    ws.onopen = function () { backoff = 1000; say("Live"); schedule(); };
    ws.onmessage = function (msg) {
      var event;
      try { event = JSON.parse(msg.data); } catch (e) { return; }
      if (typeof event.id === "number") lastId = event.id;
      if (event.consult_id) schedule();
    };
    ws.onclose = function (e) {
      if (e.code === 4401) { say("Live updates off (signed out)"); return; }
      say("Live updates paused, reconnecting…");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }
  connect();
})();
