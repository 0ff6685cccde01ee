// Numbers in the reader's locale, times in the reader's time zone (UTC in the title).
// `locale` and `timeZone` are parameters so tests can pin them.

export interface FormatOptions {
  locale?: string;
  timeZone?: string;
}

/**
 * The digits of a USD amount of `size` (its absolute value): cents from $1 up (and for
 * zero), two to four significant digits below ("$0.50", "$0.1235", "$0.00001234"). The one
 * rule for prices, used by formatPrice and by lib/decimal's formatMoney.
 */
export function priceDigits(size: number): Intl.NumberFormatOptions {
  return size >= 1 || size === 0
    ? { minimumFractionDigits: 2, maximumFractionDigits: 2 }
    : { minimumSignificantDigits: 2, maximumSignificantDigits: 4 };
}

/** A price in USD with precision that suits its size (0.00001234 and 64,123.45 alike). */
export function formatPrice(value: number | null | undefined, options: FormatOptions = {}): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return new Intl.NumberFormat(options.locale, {
    style: "currency",
    currency: "USD",
    ...priceDigits(Math.abs(value)),
  }).format(value);
}

/** A large amount in USD, compact (1.2 T, 45.3 B). */
export function formatCompactUsd(
  value: number | null | undefined,
  options: FormatOptions = {},
): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return new Intl.NumberFormat(options.locale, {
    style: "currency",
    currency: "USD",
    notation: "compact",
    maximumFractionDigits: 2,
  }).format(value);
}

/** A percentage given in percent (2.5 → "+2.50 %" in en), signed. */
export function formatPercent(
  value: number | null | undefined,
  options: FormatOptions & { signed?: boolean; digits?: number } = {},
): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const digits = options.digits ?? 2;
  return new Intl.NumberFormat(options.locale, {
    style: "percent",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: options.signed === false ? "auto" : "exceptZero",
  }).format(value / 100);
}

/** A plain number in the reader's locale. */
export function formatNumber(
  value: number | string | null | undefined,
  options: FormatOptions & { maximumFractionDigits?: number } = {},
): string {
  const number = typeof value === "string" ? Number(value) : value;
  if (number === null || number === undefined || !Number.isFinite(number)) return "—";
  return new Intl.NumberFormat(options.locale, {
    maximumFractionDigits: options.maximumFractionDigits ?? 8,
  }).format(number);
}

/** Date and time in the reader's zone. */
export function formatDateTime(iso: string | null | undefined, options: FormatOptions = {}): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return new Intl.DateTimeFormat(options.locale, {
    dateStyle: "medium",
    timeStyle: "short",
    timeZone: options.timeZone,
  }).format(date);
}

/** A date alone in the reader's zone. */
export function formatDate(iso: string | null | undefined, options: FormatOptions = {}): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "—";
  return new Intl.DateTimeFormat(options.locale, {
    dateStyle: "medium",
    timeZone: options.timeZone,
  }).format(date);
}

/** The same instant in UTC, for a title on hover: "2026-12-07 04:05 UTC". */
export function utcLabel(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** How long ago, in words ("3 hours ago", "in 2 days"). */
export function formatRelative(
  iso: string | null | undefined,
  now: number = Date.now(),
  options: FormatOptions = {},
): string {
  if (!iso) return "—";
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return "—";
  const seconds = (then - now) / 1000;
  const steps: [Intl.RelativeTimeFormatUnit, number][] = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const format = new Intl.RelativeTimeFormat(options.locale, { numeric: "auto" });
  for (const [unit, size] of steps) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(Math.round(seconds), "second");
}
