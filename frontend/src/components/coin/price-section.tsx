"use client";
// The price chart with its controls: Line or Candles, a range from 1 day to everything
// stored, volume underneath, and the forecast fan continuing the line.
import { Info } from "lucide-react";
import { useRouter, useSearchParams } from "next/navigation";
import { useMemo, useState } from "react";
import type { Schemas } from "@/lib/api/client";
import { fetchPriceSeries, openedOnCoinPage } from "@/lib/api/coin";
import type { PriceChartData } from "@/lib/charts/config";
import { alignShift, fanHorizonLimit, fanReachesWindow, forecastFan } from "@/lib/charts/fan";
import { chartWindow, RANGES, rangeSpec, type RangeKey, type RangeSpec } from "@/lib/charts/range";
import { loadChartJs } from "@/lib/charts/chartjs";
import { candles, linePoints, volumePoints } from "@/lib/charts/series";
import { useApi } from "@/lib/use-api";
import { cn } from "@/lib/utils";
import { EmptyState, ErrorState } from "../states";
import { Card, CardContent, CardHeader, CardTitle } from "../ui/card";
import { ToggleGroup, ToggleGroupItem } from "../ui/toggle-group";
import { PriceChart } from "./price-chart";

type Mode = "line" | "candles";

const seriesKey = (coin: string, range: RangeSpec, mode: Mode) => `series:${coin}:${range.key}:${mode}`;

// Opened at /coin: fetch Chart.js while React starts (the page's HTML asked for the first
// chart's prices already: COIN_PAGE_EARLY).
if (openedOnCoinPage()) loadChartJs().catch(() => undefined);

function Swatch({ className }: { className: string }) {
  return <span aria-hidden className={cn("inline-block h-2.5 w-4 rounded-sm", className)} />;
}

export function PriceSection({
  coin,
  name,
  forecasts,
}: {
  coin: string;
  name: string;
  /** The served forecasts, when there are any. */
  forecasts: Schemas["CoinForecasts"] | undefined;
}) {
  const [mode, setMode] = useState<Mode>("line");
  // The range lives in the address (`&range=1y`), so a chart can be linked and reloaded.
  const params = useSearchParams();
  const router = useRouter();
  const range = rangeSpec(params.get("range"));
  const setRangeKey = (key: RangeKey) => {
    const next = new URLSearchParams(params.toString());
    next.set("range", key.toLowerCase());
    router.replace(`?${next.toString()}`, { scroll: false });
  };
  const series = useApi(seriesKey(coin, range, mode), (signal) =>
    fetchPriceSeries(coin, range, mode, signal),
  );

  const chart = useMemo((): PriceChartData | null => {
    const loaded = series.data;
    if (!loaded) return null;
    const points = loaded.mode === "line" ? loaded.points : loaded.bars;
    const all = forecasts
      ? forecastFan(forecasts.forecasts, {
          maxHorizon: fanHorizonLimit(range.days),
          shiftMs: alignShift(forecasts.interval, loaded.interval),
        })
      : null;
    const fan = fanReachesWindow(all, chartWindow(points, range.days)?.min ?? null) ? all : null;
    return {
      mode: loaded.mode,
      interval: loaded.interval,
      line: loaded.mode === "line" ? linePoints(loaded.points) : [],
      candles: loaded.mode === "candles" ? candles(loaded.bars) : [],
      volume: volumePoints(points),
      fan,
      window: chartWindow(points, range.days, fan?.end),
    };
  }, [series.data, forecasts, range.days]);

  const empty = chart !== null && chart.line.length === 0 && chart.candles.length === 0;
  const interval = series.data?.interval === "1h" ? "hourly" : "daily";
  const label = `${name} price, ${interval} ${mode === "line" ? "closes" : "candles"} over ${range.label}${
    chart?.fan ? ", with the forecast fan" : ""
  }${chart && chart.volume.length > 0 ? " and volume below" : ""}`;

  return (
    <Card aria-labelledby="price-title">
      <CardHeader className="flex-row flex-wrap items-center justify-between gap-3">
        <CardTitle id="price-title">Price</CardTitle>
        <div className="flex flex-wrap items-center gap-2">
          <ToggleGroup
            type="single"
            aria-label="Chart type"
            value={mode}
            onValueChange={(value) => {
              if (value === "line" || value === "candles") setMode(value);
            }}
          >
            <ToggleGroupItem value="line">Line</ToggleGroupItem>
            <ToggleGroupItem value="candles">Candles</ToggleGroupItem>
          </ToggleGroup>
          <ToggleGroup
            type="single"
            aria-label="Range"
            value={range.key}
            onValueChange={(value) => {
              if (value) setRangeKey(rangeSpec(value).key);
            }}
          >
            {RANGES.map((option) => (
              <ToggleGroupItem key={option.key} value={option.key} title={option.label} className="px-2">
                {option.key}
              </ToggleGroupItem>
            ))}
          </ToggleGroup>
        </div>
      </CardHeader>
      <CardContent className="flex flex-col gap-3">
        {series.data?.note ? (
          <p className="flex items-start gap-2 text-xs text-muted-foreground" data-testid="interval-note">
            <Info aria-hidden className="mt-0.5 size-3.5 shrink-0" />
            {series.data.note}
          </p>
        ) : null}
        {series.error ? (
          <ErrorState error={series.error} title="Could not load the prices" retry={series.reload} />
        ) : empty ? (
          <EmptyState title="No prices are stored for this coin yet" />
        ) : (
          <PriceChart data={chart} label={label} />
        )}
        {series.error || empty ? null : (
          <ul className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-muted-foreground" aria-label="Legend">
            <li className="flex items-center gap-1.5">
              <Swatch className={mode === "line" ? "h-0.5 bg-foreground" : "bg-positive"} />
              Price
            </li>
            {chart?.fan ? (
              <>
                <li className="flex items-center gap-1.5">
                  <Swatch className="h-0 border-t-2 border-dashed border-primary" />
                  Forecast (median)
                </li>
                {chart.fan.lower50.length > 1 ? (
                  <li className="flex items-center gap-1.5">
                    <Swatch className="bg-primary/40" />
                    50 % interval
                  </li>
                ) : null}
                <li className="flex items-center gap-1.5">
                  <Swatch className="bg-primary/25" />
                  80 % interval
                </li>
                <li className="flex items-center gap-1.5">
                  <Swatch className="bg-primary/10" />
                  95 % interval
                </li>
              </>
            ) : forecasts && forecasts.forecasts.length > 0 && !series.loading ? (
              <li>The forecast fan starts at the newest price, outside this range.</li>
            ) : null}
            {chart && chart.volume.length > 0 ? (
              <li className="flex items-center gap-1.5">
                <Swatch className="bg-muted-foreground/35" />
                Volume
              </li>
            ) : null}
          </ul>
        )}
      </CardContent>
    </Card>
  );
}
