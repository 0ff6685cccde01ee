import { describe, expect, it } from "vitest";
import {
  KIND_LABELS,
  TRANSACTION_KINDS,
  emptyForm,
  formFromTransaction,
  isoToLocalInput,
  newestFirstWindow,
  localInputToIso,
  needsPrice,
  offsetLabel,
  transactionBody,
  type Transaction,
} from "./transactions";

const paris = () => -60; // getTimezoneOffset() in Paris in winter
const newYork = () => 300;
const kolkata = () => -330;

describe("localInputToIso", () => {
  it("writes the reader's offset at that moment", () => {
    expect(localInputToIso("2024-01-02T10:00", paris)).toBe("2024-01-02T10:00:00+01:00");
    expect(localInputToIso("2024-01-02T10:00", newYork)).toBe("2024-01-02T10:00:00-05:00");
    expect(localInputToIso("2024-01-02T10:00:30", kolkata)).toBe("2024-01-02T10:00:30+05:30");
    expect(localInputToIso("2024-01-02T10:00", () => 0)).toBe("2024-01-02T10:00:00+00:00");
  });
  it("asks for the offset of the local time typed, not of now", () => {
    const seen: Date[] = [];
    localInputToIso("2023-07-14T22:15", (local) => {
      seen.push(local);
      return 0;
    });
    expect(seen[0]?.getFullYear()).toBe(2023);
    expect(seen[0]?.getMonth()).toBe(6);
    expect(seen[0]?.getHours()).toBe(22);
  });
  it("gives null for what a datetime-local input would not hold", () => {
    expect(localInputToIso("")).toBeNull();
    expect(localInputToIso("yesterday")).toBeNull();
  });
  it("round-trips with isoToLocalInput in the machine's own zone", () => {
    const iso = localInputToIso("2024-03-05T08:07");
    expect(iso).not.toBeNull();
    expect(isoToLocalInput(iso ?? "")).toBe("2024-03-05T08:07");
    expect(new Date(iso ?? "").getTime()).toBe(new Date(2024, 2, 5, 8, 7).getTime());
  });
});

describe("offsetLabel", () => {
  it("signs east of UTC with +", () => {
    expect(offsetLabel(-120)).toBe("+02:00");
    expect(offsetLabel(570)).toBe("-09:30");
  });
});

describe("kinds", () => {
  it("offers every kind of the schema with a label", () => {
    expect(TRANSACTION_KINDS).toEqual(["buy", "sell", "transfer_in", "transfer_out"]);
    expect(KIND_LABELS.transfer_out).toBe("Transfer out");
  });
  it("needs a price for trades only", () => {
    expect(needsPrice("buy")).toBe(true);
    expect(needsPrice("sell")).toBe(true);
    expect(needsPrice("transfer_in")).toBe(false);
  });
});

describe("transactionBody", () => {
  it("sends decimals as typed and the time with its offset", () => {
    const body = transactionBody(
      {
        kind: "buy",
        coin: "bitcoin",
        quantity: " 0.123456789012345678 ",
        price: "42000.5",
        fee: "1.25",
        executedAt: "2024-01-02T10:00",
        note: "  first  ",
      },
      paris,
    );
    expect(body).toEqual({
      kind: "buy",
      coin: "bitcoin",
      quantity: "0.123456789012345678",
      price: "42000.5",
      fee: "1.25",
      executed_at: "2024-01-02T10:00:00+01:00",
      note: "first",
    });
  });
  it("sends an empty price as null, an empty fee as 0 and an empty note as null", () => {
    const body = transactionBody({ ...emptyForm("ethereum"), kind: "transfer_in", quantity: "2" });
    expect(body.price).toBeNull();
    expect(body.fee).toBe("0");
    expect(body.note).toBeNull();
    expect(body.coin).toBe("ethereum");
  });
  it("leaves an unreadable time for the API to refuse", () => {
    expect(transactionBody({ ...emptyForm("x"), executedAt: "soon" }).executed_at).toBe("soon");
  });
});

describe("formFromTransaction", () => {
  it("fills the form from a recorded transaction", () => {
    const transaction: Transaction = {
      id: 1,
      portfolio_id: 1,
      coin: { id: 1, coingecko_id: "bitcoin", symbol: "btc", name: "Bitcoin" },
      kind: "transfer_in",
      quantity: "0.5",
      price: null,
      fee: "0",
      executed_at: new Date(2024, 0, 2, 10, 0).toISOString(),
      note: null,
      created_at: "2024-01-02T09:00:00Z",
    };
    expect(formFromTransaction(transaction)).toEqual({
      kind: "transfer_in",
      coin: "bitcoin",
      quantity: "0.5",
      price: "",
      fee: "",
      executedAt: "2024-01-02T10:00",
      note: "",
    });
  });
  it("starts a new one as a buy now", () => {
    const form = emptyForm("bitcoin", new Date(2025, 4, 6, 7, 8, 9));
    expect(form.kind).toBe("buy");
    expect(form.executedAt).toBe("2025-05-06T07:08");
  });
});

describe("newestFirstWindow", () => {
  it("takes the newest rows first, the oldest page short", () => {
    expect(newestFirstWindow(23, 0, 20)).toEqual({ offset: 3, limit: 20 });
    expect(newestFirstWindow(23, 1, 20)).toEqual({ offset: 0, limit: 3 });
    expect(newestFirstWindow(40, 1, 20)).toEqual({ offset: 0, limit: 20 });
    expect(newestFirstWindow(5, 0, 20)).toEqual({ offset: 0, limit: 5 });
  });
  it("is empty past the oldest row or without rows", () => {
    expect(newestFirstWindow(23, 2, 20)).toEqual({ offset: 0, limit: 0 });
    expect(newestFirstWindow(0, 0, 20)).toEqual({ offset: 0, limit: 0 });
  });
});
