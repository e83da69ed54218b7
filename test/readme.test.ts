import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** The first TypeScript block after `heading` in the README, as written. */
function snippetAfter(heading: string): string {
  const rest = README.slice(README.indexOf(heading));
  const block = /```ts\n([\s\S]*?)```/.exec(rest);
  if (!README.includes(heading) || !block) throw new Error(`no TypeScript block after '${heading}'`);
  return block[1]!;
}

describe("the README's client snippet", () => {
  let server: TestServer;
  let folder: string;
  beforeAll(async () => {
    server = await startTestServer("sqlite");
    // Inside the repository, so that the snippet's `@baton/client` resolves as it does for a reader.
    mkdirSync(join(ROOT, ".baton-test"), { recursive: true });
    folder = mkdtempSync(join(ROOT, ".baton-test", "readme-"));
  });
  afterAll(async () => {
    rmSync(folder, { recursive: true, force: true });
    await server.stop();
  });

  it("run as a program, leaves its etl run Completed", async () => {
    const snippet = snippetAfter("From TypeScript, use the typed client");
    expect(snippet).toContain('"http://127.0.0.1:4200/api"');
    const script = join(folder, "client.ts");
    // Only the address changes: the test server listens on a port of its own.
    writeFileSync(script, snippet.replace('"http://127.0.0.1:4200/api"', JSON.stringify(server.apiUrl)));
    const { stdout } = await promisify(execFile)(process.execPath, [
      "--conditions=source",
      "--import",
      "tsx",
      script,
    ]);
    expect(stdout.trim()).toBe("ACCEPT Completed");
    const runs = (await server.client.api.listFlowRuns({ query: { flowName: "etl" } })).items;
    expect(runs.map((run) => [run.state?.type, run.parameters])).toEqual([
      ["COMPLETED", { day: "2026-11-23" }],
    ]);
  });
});
