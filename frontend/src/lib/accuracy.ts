// The live scoreboard (/forecasts/accuracy) as the Accuracy page shows it. Each row's
// `live` is a free-form object in the schema; the server fills it with
// forecasting/scoring.py's live_record(): n, mae_ratio (model MAE / naive MAE on the same
// origins), coverage_80/95 ({observed, nominal, n, band, in_band}), diebold_mariano
// ({p_better, p_worse, ...} once 30 independent pairs are scored). Read defensively: any
// figure may be missing or null.
import type { Schemas } from "./api/client";

export type AccuracyRow = Schemas["AccuracyRow"];

export interface Coverage {
  observed: number;
  nominal: number;
  n: number;
  inBand: boolean | null;
  band: [number, number] | null;
}

export interface LiveFigures {
  n: number;
  maeRatio: number | null;
  coverage80: Coverage | null;
  coverage95: Coverage | null;
  /** One-sided Diebold-Mariano p-values (null until enough independent forecasts). */
  pBetter: number | null;
  pWorse: number | null;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function coverage(value: unknown, nominal: number): Coverage | null {
  const figures = record(value);
  const observed = num(figures?.observed);
  if (figures === null || observed === null) return null;
  const band = Array.isArray(figures.band) ? figures.band.map(num) : [];
  const [low, high] = band;
  return {
    observed,
    nominal: num(figures.nominal) ?? nominal,
    n: num(figures.n) ?? 0,
    inBand: typeof figures.in_band === "boolean" ? figures.in_band : null,
    band: typeof low === "number" && typeof high === "number" ? [low, high] : null,
  };
}

/** The figures of a row's `live` object. */
export function liveFigures(live: Record<string, unknown>): LiveFigures {
  const dm = record(live.diebold_mariano);
  return {
    n: num(live.n) ?? 0,
    maeRatio: num(live.mae_ratio),
    coverage80: coverage(live.coverage_80, 0.8),
    coverage95: coverage(live.coverage_95, 0.95),
    pBetter: num(dm?.p_better),
    pWorse: num(dm?.p_worse),
  };
}

export type VerdictWord = "better" | "worse" | "same as naive" | "baseline" | "not measured yet";

export interface Verdict {
  word: VerdictWord;
  tone: "positive" | "negative" | "neutral";
  /** A longer sentence for a title or a screen reader. */
  detail: string;
}

/** Significance used for "significantly" (the server's monitoring uses 5 % too). */
export const SIGNIFICANCE = 0.05;

/** The MAE ratio against naive in words: below 1 is better than naive. */
export function verdict(kind: string, figures: LiveFigures): Verdict {
  const { n, maeRatio, pBetter, pWorse } = figures;
  if (kind === "naive") {
    return { word: "baseline", tone: "neutral", detail: "Naive is what the others are measured against." };
  }
  if (n === 0 || maeRatio === null) {
    return {
      word: "not measured yet",
      tone: "neutral",
      detail: "No forecast of this model has been scored next to naive yet.",
    };
  }
  const percent = Math.abs(1 - maeRatio) * 100;
  const size = `${percent.toFixed(percent < 10 ? 1 : 0)} %`;
  const forecasts = `${n} scored forecast${n === 1 ? "" : "s"}`;
  if (maeRatio < 1) {
    const sure = pBetter !== null && pBetter < SIGNIFICANCE ? ", significantly" : "";
    return {
      word: "better",
      tone: "positive",
      detail: `Its errors are ${size} smaller than naive's over ${forecasts}${sure}.`,
    };
  }
  if (maeRatio > 1) {
    const sure = pWorse !== null && pWorse < SIGNIFICANCE ? ", significantly" : "";
    return {
      word: "worse",
      tone: "negative",
      detail: `Its errors are ${size} larger than naive's over ${forecasts}${sure}.`,
    };
  }
  return { word: "same as naive", tone: "neutral", detail: `As accurate as naive over ${forecasts}.` };
}

export interface ScoreRow {
  key: string;
  row: AccuracyRow;
  coinName: string;
  figures: LiveFigures;
  verdict: Verdict;
}

/** The rows the table shows, with their figures read once. */
export function scoreRows(rows: AccuracyRow[], names: ReadonlyMap<string, string>): ScoreRow[] {
  return rows.map((row) => {
    const figures = liveFigures(row.live);
    return {
      key: `${row.coin}:${row.interval}:${row.horizon}:${row.model.id}`,
      row,
      coinName: names.get(row.coin) ?? row.coin,
      figures,
      verdict: verdict(row.model.kind, figures),
    };
  });
}

export interface ScoreFilter {
  /** null: every horizon. */
  horizon: number | null;
  /** Part of the coin's id, name or symbol, any case. */
  query: string;
}

/** The rows of one horizon whose coin matches the search. */
export function filterScores(
  rows: ScoreRow[],
  filter: ScoreFilter,
  symbols: ReadonlyMap<string, string> = new Map(),
): ScoreRow[] {
  const query = filter.query.trim().toLowerCase();
  return rows.filter((score) => {
    if (filter.horizon !== null && score.row.horizon !== filter.horizon) return false;
    if (query === "") return true;
    const haystack = [score.row.coin, score.coinName, symbols.get(score.row.coin) ?? ""];
    return haystack.some((text) => text.toLowerCase().includes(query));
  });
}

export type SortKey =
  | "coin"
  | "horizon"
  | "model"
  | "scored"
  | "ratio"
  | "coverage80"
  | "coverage95"
  | "updated";

export interface Sort {
  key: SortKey;
  direction: "ascending" | "descending";
}

function sortValue(score: ScoreRow, key: SortKey): string | number | null {
  switch (key) {
    case "coin":
      return score.coinName.toLowerCase();
    case "horizon":
      return score.row.horizon;
    case "model":
      return `${score.row.model.kind} ${String(score.row.model.version).padStart(6, "0")}`;
    case "scored":
      return score.figures.n;
    case "ratio":
      return score.figures.maeRatio;
    case "coverage80":
      return score.figures.coverage80?.observed ?? null;
    case "coverage95":
      return score.figures.coverage95?.observed ?? null;
    case "updated":
      return score.row.updated_at;
  }
}

/** Sorted by one column; rows without the figure go last either way; ties by coin, horizon. */
export function sortScores(rows: ScoreRow[], sort: Sort): ScoreRow[] {
  const flip = sort.direction === "ascending" ? 1 : -1;
  const tie = (a: ScoreRow, b: ScoreRow) =>
    a.coinName.localeCompare(b.coinName) || a.row.horizon - b.row.horizon;
  return [...rows].sort((a, b) => {
    const x = sortValue(a, sort.key);
    const y = sortValue(b, sort.key);
    if (x === null || y === null) return x === y ? tie(a, b) : x === null ? 1 : -1;
    if (x < y) return -flip;
    if (x > y) return flip;
    return tie(a, b);
  });
}

/** The horizons present, in order, for the filter. */
export function horizonsOf(rows: AccuracyRow[]): number[] {
  return [...new Set(rows.map((row) => row.horizon))].sort((a, b) => a - b);
}
