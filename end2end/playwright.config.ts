import { defineConfig } from "@playwright/test";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { execFileSync } from "node:child_process";

// Each run starts the real server on a fresh SQLite database of its own.
const port = Number(process.env.TOLLGATE_E2E_PORT ?? 3100);
// Set once in the main process; the workers inherit it (they evaluate this file again).
process.env.TOLLGATE_E2E_DATA ??= fs.mkdtempSync(path.join(os.tmpdir(), "tollgate-e2e-"));
export const dataDir = process.env.TOLLGATE_E2E_DATA;
// A throwaway CA and a certificate for 127.0.0.1: the OAuth test serves a client metadata
// document over https with it, and the server trusts the CA (made once, like the data dir).
export const tlsDir = path.join(dataDir, "tls");
if (!fs.existsSync(path.join(tlsDir, "leaf.pem"))) {
  execFileSync(path.join(__dirname, "..", "scripts", "test-tls"), [tlsDir]);
}
export const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "off",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
    },
  },
  webServer: {
    command: "./target/debug/tollgate",
    cwd: "..",
    url: `${baseURL}/signin`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    env: {
      DATABASE_URL: `sqlite://${dataDir}/tollgate.db`,
      TOLLGATE_ADDR: `127.0.0.1:${port}`,
      RUST_LOG: "warn",
      // Every spec signs up its own users from 127.0.0.1: more than the default 10 an hour.
      TOLLGATE_SIGN_UPS_PER_IP: "1000",
      // The OAuth client metadata document is served on loopback with the test CA's certificate.
      TOLLGATE_OUTBOUND_CA_FILE: path.join(tlsDir, "ca.pem"),
      TOLLGATE_CLIENT_DOCUMENT_ALLOW: "127.0.0.0/8",
    },
  },
});
