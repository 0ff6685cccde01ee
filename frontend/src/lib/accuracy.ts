// The live scoreboard (/forecasts/accuracy) as the Accuracy page shows it: each row's
// `live` record read and worded by lib/skill.ts, as the coin page's skill panel does, then
// filtered and sorted.
import type { Schemas } from "./api/client";
import { compareWithNaive, liveFigures, liveSentence, type LiveFigures } from "./skill";

export type AccuracyRow = Schemas["AccuracyRow"];

export type VerdictWord = "better" | "worse" | "same as naive" | "baseline" | "not measured yet";

export interface Verdict {
  word: VerdictWord;
  tone: "positive" | "negative" | "neutral";
  /** The live record in a sentence (the skill panel's), for a title or a screen reader. */
  detail: string;
}

/** The MAE ratio against naive in a word, by the rule the sentences use. */
export function verdict(kind: string, figures: LiveFigures | null): Verdict {
  const detail = liveSentence(kind, figures);
  if (kind === "naive") return { word: "baseline", tone: "neutral", detail };
  if (figures === null || figures.maeRatio === null) {
    return { word: "not measured yet", tone: "neutral", detail };
  }
  switch (compareWithNaive(figures.maeRatio).direction) {
    case "smaller":
      return { word: "better", tone: "positive", detail };
    case "larger":
      return { word: "worse", tone: "negative", detail };
    case "same":
      return { word: "same as naive", tone: "neutral", detail };
  }
}

export interface ScoreRow {
  key: string;
  row: AccuracyRow;
  coinName: string;
  /** null until a forecast of the row's model is scored. */
  figures: LiveFigures | null;
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
      return score.figures?.n ?? 0;
    case "ratio":
      return score.figures?.maeRatio ?? null;
    case "coverage80":
      return score.figures?.coverage80?.observed ?? null;
    case "coverage95":
      return score.figures?.coverage95?.observed ?? null;
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
