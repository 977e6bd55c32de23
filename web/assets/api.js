// The public HTTP API, as any client sees it: one base URL per function (from config.json, so a deployment
// points the same files at its Function URLs without a rebuild), bearer tokens, and one error shape.

const FUNCTION_OF_PATH = [
  [/^\/auth\//, 'auth'],
  [/^\/(search|movies|books)(\/|$)/, 'search'],
  [/^\/(ratings|interactions|recommendations)(\/|$)/, 'recommend'],
];
const SESSION_KEY = 'cinelibre.session';
const REQUEST_TIMEOUT_MS = 20000;

let bases = { auth: '', search: '', recommend: '' };

export async function loadConfig() {
  try {
    const response = await fetch('config.json', { cache: 'no-cache' });
    if (response.ok) {
      const config = await response.json();
      for (const name of Object.keys(bases)) {
        if (typeof config.api?.[name] === 'string') bases[name] = config.api[name].replace(/\/+$/, '');
      }
    }
  } catch {
    // No config file (or an unreadable one): every function on this page's own origin, as `cinelibre serve` has it.
  }
  return bases;
}

function urlFor(path, query) {
  const match = FUNCTION_OF_PATH.find(([pattern]) => pattern.test(path));
  const base = match ? bases[match[1]] : '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, value);
  }
  const search = params.toString();
  return `${base}${path}${search ? `?${search}` : ''}`;
}

export class ApiError extends Error {
  constructor({ status = 0, code = 'network_error', message = '', details = [], retryAfter = null, correlationId = null }) {
    super(message || code);
    Object.assign(this, { status, code, details, retryAfter, correlationId });
  }
}

// Retry-After is either seconds or an HTTP date; either way we want seconds from now.
export function retryAfterSeconds(header, now = Date.now()) {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const when = Date.parse(header);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - now) / 1000));
}

// ---- session ---------------------------------------------------------------------------------------------

const listeners = new Set();

export const session = {
  get() {
    try {
      return JSON.parse(localStorage.getItem(SESSION_KEY)) || null;
    } catch {
      return null;
    }
  },
  set(tokenBody) {
    const previous = this.get();
    const value = {
      accessToken: tokenBody.access_token,
      // Present once the auth function issues refresh tokens; a refresh keeps the old one if none comes back.
      refreshToken: tokenBody.refresh_token || previous?.refreshToken || null,
      user: tokenBody.user || previous?.user || null,
    };
    localStorage.setItem(SESSION_KEY, JSON.stringify(value));
    listeners.forEach((listener) => listener(value, null));
  },
  clear(reason = 'signed_out') {
    localStorage.removeItem(SESSION_KEY);
    listeners.forEach((listener) => listener(null, reason));
  },
  onChange(listener) {
    listeners.add(listener);
  },
};

let refreshing = null;

async function refreshSession() {
  const current = session.get();
  if (!current?.refreshToken) return false;
  // One refresh at a time: parallel requests that all met a 401 wait for the same new token.
  refreshing ??= (async () => {
    try {
      const body = await send('/auth/refresh', { method: 'POST', body: { refresh_token: current.refreshToken } });
      session.set(body);
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// ---- requests --------------------------------------------------------------------------------------------

async function send(path, { method = 'GET', query, body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(urlFor(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error?.name === 'TimeoutError';
    throw new ApiError({ code: timedOut ? 'timeout' : 'network_error', message: String(error?.message || error) });
  }
  if (response.status === 204) return null;
  const isJson = (response.headers.get('content-type') || '').includes('json');
  const payload = isJson ? await response.json().catch(() => null) : null;
  if (response.ok) return payload;
  const error = payload?.error || {};
  throw new ApiError({
    status: response.status,
    code: error.code || `http_${response.status}`,
    message: error.message || payload?.detail || response.statusText,
    details: Array.isArray(error.details) ? error.details : [],
    retryAfter: retryAfterSeconds(response.headers.get('retry-after')),
    correlationId: response.headers.get('x-correlation-id'),
  });
}

/** A request to the API. With `auth`, the signed-in user's token goes along; a refused token is refreshed
 * once when a refresh token exists, otherwise the session ends with reason 'expired'. */
export async function api(path, { auth = false, ...options } = {}) {
  if (!auth) return send(path, options);
  const current = session.get();
  if (!current) throw new ApiError({ status: 401, code: 'signed_out', message: 'sign in first' });
  try {
    return await send(path, { ...options, token: current.accessToken });
  } catch (error) {
    if (error.status !== 401) throw error;
    if (await refreshSession()) return send(path, { ...options, token: session.get().accessToken });
    session.clear('expired');
    throw new ApiError({ status: 401, code: 'session_expired', message: error.message });
  }
}

// ---- what a person reads ---------------------------------------------------------------------------------

/** A sentence for any failure, and whether trying again can help (and after how long). */
export function describe(error, { what = 'that' } = {}) {
  const retry = { retryable: true, waitSeconds: 0 };
  if (!(error instanceof ApiError)) {
    return { text: `Something went wrong while loading ${what}. Please try again.`, ...retry };
  }
  switch (error.code) {
    case 'network_error':
      return { text: "Can't reach CineLibre. Check your connection; nothing you typed is lost.", ...retry };
    case 'timeout':
      return { text: `CineLibre took too long to answer while loading ${what}.`, ...retry };
    case 'session_expired':
      return { text: 'Your session has expired. Sign in again to carry on.', retryable: false, signIn: true };
    case 'signed_out':
      return { text: 'Sign in to do that.', retryable: false, signIn: true };
    case 'database_unavailable':
    case 'not_ready':
      return { text: "CineLibre's database isn't answering right now. Nothing you typed is lost.", ...retry };
    case 'model_unavailable':
      return { text: 'Search is unavailable right now (the language model is not loaded).', ...retry };
    default:
      break;
  }
  if (error.status === 429) {
    const wait = error.retryAfter ?? 60;
    return { text: `Too many requests. Please try again in ${wait} second${wait === 1 ? '' : 's'}.`, retryable: true, waitSeconds: wait };
  }
  if (error.status === 404) return { text: `We couldn't find ${what}.`, retryable: false };
  if (error.status === 409) return { text: error.message ? capitalise(error.message) + '.' : 'That already exists.', retryable: false };
  if (error.status === 401) return { text: capitalise(error.message || 'not signed in') + '.', retryable: false };
  if (error.status === 422) {
    const fields = error.details.map((detail) => `${detail.field}: ${detail.message}`).join('; ');
    return { text: `Please check ${fields || error.message}.`, retryable: false };
  }
  if (error.status === 413) return { text: 'That is too long to send.', retryable: false };
  if (error.status >= 500) {
    const reference = error.correlationId ? ` (reference ${error.correlationId})` : '';
    return { text: `CineLibre had a problem on its side${reference}. Please try again.`, ...retry };
  }
  return { text: capitalise(error.message || 'the request failed') + '.', retryable: false };
}

function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
