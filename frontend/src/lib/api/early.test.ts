// The Coin page's inline script asks for exactly what the page's own requests then ask
// for: run the real script, then the real client, and see who went to the network.
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { RANGES, rangeSpec } from "../charts/range";
import { EARLY_FOR_MS, earlyScript, takeEarly, type EarlyPlan } from "./early";

const ORIGIN = "http://127.0.0.1:8000";

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
}

/** What each address answers: enough of each shape for the page's loaders. */
function answerFor(url: string): Response {
  if (url.includes("/history")) return json({ points: [], truncated: false });
  return json({ from: url });
}

/** The network: every address asked, in order. */
function network(): string[] {
  const asked: string[] = [];
  vi.stubGlobal("fetch", async (input: Request | string) => {
    const url = typeof input === "string" ? input : input.url;
    asked.push(url);
    return answerFor(url);
  });
  return asked;
}

/** Load `address` as a browser would run the page's inline script; the addresses it asked. */
function runInlineScript(address: string, plan: EarlyPlan): string[] {
  vi.stubGlobal("location", new URL(address));
  vi.stubGlobal("window", globalThis);
  const asked = network();
  new Function(earlyScript(plan))();
  return asked;
}

// The client resolves its site-relative addresses against the page (as a browser does).
class PageRequest extends Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === "string" ? new URL(input, ORIGIN) : input, init);
  }
}

let coin: typeof import("./coin");
beforeAll(async () => {
  vi.stubGlobal("Request", PageRequest);
  coin = await import("./coin");
  vi.unstubAllGlobals();
});

afterEach(() => {
  vi.unstubAllGlobals();
  delete (globalThis as Record<string, unknown>).__cryptopredictEarly;
});

/** What the Coin page asks for as it opens with `id` and `range`. */
async function openCoinPage(id: string, range: string | null) {
  vi.stubGlobal("Request", PageRequest);
  await coin.fetchCoin(id);
  await coin.fetchCoinForecasts(id);
  await coin.fetchPriceSeries(id, rangeSpec(range), "line");
}

describe("the Coin page's early requests", () => {
  const ranges = [null, "bogus", ...RANGES.map((range) => range.key), "ALL", "1y"];
  const ids = ["bitcoin", "  ethereum ", "usd coin/ü?&#"];

  it.each(ids.flatMap((id) => ranges.map((range) => [id, range] as const)))(
    "are the page's own first requests (id %j, range %j)",
    async (id, range) => {
      const query = new URLSearchParams({ id });
      if (range !== null) query.set("range", range);
      const early = runInlineScript(`${ORIGIN}/coin?${query.toString()}`, coin.COIN_PAGE_EARLY);
      expect(early).toHaveLength(3);

      const late = network();
      await openCoinPage(id.trim(), range);

      // Each early answer was taken, so the page asked the network for none of them again;
      // only an hourly range, its early answer holding no bars, then asks for daily ones.
      expect(late.filter((url) => early.includes(url))).toEqual([]);
      const fallback = rangeSpec(range).interval === "1h";
      expect(late.map((url) => new URL(url).searchParams.get("interval"))).toEqual(fallback ? ["1d"] : []);
    },
  );

  it("ask for nothing without a coin", () => {
    expect(runInlineScript(`${ORIGIN}/coin`, coin.COIN_PAGE_EARLY)).toEqual([]);
    expect(runInlineScript(`${ORIGIN}/coin?id=%20`, coin.COIN_PAGE_EARLY)).toEqual([]);
  });

  it("cannot close the script element they are written into", () => {
    const plan: EarlyPlan = { urls: ["/x?</script><script>alert(1)</script>"], params: [], choices: {} };
    expect(earlyScript(plan)).not.toContain("</script");
  });
});

describe("takeEarly", () => {
  const address = `${ORIGIN}/api/v1/coins/bitcoin`;
  const plan: EarlyPlan = { urls: ["/api/v1/coins/{id}"], params: ["id"], choices: {} };

  it("hands an answer over once", async () => {
    runInlineScript(`${ORIGIN}/coin?id=bitcoin`, plan);
    const answer = takeEarly(new Request(address));
    expect(await (await answer)?.json()).toEqual({ from: address });
    expect(takeEarly(new Request(address))).toBeUndefined();
  });

  it("leaves an old answer unused", () => {
    runInlineScript(`${ORIGIN}/coin?id=bitcoin`, plan);
    expect(takeEarly(new Request(address), Date.now() + EARLY_FOR_MS)).toBeUndefined();
  });

  it("answers no request with a token, and nothing but GET", () => {
    runInlineScript(`${ORIGIN}/coin?id=bitcoin`, plan);
    const withToken = new Request(address, { headers: { Authorization: "Bearer t" } });
    expect(takeEarly(withToken)).toBeUndefined();
    expect(takeEarly(new Request(address, { method: "POST" }))).toBeUndefined();
    expect(takeEarly(new Request(address))).toBeDefined();
  });
});
