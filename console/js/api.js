// The console's client for the Device API (SPEC §10). Same origin, signed in
// by the rs1_session cookie; every request that changes something carries
// X-RS1-CSRF so the server knows it came from script, not from a form.

const SESSION_PATH = '/api/v1/session';

// A failed request, built from its application/problem+json body when it has
// one (RFC 9457), else from the HTTP status alone.
export class ApiProblem extends Error {
  constructor({ status, title, detail, errors, response }) {
    super(detail ? `${title}: ${detail}` : title);
    this.name = 'ApiProblem';
    this.status = status;
    this.title = title;
    this.detail = detail || '';
    this.errors = Array.isArray(errors) ? errors : [];
    this.response = response || null;
  }
}

function isBinary(body) {
  return body instanceof Blob || body instanceof ArrayBuffer || ArrayBuffer.isView(body);
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function problemFrom(status, statusText, text, response) {
  const p = parseJson(text);
  if (p && typeof p === 'object' && typeof p.title === 'string') {
    return new ApiProblem({ status, title: p.title, detail: p.detail, errors: p.errors, response });
  }
  return new ApiProblem({
    status,
    title: statusText || `HTTP ${status}`,
    detail: status ? `The server answered ${status}.` : 'The server could not be reached.',
    response,
  });
}

// A 401 outside the session endpoint means the session ended (expired, signed
// out elsewhere, account deleted): send the user to sign in again.
function onUnauthorized(status, path) {
  if (status === 401 && !path.startsWith(SESSION_PATH)) location.hash = '#/signin';
}

// api('GET', '/api/v1/fleet') -> { status, headers, data } for 2xx and 304
// (data: the parsed JSON, null for 204/304); an ApiProblem otherwise. With
// `raw`, data is the fetch Response itself, its body unread (for callers
// that want a stream or a blob).
export async function api(method, path, { body, headers, raw } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-RS1-CSRF'] = '1';
  if (body !== undefined) {
    if (isBinary(body)) {
      init.headers['Content-Type'] = 'application/octet-stream';
      init.body = body;
    } else {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiProblem({ status: 0, title: 'Network error', detail: err.message });
  }
  if (raw) {
    if (response.ok || response.status === 304) return { status: response.status, headers: response.headers, data: response };
    const text = await response.text();
    onUnauthorized(response.status, path);
    throw problemFrom(response.status, response.statusText, text, response);
  }
  const text = response.status === 204 || response.status === 304 ? '' : await response.text();
  if (response.ok || response.status === 304) {
    return { status: response.status, headers: response.headers, data: parseJson(text) };
  }
  onUnauthorized(response.status, path);
  throw problemFrom(response.status, response.statusText, text, response);
}

// Headers of an XMLHttpRequest in the shape of fetch's Headers (get only).
function xhrHeaders(xhr) {
  return { get: (name) => xhr.getResponseHeader(name) };
}

// POST a file as application/octet-stream with upload progress, which
// fetch cannot report. onProgress gets a fraction 0..1.
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-RS1-CSRF', '1');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(1);
        resolve({ status: xhr.status, headers: xhrHeaders(xhr), data: parseJson(xhr.responseText) });
        return;
      }
      onUnauthorized(xhr.status, path);
      reject(problemFrom(xhr.status, xhr.statusText, xhr.responseText, null));
    };
    xhr.onerror = () => reject(new ApiProblem({ status: 0, title: 'Network error', detail: 'The upload was interrupted.' }));
    xhr.onabort = () => reject(new ApiProblem({ status: 0, title: 'Upload cancelled', detail: 'The upload was cancelled.' }));
    xhr.send(file);
  });
}

// The query string of the non-empty values of `params`, with its '?'.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// The signed-in role, kept from the sign-in answer so the console can hide
// what the account may not do (the server enforces it either way).
const ROLE_KEY = 'rs1.role';
const USER_KEY = 'rs1.user';

export const session = {
  role: () => sessionStorage.getItem(ROLE_KEY),
  user: () => sessionStorage.getItem(USER_KEY),
  isAdmin: () => sessionStorage.getItem(ROLE_KEY) === 'admin',
  remember(user, role) {
    sessionStorage.setItem(USER_KEY, user);
    sessionStorage.setItem(ROLE_KEY, role);
  },
  forget() {
    sessionStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(ROLE_KEY);
  },
};
