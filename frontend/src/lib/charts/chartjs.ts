// Chart.js, loaded on first use (it is not in any page's first load) with only the parts
// the price chart draws (chartjs-parts.ts): line, bar and candlestick controllers, a time
// scale on date-fns, the filler (forecast bands), tooltips and the decimation plugin.
import type { Chart as ChartClass } from "chart.js";

let loading: Promise<typeof ChartClass> | null = null;

export function loadChartJs(): Promise<typeof ChartClass> {
  loading ??= import("./chartjs-parts").then((parts) => parts.Chart);
  loading.catch(() => {
    loading = null; // a failed chunk load may succeed on the next try
  });
  return loading;
}
