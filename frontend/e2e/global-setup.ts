// Start `cryptopredict serve` as `make run` does (SQLite in a fresh data directory, the
// offline snapshot imported, the dashboard's export at /), with an admin account, and wait
// until the first start has trained models and issued forecasts for the coin the tests open.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { ARTIFACTS, FORECAST_COIN } from "./paths";

const FRONTEND = resolve(import.meta.dirname, "..");
const ROOT = resolve(FRONTEND, "..");
const PYTHON = resolve(ROOT, ".venv", "bin", "python");
const READY_TIMEOUT_MS = 300_000;

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    adminEmail: string;
    adminPassword: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, server: ChildProcess) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited (${server.exitCode}); see e2e/artifacts/server.log`);
    if (await check().catch(() => false)) return;
    await new Promise((wait) => setTimeout(wait, 1000));
  }
  throw new Error(`timed out waiting for ${what}; see e2e/artifacts/server.log`);
}

export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(join(tmpdir(), "cryptopredict-e2e-"));
  mkdirSync(ARTIFACTS, { recursive: true });
  const adminEmail = "admin@example.com";
  const adminPassword = randomBytes(12).toString("base64url");
  const env: NodeJS.ProcessEnv = {
    NODE_ENV: "production",
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PYTHONPATH: resolve(ROOT, "src"),
    CRYPTOPREDICT_DATA_DIR: dataDir,
    CRYPTOPREDICT_WEB_DIR: resolve(FRONTEND, "out"),
    CRYPTOPREDICT_TRAINING_MODELS: "naive,drift", // quick to train: the tests need a fan, not skill
    CRYPTOPREDICT_COINGECKO_BASE_URL: "http://127.0.0.1:9/api/v3", // offline, as on this machine
  };
  const cli = (...args: string[]) =>
    execFileSync(PYTHON, ["-m", "cryptopredict.cli", ...args], { env, stdio: "pipe", timeout: 300_000 });
  cli("import-prices", "--snapshot");
  execFileSync(PYTHON, ["-m", "cryptopredict.cli", "create-admin", "--email", adminEmail], {
    env: { ...env, CRYPTOPREDICT_ADMIN_PASSWORD: adminPassword },
    stdio: "pipe",
  });

  const port = await freePort();
  const log = openSync(join(ARTIFACTS, "server.log"), "w");
  const server = spawn(PYTHON, ["-m", "cryptopredict.cli", "serve", "--port", String(port)], {
    env,
    stdio: ["ignore", log, log],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (server.exitCode === null) {
      server.kill("SIGTERM");
      await new Promise((done) => {
        const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
        server.once("exit", () => done(clearTimeout(timer)));
      });
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor("the server", async () => (await fetch(`${baseUrl}/health/live`)).ok, server);
    await waitFor(
      `forecasts for ${FORECAST_COIN}`,
      async () => (await fetch(`${baseUrl}/api/v1/forecasts/${FORECAST_COIN}`)).ok,
      server,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  project.provide("baseUrl", baseUrl);
  project.provide("adminEmail", adminEmail);
  project.provide("adminPassword", adminPassword);
  return stop;
}
