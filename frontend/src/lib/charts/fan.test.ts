import { describe, expect, it } from "vitest";
import { alignShift, fanDatasets, fanHorizonLimit, fanReachesWindow, forecastFan } from "./fan";

// bitcoin's forecasts as GET /api/v1/forecasts/bitcoin answered (skill left out).
const ORIGIN = "2021-07-06T00:00:00Z";
const FORECASTS = [
  {
    horizon: 30,
    origin_at: ORIGIN,
    target_at: "2021-08-05T00:00:00Z",
    origin_price: 34235.19,
    point: 34235.19,
    interval_80: { lower: 26059.75, upper: 52766.43 },
    interval_95: { lower: 18565.96, upper: 67074.62 },
  },
  {
    horizon: 1,
    origin_at: ORIGIN,
    target_at: "2021-07-07T00:00:00Z",
    origin_price: 34235.19,
    point: 34300,
    interval_80: { lower: 32562.11, upper: 36297.44 },
    interval_95: { lower: 30949.83, upper: 37693.79 },
  },
  {
    horizon: 7,
    origin_at: ORIGIN,
    target_at: "2021-07-13T00:00:00Z",
    origin_price: 34235.19,
    point: 34500,
    interval_80: null,
    interval_95: { lower: 25706.64, upper: 46376.9 },
  },
];
const t = (iso: string) => Date.parse(iso);

describe("forecastFan", () => {
  const fan = forecastFan(FORECASTS);

  it("runs the median from the origin through each horizon in order", () => {
    expect(fan?.horizons).toEqual([1, 7, 30]);
    expect(fan?.median).toEqual([
      { x: t(ORIGIN), y: 34235.19 },
      { x: t("2021-07-07T00:00:00Z"), y: 34300 },
      { x: t("2021-07-13T00:00:00Z"), y: 34500 },
      { x: t("2021-08-05T00:00:00Z"), y: 34235.19 },
    ]);
    expect(fan?.end).toBe(t("2021-08-05T00:00:00Z"));
  });

  it("starts each band at the origin price with zero width", () => {
    expect(fan?.lower95[0]).toEqual({ x: t(ORIGIN), y: 34235.19 });
    expect(fan?.upper95[0]).toEqual({ x: t(ORIGIN), y: 34235.19 });
    expect(fan?.upper95.map((p) => p.y)).toEqual([34235.19, 37693.79, 46376.9, 67074.62]);
  });

  it("draws the 50 % band from the served quantiles, and none without them", () => {
    expect(fan?.lower50).toEqual([]);
    const withFan = FORECASTS.map((f) => ({
      ...f,
      quantiles: { "25": f.point * 0.98, "75": f.point * 1.02 },
    }));
    const quartiles = forecastFan(withFan);
    expect(quartiles?.lower50.map((p) => p.y)).toEqual([34235.19, 34300 * 0.98, 34500 * 0.98, 34235.19 * 0.98]);
    expect(quartiles?.upper50[0]).toEqual({ x: t(ORIGIN), y: 34235.19 });
    const labels = quartiles ? fanDatasets(quartiles, { primary: "oklch(0.45 0.16 260)" }).map((s) => s.label) : [];
    expect(labels.slice(4, 6)).toEqual(["50 % interval, lower", "50 % interval, upper"]);
  });

  it("skips a horizon whose interval is not calibrated yet", () => {
    expect(fan?.lower80.map((p) => p.y)).toEqual([34235.19, 32562.11, 26059.75]);
  });

  it("keeps horizons that fit the range, always the shortest", () => {
    expect(forecastFan(FORECASTS, { maxHorizon: fanHorizonLimit(7) })?.horizons).toEqual([1, 7]);
    expect(forecastFan(FORECASTS, { maxHorizon: fanHorizonLimit(1) })?.horizons).toEqual([1]);
    expect(forecastFan(FORECASTS.slice(0, 1), { maxHorizon: 1 })?.horizons).toEqual([30]);
    expect(fanHorizonLimit(null)).toBe(Infinity);
  });

  it("draws only the newest origin's forecasts, and nothing without any", () => {
    const older = { ...FORECASTS[1], origin_at: "2021-07-05T00:00:00Z", horizon: 1 } as (typeof FORECASTS)[number];
    expect(forecastFan([older, ...FORECASTS])?.horizons).toEqual([1, 7, 30]);
    expect(forecastFan([])).toBeNull();
  });

  it("is shown when its origin lies inside the window", () => {
    expect(fanReachesWindow(fan, t(ORIGIN) - 1)).toBe(true);
    expect(fanReachesWindow(fan, t(ORIGIN) + 1)).toBe(false);
    expect(fanReachesWindow(null, 0)).toBe(false);
  });
});

describe("aligning the fan with finer bars", () => {
  it("moves a daily fan onto the hourly bar that holds the same close", () => {
    const hour = 3_600_000;
    expect(alignShift("1d", "1h")).toBe(23 * hour);
    expect(alignShift("1d", "1d")).toBe(0);
    expect(alignShift("1d", "weekly")).toBe(0);
    const fan = forecastFan(FORECASTS, { shiftMs: alignShift("1d", "1h") });
    expect(fan?.originAt).toBe(t("2021-07-06T23:00:00Z"));
    expect(fan?.median[1]).toEqual({ x: t("2021-07-07T23:00:00Z"), y: 34300 });
    expect(fan?.upper95[0]).toEqual({ x: t("2021-07-06T23:00:00Z"), y: 34235.19 });
    expect(fan?.end).toBe(t("2021-08-05T23:00:00Z"));
  });
});

describe("fanDatasets", () => {
  it("fills each upper bound down to its lower bound, 95 % lighter, median last", () => {
    const fan = forecastFan(FORECASTS);
    if (!fan) throw new Error("no fan");
    const sets = fanDatasets(fan, { primary: "oklch(0.45 0.16 260)" });
    expect(sets.map((s) => s.label)).toEqual([
      "95 % interval, lower",
      "95 % interval, upper",
      "80 % interval, lower",
      "80 % interval, upper",
      "Forecast (median)",
    ]);
    expect(sets.map((s) => s.fill)).toEqual([false, "-1", false, "-1", false]);
    expect(sets[1]?.backgroundColor).toBe("oklch(0.45 0.16 260 / 0.1)");
    expect(sets[3]?.backgroundColor).toBe("oklch(0.45 0.16 260 / 0.22)");
  });

  it("leaves out a band no horizon has", () => {
    const fan = forecastFan(FORECASTS.map((f) => ({ ...f, interval_80: null })));
    if (!fan) throw new Error("no fan");
    expect(fanDatasets(fan, { primary: "#000" }).map((s) => s.label)).toEqual([
      "95 % interval, lower",
      "95 % interval, upper",
      "Forecast (median)",
    ]);
  });
});
