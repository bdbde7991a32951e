import { test, expect } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { baseURL } from "../playwright.config";
import { createToken, expectDashboard, screenshot, signUp, uniqueEmail } from "./helpers";

/** A real MCP client (the official TypeScript SDK), authenticated with a dashboard token. */
async function connect(token: string): Promise<Client> {
  const client = new Client({ name: "tollgate-e2e", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseURL}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

test("a dashboard token drives a real MCP client until it is revoked", async ({ page }) => {
  await signUp(page, uniqueEmail("mcp"));
  await expectDashboard(page);
  const token = await createToken(page, "sdk-client");
  expect(token).toMatch(/^tg_live_/);

  const client = await connect(token);
  expect(client.getServerVersion()?.name).toBe("tollgate");
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  expect(names).toEqual(
    expect.arrayContaining([
      "list_workspaces", "list_profiles", "get_performance_summary", "compare_periods", "top_campaigns", "top_creatives",
      "explain_campaign", "explain_customer_journey", "creative_fatigue_check", "find_anomalies",
      "whatsapp_attribution_summary", "compare_attribution_models", "check_credits",
    ]),
  );
  expect(tools.find((t) => t.name === "list_workspaces")?.annotations?.readOnlyHint).toBe(true);

  const listed = await client.callTool({ name: "list_workspaces", arguments: {} });
  expect(listed.isError).toBeFalsy();
  const workspaces = (listed.structuredContent as any).workspaces;
  expect(workspaces).toHaveLength(1);
  expect(workspaces[0].name).toBe("Main workspace");

  const credits = await client.callTool({ name: "check_credits", arguments: { workspace_id: workspaces[0].id } });
  expect(credits.isError).toBeFalsy();
  expect((credits.structuredContent as any).balance).toBe(100);

  // Every analytics tool answers from the demo data (default range: the last 30 days).
  const workspace_id = workspaces[0].id;
  const summary = await client.callTool({ name: "get_performance_summary", arguments: { workspace_id } });
  expect((summary.structuredContent as any).totals.spend).toBeGreaterThan(0);
  const top = await client.callTool({ name: "top_campaigns", arguments: { workspace_id, by: "spend", limit: 3 } });
  const campaign_id = (top.structuredContent as any).campaigns[0].id;
  const refusedByDefault: Record<string, string> = {
    send_meta_conversions: "conversions:write",
    generate_report: "reports:write",
    export_audience: "reports:write",
    // Customer journeys are not among the default scopes either.
    explain_customer_journey: "customers:read",
  };
  const extra: Record<string, object> = {
    get_report_status: { job_id: 999999 },
    explain_campaign: { campaign_id },
  };
  for (const tool of tools) {
    if (["list_workspaces", "check_credits"].includes(tool.name)) continue;
    const result = await client.callTool({ name: tool.name, arguments: { workspace_id, ...(extra[tool.name] ?? {}) } });
    if (tool.name in refusedByDefault) {
      // The default scopes are read-only and leave customer data out: those tools are refused, readably.
      expect((result.structuredContent as any).error).toMatchObject({ code: "missing_scope", required_scope: refusedByDefault[tool.name] });
    } else if (tool.name === "get_report_status") {
      expect((result.structuredContent as any).error.code).toBe("invalid_parameter");
    } else {
      expect(result.isError, `${tool.name}: ${JSON.stringify(result.structuredContent)}`).toBeFalsy();
    }
  }

  // Another organization's workspace is refused with a readable tool error, not a crash.
  const foreign = await client.callTool({ name: "check_credits", arguments: { workspace_id: 999999 } });
  expect(foreign.isError).toBe(true);
  expect((foreign.structuredContent as any).error.code).toBe("workspace_not_accessible");

  // The dashboard shows the last use and the client's name (written in batches, within seconds).
  await expect(async () => {
    await page.reload();
    await expect(page.locator("tr", { hasText: "sdk-client" })).toContainText("tollgate-e2e 1.0.0", { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await screenshot(page, "tokens-used");

  // Revoke in the dashboard: the client's next call is refused.
  const row = page.locator("tr", { hasText: "sdk-client" });
  await row.getByRole("link", { name: "Revoke" }).click();
  const dialog = page.getByRole("dialog", { name: "Revoke “sdk-client”?" });
  await expect(dialog).toContainText("by tollgate-e2e 1.0.0");
  await dialog.getByRole("button", { name: "Revoke token" }).click();
  await expect(page.getByTestId("status")).toContainText("Revoked “sdk-client”");
  await expect(client.callTool({ name: "list_workspaces", arguments: {} })).rejects.toThrow(/401|invalid_token|Unauthorized/);
  await client.close();

  // The audit log recorded the first use.
  await page.goto("/audit");
  const firstUse = page.locator("tr", { hasText: "Token first used" });
  await expect(firstUse).toContainText("tollgate-e2e 1.0.0");
  // The event names the token it is about.
  await expect(firstUse.getByRole("link", { name: /^sdk-client \(tg_live_/ })).toBeVisible();
});

test("scopes are enforced for the MCP client", async ({ page }) => {
  await signUp(page, uniqueEmail("mcpscope"));
  await expectDashboard(page);
  const token = await createToken(page, "no-credits", ["credits:read"]);

  const client = await connect(token);
  const { structuredContent } = await client.callTool({ name: "list_workspaces", arguments: {} });
  const workspace = (structuredContent as any).workspaces[0].id;
  const denied = await client.callTool({ name: "check_credits", arguments: { workspace_id: workspace } });
  expect(denied.isError).toBe(true);
  expect((denied.structuredContent as any).error).toMatchObject({ code: "missing_scope", required_scope: "credits:read" });
  await client.close();
});
