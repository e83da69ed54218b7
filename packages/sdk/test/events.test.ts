import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { emitEvent, flow, task } from "@baton/sdk";
import { failure } from "../../../test/runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("emitEvent on a server on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    process.env.BATON_API_URL = server.apiUrl;
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    await server.stop();
  });

  it("stores an event from a flow run that relates to the run: its flow and tags, the run as resource", async () => {
    const ship = task({ name: "ship" }, async (order: string) =>
      emitEvent({ event: "orders.shipped", payload: { order } }),
    );
    const shipper = flow({ name: "shipper", tags: ["shop"] }, async () => {
      const fromFlow = await emitEvent({ event: "orders.batch-started", payload: { size: 1 } });
      const fromTask = await ship("o-7");
      return { fromFlow: fromFlow.id, fromTask: fromTask.id };
    });
    const ids = await shipper();
    const events = (await server.client.api.listEvents({ query: { name: "orders." } })).items;
    const runs = (await server.client.api.listFlowRuns({ query: { flowName: "shipper" } })).items;
    expect(runs).toHaveLength(1);
    const runId = runs[0]!.id;
    const byId = new Map(events.map((event) => [event.id, event]));
    expect(byId.get(ids.fromFlow)).toMatchObject({
      name: "orders.batch-started",
      resource: { kind: "flow-run", id: runId },
      flowRunId: runId,
      payload: { size: 1 },
      related: { flowRunName: runs[0]!.name, flowName: "shipper", tags: ["shop"] },
    });
    expect(byId.get(ids.fromTask)).toMatchObject({
      name: "orders.shipped",
      resource: { kind: "task-run" },
      flowRunId: runId,
      payload: { order: "o-7" },
      related: { flowName: "shipper" },
    });
  });

  it("sends an event outside any run, with the resource given", async () => {
    const event = await emitEvent({ event: "nightly.done", resource: { kind: "job", id: "nightly" } });
    expect(event).toMatchObject({ resource: { kind: "job", id: "nightly" }, flowRunId: null });
  });

  it("passes on the server's refusal of one of Baton's own names", async () => {
    const refused = await failure(emitEvent({ event: "flow-run.state-changed" }));
    expect(refused).toBeInstanceOf(BatonError);
    expect(refused.code).toBe("invalid_argument");
    expect(refused.message).toContain("is Baton's own");
  });
});

describe("emitEvent without a server", () => {
  it("says to set BATON_API_URL", async () => {
    const saved = process.env.BATON_API_URL;
    delete process.env.BATON_API_URL;
    try {
      const error = await failure(emitEvent({ event: "x.y" }));
      expect(error.message).toBe(
        "event 'x.y' needs a Baton server: set BATON_API_URL (for example http://127.0.0.1:4200/api)",
      );
    } finally {
      if (saved !== undefined) process.env.BATON_API_URL = saved;
    }
  });
});
