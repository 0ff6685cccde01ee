// A portfolio transaction as a form edits it: every input is a string, the request body
// is what the API takes (decimal strings, ISO time with the reader's UTC offset).
import type { Schemas } from "./api/client";

export type TransactionKind = Schemas["TransactionKind"];
export type Transaction = Schemas["TransactionRead"];

/** A label for every kind the schema allows (the Record makes a new kind a type error). */
export const KIND_LABELS: Record<TransactionKind, string> = {
  buy: "Buy",
  sell: "Sell",
  transfer_in: "Transfer in",
  transfer_out: "Transfer out",
};

/** The kinds in the order a form offers them. */
export const TRANSACTION_KINDS = Object.keys(KIND_LABELS) as TransactionKind[];

/** Buys and sells need a price; a transfer's is optional (without it its cost is unknown). */
export function needsPrice(kind: TransactionKind): boolean {
  return kind === "buy" || kind === "sell";
}

export interface TransactionForm {
  kind: TransactionKind;
  coin: string;
  quantity: string;
  price: string;
  fee: string;
  executedAt: string; // a datetime-local value, "2024-01-02T10:00"
  note: string;
}

export type TransactionField = "kind" | "coin" | "quantity" | "price" | "fee" | "executed_at" | "note";
export const TRANSACTION_FIELDS: readonly TransactionField[] = [
  "kind",
  "coin",
  "quantity",
  "price",
  "fee",
  "executed_at",
  "note",
];

function pad(value: number, width = 2): string {
  return String(Math.trunc(value)).padStart(width, "0");
}

/** "+02:00" for an offset of -120 minutes as Date#getTimezoneOffset gives it. */
export function offsetLabel(timezoneOffsetMinutes: number): string {
  const east = -timezoneOffsetMinutes;
  const size = Math.abs(east);
  return `${east < 0 ? "-" : "+"}${pad(size / 60)}:${pad(size % 60)}`;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/;

/**
 * A datetime-local value as ISO 8601 with the reader's offset at that moment
 * ("2024-01-02T10:00" → "2024-01-02T10:00:00+01:00" in Paris), or null if it is not one.
 */
export function localInputToIso(
  value: string,
  offsetAt: (local: Date) => number = (local) => local.getTimezoneOffset(),
): string | null {
  const match = LOCAL.exec(value.trim());
  if (!match) return null;
  const [, year = "", month = "", day = "", hour = "", minute = "", second = "00"] = match;
  const local = new Date(+year, +month - 1, +day, +hour, +minute, +second);
  if (Number.isNaN(local.getTime())) return null;
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${offsetLabel(offsetAt(local))}`;
}

/** An instant as a datetime-local value in the reader's zone (to minutes). */
export function isoToLocalInput(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** An empty form: a buy now, of the first coin offered. */
export function emptyForm(coin = "", now: Date = new Date()): TransactionForm {
  return {
    kind: "buy",
    coin,
    quantity: "",
    price: "",
    fee: "",
    executedAt: isoToLocalInput(now.toISOString()),
    note: "",
  };
}

/** A recorded transaction in the form, to edit it. */
export function formFromTransaction(transaction: Transaction): TransactionForm {
  return {
    kind: transaction.kind,
    coin: transaction.coin.coingecko_id,
    quantity: transaction.quantity,
    price: transaction.price ?? "",
    fee: transaction.fee === "0" ? "" : transaction.fee,
    executedAt: isoToLocalInput(transaction.executed_at),
    note: transaction.note ?? "",
  };
}

export type TransactionBody = Schemas["TransactionCreate"];

/**
 * The request body. Inputs go as typed (trimmed), so the API's validation speaks for
 * them; an empty price is null, an empty fee 0, an empty note null.
 */
export function transactionBody(
  form: TransactionForm,
  offsetAt?: (local: Date) => number,
): TransactionBody {
  const note = form.note.trim();
  const price = form.price.trim();
  return {
    kind: form.kind,
    coin: form.coin,
    quantity: form.quantity.trim(),
    price: price === "" ? null : price,
    fee: form.fee.trim() === "" ? "0" : form.fee.trim(),
    // An unreadable time goes as typed: the API's message then says what is wrong.
    executed_at: localInputToIso(form.executedAt, offsetAt) ?? form.executedAt,
    note: note === "" ? null : note,
  };
}

/**
 * The API lists transactions oldest first, with no other order. To show the newest first,
 * page `index` (0: the newest) of `size` rows is this slice of the API's order, reversed.
 */
export function newestFirstWindow(
  total: number,
  index: number,
  size: number,
): { offset: number; limit: number } {
  const end = total - index * size;
  if (end <= 0) return { offset: 0, limit: 0 };
  const offset = Math.max(0, end - size);
  return { offset, limit: end - offset };
}
