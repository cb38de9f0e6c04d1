// The HTTP API: every call carries the company token from sessionStorage; failures come back as
// ApiError with the problem document (RFC 9457, `errors: [{field, reason}]`) when there is one.

const TOKEN_KEY = 'aval.token';

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || null;
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
    this.errorCount = problem?.error_count ?? this.errors.length;
    this.retryAfter = retryAfter;
  }
}

let unauthorized = () => {};
/** What to do on a 401 from any call (the shell sends the user back to sign-in). */
export function onUnauthorized(handler) { unauthorized = handler; }

let language = () => 'en';
export function setLanguageSource(fn) { language = fn; }

async function problemOf(response) {
  const text = await response.text().catch(() => '');
  if (!text) return null;
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' ? value : { detail: text.trim() };
  } catch {
    return { detail: text.trim().slice(0, 300) };
  }
}

/**
 * request('/v1/models') → parsed JSON. Options: method, body (object → JSON), headers,
 * raw (return the Response), handle401 (false: do not sign out, just throw), signal.
 */
export async function request(path, { method = 'GET', body, headers = {}, raw = false, handle401 = true, signal, auth = true } = {}) {
  const all = { Accept: 'application/json', 'Accept-Language': language(), ...headers };
  if (auth) {
    const token = session.token();
    if (!token) {
      if (handle401) unauthorized();
      throw new ApiError(401, null);
    }
    all.Authorization = `Bearer ${token}`;
  }
  let payload;
  if (body !== undefined) {
    all['Content-Type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: all, body: payload, signal, cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, null);
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await problemOf(response), response.headers.get('Retry-After'));
    if (response.status === 401 && auth && handle401) unauthorized();
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/** '?a=1&b=x' from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const enc = encodeURIComponent;
