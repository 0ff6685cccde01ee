import { describe, expect, it } from "vitest";
import type { ChartColors } from "./colors";
import { changePercent, dayEnds, growthChartConfig } from "./growth";

const colors: ChartColors = {
  foreground: "#000000",
  muted: "#888888",
  border: "#dddddd",
  primary: "#0000ff",
  positive: "#00ff00",
  negative: "#ff0000",
  card: "#ffffff",
};

describe("growth chart", () => {
  it("puts each day at its end, midnight UTC after it", () => {
    expect(dayEnds(["2024-01-01"])).toEqual([Date.parse("2024-01-02T00:00:00Z")]);
  });

  it("draws % change since the start, gaps left open", () => {
    expect(changePercent(1.25)).toBeCloseTo(25);
    expect(changePercent(null)).toBeNull();
    const config = growthChartConfig(
      ["2024-01-01", "2024-01-02"],
      [
        { label: "Portfolio", growth: [1, 1.1] },
        { label: "Bitcoin", growth: [null, 0.9] },
      ],
      colors,
    );
    const [portfolio, bitcoin] = config.data.datasets;
    expect(portfolio?.data.map((p) => p.y)).toEqual([0, expect.closeTo(10)]);
    expect(bitcoin?.data[0]?.y).toBeNull();
    expect(bitcoin?.data[1]?.y).toBeCloseTo(-10);
    expect(portfolio?.borderWidth).toBe(2);
  });
});
