// The parts of Chart.js the price chart draws, imported by name so the bundler leaves the
// rest out of the lazily loaded chunk (see chartjs.ts), and registered once.
import {
  BarController,
  BarElement,
  Chart,
  Decimation,
  Filler,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
} from "chart.js";
import "chartjs-adapter-date-fns";
import { CandlestickController, CandlestickElement } from "chartjs-chart-financial";

Chart.register(
  LineController,
  LineElement,
  PointElement,
  BarController,
  BarElement,
  LinearScale,
  TimeScale,
  Filler,
  Tooltip,
  Decimation,
  CandlestickController,
  CandlestickElement,
);

export { Chart };
