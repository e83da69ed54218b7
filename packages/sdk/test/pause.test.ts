/** pause() and suspend() where they cannot wait: each refusal says what went wrong and what to do. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { flow, pause, suspend, task } from "@baton/sdk";
import { failure } from "../../../test/runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe("pause() where no flow run can wait", () => {
  it("outside a flow run", async () => {
    const error = await failure(pause());
    expect(error).toBeInstanceOf(BatonError);
    expect(error.message).toBe("pause() was called outside a flow run: call it in a flow's own code");
  });

  it("in a task", async () => {
    const waits = task({ name: "waits" }, () => pause());
    const error = await failure(flow({ name: "pauses-in-a-task" }, () => waits())());
    expect(error.message).toBe("pause() was called in a task: call it in a flow's own code");
  });

  it("in a flow run no server tracks", async () => {
    const error = await failure(flow({ name: "untracked" }, () => suspend())());
    expect(error.message).toBe("suspend() needs a tracked flow run: set BATON_API_URL");
  });

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY])("with timeoutSeconds %s", async (timeoutSeconds) => {
    const error = await failure(flow({ name: "bad-timeout" }, () => pause({ timeoutSeconds }))());
    expect(error.message).toBe(
      `pause()'s timeoutSeconds is ${timeoutSeconds}: give a positive, finite number of seconds`,
    );
  });
});

describe.each(DIALECTS)("suspend() of a tracked run of no deployment on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    process.env.BATON_API_URL = server.apiUrl;
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    await server.stop();
  });

  it("is refused, saying nothing would start it again; the run fails with that, not left waiting", async () => {
    const direct = flow({ name: "suspends-directly" }, () => suspend());
    const error = await failure(direct());
    expect(error.message).toMatch(/cannot suspend: the run has no deployment.*pause\(\) it instead/);
    const [run] = (await server.client.api.listFlowRuns({ query: { flowName: "suspends-directly" } })).items;
    expect(run?.state?.type).toBe("FAILED");
  });
});
