// Talking to the gateway: sign-in, tokens (kept in this tab's sessionStorage, never
// localStorage), refresh before expiry, and JSON requests with readable errors.

const STORE = "rapport.auth";
const REFRESH_MARGIN_MS = 60_000;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `request failed (${status})`);
    this.status = status;
    this.code = body?.error || "Error";
    this.body = body || {};
  }
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

function store(answer) {
  const auth = {
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token,
    expiresAt: Date.now() + answer.expires_in * 1000,
    // The sign-in's idle timeout, as the sign-in reported it (a refresh near the absolute
    // lifetime reports less, which must not shorten the idle timeout).
    idleMs: load()?.idleMs || answer.refresh_expires_in * 1000,
    user: answer.user,
  };
  sessionStorage.setItem(STORE, JSON.stringify(auth));
  return auth;
}

/** Keeps this tab's copy of the signed-in user in step after a profile change. */
export function rememberUser(user) {
  const auth = load();
  if (!auth) return;
  auth.user = { ...auth.user, ...user };
  sessionStorage.setItem(STORE, JSON.stringify(auth));
}

export function currentUser() {
  return load()?.user || null;
}

async function send(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Signs in; resolves to the user, or throws ApiError (code "MfaRequired" asks for a code). */
export async function signIn(email, password, otp) {
  const body = { email, password };
  if (otp) body.otp = otp;
  const answer = await send("POST", "/v1/auth/login", body);
  return store(answer).user;
}

let refreshing = null;

async function refresh() {
  const auth = load();
  if (!auth?.refreshToken) throw new ApiError(401, { detail: "signed out" });
  refreshing ??= send("POST", "/v1/auth/refresh", { refresh_token: auth.refreshToken })
    .then(store)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

async function accessToken() {
  let auth = load();
  if (!auth) throw new ApiError(401, { detail: "signed out" });
  if (auth.expiresAt - Date.now() < REFRESH_MARGIN_MS) auth = await refresh();
  return auth.accessToken;
}

/** An authenticated JSON request; refreshes the access token once when it was refused. */
export async function api(path, { method = "GET", body } = {}) {
  const call = async () => send(method, path, body, { authorization: `Bearer ${await accessToken()}` });
  try {
    return await call();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && load()?.refreshToken) {
      await refresh();
      return call();
    }
    throw error;
  }
}

/** Like api(), but answers null instead of throwing when the route is not there (yet). */
export async function optional(path) {
  try {
    return await api(path);
  } catch (error) {
    if (error instanceof ApiError && [404, 405, 501].includes(error.status)) return null;
    throw error;
  }
}

/** How long this sign-in may sit idle before it signs out (ms), or 0 when not signed in. */
export function idleTimeoutMs() {
  return load()?.idleMs || 0;
}

export async function signOut() {
  const auth = load();
  sessionStorage.removeItem(STORE);
  if (auth?.refreshToken) {
    try {
      await send("POST", "/v1/auth/logout", { refresh_token: auth.refreshToken });
    } catch {
      // Signing out locally is what matters; the token expires on its own.
    }
  }
  location.assign("/");
}

/** The signed-in user with one of `roles`; otherwise off to the sign-in page (the promise
 * then never settles, so the page's module simply stops). */
export async function requireUser(...roles) {
  const user = currentUser();
  if (!user || (roles.length && !roles.includes(user.role))) {
    const next = encodeURIComponent(location.pathname + location.search);
    location.replace(`/?next=${next}`);
    return new Promise(() => {});
  }
  return user;
}

const names = new Map();

/** A person's display name (identity's users endpoint when it exists), or a short fallback. */
export async function displayName(userId, fallback) {
  if (!names.has(userId)) {
    names.set(
      userId,
      optional(`/v1/users/${userId}`)
        .then((user) => user?.display_name || null)
        .catch(() => null),
    );
  }
  return (await names.get(userId)) || fallback || `Client ${String(userId).slice(0, 8)}`;
}
