import { describe, expect, it } from "vitest";
import {
  backtestFigures,
  backtestSentence,
  compareWithNaive,
  coverageSentence,
  probabilitySentence,
  liveFigures,
  liveSentence,
  ratioWords,
} from "./skill";

const en = { locale: "en-US" };
// The sentences keep "8 %" together with a non-breaking space; compare with plain spaces.
const plain = (text: string | null) => text?.replace(/\u00a0/g, " ") ?? null;

// skill.backtest as GET /api/v1/forecasts/bitcoin answered (naive served).
const NAIVE_BACKTEST = {
  coin: "bitcoin",
  horizon: 1,
  model: "naive",
  mae: 401.7152487615475,
  naive_mae: 401.7152487615475,
  relative_mae: 1.0,
  dm_pvalue: null,
  n_forecasts: 1495,
  coverage_80: 0.7923875432525952,
  coverage_95: 0.9515570934256056,
  selected: true,
  skilled: false,
};

// skill.live in the shape scoring.live_record() writes.
function live(overrides: Record<string, unknown> = {}) {
  return {
    n: 42,
    independent_n: 42,
    mae: 920,
    naive_mae: 1000,
    mae_ratio: 0.92,
    coverage_80: { nominal: 0.8, observed: 0.76, n: 42, independent_n: 42, band: [0.6, 0.87], in_band: true },
    coverage_95: { nominal: 0.95, observed: 0.93, n: 42, independent_n: 42, band: [0.8, 0.98], in_band: true },
    diebold_mariano: { statistic: -2.1, p_value: 0.04, p_better: 0.02, p_worse: 0.98, n: 42 },
    ...overrides,
  };
}

describe("reading the figures", () => {
  it("reads the backtest", () => {
    expect(backtestFigures(NAIVE_BACKTEST)).toEqual({
      n: 1495,
      mae: 401.7152487615475,
      naiveMae: 401.7152487615475,
      maeRatio: 1,
      dmPValue: null,
      skilled: false,
      coverage80: 0.7923875432525952,
      coverage95: 0.9515570934256056,
    });
    expect(backtestFigures(null)).toBeNull();
  });

  it("reads the live record, and none until something is scored", () => {
    const figures = liveFigures(live());
    expect(figures).toMatchObject({ n: 42, maeRatio: 0.92, dm: { pBetter: 0.02, pWorse: 0.98, n: 42 } });
    expect(figures?.coverage80).toEqual({ observed: 0.76, nominal: 0.8, n: 42, band: [0.6, 0.87], inBand: true });
    expect(liveFigures(null)).toBeNull();
    expect(liveFigures(live({ n: 0 }))).toBeNull();
    expect(liveFigures({})).toBeNull();
    expect(liveFigures({ n: 3, mae: 2, naive_mae: 4 })?.maeRatio).toBe(0.5);
  });

  it("tolerates missing, null and malformed figures", () => {
    expect(liveFigures({ n: 3, mae_ratio: null, coverage_80: null, diebold_mariano: null })).toEqual({
      n: 3,
      independentN: null,
      mae: null,
      naiveMae: null,
      maeRatio: null,
      coverage80: null,
      coverage95: null,
      dm: null,
    });
    expect(liveFigures({ n: 3, coverage_95: { observed: "x" } })?.coverage95).toBeNull();
    expect(liveFigures({ n: 3, coverage_95: { observed: 0.9, band: [0.8] } })?.coverage95).toEqual({
      observed: 0.9,
      nominal: 0.95,
      n: null,
      band: null,
      inBand: null,
    });
    // One p-value alone is no test.
    expect(liveFigures(live({ diebold_mariano: { p_better: 0.01 } }))?.dm).toBeNull();
  });
});

describe("sentences", () => {
  it("compares errors with naive's", () => {
    expect(plain(ratioWords(0.92, en))).toBe("errors were 8 % smaller than naive's");
    expect(plain(ratioWords(1.123, en))).toBe("errors were 12 % larger than naive's");
    expect(plain(ratioWords(0.998, en))).toBe("errors were 0.2 % smaller than naive's");
    expect(plain(ratioWords(1, en))).toBe("errors were the same size as naive's");
  });

  it("calls a difference that would read 0.0 % the same size, either way", () => {
    expect(plain(ratioWords(0.9999, en))).toBe("errors were the same size as naive's");
    expect(plain(ratioWords(1.0004, en))).toBe("errors were the same size as naive's");
    expect(plain(ratioWords(0.9994, en))).toBe("errors were 0.1 % smaller than naive's");
    expect(compareWithNaive(0.9999)).toEqual({ direction: "same", size: 0 });
    expect(compareWithNaive(0.9)).toMatchObject({ direction: "smaller" });
    expect(compareWithNaive(1.2)).toMatchObject({ direction: "larger" });
  });

  it("claims no skill for naive itself", () => {
    expect(plain(backtestSentence("naive", backtestFigures(NAIVE_BACKTEST), en))).toMatch(/naive forecast .* no skill to measure/);
    expect(plain(liveSentence("naive", liveFigures(live({ mae_ratio: 1 })), en))).toBe(
      "Over 42 scored forecasts, this was the naive forecast itself, so its errors were naive's.",
    );
  });

  it("says significant only where the test found it", () => {
    const skilled = backtestFigures({ ...NAIVE_BACKTEST, model: "lightgbm", relative_mae: 0.9, dm_pvalue: 0.012, skilled: true });
    expect(plain(backtestSentence("lightgbm", skilled, en))).toBe(
      "In backtests over 1,495 forecasts, errors were 10 % smaller than naive's, a significant improvement (Diebold-Mariano p = 0.012).",
    );
    const unskilled = backtestFigures({ ...NAIVE_BACKTEST, model: "drift", relative_mae: 0.998, dm_pvalue: 0.158, skilled: false });
    expect(plain(backtestSentence("drift", unskilled, en))).toBe(
      "In backtests over 1,495 forecasts, errors were 0.2 % smaller than naive's, not a significant difference (Diebold-Mariano p = 0.158).",
    );
    expect(plain(backtestSentence("drift", null, en))).toBe("Backtest: not measured yet.");
  });

  it("words the live record, with or without a test", () => {
    expect(plain(liveSentence("drift", liveFigures(live()), en))).toBe(
      "Over 42 scored forecasts, errors were 8 % smaller than naive's, significantly better (Diebold-Mariano on 42 non-overlapping forecasts).",
    );
    expect(plain(liveSentence("drift", liveFigures(live({ diebold_mariano: null, n: 5 })), en))).toBe(
      "Over 5 scored forecasts, errors were 8 % smaller than naive's, too few non-overlapping forecasts yet to tell skill from chance.",
    );
    expect(plain(liveSentence("drift", liveFigures(live({ mae_ratio: 1.1, diebold_mariano: { p_better: 0.9, p_worse: 0.3, n: 31 } })), en)),
    ).toMatch(/10 % larger than naive's, not a significant difference/);
    expect(plain(liveSentence("drift", null, en))).toMatch(/^Live: not measured yet/);
  });

  it("words interval coverage", () => {
    expect(plain(coverageSentence(0.7923, 0.9515, en))).toBe(
      "80 % intervals held the actual price 79 % of the time, 95 % intervals 95 %.",
    );
    expect(plain(coverageSentence(null, 0.9, en))).toBe("95 % intervals held the actual price 90 % of the time.");
    expect(plain(coverageSentence(null, null, en))).toBeNull();
  });
});

describe("probabilitySentence", () => {
  const chance = { value: 0.5432, brier: 0.247, climatology_brier: 0.25, origins: 1413 };
  it("says the chance only next to its backtest record against the base rate", () => {
    expect(plain(probabilitySentence({ ...chance, brier_skill: 0.012 }, en))).toBe(
      "Chance of a higher close: 54 %. Such chances scored 1.2 % better than the base rate over 1,413 backtest forecasts (Brier skill +0.012): a lean, not a call.",
    );
    expect(plain(probabilitySentence({ ...chance, brier_skill: -0.0931 }, en))).toContain(
      "scored 9.3 % worse than the base rate",
    );
    expect(plain(probabilitySentence({ ...chance, brier_skill: -0.0931 }, en))).toContain("(Brier skill −0.093)");
  });
  it("says nothing without a record", () => {
    expect(probabilitySentence(null, en)).toBeNull();
    expect(plain(probabilitySentence({ ...chance, brier_skill: null }, en))).toContain("were not compared");
  });
});
