// Exact decimal arithmetic for money and quantities. The API sends amounts as decimal
// strings ("0.123456789012345678"); going through a float would change their digits, so
// sums and products are done on BigInt units with a decimal scale, and formatting hands
// the exact string to Intl.NumberFormat (which formats decimal strings without rounding
// through a double).
import { priceDigits, type FormatOptions } from "./format";

/** A decimal number: `units` × 10^-`scale`. */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

const PLAIN = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** A decimal from a string ("-12.50", "1e-7") or a finite number (by its shortest repr). */
export function parseDecimal(value: string | number | null | undefined): Decimal | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  const match = PLAIN.exec(String(value).trim());
  if (!match) return null;
  const [, sign = "", whole = "0", fraction = "", exponent = "0"] = match;
  let units = BigInt(whole + fraction);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: sign === "-" ? -units : units, scale };
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [
    a.units * 10n ** BigInt(scale - a.scale),
    b.units * 10n ** BigInt(scale - b.scale),
    scale,
  ];
}

export function add(a: Decimal, b: Decimal): Decimal {
  const [x, y, scale] = align(a, b);
  return { units: x + y, scale };
}

export function subtract(a: Decimal, b: Decimal): Decimal {
  const [x, y, scale] = align(a, b);
  return { units: x - y, scale };
}

export function multiply(a: Decimal, b: Decimal): Decimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** Negative, zero or positive. */
export function sign(value: Decimal): -1 | 0 | 1 {
  return value.units < 0n ? -1 : value.units > 0n ? 1 : 0;
}

/** The plain decimal string, trailing fraction zeros dropped ("42003.1", "-0.5", "0"). */
export function toDecimalString(value: Decimal): string {
  const negative = value.units < 0n;
  let digits = (negative ? -value.units : value.units).toString();
  if (value.scale > 0) {
    digits = digits.padStart(value.scale + 1, "0");
    const whole = digits.slice(0, -value.scale);
    const fraction = digits.slice(-value.scale).replace(/0+$/, "");
    digits = fraction ? `${whole}.${fraction}` : whole;
  }
  return negative && digits !== "0" ? `-${digits}` : digits;
}

/** a / b as a float, for ratios and percentages (null when b is zero). */
export function ratio(a: Decimal, b: Decimal): number | null {
  if (b.units === 0n) return null;
  return Number(toDecimalString(a)) / Number(toDecimalString(b));
}

type Amount = Decimal | string | number | null | undefined;

function asString(value: Amount): `${number}` | null {
  const decimal = typeof value === "object" && value !== null ? value : parseDecimal(value);
  return decimal === null ? null : (toDecimalString(decimal) as `${number}`);
}

// Intl allows at most 20 fraction digits in older engines; the API rounds to 18.
const MAX_DIGITS = 20;

/** Every digit of a decimal amount, grouped in the reader's locale ("0.123456789012345678"). */
export function formatDecimal(
  value: Amount,
  options: FormatOptions & { maximumFractionDigits?: number; signed?: boolean } = {},
): string {
  const exact = asString(value);
  if (exact === null) return "—";
  return new Intl.NumberFormat(options.locale, {
    maximumFractionDigits: Math.min(options.maximumFractionDigits ?? MAX_DIGITS, MAX_DIGITS),
    signDisplay: options.signed ? "exceptZero" : "auto",
  }).format(exact);
}

/**
 * An amount in USD from a decimal string. `exact`: every digit given (at least cents), for
 * what the user typed; otherwise the digits of formatPrice (priceDigits), rounded half away
 * from zero on the decimal itself (never through a float).
 */
export function formatMoney(
  value: Amount,
  options: FormatOptions & { exact?: boolean; signed?: boolean } = {},
): string {
  const exact = asString(value);
  if (exact === null) return "—";
  // The float only picks the rule (is it below a dollar?); the digits come from the string.
  const digits: Intl.NumberFormatOptions = options.exact
    ? { minimumFractionDigits: 2, maximumFractionDigits: MAX_DIGITS }
    : priceDigits(Math.abs(Number(exact)));
  return new Intl.NumberFormat(options.locale, {
    style: "currency",
    currency: "USD",
    signDisplay: options.signed ? "exceptZero" : "auto",
    ...digits,
  }).format(exact);
}
