"use client";
// The portfolio against its benchmarks over a window, drawn with Chart.js (loaded lazily).
import type { Chart } from "chart.js";
import { useEffect, useRef, useState } from "react";
import { loadChartJs } from "@/lib/charts/chartjs";
import { readChartColors } from "@/lib/charts/colors";
import { growthChartConfig, type GrowthSeries } from "@/lib/charts/growth";
import { useTheme } from "@/lib/theme";

export function GrowthChart({ days, series, label }: { days: string[]; series: GrowthSeries[]; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<"line", { x: number; y: number | null }[]> | null>(null);
  const [failed, setFailed] = useState(false);
  const { resolved: theme } = useTheme();

  useEffect(() => {
    const target = canvas.current;
    if (!target) return;
    let cancelled = false;
    loadChartJs()
      .then((ChartJs) => {
        if (cancelled) return;
        const config = growthChartConfig(days, series, readChartColors());
        chart.current?.destroy();
        chart.current = new ChartJs(target, config);
      })
      .catch(() => {
        if (!cancelled) setFailed(true);
      });
    return () => {
      cancelled = true;
    };
  }, [days, series, theme]);

  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [],
  );

  return (
    <div className="relative h-56 w-full" data-testid="growth-chart">
      <canvas ref={canvas} role="img" aria-label={label}>
        {label}
      </canvas>
      {failed ? (
        <p role="alert" className="absolute inset-0 grid place-items-center text-sm text-destructive">
          The chart could not be drawn.
        </p>
      ) : null}
    </div>
  );
}
