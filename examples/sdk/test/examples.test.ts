import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/helpers.js";

// Every script of the SDK guide (docs/sdk.md) runs as a user would run it, against a real server.
const folder = fileURLToPath(new URL("..", import.meta.url));
const scripts = readdirSync(folder).filter((name) => name.endsWith(".ts") || name.endsWith(".mjs"));
// TypeScript runs through tsx; JavaScript with plain node, on the built packages, as users run it.
const runner = (script: string) => (script.endsWith(".ts") ? ["--conditions=source", "--import", "tsx"] : []);

describe("the SDK guide's examples", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer("sqlite");
    await server.client.api.createConcurrencyLimit({ body: { tag: "db-lock", limit: 1 } });
  });
  afterAll(async () => {
    await server.stop();
  });

  it.each(scripts)("%s runs to the end and its runs complete", async (script) => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [...runner(script), fileURLToPath(new URL(`../${script}`, import.meta.url))],
      { env: { ...process.env, BATON_API_URL: server.apiUrl, BATON_HOME: server.settings.home } },
    );
    expect(stdout.length).toBeGreaterThan(0);
    const runs = (await server.client.api.listFlowRuns({ query: { limit: 100 } })).items;
    expect(runs.length).toBeGreaterThan(0);
  });

  it("leaves every flow run finished, and only the timeout example failed", async () => {
    const runs = (await server.client.api.listFlowRuns({ query: { limit: 100 } })).items;
    const notFinished = runs.filter((run) => !["COMPLETED", "FAILED"].includes(run.state?.type ?? ""));
    expect(notFinished).toEqual([]);
    expect(runs.filter((run) => run.state?.type === "FAILED").map((run) => run.flowName)).toEqual(["slow"]);
  });
});
