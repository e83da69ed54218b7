import { describe, expect, it } from "vitest";
import { DIALECTS, startTestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("a server stopping on %s", (dialect) => {
  it("answers its waiting claims and ends its event streams, so their clients go on elsewhere", async () => {
    const server = await startTestServer(dialect);
    const { api } = server.client;
    await api.createWorkPool({ body: { name: "leaving", type: "process" } });
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const stream = server.client.events(
      { names: ["flow-run.state-changed"], onOpen: () => opened() },
      () => {},
    );
    await open;
    // Longer than the test may last: only the server stopping can answer it in time.
    const claim = api.claimFlowRuns({ body: { workerName: "w", workPoolName: "leaving", waitSeconds: 60 } });
    // The claim is waiting once the queue says it was polled.
    for (let i = 0; i < 200; i++) {
      const {
        items: [queue],
      } = await api.listWorkQueues({ params: { pool: "leaving" } });
      if (queue?.lastPolled) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await server.stop();
    expect(await claim).toEqual({ runs: [] });
    await expect(stream).resolves.toBeUndefined(); // ended by the server, not broken
  });
});
