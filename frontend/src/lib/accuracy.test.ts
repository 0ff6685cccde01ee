import { describe, expect, it } from "vitest";
import {
  filterScores,
  horizonsOf,
  scoreRows,
  sortScores,
  verdict,
  type AccuracyRow,
} from "./accuracy";
import { liveFigures, liveSentence, ratioWords } from "./skill";

// The words keep "5.4 %" together with a non-breaking space; compare with plain spaces.
const plain = (text: string) => text.replace(/\u00a0/g, " ");

// A `live` object as forecasting/scoring.py's live_record() writes it.
const LIVE = {
  n: 42,
  independent_n: 42,
  mae: 380.1,
  naive_mae: 401.7,
  mae_ratio: 0.9462,
  mean_abs_log_error: 0.021,
  coverage_80: { nominal: 0.8, observed: 0.7857, n: 42, independent_n: 42, band: [0.63, 0.89], in_band: true },
  coverage_95: { nominal: 0.95, observed: 0.881, n: 42, independent_n: 42, band: [0.74, 0.96], in_band: true },
  winkler_80: 1200.5,
  naive_winkler_80: 1300.2,
  winkler_95: 1800,
  naive_winkler_95: 1900,
  diebold_mariano: { statistic: -2.1, p_value: 0.04, p_better: 0.02, p_worse: 0.98, n: 42 },
};

function row(
  coin: string,
  horizon: number,
  kind: string,
  live: Record<string, unknown>,
  updated = "2026-12-01T00:00:00Z",
): AccuracyRow {
  return {
    coin,
    interval: "1d",
    horizon,
    model: { id: horizon * 100 + coin.length, kind, version: 1 },
    status: "production",
    live,
    updated_at: updated,
  };
}

describe("verdict", () => {
  it("calls a ratio below 1 better, in the skill panel's sentence", () => {
    const figures = liveFigures(LIVE);
    const result = verdict("drift", figures);
    expect(result.word).toBe("better");
    expect(result.tone).toBe("positive");
    expect(result.detail).toBe(liveSentence("drift", figures));
    expect(plain(result.detail)).toBe(
      "Over 42 scored forecasts, errors were 5.4 % smaller than naive's, significantly better (Diebold-Mariano on 42 non-overlapping forecasts).",
    );
  });
  it("calls a ratio above 1 worse", () => {
    const result = verdict("lstm", liveFigures({ n: 1, mae_ratio: 1.25 }));
    expect(result.word).toBe("worse");
    expect(result.tone).toBe("negative");
    expect(plain(result.detail)).toBe(
      "Over 1 scored forecast, errors were 25 % larger than naive's, too few non-overlapping forecasts yet to tell skill from chance.",
    );
  });
  it("calls a difference too small to show the same, as the skill panel's words do", () => {
    // 0.9999 once read "better: 0.0 % smaller" here and "the same size" on the coin page.
    const result = verdict("drift", liveFigures({ n: 30, mae_ratio: 0.9999 }));
    expect(result.word).toBe("same as naive");
    expect(result.tone).toBe("neutral");
    expect(result.detail).toContain(ratioWords(0.9999));
    expect(result.detail).toContain("errors were the same size as naive's");
    expect(verdict("drift", liveFigures({ n: 30, mae_ratio: 0.999 })).word).toBe("better");
  });
  it("says not measured yet without scores, and baseline for naive itself", () => {
    expect(verdict("drift", liveFigures({ n: 0 })).word).toBe("not measured yet");
    expect(verdict("drift", liveFigures({ n: 5, mae_ratio: null })).word).toBe("not measured yet");
    expect(verdict("naive", liveFigures({ n: 5, mae_ratio: 1 })).word).toBe("baseline");
    expect(verdict("arima", liveFigures({ n: 5, mae_ratio: 1 })).word).toBe("same as naive");
  });
});

describe("filter and sort", () => {
  const names = new Map([
    ["bitcoin", "Bitcoin"],
    ["ethereum", "Ethereum"],
  ]);
  const symbols = new Map([
    ["bitcoin", "btc"],
    ["ethereum", "eth"],
  ]);
  const rows = scoreRows(
    [
      row("ethereum", 7, "drift", { n: 10, mae_ratio: 1.1 }, "2026-12-03T00:00:00Z"),
      row("bitcoin", 1, "drift", LIVE, "2026-12-02T00:00:00Z"),
      row("bitcoin", 7, "naive", { n: 10, mae_ratio: 1 }),
      row("dogecoin", 30, "drift", { n: 0 }),
    ],
    names,
  );

  it("names coins from the catalogue, or by id", () => {
    expect(rows.map((score) => score.coinName)).toEqual(["Ethereum", "Bitcoin", "Bitcoin", "dogecoin"]);
  });

  it("filters by horizon and by part of the id, name or symbol", () => {
    expect(filterScores(rows, { horizon: 7, query: "" }, symbols)).toHaveLength(2);
    expect(filterScores(rows, { horizon: null, query: "BTC" }, symbols)).toHaveLength(2);
    expect(filterScores(rows, { horizon: null, query: " ether " }, symbols)).toHaveLength(1);
    expect(filterScores(rows, { horizon: 1, query: "eth" }, symbols)).toHaveLength(0);
  });

  it("sorts by a column either way, with unmeasured rows last", () => {
    const up = sortScores(rows, { key: "ratio", direction: "ascending" });
    expect(up.map((score) => score.figures?.maeRatio ?? null)).toEqual([0.9462, 1, 1.1, null]);
    const down = sortScores(rows, { key: "ratio", direction: "descending" });
    expect(down.map((score) => score.figures?.maeRatio ?? null)).toEqual([1.1, 1, 0.9462, null]);
  });

  it("breaks ties by coin then horizon", () => {
    const byScored = sortScores(rows, { key: "scored", direction: "descending" });
    expect(byScored.map((score) => `${score.row.coin}/${score.row.horizon}`)).toEqual([
      "bitcoin/1",
      "bitcoin/7",
      "ethereum/7",
      "dogecoin/30",
    ]);
    const byCoin = sortScores(rows, { key: "coin", direction: "ascending" });
    expect(byCoin.map((score) => score.coinName)).toEqual(["Bitcoin", "Bitcoin", "dogecoin", "Ethereum"]);
  });

  it("lists the horizons present", () => {
    expect(horizonsOf(rows.map((score) => score.row))).toEqual([1, 7, 30]);
  });
});
