// Rota page enhancements; the page works without them.
// - draws each on-call stretch's position within its day (CSSOM: allowed by the CSP,
//   unlike style attributes in the markup),
// - asks before a delete, and stops double submits,
// - switches specialty as soon as one is picked.

for (const fill of document.querySelectorAll(".rota-fill[data-left][data-width]")) {
  const left = Number(fill.dataset.left);
  const width = Number(fill.dataset.width);
  if (Number.isFinite(left) && Number.isFinite(width)) {
    fill.style.left = `${left}%`;
    fill.style.width = `${Math.max(width, 0.5)}%`;
  }
}

for (const form of document.querySelectorAll("form[method=post]")) {
  form.addEventListener("submit", (event) => {
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    for (const button of form.querySelectorAll("button[type=submit]")) {
      button.disabled = true;
    }
  });
}

// Returning through the back/forward cache must not leave buttons disabled.
window.addEventListener("pageshow", () => {
  for (const button of document.querySelectorAll("form[method=post] button[disabled]")) {
    button.disabled = false;
  }
});

const picker = document.getElementById("rota-pick");
const select = picker?.querySelector("select[name=specialty]");
if (picker && select) {
  select.addEventListener("change", () => picker.submit());
}
