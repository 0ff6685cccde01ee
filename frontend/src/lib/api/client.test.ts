import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, hasAccessToken, refreshSession, setAccessToken } from "./client";

function answer(status: number, body: unknown = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
  setAccessToken(null);
});

describe("refreshSession", () => {
  it("sends one refresh for callers that ask at once, and keeps the new token", async () => {
    const fetch = vi.fn(async () => answer(200, { access_token: "new", expires_in: 900 }));
    vi.stubGlobal("fetch", fetch);

    const outcomes = await Promise.all([refreshSession(), refreshSession(), refreshSession()]);

    expect(outcomes).toEqual([true, true, true]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(hasAccessToken()).toBe(true);
  });

  it("signs out when the server refuses the cookie", async () => {
    setAccessToken("old");
    vi.stubGlobal("fetch", vi.fn(async () => answer(401, { error: { code: "x", message: "no" } })));

    expect(await refreshSession()).toBe(false);
    expect(hasAccessToken()).toBe(false);
  });

  it("keeps the session when the server is in trouble or unreachable", async () => {
    setAccessToken("old");
    vi.stubGlobal("fetch", vi.fn(async () => answer(503)));
    expect(await refreshSession()).toBe(false);
    expect(hasAccessToken()).toBe(true);

    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("offline"))));
    expect(await refreshSession()).toBe(false);
    expect(hasAccessToken()).toBe(true);
  });
});

describe("ApiError.from", () => {
  it("carries the API's message and code", () => {
    const error = ApiError.from(409, { error: { code: "conflict", message: "Name taken" } });
    expect([error.status, error.code, error.message]).toEqual([409, "conflict", "Name taken"]);
  });
  it("says what happened when the body is not the API's shape", () => {
    expect(ApiError.from(502, "<html>").message).toBe("The server answered 502.");
  });
});
