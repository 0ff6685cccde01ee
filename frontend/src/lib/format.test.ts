import { describe, expect, it } from "vitest";
import {
  formatCompactUsd,
  formatDateTime,
  formatPercent,
  formatPrice,
  formatRelative,
  utcLabel,
} from "./format";

describe("formatPrice", () => {
  it("gives large prices two decimals with grouping in the reader's locale", () => {
    expect(formatPrice(64123.456, { locale: "en-US" })).toBe("$64,123.46");
    expect(formatPrice(64123.456, { locale: "de-DE" }).replace(/\s/g, " ")).toBe("64.123,46 $");
  });
  it("keeps significant digits of tiny prices", () => {
    expect(formatPrice(0.00001234, { locale: "en-US" })).toBe("$0.00001234");
    expect(formatPrice(0.123456, { locale: "en-US" })).toBe("$0.1235");
  });
  it("shows at least two significant digits below a dollar and cents above", () => {
    expect(formatPrice(0.5, { locale: "en-US" })).toBe("$0.50");
    expect(formatPrice(0.05, { locale: "en-US" })).toBe("$0.050");
    expect(formatPrice(1, { locale: "en-US" })).toBe("$1.00");
    expect(formatPrice(0, { locale: "en-US" })).toBe("$0.00");
    expect(formatPrice(-0.5, { locale: "en-US" })).toBe("-$0.50");
  });
  it("shows a dash for missing values", () => {
    expect(formatPrice(null)).toBe("—");
    expect(formatPrice(Number.NaN)).toBe("—");
  });
});

describe("formatPercent and formatCompactUsd", () => {
  it("signs changes", () => {
    expect(formatPercent(2.5, { locale: "en-US" })).toBe("+2.50%");
    expect(formatPercent(-0.123, { locale: "en-US" })).toBe("-0.12%");
    expect(formatPercent(0, { locale: "en-US" })).toBe("0.00%");
  });
  it("compacts market caps", () => {
    expect(formatCompactUsd(1_234_000_000_000, { locale: "en-US" })).toBe("$1.23T");
  });
});

describe("times", () => {
  it("formats in the given zone and labels UTC", () => {
    const iso = "2026-12-07T04:05:00Z";
    expect(formatDateTime(iso, { locale: "en-US", timeZone: "America/New_York" })).toBe(
      "Dec 6, 2026, 11:05 PM",
    );
    expect(utcLabel(iso)).toBe("2026-12-07 04:05 UTC");
    expect(utcLabel("not a date")).toBe("");
  });
  it("says how long ago", () => {
    const now = Date.parse("2026-12-07T04:00:00Z");
    expect(formatRelative("2026-12-07T01:00:00Z", now, { locale: "en" })).toBe("3 hours ago");
    expect(formatRelative("2026-12-09T04:00:00Z", now, { locale: "en" })).toBe("in 2 days");
  });
});
