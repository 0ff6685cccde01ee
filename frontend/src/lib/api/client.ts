// The typed API client (types generated from the server's OpenAPI document into
// schema.d.ts) and the browser session's access token, which lives in memory only: the
// refresh token is an httpOnly cookie the server sets, so a reload refreshes silently.
import createClient, { type Middleware } from "openapi-fetch";
import { fetchTakingEarly } from "./early";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** An answer other than 2xx, with the message of the API's one error shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  static from(status: number, body: unknown): ApiError {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } })
      ?.error;
    if (error && typeof error.message === "string") {
      return new ApiError(status, String(error.code ?? "error"), error.message, error.details);
    }
    return new ApiError(status, "error", `The server answered ${status}.`);
  }
}

const SESSION_PATH = "/api/v1/auth/session";
let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<(signedIn: boolean) => void>();

/** Keep a new access token in memory and refresh it before it expires. */
export function setAccessToken(token: string | null, expiresInSeconds = 0): void {
  accessToken = token;
  clearTimeout(refreshTimer);
  if (token && expiresInSeconds > 0) {
    const lead = Math.max(5, expiresInSeconds * 0.2);
    refreshTimer = setTimeout(() => void refreshSession(), (expiresInSeconds - lead) * 1000);
  }
  listeners.forEach((listener) => listener(token !== null));
}

export function hasAccessToken(): boolean {
  return accessToken !== null;
}

/** Called with whether a session is held whenever the token changes (or is dropped). */
export function onSessionChange(listener: (signedIn: boolean) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const REFRESH_LOCK = "cryptopredict-session-refresh";

async function exchangeRefreshCookie(): Promise<boolean> {
  const response = await fetch(`${SESSION_PATH}/refresh`, {
    method: "POST",
    credentials: "same-origin",
  });
  if (response.status === 401 || response.status === 403) {
    setAccessToken(null); // no session (or it ended): signed out
    return false;
  }
  if (!response.ok) return false; // a server in trouble: the cookie may still be good
  const session = (await response.json()) as Schemas["BrowserSession"];
  setAccessToken(session.access_token, session.expires_in);
  return true;
}

/**
 * Trade the refresh cookie for a new access token (the cookie rotates). One refresh at a
 * time in this tab, and across tabs where the browser offers Web Locks: tabs share the
 * cookie, and the server takes a second use of a rotated token for a stolen one (it then
 * ends every session of that login).
 */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const locks = typeof navigator === "undefined" ? undefined : navigator.locks;
      return locks
        ? await locks.request(REFRESH_LOCK, exchangeRefreshCookie)
        : await exchangeRefreshCookie();
    } catch {
      return false; // offline: keep what we have, the next call tries again
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Requests sent with a token, kept to send again once if it had expired. */
const sent = new Map<string, { request: Request; token: string }>();

const authenticate: Middleware = {
  onRequest({ request, id }) {
    if (accessToken === null) return request;
    request.headers.set("Authorization", `Bearer ${accessToken}`);
    if (!request.url.includes(SESSION_PATH)) {
      sent.set(id, { request: request.clone(), token: accessToken });
    }
    return request;
  },
  async onResponse({ response, id }) {
    const original = sent.get(id);
    sent.delete(id);
    if (response.status !== 401 || original === undefined) return response;
    // Another request may have refreshed meanwhile: then only send it again.
    if (accessToken === original.token && !(await refreshSession())) return response;
    if (accessToken === null || accessToken === original.token) return response;
    original.request.headers.set("Authorization", `Bearer ${accessToken}`);
    return fetch(original.request);
  },
  onError({ id }) {
    sent.delete(id); // aborted or failed: nothing to send again
  },
};

export const api = createClient<paths>({
  baseUrl: "",
  credentials: "same-origin",
  fetch: fetchTakingEarly, // answers a page's inline script asked for before it loaded
});
api.use(authenticate);

/** The answer's body, or an ApiError carrying the API's message. */
export async function unwrap<D>(
  request: Promise<{ data?: D; error?: unknown; response: Response }>,
): Promise<D> {
  const { data, error, response } = await request;
  if (!response.ok) throw ApiError.from(response.status, error);
  return data as D;
}

/** A readable message for anything thrown by a call. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return "The server could not be reached. Is it running?";
  return error instanceof Error ? error.message : String(error);
}
