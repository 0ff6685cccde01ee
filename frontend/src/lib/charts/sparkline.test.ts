import { describe, expect, it } from "vitest";
import { sparklineChange, sparklineLabel, sparklinePath, sparklineTrend } from "./sparkline";

describe("sparklinePath", () => {
  it("spreads the prices across the width, highest at the top", () => {
    expect(sparklinePath([1, 3, 2], 100, 20, 0)).toBe("M0 20 L50 0 L100 10");
  });

  it("keeps the padding inside the box", () => {
    expect(sparklinePath([1, 3], 100, 20, 2)).toBe("M2 18 L98 2");
  });

  it("draws a flat series across the middle and nothing for under two prices", () => {
    expect(sparklinePath([5, 5, 5], 10, 8, 0)).toBe("M0 4 L5 4 L10 4");
    expect(sparklinePath([5], 10, 8)).toBe("");
    expect(sparklinePath([], 10, 8)).toBe("");
  });

  it("skips prices that are not numbers", () => {
    expect(sparklinePath([1, Number.NaN, 3], 10, 10, 0)).toBe("M0 10 L10 0");
  });
});

describe("sparkline words", () => {
  it("says which way and how much, for screen readers", () => {
    expect(sparklineChange([100, 104.2])).toBeCloseTo(4.2);
    expect(sparklineLabel([100, 90, 104.2], { locale: "en-US" })).toBe("7-day trend: up 4.2 %");
    expect(sparklineLabel([100, 96.5], { locale: "en-US" })).toBe("7-day trend: down 3.5 %");
    expect(sparklineLabel([100, 100])).toBe("7-day trend: flat");
    expect(sparklineLabel([])).toBe("7-day trend: no data");
    expect(sparklineTrend([2, 1])).toBe("down");
    expect(sparklineTrend([0, 1])).toBe("none");
  });
});
