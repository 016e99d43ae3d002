// The API as the console uses it: the admin token (kept in sessionStorage for this tab only,
// sent as a bearer header, never in a URL) and requests whose failures carry the API's sentence.

const TOKEN_KEY = "pxe-catalog.admin-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Sends a request; the token goes only with changes and admin reads (`admin`), never with the
// catalog's public GETs. Resolves with the parsed JSON (or text for `text: true`).
export async function request(method, path, { body, admin = method !== "GET", text = false } = {}) {
  const headers = { Accept: text ? "text/plain" : "application/json" };
  if (admin && token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store", credentials: "omit", redirect: "error",
    });
  } catch (error) {
    throw new APIError(0, `The server could not be reached (${error.message}).`);
  }
  const raw = await response.text();
  if (!response.ok) {
    let sentence = "";
    try { sentence = JSON.parse(raw).error || ""; } catch { /* not JSON: say what we know */ }
    throw new APIError(response.status, sentence || `The server answered ${response.status} ${response.statusText}.`);
  }
  if (text) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    throw new APIError(response.status, `The server's answer to ${method} ${path} is not JSON.`);
  }
}

// A public GET that names the ETag of the copy the console has: resolves with
// `{ changed: false }` on 304 (a few hundred bytes on the wire), otherwise with the parsed
// JSON and the new ETag.
export async function requestIfChanged(path, etag) {
  const headers = { Accept: "application/json" };
  if (etag) headers["If-None-Match"] = etag;
  let response;
  try {
    response = await fetch(path, { method: "GET", headers, cache: "no-store", credentials: "omit", redirect: "error" });
  } catch (error) {
    throw new APIError(0, `The server could not be reached (${error.message}).`);
  }
  if (response.status === 304) return { changed: false, etag };
  const raw = await response.text();
  if (!response.ok) {
    let sentence = "";
    try { sentence = JSON.parse(raw).error || ""; } catch { /* not JSON: say what we know */ }
    throw new APIError(response.status, sentence || `The server answered ${response.status} ${response.statusText}.`);
  }
  try {
    return { changed: true, etag: response.headers.get("ETag") || "", data: JSON.parse(raw) };
  } catch {
    throw new APIError(response.status, `The server's answer to GET ${path} is not JSON.`);
  }
}
