import { test, expect } from "@playwright/test";

// The OpenAPI document of /v1, checked by an independent validator (the OpenAPI 3.1 JSON
// schema, then every $ref resolved) and against the live tool catalog.
test("/v1/openapi.json is valid OpenAPI 3.1 and describes every tool", async ({ request }) => {
  const response = await request.get("/v1/openapi.json");
  expect(response.status()).toBe(200);
  const document = await response.json();
  expect(document.openapi).toBe("3.1.0");

  const { Validator } = await import("@seriousme/openapi-schema-validator");
  const validator = new Validator();
  const result = await validator.validate(document);
  expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)).toEqual([]);
  expect(result.valid).toBe(true);
  expect(validator.version).toBe("3.1");
  // Throws on a reference to nothing.
  const resolved = validator.resolveRefs() as any;

  const catalog = (await (await request.get("/v1/tools")).json()).tools as any[];
  expect(catalog.length).toBeGreaterThan(10);
  for (const tool of catalog) {
    const operation = resolved.paths[`/v1/tools/${tool.name}`]?.post;
    expect(operation, tool.name).toBeTruthy();
    expect(operation.security).toEqual([{ bearer: tool.scope ? [tool.scope] : [] }]);
    expect(operation["x-tollgate-units"]).toBe(tool.units);
    const input = operation.requestBody.content["application/json"].schema;
    expect(Object.keys(input.properties ?? {}).sort(), tool.name).toEqual(Object.keys(tool.input_schema.properties ?? {}).sort());
    for (const status of ["200", "401", "403", "429"]) expect(operation.responses[status], `${tool.name} ${status}`).toBeTruthy();
    expect(operation.responses["429"].headers["Retry-After"]).toBeTruthy();
    expect(operation.responses["200"].headers["RateLimit-Policy"]).toBeTruthy();
    if (tool.path) {
      // A REST endpoint: the same scope and units, its arguments as query or path parameters.
      const get = resolved.paths[tool.path]?.get;
      expect(get, tool.path).toBeTruthy();
      expect(get.security).toEqual(operation.security);
      expect(get["x-tollgate-units"]).toBe(tool.units);
      const parameters = get.parameters.map((p: any) => p.name).sort();
      expect(parameters, tool.path).toEqual(Object.keys(tool.input_schema.properties ?? {}).sort());
    }
  }
  // Nothing is described that the server does not serve.
  const described = Object.keys(document.paths).filter((p) => p.startsWith("/v1/tools/"));
  expect(described.length).toBe(catalog.length);
  const rest = Object.keys(document.paths).filter((p) => !p.startsWith("/v1/tools"));
  expect(rest.sort()).toEqual(catalog.filter((t) => t.path).map((t) => t.path).sort());
});
