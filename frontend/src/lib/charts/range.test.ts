import { describe, expect, it } from "vitest";
import { chartWindow, fallbackNote, hourlyCovers, MAX_POINTS, rangeSpec, seriesQuery, trimToSpan } from "./range";

const DAY = 86_400_000;
const at = (ms: number) => ({ timestamp: new Date(ms).toISOString() });
const T0 = Date.parse("2021-07-06T00:00:00Z");

describe("seriesQuery", () => {
  it("asks hourly bars for short ranges and daily for long ones", () => {
    expect(seriesQuery(rangeSpec("1D"))).toEqual({ interval: "1h", limit: 25 });
    expect(seriesQuery(rangeSpec("7D"))).toEqual({ interval: "1h", limit: 169 });
    expect(seriesQuery(rangeSpec("1M"))).toEqual({ interval: "1h", limit: 721 });
    expect(seriesQuery(rangeSpec("3M"))).toEqual({ interval: "1d", limit: 91 });
    expect(seriesQuery(rangeSpec("1Y"))).toEqual({ interval: "1d", limit: 366 });
    expect(seriesQuery(rangeSpec("All"))).toEqual({ interval: "1d", limit: MAX_POINTS });
  });

  it("falls back to daily bars on request, and unknown keys to the default range", () => {
    expect(seriesQuery(rangeSpec("7D"), "1d")).toEqual({ interval: "1d", limit: 8 });
    expect(rangeSpec("5Y").key).toBe("3M");
    expect(rangeSpec(null).key).toBe("3M");
  });
});

describe("trimToSpan and chartWindow", () => {
  const points = [at(T0 - 10 * DAY), at(T0 - 7 * DAY), at(T0 - 1 * DAY), at(T0)];

  it("keeps the points within the span of the newest, anchored at the data not the clock", () => {
    expect(trimToSpan(points, 7)).toEqual(points.slice(1));
    expect(trimToSpan(points, null)).toEqual(points);
    expect(trimToSpan([], 7)).toEqual([]);
  });

  it("spans the range back from the newest point, and forward to the fan's end", () => {
    expect(chartWindow(points, 7)).toEqual({ min: T0 - 7 * DAY, max: T0 });
    expect(chartWindow(points, null, T0 + 30 * DAY)).toEqual({ min: T0 - 10 * DAY, max: T0 + 30 * DAY });
    expect(chartWindow([], 7)).toBeNull();
  });
});

describe("hourlyCovers", () => {
  it("wants at least two bars reaching back half the range", () => {
    const range = rangeSpec("7D");
    expect(hourlyCovers([], range)).toBe(false);
    expect(hourlyCovers([at(T0 - 3 * DAY), at(T0)], range)).toBe(false);
    expect(hourlyCovers([at(T0 - 4 * DAY), at(T0)], range)).toBe(true);
  });

  it("explains the fallback", () => {
    expect(fallbackNote(0, rangeSpec("7D"))).toMatch(/No hourly prices are stored/);
    expect(fallbackNote(30, rangeSpec("1M"))).toMatch(/cover only part of the last 1 month/);
  });
});

describe("rangeSpec from an address", () => {
  it("reads keys in any case and falls back to the default", () => {
    expect(rangeSpec("all").key).toBe("All");
    expect(rangeSpec("1y").key).toBe("1Y");
    expect(rangeSpec("nonsense").key).toBe("3M");
    expect(rangeSpec(null).key).toBe("3M");
  });
});
