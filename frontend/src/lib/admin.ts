// Pure helpers of the admin page: durations, byte sizes, state → badge variant, JSON
// summaries, the tab in the URL and the "run with arguments" parser.

export const ADMIN_TABS = ["sync", "tasks", "models", "monitoring", "users", "system"] as const;
export type AdminTab = (typeof ADMIN_TABS)[number];

/** The tab named by `?tab=` (any case), or the first one for anything else. */
export function parseTab(value: string | null | undefined): AdminTab {
  const wanted = (value ?? "").trim().toLowerCase();
  return (ADMIN_TABS as readonly string[]).includes(wanted) ? (wanted as AdminTab) : "sync";
}

/** A tab's visible name: "monitoring" → "Monitoring". */
export function tabLabel(tab: AdminTab): string {
  return tab.charAt(0).toUpperCase() + tab.slice(1);
}

/** Seconds as a short duration: 0.42 → "420 ms", 75 → "1 min 15 s", 90061 → "1 d 1 h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return "—";
  }
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 10) return `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  const units: [string, number][] = [
    ["d", 86400],
    ["h", 3600],
    ["min", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  let rest = whole;
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || parts.length > 0) parts.push(`${count} ${unit}`);
    if (parts.length === 2) break;
  }
  return parts.filter((part) => !part.startsWith("0 ")).join(" ");
}

/** Seconds from `startIso` to `endIso` (or to `now` while still going); null if unknown. */
export function secondsBetween(
  startIso: string | null | undefined,
  endIso: string | null | undefined,
  now: number = Date.now(),
): number | null {
  if (!startIso) return null;
  const start = new Date(startIso).getTime();
  const end = endIso ? new Date(endIso).getTime() : now;
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  return Math.max(0, (end - start) / 1000);
}

/** A schedule period: null → "On demand", 300 → "Every 5 min", 3600 → "Every 1 h". */
export function formatPeriod(everySeconds: number | null | undefined): string {
  if (everySeconds === null || everySeconds === undefined) return "On demand";
  return `Every ${formatDuration(everySeconds)}`;
}

/** A byte count in binary units: 1536 → "1.5 KiB", 25276182528 → "23.5 GiB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

export type BadgeVariant = "default" | "secondary" | "outline" | "positive" | "negative" | "warning";

const VARIANTS: Record<string, BadgeVariant> = {
  // task runs and sync runs
  succeeded: "positive",
  failed: "negative",
  queued: "warning",
  running: "warning",
  retrying: "warning",
  partial: "warning",
  skipped: "secondary",
  revoked: "secondary",
  // models and their events
  production: "positive",
  promoted: "positive",
  candidate: "outline",
  archived: "secondary",
  demoted: "negative",
  // circuit breaker
  closed: "positive",
  half_open: "warning",
  open: "negative",
  // users
  admin: "default",
  user: "outline",
};

/** The badge colour of a task, sync, model, event, breaker or role state. */
export function stateVariant(state: string | null | undefined): BadgeVariant {
  return (state && VARIANTS[state]) || "outline";
}

/** A state as words: "half_open" → "half open". */
export function stateLabel(state: string | null | undefined): string {
  return state ? state.replaceAll("_", " ") : "—";
}

const PENDING = new Set(["queued", "running", "retrying"]);

/** Whether a task run (or sync run) has not reached a final state yet. */
export function isPending(state: string | null | undefined): boolean {
  return state !== null && state !== undefined && PENDING.has(state);
}

/** Whether a task may still be revoked (queued, running, or waiting for a retry). */
export function canRevoke(state: string | null | undefined): boolean {
  return isPending(state);
}

interface AttemptRow {
  task_id: string;
  attempt: number;
  status: string;
}

/** Each task's newest attempt among `rows`, as `task_id:attempt` keys. */
export function newestAttempts(rows: readonly AttemptRow[]): Set<string> {
  const newest = new Map<string, number>();
  for (const row of rows) {
    newest.set(row.task_id, Math.max(row.attempt, newest.get(row.task_id) ?? 0));
  }
  return new Set([...newest].map(([taskId, attempt]) => `${taskId}:${attempt}`));
}

/** Whether a row of the runs list is still pending: each attempt is a row, and an older
 * attempt stays `retrying` after the next one ran, so `retrying` counts only on the newest. */
export function rowPending(row: AttemptRow, newest: Set<string>): boolean {
  if (row.status === "retrying") return newest.has(`${row.task_id}:${row.attempt}`);
  return isPending(row.status);
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  }
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.length}]`;
  return "{…}";
}

/** One line from a JSON object for a table cell: `rows: 12, coin: bitcoin, …`. */
export function summarizeJson(value: unknown, maxLength = 80): string {
  if (value === null || value === undefined) return "—";
  let text: string;
  if (Array.isArray(value)) {
    if (value.length === 0) return "—";
    text = value.map(scalar).join(", ");
  } else if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return "—";
    text = entries.map(([key, item]) => `${key}: ${scalar(item)}`).join(", ");
  } else {
    text = scalar(value);
  }
  return text.length > maxLength ? `${text.slice(0, Math.max(1, maxLength - 1))}…` : text;
}

/** JSON indented for a <pre>, or "—" for nothing. */
export function prettyJson(value: unknown): string {
  if (value === null || value === undefined) return "—";
  return JSON.stringify(value, null, 2);
}

export type ParsedArgs = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

/** A task's keyword arguments typed as JSON; blank means none. */
export function parseArgs(text: string): ParsedArgs {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: true, value: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return { ok: false, error: 'Not valid JSON. Write an object such as {"coin_id": "bitcoin"}.' };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { ok: false, error: 'Arguments must be a JSON object such as {"coin_id": "bitcoin"}.' };
  }
  return { ok: true, value: parsed as Record<string, unknown> };
}

/** Tokens left as a share of capacity (0–100), for the limiter's meter. */
export function tokenShare(tokens: number, capacity: number): number {
  if (!Number.isFinite(tokens) || !Number.isFinite(capacity) || capacity <= 0) return 0;
  return Math.min(100, Math.max(0, (tokens / capacity) * 100));
}

const LOCATIONS = new Set(["body", "query", "path", "args"]);

/** The invalid fields of a 422 answer's details, as "coin_id: Field required" lines. */
export function validationLines(details: unknown): string[] {
  if (!Array.isArray(details)) return [];
  const lines: string[] = [];
  for (const item of details) {
    if (item === null || typeof item !== "object") continue;
    const { loc, msg } = item as { loc?: unknown; msg?: unknown };
    if (typeof msg !== "string") continue;
    const path = Array.isArray(loc)
      ? loc.filter((part, index) => !(index === 0 && LOCATIONS.has(String(part)))).join(".")
      : "";
    lines.push(path ? `${path}: ${msg}` : msg);
  }
  return lines;
}
