import { describe, expect, it } from "vitest";
import type { ChartColors } from "./colors";
import { DECIMATION_THRESHOLD, priceChartConfig, priceTick, type PriceChartData } from "./config";
import { forecastFan } from "./fan";
import { formatPrice } from "../format";

const COLORS: ChartColors = {
  foreground: "oklch(0.15 0.01 260)",
  muted: "oklch(0.45 0.015 260)",
  border: "oklch(0.9 0.01 260)",
  primary: "oklch(0.45 0.16 260)",
  positive: "oklch(0.5 0.13 150)",
  negative: "oklch(0.52 0.19 27)",
  card: "oklch(1 0 0)",
};
const DAY = 86_400_000;
const T0 = Date.parse("2016-07-06T00:00:00Z");

// Five years of daily closes.
const FIVE_YEARS = Array.from({ length: 5 * 365 }, (_, i) => ({ x: T0 + i * DAY, y: 100 + i }));

function data(overrides: Partial<PriceChartData> = {}): PriceChartData {
  return { mode: "line", interval: "1d", line: FIVE_YEARS, candles: [], volume: [], fan: null, window: null, ...overrides };
}

describe("priceChartConfig", () => {
  it("draws long line series unparsed, unanimated and decimated with LTTB", () => {
    const config = priceChartConfig(data(), COLORS);
    expect(config.type).toBe("line");
    expect(config.options?.animation).toBe(false);
    expect(config.options?.parsing).toBe(false);
    expect(config.options?.plugins?.decimation).toMatchObject({ enabled: true, algorithm: "lttb", threshold: DECIMATION_THRESHOLD });
    expect(FIVE_YEARS.length).toBeGreaterThan(DECIMATION_THRESHOLD);
  });

  it("puts volume under the price on its own stacked axis", () => {
    const config = priceChartConfig(data({ volume: [{ x: T0, y: 5 }] }), COLORS);
    const sets = config.data.datasets;
    expect(sets.map((s) => s.label)).toEqual(["Price", "Volume"]);
    expect(sets[1]).toMatchObject({ type: "bar", yAxisID: "volume" });
    expect(config.options?.scales?.y).toMatchObject({ stack: "price", stackWeight: 4 });
    expect(config.options?.scales?.volume).toMatchObject({ stack: "price", stackWeight: 1, display: true });
  });

  it("draws candles as a candlestick chart, which parses its own points", () => {
    const config = priceChartConfig(data({ mode: "candles", candles: [{ x: T0, o: 1, h: 2, l: 0.5, c: 1.5 }] }), COLORS);
    expect(config.type).toBe("candlestick");
    expect(config.options?.parsing).toBeUndefined();
    expect(config.data.datasets[0]).toMatchObject({ type: "candlestick", label: "Price" });
  });

  it("adds the fan between the price and the volume, and spans the window", () => {
    const fan = forecastFan([
      {
        horizon: 1,
        origin_at: new Date(T0).toISOString(),
        target_at: new Date(T0 + DAY).toISOString(),
        origin_price: 100,
        point: 101,
        interval_80: { lower: 95, upper: 105 },
        interval_95: { lower: 90, upper: 110 },
      },
    ]);
    const window = { min: T0 - 90 * DAY, max: T0 + DAY };
    const config = priceChartConfig(data({ fan, window, volume: [{ x: T0, y: 1 }] }), COLORS);
    expect(config.data.datasets.map((s) => s.label)).toEqual([
      "Price",
      "95 % interval, lower",
      "95 % interval, upper",
      "80 % interval, lower",
      "80 % interval, upper",
      "Forecast (median)",
      "Volume",
    ]);
    expect(config.options?.scales?.x).toMatchObject({ type: "time", min: window.min, max: window.max });
  });

  it("labels the price axis compactly for large prices", () => {
    expect(priceTick(45_000)).toMatch(/^\$45(\.0+)?K$/);
    expect(priceTick(2_300)).toBe(formatPrice(2_300));
    expect(priceTick(0.2344)).toBe(formatPrice(0.2344));
  });
});
