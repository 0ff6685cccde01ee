import { describe, expect, it } from "vitest";
import { backoffDelay, streamUrl } from "./stream";

describe("backoffDelay", () => {
  it("doubles from one second and stops at thirty", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, 1))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
  });
  it("jitters down to half the delay", () => {
    expect(backoffDelay(2, 0)).toBe(2000);
  });
});

describe("streamUrl", () => {
  it("names the coins and resumes after the last event", () => {
    expect(streamUrl([], null)).toBe("/api/v1/stream");
    expect(streamUrl(["bitcoin", "ethereum"], "12-3")).toBe(
      "/api/v1/stream?coins=bitcoin%2Cethereum&last_event_id=12-3",
    );
  });
});
