// Requests a page starts from an inline script in its HTML, before any of its JavaScript has
// loaded, so the data travels while the bundles download and compile. The API client's
// fetch takes such an answer (once) for the same GET instead of asking again.

/** An early answer nobody took this soon is not used (it could be old by then). */
export const EARLY_FOR_MS = 10_000;

const GLOBAL = "__cryptopredictEarly";

/** What a page asks for early: addresses with `{name}` holes filled from its query. */
export interface EarlyPlan {
  /** Site-relative addresses, e.g. `/api/v1/coins/{id}`. */
  urls: readonly string[];
  /** A hole filled with the query parameter of its name, URL-encoded and trimmed; a plan
   * whose parameter is missing or blank starts nothing. */
  params: readonly string[];
  /** A hole filled by table: the query parameter's value (lower-cased) picks the text, the
   * "" entry when it is missing or not in the table. */
  choices: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

interface EarlyAnswers {
  at: number;
  answers: Record<string, Promise<Response>>;
}

/** Where an address's answer is filed: its path and query, as the URL parser writes them. */
function slot(url: string, base: string): string {
  const parsed = new URL(url, base);
  return parsed.pathname + parsed.search;
}

/** Runs inline in the page (so it is written in plain, self-contained script). */
function startEarly(plan: EarlyPlan, global: string): void {
  try {
    const query = new URLSearchParams(location.search);
    const fills: Record<string, string> = {};
    for (const name of plan.params) {
      const value = (query.get(name) ?? "").trim();
      if (!value) return;
      fills[name] = encodeURIComponent(value);
    }
    for (const name of Object.keys(plan.choices)) {
      const table = plan.choices[name] ?? {};
      const wanted = (query.get(name) ?? "").toLowerCase();
      fills[name] = Object.prototype.hasOwnProperty.call(table, wanted)
        ? (table[wanted] ?? "")
        : (table[""] ?? "");
    }
    const early: EarlyAnswers = { at: Date.now(), answers: {} };
    for (const template of plan.urls) {
      const url = template.replace(/\{(\w+)\}/g, (hole, name: string) => fills[name] ?? hole);
      const parsed = new URL(url, location.href);
      const answer = fetch(parsed.href, { credentials: "same-origin" });
      answer.catch(() => undefined); // whoever takes it sees the failure
      early.answers[parsed.pathname + parsed.search] = answer;
    }
    (window as unknown as Record<string, EarlyAnswers>)[global] = early;
  } catch {
    // An old browser or an odd address: the page asks again as it loads.
  }
}

/** The inline script that starts `plan`'s requests, for a `<script>` in the page's HTML. */
export function earlyScript(plan: EarlyPlan): string {
  // JSON inside a <script>: "<" is escaped so no value can close the element.
  const json = JSON.stringify(plan).replace(/</g, "\\u003c");
  return `(${startEarly.toString()})(${json},${JSON.stringify(GLOBAL)})`;
}

/** The early answer for this GET, taken once; undefined when there is none (or it is old).
 * The early requests went without a token, so one sent with a token is not answered. */
export function takeEarly(request: Request, now = Date.now()): Promise<Response> | undefined {
  if (request.method !== "GET" || request.headers.has("Authorization")) return undefined;
  const early = (globalThis as unknown as Record<string, EarlyAnswers | undefined>)[GLOBAL];
  if (!early) return undefined;
  const key = slot(request.url, "http://localhost");
  const answer = early.answers[key];
  if (answer === undefined) return undefined;
  delete early.answers[key];
  return now - early.at < EARLY_FOR_MS ? answer : undefined;
}

/** `fetch` that first looks for the request's early answer. */
export function fetchTakingEarly(request: Request): Promise<Response> {
  return takeEarly(request) ?? fetch(request);
}
