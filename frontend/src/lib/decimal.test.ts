import { describe, expect, it } from "vitest";
import {
  add,
  formatDecimal,
  formatMoney,
  multiply,
  parseDecimal,
  ratio,
  sign,
  subtract,
  toDecimalString,
} from "./decimal";
import { formatPrice } from "./format";

function d(value: string | number) {
  const parsed = parseDecimal(value);
  if (parsed === null) throw new Error(`not a decimal: ${value}`);
  return parsed;
}

describe("parseDecimal", () => {
  it("keeps every digit of the API's decimal strings", () => {
    expect(toDecimalString(d("0.123456789012345678"))).toBe("0.123456789012345678");
    expect(toDecimalString(d("12345678901234567890.5"))).toBe("12345678901234567890.5");
    expect(toDecimalString(d("-42.50"))).toBe("-42.5");
    expect(toDecimalString(d("0"))).toBe("0");
    expect(toDecimalString(d("-0.000"))).toBe("0");
  });
  it("reads floats by their shortest representation, exponents included", () => {
    expect(toDecimalString(d(34235.19345116))).toBe("34235.19345116");
    expect(toDecimalString(d(1e-7))).toBe("0.0000001");
    expect(toDecimalString(d(2.5e21))).toBe("2500000000000000000000");
  });
  it("refuses what is not a plain number", () => {
    expect(parseDecimal("abc")).toBeNull();
    expect(parseDecimal("1,5")).toBeNull();
    expect(parseDecimal("")).toBeNull();
    expect(parseDecimal(null)).toBeNull();
    expect(parseDecimal(Number.NaN)).toBeNull();
    expect(parseDecimal(Number.POSITIVE_INFINITY)).toBeNull();
  });
});

describe("arithmetic", () => {
  it("adds and subtracts without float error", () => {
    expect(toDecimalString(add(d("0.1"), d("0.2")))).toBe("0.3");
    expect(toDecimalString(subtract(d("17117.596725580000"), d("21001.5617283945")))).toBe(
      "-3883.9650028145",
    );
  });
  it("multiplies a quantity by a price exactly", () => {
    expect(toDecimalString(multiply(d("0.5"), d(34235.19345116)))).toBe("17117.59672558");
    expect(toDecimalString(multiply(d("0.000000000000000001"), d("3")))).toBe(
      "0.000000000000000003",
    );
  });
  it("gives signs and ratios", () => {
    expect(sign(d("-0.01"))).toBe(-1);
    expect(sign(d("0.00"))).toBe(0);
    expect(sign(d("3"))).toBe(1);
    expect(ratio(d("-50"), d("200"))).toBe(-0.25);
    expect(ratio(d("1"), d("0"))).toBeNull();
  });
});

describe("formatDecimal", () => {
  it("groups the digits in the reader's locale and drops none", () => {
    expect(formatDecimal("1234567.123456789012345678", { locale: "en-US" })).toBe(
      "1,234,567.123456789012345678",
    );
    expect(formatDecimal("1234.5", { locale: "de-DE" })).toBe("1.234,5");
  });
  it("signs when asked and dashes what is missing", () => {
    expect(formatDecimal("2", { locale: "en-US", signed: true })).toBe("+2");
    expect(formatDecimal(null)).toBe("—");
    expect(formatDecimal("oops")).toBe("—");
  });
});

describe("formatMoney", () => {
  it("rounds to cents on the decimal itself", () => {
    expect(formatMoney("21001.5617283945", { locale: "en-US" })).toBe("$21,001.56");
    // 1.005 is 1.00499999999999989... as a double, which a float would round to 1.00.
    expect(formatMoney("1.005", { locale: "en-US" })).toBe("$1.01");
    expect(formatMoney("-3883.9650027545", { locale: "en-US", signed: true })).toBe("-$3,883.97");
    expect(formatMoney("12", { locale: "en-US", signed: true })).toBe("+$12.00");
  });
  it("keeps two to four significant digits below a dollar", () => {
    expect(formatMoney("0.00001234567", { locale: "en-US" })).toBe("$0.00001235");
    expect(formatMoney("0.5", { locale: "en-US" })).toBe("$0.50");
    expect(formatMoney("-0.5", { locale: "en-US", signed: true })).toBe("-$0.50");
  });
  it("shows a price as formatPrice does", () => {
    for (const value of ["0.5", "0.05", "0.123456", "0.00001234", "0", "1", "64123.456", "-0.5", "-2.345"]) {
      expect(formatMoney(value, { locale: "en-US" })).toBe(formatPrice(Number(value), { locale: "en-US" }));
    }
  });
  it("shows every digit that was typed when exact", () => {
    expect(formatMoney("42000.123456789", { locale: "en-US", exact: true })).toBe(
      "$42,000.123456789",
    );
    expect(formatMoney("1.5", { locale: "en-US", exact: true })).toBe("$1.50");
    expect(formatMoney("0", { locale: "en-US" })).toBe("$0.00");
  });
});
