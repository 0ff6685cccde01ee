import { defineConfig } from "vitest/config";

// Browser tests: playwright-core drives Debian's chromium against a real server on the
// embedded default (SQLite, no Redis) with the offline snapshot, started by global-setup.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    globalSetup: ["e2e/global-setup.ts"],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
