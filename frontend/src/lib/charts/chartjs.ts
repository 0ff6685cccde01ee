// Chart.js, loaded on first use (it is not in any page's first load) with only the parts
// the price chart draws registered: line, bar and candlestick controllers, a time scale on
// date-fns, the filler (forecast bands), tooltips and the decimation plugin.
import type { Chart as ChartClass } from "chart.js";

let loading: Promise<typeof ChartClass> | null = null;

export function loadChartJs(): Promise<typeof ChartClass> {
  loading ??= (async () => {
    const [chart, financial] = await Promise.all([
      import("chart.js"),
      import("chartjs-chart-financial"),
      import("chartjs-adapter-date-fns"),
    ]);
    chart.Chart.register(
      chart.LineController,
      chart.LineElement,
      chart.PointElement,
      chart.BarController,
      chart.BarElement,
      chart.LinearScale,
      chart.TimeScale,
      chart.Filler,
      chart.Tooltip,
      chart.Decimation,
      financial.CandlestickController,
      financial.CandlestickElement,
    );
    return chart.Chart;
  })();
  loading.catch(() => {
    loading = null; // a failed chunk load may succeed on the next try
  });
  return loading;
}
