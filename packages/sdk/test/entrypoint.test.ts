import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { loadFlow } from "@baton/sdk";
import { startTestServer, type TestServer } from "../../../test/helpers.js";

const RUNS_ON_IMPORT = fileURLToPath(new URL("fixtures/runs-on-import.ts", import.meta.url));
const HELLO = fileURLToPath(new URL("../../../examples/sdk/hello.ts", import.meta.url));

describe("loading an entrypoint module", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer("sqlite");
    process.env.BATON_API_URL = server.apiUrl;
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    await server.stop();
  });
  const runs = async () => (await server.client.api.listFlowRuns({ query: {} })).items;

  it("refuses a flow its module runs when imported, saying how to guard it, and makes no run", async () => {
    const error = await loadFlow(`${RUNS_ON_IMPORT}:stray`).then(
      () => null,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).code).toBe("invalid_argument");
    expect((error as BatonError).message).toBe(
      `flow 'stray' was called while its module was imported as the entrypoint '${RUNS_ON_IMPORT}:stray': ` +
        "a module that deployments and workers import must not run flows when imported. Run it only when " +
        "the module is the program: `if (isMainModule(import.meta)) await myFlow(...)`, or from another file.",
    );
    expect(await runs()).toEqual([]);
  });

  it("loads the guarded example without running it", async () => {
    const crawl = await loadFlow(`${HELLO}:crawl`);
    expect(crawl.flowName).toBe("crawl");
    expect(await runs()).toEqual([]);
    // Once loaded, its flow runs when called, as a worker calls it.
    expect(await crawl.runFromJson({ urls: ["a"] })).toMatchObject({ pages: 1 });
    expect((await runs()).map((run) => run.state?.type)).toEqual(["COMPLETED"]);
  });
});

describe("the module a flow was defined in", () => {
  it("is the file that ran, not the source its source map names", () => {
    // A built module with a source map back to its TypeScript, run with source maps on (as under tsx):
    // a worker must import the built file the flow came from.
    const dir = mkdtempSync(join(tmpdir(), "baton-defined-in-"));
    try {
      const sdk = pathToFileURL(fileURLToPath(new URL("../dist/index.js", import.meta.url))).href;
      writeFileSync(
        join(dir, "flows.js"),
        [
          `import { flow } from ${JSON.stringify(sdk)};`,
          `export const mapped = flow({ name: "mapped" }, async () => 1);`,
          "console.log(mapped.definedIn);",
          "//# sourceMappingURL=flows.js.map",
        ].join("\n"),
      );
      const map = {
        version: 3,
        file: "flows.js",
        sources: ["flows.ts"],
        names: [],
        mappings: "AAAA;AACA;AACA",
      };
      writeFileSync(join(dir, "flows.js.map"), JSON.stringify(map));
      const printed = execFileSync(process.execPath, ["--enable-source-maps", join(dir, "flows.js")], {
        encoding: "utf8",
      });
      expect(printed.trim()).toBe(join(dir, "flows.js"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
