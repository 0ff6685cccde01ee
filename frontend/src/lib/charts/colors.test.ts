import { describe, expect, it } from "vitest";
import { withAlpha } from "./colors";

describe("withAlpha", () => {
  it("adds or replaces the alpha of CSS colour functions", () => {
    expect(withAlpha("oklch(0.45 0.16 260)", 0.2)).toBe("oklch(0.45 0.16 260 / 0.2)");
    expect(withAlpha("oklch(0.45 0.16 260 / 0.5)", 0.2)).toBe("oklch(0.45 0.16 260 / 0.2)");
    expect(withAlpha("rgb(10, 20, 30)", 0.5)).toBe("rgb(10 20 30 / 0.5)");
    expect(withAlpha("rgba(10, 20, 30, 0.9)", 0.5)).toBe("rgb(10 20 30 / 0.5)");
  });

  it("turns hex into rgb and leaves unknown forms alone", () => {
    expect(withAlpha("#fff", 1)).toBe("rgb(255 255 255 / 1)");
    expect(withAlpha("#3355cc", 0.25)).toBe("rgb(51 85 204 / 0.25)");
    expect(withAlpha("red", 0.5)).toBe("red");
  });
});
