import { describe, expect, it } from "vitest";
import { candles, linePoints, volumePoints } from "./series";

const point = (timestamp: string, price: number, close: number | null = price, volume: number | null = 1) => ({
  timestamp,
  price,
  close,
  volume,
});

describe("linePoints", () => {
  it("turns points into {x: ms, y: close}, oldest first", () => {
    expect(linePoints([point("2021-07-06T00:00:00Z", 2), point("2021-07-05T00:00:00Z", 1)])).toEqual([
      { x: Date.parse("2021-07-05T00:00:00Z"), y: 1 },
      { x: Date.parse("2021-07-06T00:00:00Z"), y: 2 },
    ]);
  });

  it("uses the price without a close, drops bad points and duplicate instants", () => {
    const out = linePoints([
      point("2021-07-05T00:00:00Z", 5, null),
      point("not a time", 1),
      point("2021-07-06T00:00:00Z", 6),
      point("2021-07-06T00:00:00Z", 7),
    ]);
    expect(out.map((p) => p.y)).toEqual([5, 7]);
  });
});

describe("volumePoints and candles", () => {
  it("leaves out bars without a volume", () => {
    const out = volumePoints([point("2021-07-05T00:00:00Z", 1, 1, null), point("2021-07-06T00:00:00Z", 1, 1, 20)]);
    expect(out).toEqual([{ x: Date.parse("2021-07-06T00:00:00Z"), y: 20 }]);
  });

  it("maps OHLC bars to financial data points", () => {
    const bar = { timestamp: "2021-07-06T00:00:00Z", open: 1, high: 3, low: 0.5, close: 2 };
    expect(candles([bar, { ...bar, timestamp: "x" }])).toEqual([
      { x: Date.parse(bar.timestamp), o: 1, h: 3, l: 0.5, c: 2 },
    ]);
  });
});
