import { describe, expect, it } from "vitest";
import { BatonClient } from "@baton/client";
import { DIALECTS, startTestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("a resumed event stream on %s", (dialect) => {
  it("follows a run through a server restart, with the states set while it was away", async () => {
    const first = await startTestServer(dialect);
    const port = new URL(first.url).port;
    const run = await first.client.api.createFlowRun({
      body: { flowName: "restarted", state: { type: "PENDING" } },
    });
    const client = new BatonClient({ url: first.apiUrl });
    const seen: string[] = [];
    const stop = new AbortController();
    let opened = 0;
    let restarted: (() => Promise<void>) | undefined;
    const following = client.events(
      {
        flowRunId: run.id,
        names: ["flow-run.state-changed"],
        signal: stop.signal,
        resume: true,
        onOpen: () => {
          opened += 1;
          if (opened === 1)
            void first.client.api.setFlowRunState({
              params: { id: run.id },
              body: { state: { type: "RUNNING" } },
            });
        },
      },
      (event) => {
        const type = (event.payload.state as { type: string }).type;
        seen.push(type);
        if (type === "RUNNING") void restarted?.();
        if (type === "CANCELLED") stop.abort();
      },
    );
    let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
    restarted = async () => {
      restarted = undefined;
      await first.close();
      // The same address and store; a state set before the stream is back is replayed to it.
      second = await startTestServer(dialect, { port: Number(port) }, first.database);
      await second.client.api.setFlowRunState({
        params: { id: run.id },
        body: { state: { type: "CANCELLING" } },
      });
      await second.client.api.setFlowRunState({
        params: { id: run.id },
        body: { state: { type: "CANCELLED" } },
      });
    };
    const done = following.catch((error: unknown) => {
      if (!stop.signal.aborted) throw error;
    });
    await done;
    try {
      expect(seen).toEqual(["RUNNING", "CANCELLING", "CANCELLED"]);
      expect(opened).toBeGreaterThan(1);
    } finally {
      await second?.close();
      await first.database.drop();
    }
  });
});
