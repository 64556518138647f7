// Rota replay: while a replay runs, poll its progress and show the figures when done
// (by reloading the page, which renders them). The page works without this: reloading
// by hand shows the same.

const box = document.getElementById("replay-job");
if (box && box.dataset.status === "running") {
  const id = box.dataset.job;
  const bar = document.getElementById("replay-progress");
  const count = document.getElementById("replay-count");
  const poll = async () => {
    try {
      const response = await fetch(`/api/v1/rota/replay/${encodeURIComponent(id)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const job = await response.json();
        if (bar) {
          bar.max = Math.max(job.total, 1);
          bar.value = job.done;
        }
        if (count) count.textContent = `${job.done} / ${job.total}`;
        if (job.status !== "running") {
          // A new URL only in its #fragment would not load again: reload then.
          const url = new URL(window.location.href);
          url.searchParams.set("replay", id);
          url.hash = "replay";
          if (url.toString() === window.location.href) {
            window.location.reload();
          } else {
            window.location.replace(url.toString());
          }
          return;
        }
      }
    } catch {
      // network hiccup: try again
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 500);
}
