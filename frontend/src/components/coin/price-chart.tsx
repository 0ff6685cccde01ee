"use client";
// Hosts the Chart.js price chart. The container says when the current data is on screen:
// data-state="ready" once Chart.js has rendered it (its afterRender hook), "loading"
// before; data-forecast="shown" while the forecast fan is drawn. Benchmarks and browser
// tests wait on these, so they are written straight to the DOM at render time. Each time
// new data is first on screen, a performance mark (CHART_DRAWN) records when, on the
// page's own clock: the benchmark reads it.
import type { Chart, Plugin } from "chart.js";
import { useEffect, useRef, useState } from "react";
import { loadChartJs } from "@/lib/charts/chartjs";
import { readChartColors } from "@/lib/charts/colors";
import { priceChartConfig, type PriceChartData } from "@/lib/charts/config";
import { useTheme } from "@/lib/theme";
import { cn } from "@/lib/utils";
import { Skeleton } from "../ui/skeleton";

/** The performance mark set when the chart first shows new data; detail: `{ fan }`. */
export const CHART_DRAWN = "cryptopredict:price-chart-drawn";

export function PriceChart({
  data,
  label,
  className,
}: {
  /** null while loading. */
  data: PriceChartData | null;
  /** What the chart shows, for screen readers. */
  label: string;
  className?: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  const generation = useRef(0);
  const [failed, setFailed] = useState<unknown>(null);
  const { resolved: theme } = useTheme();

  // Which data the next render shows, for the afterRender hook (a resize also renders).
  const expected = useRef<{ generation: number; fan: boolean } | null>(null);

  // Fetch Chart.js while the prices load, not after.
  useEffect(() => {
    loadChartJs().catch(() => undefined);
  }, []);

  useEffect(() => {
    const box = container.current;
    const target = canvas.current;
    if (!box || !target) return;
    const mine = ++generation.current;
    box.dataset.state = "loading";
    delete box.dataset.forecast;
    if (data === null) return;
    let cancelled = false;

    loadChartJs()
      .then((ChartJs) => {
        if (cancelled) return;
        const config = priceChartConfig(data, readChartColors());
        expected.current = { generation: mine, fan: data.fan !== null };
        const current = chart.current;
        const currentType = current && "type" in current.config ? current.config.type : null;
        if (current && currentType === config.type) {
          current.data = config.data;
          current.options = config.options ?? {};
          current.update("none");
          return;
        }
        current?.destroy();
        const ready: Plugin = {
          id: "cryptopredictReady",
          afterRender: () => {
            const shown = expected.current;
            if (!shown || shown.generation !== generation.current) return;
            if (box.dataset.state !== "ready") performance.mark(CHART_DRAWN, { detail: { fan: shown.fan } });
            box.dataset.state = "ready";
            if (shown.fan) box.dataset.forecast = "shown";
            else delete box.dataset.forecast;
          },
        };
        chart.current = new ChartJs(target, { ...config, plugins: [ready] });
      })
      .catch((error: unknown) => {
        if (!cancelled) setFailed(error);
      });
    return () => {
      cancelled = true;
    };
    // The theme changes the colours read from CSS variables.
  }, [data, theme]);

  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [],
  );

  return (
    <div
      ref={container}
      data-testid="price-chart"
      className={cn("relative h-72 w-full sm:h-96", className)}
    >
      <canvas ref={canvas} role="img" aria-label={label}>
        {label}
      </canvas>
      {data === null && !failed ? <Skeleton className="absolute inset-0" /> : null}
      {failed ? (
        <p role="alert" className="absolute inset-0 grid place-items-center text-sm text-destructive">
          The chart could not be drawn. Reload the page to try again.
        </p>
      ) : null}
    </div>
  );
}
