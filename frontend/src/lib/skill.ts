// A forecast's measured skill, read and worded once for every page that shows it (the
// coin's skill panel and the Accuracy scoreboard), so the same figures always say the same
// thing. `skill.backtest`, `skill.live`, `skill.naive_live` and the scoreboard's `live` are
// free-form objects in the OpenAPI document; the server fills the live ones with
// forecasting/scoring.py's live_record(): n, mae_ratio (model MAE / naive MAE on the same
// origins), coverage_80/95 ({observed, nominal, n, band, in_band}) and diebold_mariano
// ({p_better, p_worse, n} once enough independent pairs are scored). Every field is checked
// here; a figure that is missing reads as "not measured", never as skill.
import type { Schemas } from "./api/client";
import { formatNumber, type FormatOptions } from "./format";

/** Below this Diebold-Mariano p-value a difference counts as significant (the server's). */
export const SIGNIFICANCE = 0.05;
const NAIVE = "naive";

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const num = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;

export interface BacktestFigures {
  n: number | null;
  mae: number | null;
  naiveMae: number | null;
  /** MAE / naive's MAE on the same origins. */
  maeRatio: number | null;
  dmPValue: number | null;
  /** Whether the backtest beat naive significantly (the server's judgement). */
  skilled: boolean | null;
  /** Share of actuals inside the 80 / 95 % intervals (0-1). */
  coverage80: number | null;
  coverage95: number | null;
}

/** How often actual prices fell inside an interval. */
export interface Coverage {
  /** Share of outcomes inside (0-1). */
  observed: number;
  /** The interval's level (0.8 or 0.95). */
  nominal: number;
  n: number | null;
  /** The range `observed` is expected in if the interval is calibrated. */
  band: [number, number] | null;
  /** Whether `observed` lies in that band. */
  inBand: boolean | null;
}

export interface LiveFigures {
  n: number;
  independentN: number | null;
  mae: number | null;
  naiveMae: number | null;
  maeRatio: number | null;
  coverage80: Coverage | null;
  coverage95: Coverage | null;
  /** One-sided Diebold-Mariano on non-overlapping forecasts; null until there are enough. */
  dm: { pBetter: number; pWorse: number; n: number | null } | null;
}

/** The backtest figures, or null when there are none. */
export function backtestFigures(raw: unknown): BacktestFigures | null {
  if (!isObject(raw)) return null;
  const mae = num(raw.mae);
  const naiveMae = num(raw.naive_mae);
  return {
    n: num(raw.n_forecasts) ?? num(raw.n),
    mae,
    naiveMae,
    maeRatio: num(raw.relative_mae) ?? (mae !== null && naiveMae ? mae / naiveMae : null),
    dmPValue: num(raw.dm_pvalue),
    skilled: typeof raw.skilled === "boolean" ? raw.skilled : null,
    coverage80: coverageOf(raw.coverage_80, 0.8)?.observed ?? null,
    coverage95: coverageOf(raw.coverage_95, 0.95)?.observed ?? null,
  };
}

/** A coverage figure: an object as live_record() writes it, or a bare share. */
function coverageOf(raw: unknown, nominal: number): Coverage | null {
  const bare = num(raw);
  if (bare !== null) return { observed: bare, nominal, n: null, band: null, inBand: null };
  if (!isObject(raw)) return null;
  const observed = num(raw.observed);
  if (observed === null) return null;
  const [low, high] = Array.isArray(raw.band) ? raw.band.map(num) : [];
  return {
    observed,
    nominal: num(raw.nominal) ?? nominal,
    n: num(raw.n),
    band: typeof low === "number" && typeof high === "number" ? [low, high] : null,
    inBand: typeof raw.in_band === "boolean" ? raw.in_band : null,
  };
}

/** The live record, or null when nothing has been scored yet. */
export function liveFigures(raw: unknown): LiveFigures | null {
  if (!isObject(raw)) return null;
  const n = num(raw.n);
  if (n === null || n <= 0) return null;
  const mae = num(raw.mae);
  const naiveMae = num(raw.naive_mae);
  const dm = isObject(raw.diebold_mariano) ? raw.diebold_mariano : null;
  const pBetter = dm ? num(dm.p_better) : null;
  const pWorse = dm ? num(dm.p_worse) : null;
  return {
    n,
    independentN: num(raw.independent_n),
    mae,
    naiveMae,
    maeRatio: num(raw.mae_ratio) ?? (mae !== null && naiveMae ? mae / naiveMae : null),
    coverage80: coverageOf(raw.coverage_80, 0.8),
    coverage95: coverageOf(raw.coverage_95, 0.95),
    dm: dm && pBetter !== null && pWorse !== null ? { pBetter, pWorse, n: num(dm.n) } : null,
  };
}

/**
 * How a model's errors compare with naive's. A difference below 0.05 % would read "0.0 %"
 * in words, so it counts as the same size: every page words a ratio by this one rule.
 */
export function compareWithNaive(ratio: number): { direction: "smaller" | "larger" | "same"; size: number } {
  const difference = 1 - ratio;
  const size = Math.abs(difference);
  if (size < 0.0005) return { direction: "same", size: 0 };
  return { direction: difference > 0 ? "smaller" : "larger", size };
}

/** Whether the live test found the model significantly better or worse than naive. */
export function significantly(figures: LiveFigures): "better" | "worse" | null {
  const { dm } = figures;
  if (dm === null) return null;
  if (dm.pBetter < SIGNIFICANCE) return "better";
  if (dm.pWorse < SIGNIFICANCE) return "worse";
  return null;
}

/** A non-breaking space, so "8 %" never wraps between the number and its sign. */
const NBSP = "\u00a0";

/** "8 %" (one decimal under 10 %). */
export function percentWords(fraction: number, options: FormatOptions = {}): string {
  const percent = fraction * 100;
  return `${formatNumber(percent, {
    locale: options.locale,
    maximumFractionDigits: Math.abs(percent) < 10 ? 1 : 0,
  })}${NBSP}%`;
}

/** How errors compared with naive's: "errors were 8 % smaller than naive's". */
export function ratioWords(ratio: number, options: FormatOptions = {}): string {
  const { direction, size } = compareWithNaive(ratio);
  if (direction === "same") return "errors were the same size as naive's";
  return `errors were ${percentWords(size, options)} ${direction} than naive's`;
}

function count(n: number, options: FormatOptions): string {
  return formatNumber(n, { locale: options.locale, maximumFractionDigits: 0 });
}

/** The backtest in one sentence, claiming significance only where the server found it. */
export function backtestSentence(
  kind: string,
  figures: BacktestFigures | null,
  options: FormatOptions = {},
): string {
  if (kind === NAIVE) {
    return "This is the naive forecast (the last close carried forward): the yardstick itself, so it has no skill to measure.";
  }
  if (!figures || figures.maeRatio === null) return "Backtest: not measured yet.";
  const over = figures.n !== null ? `In backtests over ${count(figures.n, options)} forecasts, ` : "In backtests, ";
  const p = figures.dmPValue;
  const { direction } = compareWithNaive(figures.maeRatio);
  const test =
    figures.skilled === true
      ? `, a significant improvement${p !== null ? ` (Diebold-Mariano p = ${p.toFixed(3)})` : ""}`
      : p !== null
        ? p < SIGNIFICANCE && direction === "larger"
          ? `, significantly worse (Diebold-Mariano p = ${p.toFixed(3)})`
          : `, not a significant difference (Diebold-Mariano p = ${p.toFixed(3)})`
        : direction === "smaller"
          ? ", not tested for significance"
          : "";
  return `${over}${ratioWords(figures.maeRatio, options)}${test}.`;
}

/** The live record in one sentence; "not measured yet" until a forecast is scored. */
export function liveSentence(
  kind: string,
  figures: LiveFigures | null,
  options: FormatOptions = {},
): string {
  if (!figures) return "Live: not measured yet, as no forecast for this horizon has been scored.";
  const over = `Over ${count(figures.n, options)} scored forecast${figures.n === 1 ? "" : "s"}`;
  if (kind === NAIVE) {
    return `${over}, this was the naive forecast itself, so its errors were naive's.`;
  }
  if (figures.maeRatio === null) return `${over}, the errors could not be compared with naive's.`;
  const { dm } = figures;
  const tested = dm?.n != null ? ` (Diebold-Mariano on ${count(dm.n, options)} non-overlapping forecasts)` : "";
  const found = significantly(figures);
  const test =
    dm === null
      ? ", too few non-overlapping forecasts yet to tell skill from chance"
      : found !== null
        ? `, significantly ${found}${tested}`
        : `, not a significant difference${tested}`;
  return `${over}, ${ratioWords(figures.maeRatio, options)}${test}.`;
}

/** How often the intervals held the actual price, in words (null when unmeasured). */
export function coverageSentence(
  coverage80: number | null,
  coverage95: number | null,
  options: FormatOptions = {},
): string | null {
  const measured = (
    [
      [80, coverage80],
      [95, coverage95],
    ] as const
  ).filter((entry): entry is readonly [80 | 95, number] => entry[1] !== null);
  const [first, second] = measured;
  if (!first) return null;
  const lead = `${first[0]}${NBSP}% intervals held the actual price ${percentWords(first[1], options)} of the time`;
  return second ? `${lead}, ${second[0]}${NBSP}% intervals ${percentWords(second[1], options)}.` : `${lead}.`;
}

export type ProbabilityUp = NonNullable<Schemas["Forecast"]["probability_up"]>;

/**
 * The chance of a higher close in words, always next to how such chances scored in the
 * backtest against the base rate (null when the server sends none: no record, no claim).
 */
export function probabilitySentence(
  chance: ProbabilityUp | null | undefined,
  options: FormatOptions = {},
): string | null {
  if (!chance) return null;
  const lead = `Chance of a higher close: ${percentWords(chance.value, options)}.`;
  const over = `over ${count(chance.origins, options)} backtest forecasts`;
  const skill = chance.brier_skill;
  if (skill === null || !Number.isFinite(skill)) {
    return `${lead} Such chances were not compared with the base rate ${over}.`;
  }
  const verdict =
    skill > 0
      ? `scored ${percentWords(skill, options)} better than the base rate`
      : skill < 0
        ? `scored ${percentWords(-skill, options)} worse than the base rate`
        : "scored the same as the base rate";
  const signed = `${skill < 0 ? "\u2212" : "+"}${formatNumber(Math.abs(skill), {
    locale: options.locale,
    maximumFractionDigits: 3,
  })}`;
  return `${lead} Such chances ${verdict} ${over} (Brier skill ${signed}): a lean, not a call.`;
}
