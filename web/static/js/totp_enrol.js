// Setting up an authenticator app, shared by the login's MFA step and /account:
// ask for a secret, show its QR code, confirm with a code, show the recovery codes.
import { api } from "./util.js";

export async function startEnrolment() {
  const found = await api("POST", "/api/v1/auth/mfa/totp/enrol");
  const img = document.getElementById("qr");
  // A data: URL rather than inserting markup: the SVG is ours, but nothing is parsed
  // into the page. An SVG shown as an image must name its namespace; inline SVG omits it.
  let svg = found.qr_svg;
  if (!svg.includes("xmlns=")) svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
  img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
  document.getElementById("totp-secret").textContent = found.secret;
  document.getElementById("enrol-qr").hidden = false;
  document.getElementById("enrol-code").focus();
}

export async function confirmEnrolment(code) {
  return api("POST", "/api/v1/auth/mfa/totp/confirm", { code });
}

export function showCodes(codes) {
  const list = document.getElementById("codes-list");
  list.replaceChildren(...codes.map((c) => {
    const li = document.createElement("li");
    const el = document.createElement("code");
    el.textContent = c;
    li.append(el);
    return li;
  }));
  document.getElementById("codes").hidden = false;
}
