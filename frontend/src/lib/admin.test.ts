import { describe, expect, it } from "vitest";
import {
  canRevoke,
  formatBytes,
  formatDuration,
  formatPeriod,
  isPending,
  newestAttempts,
  parseArgs,
  parseTab,
  prettyJson,
  rowPending,
  secondsBetween,
  stateLabel,
  stateVariant,
  summarizeJson,
  tabLabel,
  tokenShare,
  validationLines,
} from "./admin";

describe("parseTab", () => {
  it("accepts each tab in any case and falls back to sync", () => {
    expect(parseTab("tasks")).toBe("tasks");
    expect(parseTab(" Users ")).toBe("users");
    expect(parseTab("nope")).toBe("sync");
    expect(parseTab(null)).toBe("sync");
    expect(parseTab(undefined)).toBe("sync");
  });

  it("names tabs as the page shows them", () => {
    expect(tabLabel("monitoring")).toBe("Monitoring");
    expect(tabLabel("sync")).toBe("Sync");
  });
});

describe("formatDuration", () => {
  it("uses milliseconds below a second and tenths below ten", () => {
    expect(formatDuration(0.42)).toBe("420 ms");
    expect(formatDuration(0)).toBe("0 ms");
    expect(formatDuration(3.14)).toBe("3.1 s");
    expect(formatDuration(12.4)).toBe("12 s");
  });

  it("keeps the two largest units and drops a zero second unit", () => {
    expect(formatDuration(75)).toBe("1 min 15 s");
    expect(formatDuration(300)).toBe("5 min");
    expect(formatDuration(3600)).toBe("1 h");
    expect(formatDuration(3700)).toBe("1 h 1 min");
    expect(formatDuration(90061)).toBe("1 d 1 h");
    expect(formatDuration(604800)).toBe("7 d");
  });

  it("shows a dash for what is unknown", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(undefined)).toBe("—");
    expect(formatDuration(Number.NaN)).toBe("—");
    expect(formatDuration(-1)).toBe("—");
  });
});

describe("secondsBetween", () => {
  it("measures finished and running spans", () => {
    expect(secondsBetween("2026-01-01T00:00:00Z", "2026-01-01T00:01:30Z")).toBe(90);
    const now = Date.parse("2026-01-01T00:00:10Z");
    expect(secondsBetween("2026-01-01T00:00:00Z", null, now)).toBe(10);
  });

  it("gives null without a start or with a bad date", () => {
    expect(secondsBetween(null, "2026-01-01T00:00:00Z")).toBeNull();
    expect(secondsBetween("garbage", "2026-01-01T00:00:00Z")).toBeNull();
  });
});

describe("formatPeriod", () => {
  it("names on-demand tasks and periods", () => {
    expect(formatPeriod(null)).toBe("On demand");
    expect(formatPeriod(300)).toBe("Every 5 min");
    expect(formatPeriod(86400)).toBe("Every 1 d");
  });
});

describe("formatBytes", () => {
  it("uses binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(278749184)).toBe("266 MiB");
    expect(formatBytes(25276182528)).toBe("23.5 GiB");
    expect(formatBytes(null)).toBe("—");
  });
});

describe("stateVariant", () => {
  it("colours final, pending and neutral states", () => {
    expect(stateVariant("succeeded")).toBe("positive");
    expect(stateVariant("failed")).toBe("negative");
    expect(stateVariant("running")).toBe("warning");
    expect(stateVariant("partial")).toBe("warning");
    expect(stateVariant("revoked")).toBe("secondary");
    expect(stateVariant("production")).toBe("positive");
    expect(stateVariant("demoted")).toBe("negative");
    expect(stateVariant("open")).toBe("negative");
    expect(stateVariant("half_open")).toBe("warning");
    expect(stateVariant("closed")).toBe("positive");
  });

  it("falls back to outline for the unknown", () => {
    expect(stateVariant("something_new")).toBe("outline");
    expect(stateVariant(null)).toBe("outline");
  });

  it("writes states as words", () => {
    expect(stateLabel("half_open")).toBe("half open");
    expect(stateLabel(undefined)).toBe("—");
  });
});

describe("isPending / canRevoke", () => {
  it("holds for queued, running and retrying only", () => {
    for (const state of ["queued", "running", "retrying"]) {
      expect(isPending(state)).toBe(true);
      expect(canRevoke(state)).toBe(true);
    }
    for (const state of ["succeeded", "failed", "skipped", "revoked", null]) {
      expect(isPending(state)).toBe(false);
    }
  });
});

describe("rowPending", () => {
  const rows = [
    { task_id: "a", attempt: 3, status: "running" },
    { task_id: "a", attempt: 2, status: "retrying" },
    { task_id: "a", attempt: 1, status: "retrying" },
    { task_id: "b", attempt: 2, status: "retrying" },
    { task_id: "b", attempt: 1, status: "retrying" },
    { task_id: "c", attempt: 1, status: "succeeded" },
    { task_id: "d", attempt: 1, status: "queued" },
  ];
  const newest = newestAttempts(rows);

  it("keys each task's newest attempt", () => {
    expect([...newest].sort()).toEqual(["a:3", "b:2", "c:1", "d:1"]);
  });

  it("counts retrying only on the newest attempt", () => {
    expect(rows.map((row) => rowPending(row, newest))).toEqual([
      true,
      false,
      false,
      true,
      false,
      false,
      true,
    ]);
  });
});

describe("summarizeJson", () => {
  it("lists keys with short scalars", () => {
    expect(summarizeJson({ rows: 12, coin: "bitcoin", ok: true })).toBe(
      "rows: 12, coin: bitcoin, ok: true",
    );
    expect(summarizeJson({ mae: 0.123456789, list: [1, 2, 3], nested: { a: 1 }, none: null })).toBe(
      "mae: 0.1235, list: [3], nested: {…}, none: null",
    );
  });

  it("cuts long summaries with an ellipsis", () => {
    const text = summarizeJson({ message: "x".repeat(200) }, 20);
    expect(text).toHaveLength(20);
    expect(text.endsWith("…")).toBe(true);
  });

  it("shows a dash for nothing", () => {
    expect(summarizeJson(null)).toBe("—");
    expect(summarizeJson({})).toBe("—");
    expect(summarizeJson([])).toBe("—");
  });

  it("indents JSON for the detail view", () => {
    expect(prettyJson({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(prettyJson(null)).toBe("—");
  });
});

describe("parseArgs", () => {
  it("reads an object and treats blank as no arguments", () => {
    expect(parseArgs("")).toEqual({ ok: true, value: {} });
    expect(parseArgs(' {"coin_id": "bitcoin"} ')).toEqual({ ok: true, value: { coin_id: "bitcoin" } });
  });

  it("refuses what is not a JSON object", () => {
    expect(parseArgs("{coin: bitcoin}").ok).toBe(false);
    expect(parseArgs("[1, 2]").ok).toBe(false);
    expect(parseArgs("null").ok).toBe(false);
    expect(parseArgs("3").ok).toBe(false);
  });
});

describe("tokenShare", () => {
  it("is the share of capacity, clamped", () => {
    expect(tokenShare(1.5, 3)).toBe(50);
    expect(tokenShare(5, 3)).toBe(100);
    expect(tokenShare(-1, 3)).toBe(0);
    expect(tokenShare(1, 0)).toBe(0);
  });
});

describe("validationLines", () => {
  it("names each invalid field without the request location", () => {
    expect(
      validationLines([
        { loc: ["coin_id"], msg: "Field required", type: "missing" },
        { loc: ["query", "state"], msg: "Input should be 'queued'", type: "enum" },
        { loc: ["body", "args", "x"], msg: "Extra inputs are not permitted", type: "extra_forbidden" },
        { msg: "Whole body wrong" },
      ]),
    ).toEqual([
      "coin_id: Field required",
      "state: Input should be 'queued'",
      "args.x: Extra inputs are not permitted",
      "Whole body wrong",
    ]);
  });

  it("ignores details that are not a list of field errors", () => {
    expect(validationLines(null)).toEqual([]);
    expect(validationLines({ task: "nope" })).toEqual([]);
    expect(validationLines([null, 3, { loc: ["x"] }])).toEqual([]);
  });
});
