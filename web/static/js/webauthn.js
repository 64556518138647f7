// WebAuthn in the browser: the server's options JSON (base64url fields) to what
// navigator.credentials wants, and the credential back to JSON for the server.

function decode(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function encode(buffer) {
  const bytes = new Uint8Array(buffer);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list) {
  return (list || []).map((c) => ({ ...c, id: decode(c.id) }));
}

export async function createPasskey(options) {
  const publicKey = { ...options, challenge: decode(options.challenge),
                      user: { ...options.user, id: decode(options.user.id) },
                      excludeCredentials: descriptors(options.excludeCredentials) };
  const cred = await navigator.credentials.create({ publicKey });
  const r = cred.response;
  return {
    id: cred.id, rawId: encode(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: { clientDataJSON: encode(r.clientDataJSON),
                attestationObject: encode(r.attestationObject),
                transports: r.getTransports ? r.getTransports() : [] },
  };
}

export async function getPasskey(options) {
  const publicKey = { ...options, challenge: decode(options.challenge),
                      allowCredentials: descriptors(options.allowCredentials) };
  const cred = await navigator.credentials.get({ publicKey });
  const r = cred.response;
  const response = { clientDataJSON: encode(r.clientDataJSON),
                     authenticatorData: encode(r.authenticatorData),
                     signature: encode(r.signature) };
  if (r.userHandle) response.userHandle = encode(r.userHandle);
  return {
    id: cred.id, rawId: encode(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults(), response,
  };
}

export const passkeysSupported = () => typeof window.PublicKeyCredential === "function";
