import { fileURLToPath } from "node:url";
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
