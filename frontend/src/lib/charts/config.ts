// The price chart's Chart.js configuration from plain arrays: price (line or candles) over
// a volume axis, and the forecast fan. Pure, so it is tested without a canvas.
import type { ChartConfiguration, ChartDataset, TooltipItem } from "chart.js";
import type {} from "chartjs-chart-financial";
import { formatCompactUsd, formatPrice } from "../format";
import { withAlpha, type ChartColors } from "./colors";
import { fanDatasets, type Fan } from "./fan";
import type { Candle, XY } from "./series";

export type ChartMode = "line" | "candles";
type Kind = "line" | "bar" | "candlestick";
export type PriceChartConfig = ChartConfiguration<Kind, (XY | Candle)[]>;
type Dataset = ChartDataset<Kind, (XY | Candle)[]>;

/** Line series longer than this are decimated (LTTB) to about one point per pixel. */
export const DECIMATION_THRESHOLD = 1000;

export interface PriceChartData {
  mode: ChartMode;
  /** The bars drawn: hourly ones show the time in tooltips. */
  interval: "1h" | "1d";
  line: XY[];
  candles: Candle[];
  volume: XY[];
  /** The fan to draw, or null (none, or its origin is outside the window). */
  fan: Fan | null;
  window: { min: number; max: number } | null;
}

function isCandle(value: unknown): value is Candle {
  return typeof value === "object" && value !== null && "o" in value && "c" in value;
}

function tooltipLabel(item: TooltipItem<Kind>): string {
  const raw: unknown = item.raw;
  const label = item.dataset.label ?? "";
  if (isCandle(raw)) {
    return `O ${formatPrice(raw.o)}  H ${formatPrice(raw.h)}  L ${formatPrice(raw.l)}  C ${formatPrice(raw.c)}`;
  }
  const y = typeof raw === "object" && raw !== null && "y" in raw ? Number(raw.y) : Number.NaN;
  return item.dataset.yAxisID === "volume"
    ? `${label}: ${formatCompactUsd(y)}`
    : `${label}: ${formatPrice(y)}`;
}

/** Axis labels: compact from $10K up ("$45K"), the price's own precision below. */
export function priceTick(value: number): string {
  return Math.abs(value) >= 10_000 ? formatCompactUsd(value) : formatPrice(value);
}

/** The chart's configuration (no plugins: the component adds its render hook). */
export function priceChartConfig(data: PriceChartData, colors: ChartColors): PriceChartConfig {
  const datasets: Dataset[] = [];
  if (data.mode === "line") {
    datasets.push({
      type: "line",
      label: "Price",
      data: data.line,
      borderColor: colors.foreground,
      borderWidth: 1.5,
      pointRadius: 0,
      pointHitRadius: 4,
      tension: 0,
      fill: false,
      yAxisID: "y",
    } as Dataset);
  } else {
    datasets.push({
      type: "candlestick",
      label: "Price",
      data: data.candles,
      yAxisID: "y",
      borderColors: { up: colors.positive, down: colors.negative, unchanged: colors.muted },
      backgroundColors: {
        up: withAlpha(colors.positive, 0.6),
        down: withAlpha(colors.negative, 0.6),
        unchanged: withAlpha(colors.muted, 0.6),
      },
    } as Dataset);
  }
  if (data.fan) datasets.push(...(fanDatasets(data.fan, colors) as Dataset[]));
  if (data.volume.length > 0) {
    datasets.push({
      type: "bar",
      label: "Volume",
      data: data.volume,
      yAxisID: "volume",
      backgroundColor: withAlpha(colors.muted, 0.35),
      borderWidth: 0,
      barPercentage: 1,
      categoryPercentage: 0.9,
    } as Dataset);
  }

  const grid = { color: withAlpha(colors.border, 0.9) };
  const ticks = { color: colors.muted };
  return {
    type: data.mode === "line" ? "line" : "candlestick",
    data: { datasets },
    options: {
      // Prices move by the bar, not by the frame: drawing at once keeps thousands of points
      // fast and tells `afterRender` the moment the current data is on screen.
      animation: false,
      // Points are already {x: ms, y}; no parsing is what decimation needs (candles parse).
      parsing: data.mode === "line" ? false : undefined,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: {
        decimation: {
          enabled: data.mode === "line",
          algorithm: "lttb",
          threshold: DECIMATION_THRESHOLD,
        },
        legend: { display: false },
        tooltip: { callbacks: { label: tooltipLabel } },
      },
      scales: {
        x: {
          type: "time",
          min: data.window?.min,
          max: data.window?.max,
          offset: data.mode === "candles",
          time: { tooltipFormat: data.interval === "1h" ? "PP p" : "PP" },
          grid,
          ticks: { ...ticks, maxRotation: 0, autoSkip: true, autoSkipPadding: 16 },
        },
        y: {
          type: "linear",
          position: "right",
          stack: "price",
          stackWeight: 4,
          grid,
          ticks: { ...ticks, callback: (value) => priceTick(Number(value)) },
        },
        volume: {
          type: "linear",
          position: "right",
          stack: "price",
          stackWeight: 1,
          offset: true,
          beginAtZero: true,
          display: data.volume.length > 0,
          grid: { display: false },
          ticks: { ...ticks, maxTicksLimit: 3, callback: (value) => formatCompactUsd(Number(value)) },
        },
      },
    },
  };
}
