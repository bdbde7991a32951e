import { test as base, expect, Page } from "@playwright/test";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  auth,
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  OAuthClientProvider,
  UnauthorizedError,
} from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import { baseURL, tlsDir } from "../playwright.config";
import { expectDashboard, hydrated, PASSWORD, screenshot, signOut, signUp, uniqueEmail } from "./helpers";

// Tollgate as the OAuth 2.1 authorization server of its own MCP endpoint, driven the way an MCP
// client that knows only the URL drives it: the official TypeScript SDK's OAuth client where it
// can, and the raw protocol (fetch, PKCE by hand) where the test needs to hold the pieces itself.
// The browser part (sign-in, consent) runs in Chromium; the client's loopback redirect lands on
// a small HTTP server this file starts on a random port, as a desktop client's would.

/** The MCP endpoint, which is also the OAuth resource indicator (RFC 8707). */
export const RESOURCE = `${baseURL}/mcp`;
/** Where the 401 and 403 challenges point clients for discovery (RFC 9728, path-suffixed form). */
export const RESOURCE_METADATA = `${baseURL}/.well-known/oauth-protected-resource/mcp`;

// ---------------------------------------------------------------------------------------------
// The client's loopback redirect target
// ---------------------------------------------------------------------------------------------

export interface CallbackServer {
  /** The redirect URI to register: `http://127.0.0.1:<port>/callback`. */
  url: string;
  /** The next redirect that reached `/callback` (already received or still to come). */
  nextRedirect(timeoutMs?: number): Promise<URL>;
  close(): Promise<void>;
}

/** A loopback HTTP server standing in for a native client's redirect listener (RFC 8252 §7.3).
 * Redirects are queued, so one that arrives before the test asks for it is not lost. */
export async function startCallbackServer(): Promise<CallbackServer> {
  const received: URL[] = [];
  const waiting: ((url: URL) => void)[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    // Chromium also asks for /favicon.ico; only the callback path counts.
    if (url.pathname !== "/callback") {
      res.writeHead(404, { Connection: "close" }).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", Connection: "close" });
    res.end("<!doctype html><title>Done</title><p>Authorization finished. You can close this tab.</p>");
    const waiter = waiting.shift();
    if (waiter) waiter(url);
    else received.push(url);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    nextRedirect(timeoutMs = 15_000) {
      const ready = received.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise<URL>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiting.indexOf(done);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Error(`no redirect reached the callback within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (url: URL) => {
          clearTimeout(timer);
          resolve(url);
        };
        waiting.push(done);
      });
    },
    close() {
      // Chromium keeps connections alive; without this, close() would wait for them.
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Every test gets its own callback server, closed even when the test fails.
const test = base.extend<{ callback: CallbackServer }>({
  callback: async ({}, use) => {
    const server = await startCallbackServer();
    await use(server);
    await server.close();
  },
});

// ---------------------------------------------------------------------------------------------
// The raw protocol
// ---------------------------------------------------------------------------------------------

export interface Pkce {
  verifier: string;
  challenge: string;
}

/** A PKCE pair (RFC 7636, S256): 32 random bytes give the 43-character verifier. */
export function pkcePair(): Pkce {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

export function randomState(): string {
  return randomBytes(16).toString("base64url");
}

/** Dynamic client registration (RFC 7591) as a public native client; returns the client_id. */
export async function registerClient(clientName: string, redirectUri: string): Promise<string> {
  const response = await fetch(`${baseURL}/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({
      client_name: clientName,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
    }),
  });
  const body = await response.json();
  expect(response.status, JSON.stringify(body)).toBe(201);
  expect(body.redirect_uris).toEqual([redirectUri]);
  // A public client: no secret, whatever it asked for.
  expect(body.token_endpoint_auth_method).toBe("none");
  expect(body.client_secret).toBeUndefined();
  expect(typeof body.client_id).toBe("string");
  return body.client_id;
}

export interface AuthorizationRequest {
  url: string;
  state: string;
  pkce: Pkce;
  clientId: string;
  redirectUri: string;
}

/** An authorization request as the SDK builds one: PKCE S256, state, and the resource indicator.
 * Without `scope` the server picks its default (the read scopes). */
export function authorizationRequest(clientId: string, redirectUri: string, scope?: string): AuthorizationRequest {
  const pkce = pkcePair();
  const state = randomState();
  const url = new URL(`${baseURL}/authorize`);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", clientId);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("code_challenge", pkce.challenge);
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", state);
  url.searchParams.set("resource", RESOURCE);
  if (scope) url.searchParams.set("scope", scope);
  return { url: url.toString(), state, pkce, clientId, redirectUri };
}

/** POST /token, form-encoded as RFC 6749 wants; returns the status and the JSON body. */
export async function tokenRequest(params: Record<string, string>): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseURL}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams(params),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

export interface TokenSet {
  access_token: string;
  refresh_token: string;
  scope: string;
}

/** Exchanges the code from the redirect, checking the redirect first (RFC 9207 `iss`, `state`). */
export async function exchangeCode(request: AuthorizationRequest, redirect: URL): Promise<TokenSet> {
  expect(redirect.searchParams.get("error")).toBeNull();
  expect(redirect.searchParams.get("state")).toBe(request.state);
  expect(redirect.searchParams.get("iss")).toBe(baseURL);
  const code = redirect.searchParams.get("code");
  expect(code).toBeTruthy();
  const { status, body } = await tokenRequest({
    grant_type: "authorization_code",
    code: code!,
    code_verifier: request.pkce.verifier,
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    resource: RESOURCE,
  });
  expect(status, JSON.stringify(body)).toBe(200);
  expect(body.access_token).toMatch(/^tg_live_/);
  expect(String(body.token_type).toLowerCase()).toBe("bearer");
  expect(typeof body.refresh_token).toBe("string");
  expect(typeof body.expires_in).toBe("number");
  expect(typeof body.scope).toBe("string");
  return body;
}

/** The refresh grant, as a public client sends it (client_id in the body). */
export function refreshRequest(clientId: string, refreshToken: string) {
  return tokenRequest({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId, resource: RESOURCE });
}

const MCP_HEADERS = {
  Accept: "application/json, text/event-stream",
  "Content-Type": "application/json",
  // /mcp is stateless: with the revision named in the header, a request needs no initialize first.
  "MCP-Protocol-Version": "2025-11-25",
};

let rpcId = 0;
/** One JSON-RPC request to /mcp over plain HTTP, with the bearer token if any. */
export async function postMcp(token: string | undefined, method: string, params: object = {}): Promise<Response> {
  rpcId += 1;
  const headers: Record<string, string> = { ...MCP_HEADERS };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(RESOURCE, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: rpcId, method, params }) });
}

/** tools/call over plain HTTP; the body is parsed only on a 200 (errors are read from headers). */
export async function callToolRaw(token: string, name: string, args: object = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await postMcp(token, "tools/call", { name, arguments: args });
  const body = response.ok ? await response.json() : await response.text();
  return { status: response.status, headers: response.headers, body };
}

/** The status /mcp answers a token with (tools/list: cheap and needs no scope). */
async function mcpStatus(token: string): Promise<number> {
  const response = await postMcp(token, "tools/list");
  await response.body?.cancel();
  return response.status;
}

/** The auth-params of a `WWW-Authenticate: Bearer k="v", ...` challenge. */
export function bearerChallenge(header: string | null): Record<string, string> {
  expect(header, "WWW-Authenticate").toBeTruthy();
  expect(header!).toMatch(/^Bearer /);
  const params: Record<string, string> = {};
  for (const [, key, value] of header!.matchAll(/([a-z_]+)="([^"]*)"/g)) params[key] = value;
  return params;
}

// ---------------------------------------------------------------------------------------------
// The browser part
// ---------------------------------------------------------------------------------------------

/** Opens an authorization URL in a signed-in browser: /authorize answers with the consent page. */
export async function openConsent(page: Page, authorizeUrl: string): Promise<void> {
  await page.goto(authorizeUrl);
  await expect(page).toHaveURL(/\/consent\/[^/?#]+$/);
}

/** Approves on the consent page with what it pre-selects. */
export async function approveConsent(page: Page): Promise<void> {
  await page.getByRole("form", { name: "Approve access" }).getByRole("button", { name: "Approve" }).click();
  await leftForTheClient(page);
}

/** Waits until the browser has gone back to the client (the decision's page refreshes to it). */
export async function leftForTheClient(page: Page): Promise<void> {
  await page.waitForURL((url) => url.origin !== baseURL);
}

/** Follows an authorization URL to the consent page (the browser must be signed in) and approves;
 * the redirect then goes to the client's callback. */
export async function authorizeInBrowser(page: Page, authorizeUrl: string): Promise<void> {
  await openConsent(page, authorizeUrl);
  await approveConsent(page);
}

/** Registers a client, takes it through consent in the (signed-in) browser, and redeems the code. */
async function grantThroughBrowser(page: Page, callback: CallbackServer, clientName: string, scope?: string) {
  const clientId = await registerClient(clientName, callback.url);
  const request = authorizationRequest(clientId, callback.url, scope);
  await authorizeInBrowser(page, request.url);
  const tokens = await exchangeCode(request, await callback.nextRedirect());
  return { clientId, tokens };
}

/** Fills the sign-in or sign-up form on the page as it is: the helpers' signIn/signUp navigate
 * to a bare /signin or /signup first, which would drop the `next` the test is about. */
async function fillCredentials(page: Page, email: string, button: "Sign in" | "Create account") {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: button }).click();
}

// ---------------------------------------------------------------------------------------------
// The SDK's side: an in-memory OAuthClientProvider
// ---------------------------------------------------------------------------------------------

/** Keeps what the SDK hands it in memory, as a real client keeps it on disk. Values are stored
 * unchanged: the SDK stamps them with the issuer and checks the stamp when reading them back. */
export class InMemoryOAuthProvider implements OAuthClientProvider {
  private info?: OAuthClientInformationMixed;
  private saved?: OAuthTokens;
  private verifier?: string;
  /** The last authorization URL the SDK wanted the user sent to. */
  authorizationUrl?: URL;
  /** The last `state` the SDK put into an authorization URL. */
  lastState?: string;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
    /** Set: the client is named by its metadata document at this https URL (no registration). */
    readonly clientMetadataUrl?: string,
  ) {}

  state(): string {
    // SDK 1.32.2 does not check the state it gets back; the test does.
    this.lastState = randomState();
    return this.lastState;
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    // A desktop client opens the system browser here; the test hands the URL to Playwright.
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error("no code verifier saved");
    return this.verifier;
  }
  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery") {
    if (scope === "all" || scope === "client") this.info = undefined;
    if (scope === "all" || scope === "tokens") this.saved = undefined;
    if (scope === "all" || scope === "verifier") this.verifier = undefined;
  }
}

function sdkClient(provider: OAuthClientProvider) {
  const client = new Client({ name: "tollgate-e2e-oauth", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(RESOURCE), { authProvider: provider });
  return { client, transport };
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

test("an MCP client that knows only the URL connects through OAuth (dynamic registration)", async ({ page, callback }) => {
  test.setTimeout(90_000);
  // Signed in first, so the authorization URL goes straight to consent (the sign-in detour has a test of its own).
  await signUp(page, uniqueEmail("oauth-sdk"));
  await expectDashboard(page);

  // What the SDK will discover, checked at each step so a failure names the document at fault.
  const challenge = await postMcp(undefined, "tools/list");
  expect(challenge.status).toBe(401);
  await challenge.body?.cancel();
  const unauthorized = bearerChallenge(challenge.headers.get("www-authenticate"));
  expect(unauthorized.resource_metadata).toBe(RESOURCE_METADATA);
  const asked = unauthorized.scope.split(" ");
  expect(asked).toContain("analytics:read");
  expect(asked).not.toContain("pii:read");
  const prm = await discoverOAuthProtectedResourceMetadata(RESOURCE);
  expect(prm.resource).toBe(RESOURCE);
  expect(prm.authorization_servers).toEqual([baseURL]);
  expect(prm.bearer_methods_supported).toEqual(["header"]);
  const asm = await discoverAuthorizationServerMetadata(baseURL);
  expect(asm).toMatchObject({
    issuer: baseURL,
    authorization_endpoint: `${baseURL}/authorize`,
    token_endpoint: `${baseURL}/token`,
    registration_endpoint: `${baseURL}/register`,
    revocation_endpoint: `${baseURL}/revoke`,
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["none"],
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
  });

  // No clientMetadataUrl: the SDK registers itself (DCR) and asks for the user's consent.
  const provider = new InMemoryOAuthProvider(callback.url, {
    client_name: "E2E OAuth client",
    redirect_uris: [callback.url],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  });
  const first = sdkClient(provider);
  await expect(first.client.connect(first.transport)).rejects.toThrow(UnauthorizedError);
  const registered = await provider.clientInformation();
  expect(registered?.client_id).toBeTruthy();
  expect(provider.authorizationUrl, "the SDK asks for the browser").toBeDefined();
  const authorizationUrl = provider.authorizationUrl!;
  expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${baseURL}/authorize`);
  expect(authorizationUrl.searchParams.get("client_id")).toBe(registered!.client_id);
  expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
  expect(authorizationUrl.searchParams.get("resource")).toBe(RESOURCE);
  // The SDK asks for exactly what the 401 suggested.
  expect(authorizationUrl.searchParams.get("scope")).toBe(unauthorized.scope);

  // Consent: the client's name and redirect host, read scopes pre-checked, the rest not.
  await openConsent(page, authorizationUrl.toString());
  await expect(page.getByRole("heading", { level: 1 })).toContainText("E2E OAuth client");
  await expect(page.locator("body")).toContainText("127.0.0.1");
  const form = page.getByRole("form", { name: "Approve access" });
  await expect(form.getByLabel("Reach")).toBeVisible();
  await expect(form.getByLabel("Access ends")).toBeVisible();
  await expect(form.getByRole("checkbox", { name: /^analytics:read/ })).toBeChecked();
  // Only what the client asked for is offered (the sensitive ones have a test of their own).
  await expect(form.getByRole("checkbox", { name: /^pii:read/ })).toHaveCount(0);
  await expect(form.getByRole("button", { name: "Deny" })).toBeVisible();
  await screenshot(page, "oauth-consent");
  await approveConsent(page);

  const redirect = await callback.nextRedirect();
  expect(redirect.searchParams.get("state")).toBe(provider.lastState);
  expect(redirect.searchParams.get("iss")).toBe(baseURL);
  const code = redirect.searchParams.get("code");
  expect(code).toBeTruthy();
  await first.transport.finishAuth(code!);
  const granted = (await provider.tokens())!;
  expect(granted.access_token).toMatch(/^tg_live_/);
  expect(granted.refresh_token).toBeTruthy();
  expect(granted.scope?.split(" ")).toContain("analytics:read");
  expect(granted.scope?.split(" ")).not.toContain("pii:read");

  // Connected: the same provider now carries the token on every request.
  const second = sdkClient(provider);
  await second.client.connect(second.transport);
  expect(second.client.getServerVersion()?.name).toBe("tollgate");
  const { tools } = await second.client.listTools();
  expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["list_workspaces", "get_performance_summary"]));
  const listed = await second.client.callTool({ name: "list_workspaces", arguments: {} });
  expect(listed.isError).toBeFalsy();
  expect((listed.structuredContent as any).workspaces[0].name).toBe("Main workspace");

  // Refresh, as the SDK does it: auth() with a refresh token stored spends it for a new pair.
  expect(await auth(provider, { serverUrl: new URL(RESOURCE) })).toBe("AUTHORIZED");
  const refreshed = (await provider.tokens())!;
  expect(refreshed.access_token).toMatch(/^tg_live_/);
  expect(refreshed.access_token).not.toBe(granted.access_token);
  expect(refreshed.refresh_token).toBeTruthy();
  expect(refreshed.refresh_token).not.toBe(granted.refresh_token);
  // The previous access token stops at once; the new one works, also for the connected client.
  expect(await mcpStatus(granted.access_token)).toBe(401);
  expect(await mcpStatus(refreshed.access_token)).toBe(200);
  const again = await second.client.callTool({ name: "list_workspaces", arguments: {} });
  expect(again.isError).toBeFalsy();

  // A spent refresh token presented again looks stolen: refused, and the whole grant with it.
  const reuse = await refreshRequest(registered!.client_id, granted.refresh_token!);
  expect(reuse.status).toBe(400);
  expect(reuse.body?.error).toBe("invalid_grant");
  expect(await mcpStatus(refreshed.access_token)).toBe(401);
  // The SDK's own recovery: its refresh fails too, it drops the tokens and asks for the browser again.
  const before = provider.authorizationUrl?.href;
  await expect(second.client.callTool({ name: "list_workspaces", arguments: {} })).rejects.toThrow(UnauthorizedError);
  expect(await provider.tokens()).toBeUndefined();
  expect(provider.authorizationUrl?.href).not.toBe(before);
  await second.client.close();
});

test("a signed-out browser signs in on the way to the consent page, and Deny sends access_denied", async ({ page, callback }) => {
  const email = uniqueEmail("oauth-deny");
  await signUp(page, email);
  await expectDashboard(page);
  await signOut(page);

  const clientId = await registerClient("E2E denied client", callback.url);
  const request = authorizationRequest(clientId, callback.url, "analytics:read pii:read conversions:write");
  await page.goto(request.url);
  // Sent to sign in, with a same-origin way back to this very consent request.
  await expect(page).toHaveURL(/\/signin\?next=/);
  const next = new URL(page.url()).searchParams.get("next");
  expect(next).toMatch(/^\/consent\/[^/?#]+$/);
  await screenshot(page, "oauth-signin-next");
  await fillCredentials(page, email, "Sign in");
  await expect(page).toHaveURL(`${baseURL}${next}`);
  await expect(page.getByRole("heading", { level: 1 })).toContainText("E2E denied client");
  // Asked for, sensitive and write scopes are offered marked and unticked; read scopes ticked.
  const form = page.getByRole("form", { name: "Approve access" });
  await expect(form.getByRole("checkbox", { name: /^analytics:read/ })).toBeChecked();
  await expect(form.getByRole("checkbox", { name: /^pii:read/ })).not.toBeChecked();
  await expect(form.getByRole("checkbox", { name: /^conversions:write/ })).not.toBeChecked();
  await expect(form.getByText("external effect")).toBeVisible();

  await page.getByRole("form", { name: "Approve access" }).getByRole("button", { name: "Deny" }).click();
  await leftForTheClient(page);
  const redirect = await callback.nextRedirect();
  expect(redirect.origin + redirect.pathname).toBe(callback.url);
  expect(redirect.searchParams.get("error")).toBe("access_denied");
  expect(redirect.searchParams.get("state")).toBe(request.state);
  expect(redirect.searchParams.get("iss")).toBe(baseURL);
  expect(redirect.searchParams.get("code")).toBeNull();
});

test("the access token is for /mcp only, and Revoke in Connected apps cuts the client off", async ({ page, callback }) => {
  // A person with no account yet, arriving from an MCP client: sign-in, then sign-up, then consent.
  const clientName = "E2E revoked client";
  const clientId = await registerClient(clientName, callback.url);
  const request = authorizationRequest(clientId, callback.url, "analytics:read credits:read");
  await page.goto(request.url);
  await expect(page).toHaveURL(/\/signin\?next=/);
  const next = new URL(page.url()).searchParams.get("next");
  await page.getByRole("link", { name: "Create an account" }).click();
  await expect(page).toHaveURL(/\/signup\?next=/);
  expect(new URL(page.url()).searchParams.get("next")).toBe(next);
  await fillCredentials(page, uniqueEmail("oauth-revoke"), "Create account");
  await expect(page).toHaveURL(`${baseURL}${next}`);
  await approveConsent(page);
  const tokens = await exchangeCode(request, await callback.nextRedirect());
  expect(tokens.scope.split(" ")).toEqual(expect.arrayContaining(["analytics:read", "credits:read"]));

  // The token's audience is /mcp: the REST surface refuses it, /mcp serves it.
  const rest = await fetch(`${baseURL}/v1/tools/list_workspaces`, {
    method: "POST",
    headers: { Authorization: `Bearer ${tokens.access_token}`, "Content-Type": "application/json" },
    body: "{}",
  });
  expect(rest.status).toBe(401);
  await rest.body?.cancel();
  const listed = await callToolRaw(tokens.access_token, "list_workspaces");
  expect(listed.status).toBe(200);
  expect(listed.body.result.structuredContent.workspaces[0].name).toBe("Main workspace");

  // Connected apps lists the grant by the client's name; revoking it asks first.
  await page.goto("/tokens");
  await page.getByRole("link", { name: "Connected apps" }).click();
  await expect(page).toHaveURL(/\/connected-apps$/);
  await hydrated(page);
  const row = page.locator("tr", { hasText: clientName });
  await expect(row).toBeVisible();
  await screenshot(page, "connected-apps");
  await row.getByRole("link", { name: "Revoke", exact: true }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: "Revoke access" }).click();
  await expect(dialog).toBeHidden();

  // The client is cut off: its access token and its refresh token are both dead.
  await expect.poll(() => mcpStatus(tokens.access_token)).toBe(401);
  const refresh = await refreshRequest(clientId, tokens.refresh_token);
  expect(refresh.status).toBe(400);
  expect(refresh.body?.error).toBe("invalid_grant");
});

test("step-up: a read-only grant asking for a write tool gets 403 insufficient_scope", async ({ page, callback }) => {
  await signUp(page, uniqueEmail("oauth-stepup"));
  await expectDashboard(page);
  // No scope asked: consent pre-checks the read scopes, and Approve grants just those.
  const { tokens } = await grantThroughBrowser(page, callback, "E2E read-only client");
  const granted = tokens.scope.split(" ");
  expect(granted).toContain("analytics:read");
  expect(granted).not.toContain("conversions:write");

  const listed = await callToolRaw(tokens.access_token, "list_workspaces");
  expect(listed.status).toBe(200);
  const workspace_id = listed.body.result.structuredContent.workspaces[0].id;

  // Not a tool error as for pasted tokens, but an HTTP challenge an OAuth client can act on:
  // it names everything the call needs, the granted scopes included, so one consent suffices.
  const refused = await callToolRaw(tokens.access_token, "send_meta_conversions", { workspace_id, events: [] });
  expect(refused.status).toBe(403);
  const stepUp = bearerChallenge(refused.headers.get("www-authenticate"));
  expect(stepUp.error).toBe("insufficient_scope");
  expect(stepUp.resource_metadata).toBe(RESOURCE_METADATA);
  expect(stepUp.scope.split(" ")).toEqual(expect.arrayContaining(["analytics:read", "conversions:write"]));

  // The grant itself is untouched by the refusal.
  expect(await mcpStatus(tokens.access_token)).toBe(200);
});

test("a client named by its metadata document connects without registering (CIMD)", async ({ page, callback }) => {
  test.setTimeout(90_000);
  await signUp(page, uniqueEmail("oauth-cimd"));
  await expectDashboard(page);
  // The client's document on an https server of its own (the server trusts the test CA). It
  // lists the loopback redirect without a port, as Claude Code's does; the client listens on one.
  const fetched: string[] = [];
  let documentUrl = "";
  const documents = https.createServer(
    { key: fs.readFileSync(path.join(tlsDir, "leaf.key")), cert: fs.readFileSync(path.join(tlsDir, "leaf.pem")) },
    (req, res) => {
      fetched.push(req.url ?? "");
      res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "max-age=600", Connection: "close" });
      res.end(JSON.stringify({
        client_id: documentUrl,
        client_name: "E2E document client",
        redirect_uris: ["http://127.0.0.1/callback"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      }));
    },
  );
  await new Promise<void>((resolve) => documents.listen(0, "127.0.0.1", resolve));
  try {
    documentUrl = `https://127.0.0.1:${(documents.address() as AddressInfo).port}/oauth/client.json`;
    const provider = new InMemoryOAuthProvider(
      callback.url,
      { client_name: "E2E document client", redirect_uris: [callback.url], token_endpoint_auth_method: "none" },
      documentUrl,
    );
    const first = sdkClient(provider);
    await expect(first.client.connect(first.transport)).rejects.toThrow(UnauthorizedError);
    // No registration: the document's URL is the client id.
    expect((await provider.clientInformation())?.client_id).toBe(documentUrl);
    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.searchParams.get("client_id")).toBe(documentUrl);

    await openConsent(page, authorizationUrl.toString());
    await expect(page.getByRole("heading", { level: 1 })).toContainText("E2E document client");
    // The page names who describes the app and warns that it returns to this machine.
    await expect(page.locator("body")).toContainText("The app is described by");
    await expect(page.locator("body")).toContainText("runs on your own computer");
    await screenshot(page, "oauth-consent-document");
    await approveConsent(page);
    const redirect = await callback.nextRedirect();
    await first.transport.finishAuth(redirect.searchParams.get("code")!);
    expect(fetched).toEqual(["/oauth/client.json"]);

    const second = sdkClient(provider);
    await second.client.connect(second.transport);
    const listed = await second.client.callTool({ name: "list_workspaces", arguments: {} });
    expect(listed.isError).toBeFalsy();

    // Connected apps names the app and the host of its document.
    await page.goto("/connected-apps");
    const row = page.locator("tr", { hasText: "E2E document client" });
    await expect(row).toContainText("127.0.0.1");
    await expect(row).toContainText("Active");
  } finally {
    documents.closeAllConnections();
    await new Promise<void>((resolve) => documents.close(() => resolve()));
  }
});
