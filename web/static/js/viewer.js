// Photo viewer for the consult thread: zoom at the cursor (wheel, +/−, double-click),
// drag to pan, next/previous through every photo on the page (buttons, ← →), and
// side-by-side with an earlier photo of the same body site of the same patient
// (GET /api/v1/images/{id}/earlier; the server decides which photos the viewer may see).
// Both panes share one zoom and pan, so the same spot of the lesion stays under the eye.
import { api, fmtTime } from "./util.js";

const MIN = 1;
const MAX = 12;
const STEP = 1.5;

export function setupViewer(root) {
  const dialog = document.getElementById("photo-viewer");
  if (!dialog) return null;
  const panes = [...dialog.querySelectorAll(".viewer-pane")];
  const mainPane = dialog.querySelector(".viewer-main-pane");
  const earlierPane = dialog.querySelector(".viewer-earlier-pane");
  const mainImg = mainPane.querySelector("img");
  const earlierImg = earlierPane.querySelector("img");
  const caption = dialog.querySelector("[data-caption]");
  const position = dialog.querySelector("[data-position]");
  const compareButton = dialog.querySelector("[data-compare]");
  const choice = dialog.querySelector("[data-earlier]");
  const earlierCaption = earlierPane.querySelector("[data-earlier-caption]");
  const view = { scale: 1, x: 0, y: 0 };
  let photos = [];
  let index = 0;

  function apply() {
    const transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    for (const img of [mainImg, earlierImg]) img.style.transform = transform;
    dialog.dataset.scale = view.scale.toFixed(2);
    dialog.classList.toggle("zoomed", view.scale > 1);
  }

  // Keep the point under (px, py) of a pane where it is while the scale changes.
  function zoomAt(factor, px, py) {
    const scale = Math.min(MAX, Math.max(MIN, view.scale * factor));
    const ratio = scale / view.scale;
    view.x = px - (px - view.x) * ratio;
    view.y = py - (py - view.y) * ratio;
    view.scale = scale;
    if (scale === 1) { view.x = 0; view.y = 0; }
    apply();
  }

  function zoomCentre(factor) {
    const box = mainPane.getBoundingClientRect();
    zoomAt(factor, box.width / 2, box.height / 2);
  }

  function fit() {
    view.scale = 1; view.x = 0; view.y = 0;
    apply();
  }

  function collect() {
    return [...root.querySelectorAll("button.thumb[data-image]")].map((node) => ({
      id: node.dataset.image, label: (node.dataset.label || "other").replace("_", "-"),
      warnings: [...(node.parentElement.querySelectorAll(".photo-warnings li") || [])]
        .map((li) => li.textContent),
    }));
  }

  function show(i) {
    index = (i + photos.length) % photos.length;
    const photo = photos[index];
    mainImg.src = `/api/v1/images/${photo.id}`;
    mainImg.alt = `${photo.label} photo`;
    dialog.dataset.image = photo.id;
    caption.textContent = photo.label + (photo.warnings.length ? ` · ${photo.warnings.join(" ")}` : "");
    position.textContent = `${index + 1} / ${photos.length}`;
    for (const b of dialog.querySelectorAll("[data-step]")) b.disabled = photos.length < 2;
    closeCompare();
    fit();
  }

  function closeCompare() {
    earlierPane.hidden = true;
    choice.hidden = true;
    choice.textContent = "";
    dialog.classList.remove("comparing");
    compareButton.setAttribute("aria-pressed", "false");
  }

  function showEarlier(photo) {
    earlierImg.src = `/api/v1/images/${photo.id}`;
    earlierImg.alt = `Earlier ${photo.label.replace("_", "-")} photo`;
    earlierCaption.textContent = `Earlier: ${photo.label.replace("_", "-")} · ${fmtTime(photo.taken_at)}` +
      (photo.same_consult ? " · this consult" : " · an earlier consult");
    earlierPane.hidden = false;
    dialog.classList.add("comparing");
  }

  async function compare() {
    if (!earlierPane.hidden) { closeCompare(); return; }
    compareButton.disabled = true;
    try {
      const { photos: earlier } = await api("GET", `/api/v1/images/${photos[index].id}/earlier`);
      choice.textContent = "";
      if (!earlier.length) {
        choice.append(new Option("No earlier photo of this site", ""));
        choice.hidden = false;
        choice.disabled = true;
        return;
      }
      choice.disabled = false;
      for (const photo of earlier) {
        const option = new Option(`${fmtTime(photo.taken_at)} · ${photo.label.replace("_", "-")}` +
          (photo.body_site ? ` · ${photo.body_site}` : ""), photo.id);
        option.photo = photo;
        choice.append(option);
      }
      choice.hidden = false;
      compareButton.setAttribute("aria-pressed", "true");
      showEarlier(earlier[0]);
    } catch (error) {
      caption.textContent = error.message;
    } finally {
      compareButton.disabled = false;
    }
  }

  choice.addEventListener("change", () => {
    const option = choice.selectedOptions[0];
    if (option && option.photo) showEarlier(option.photo);
  });

  root.addEventListener("click", (event) => {
    const thumb = event.target.closest("button.thumb[data-image]");
    if (!thumb) return;
    photos = collect();
    dialog.showModal();
    show(photos.findIndex((p) => p.id === thumb.dataset.image));
  });

  dialog.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.zoom === "in") zoomCentre(STEP);
    else if (button.dataset.zoom === "out") zoomCentre(1 / STEP);
    else if (button.dataset.zoom === "fit") fit();
    else if (button.dataset.step === "next") show(index + 1);
    else if (button.dataset.step === "previous") show(index - 1);
    else if ("compare" in button.dataset) compare();
    else if ("close" in button.dataset) dialog.close();
  });

  for (const pane of panes) {
    pane.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = pane.getBoundingClientRect();
      zoomAt(event.deltaY < 0 ? 1.25 : 0.8, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    pane.addEventListener("dblclick", (event) => {
      const box = pane.getBoundingClientRect();
      if (view.scale > 1) fit();
      else zoomAt(2.5, event.clientX - box.left, event.clientY - box.top);
    });
    let drag = null;
    pane.addEventListener("pointerdown", (event) => {
      if (view.scale === 1) return;
      drag = { x: event.clientX - view.x, y: event.clientY - view.y };
      pane.setPointerCapture(event.pointerId);
    });
    pane.addEventListener("pointermove", (event) => {
      if (!drag) return;
      view.x = event.clientX - drag.x;
      view.y = event.clientY - drag.y;
      apply();
    });
    pane.addEventListener("pointerup", () => { drag = null; });
    pane.addEventListener("pointercancel", () => { drag = null; });
  }

  dialog.addEventListener("keydown", (event) => {
    if (event.target.closest("select")) return;
    if (event.key === "ArrowRight") { event.preventDefault(); show(index + 1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); show(index - 1); }
    else if (event.key === "+" || event.key === "=") zoomCentre(STEP);
    else if (event.key === "-") zoomCentre(1 / STEP);
    else if (event.key === "0") fit();
  });
  dialog.addEventListener("close", closeCompare);
  return { show, zoomAt, fit };
}
