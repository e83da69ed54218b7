/** One stream of stops per process (runStopsOf): a stop made while it was closed still reaches its run. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient } from "@baton/client";
import type { State } from "@baton/core";
import { runStopsOf } from "../src/follow-run.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("the stops of a process's runs on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => {
    await server.stop();
  });

  it("tells a run claimed while the stream was closed of a cancel made meanwhile, once it is watched", async () => {
    const api = server.client.api;
    const { id: flowId } = await api.createFlow({ body: { name: "gapped" } });
    const run = await api.createFlowRun({ body: { flowId } });
    for (const type of ["PENDING", "RUNNING"] as const)
      await api.setFlowRunState({ params: { id: run.id }, body: { state: { type } } });

    // A client whose stream opens only when let: until then, nothing is heard.
    const client = new BatonClient({ url: server.apiUrl });
    const events = client.events.bind(client);
    let letOpen!: () => void;
    const gate = new Promise<void>((resolve) => (letOpen = resolve));
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    client.events = async (options, onEvent) => {
      await gate;
      return events({ ...options, onOpen: () => (options.onOpen?.(), opened()) }, onEvent);
    };
    const stops = runStopsOf(client);
    const release = stops.hold();
    try {
      const mark = stops.mark(); // as a claim notes it when it takes the run
      await api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "CANCELLING" } } });
      letOpen();
      await open;
      // The cancel came before the stream was open and is not sent on it: the run is read instead.
      const told = await new Promise<State | null>((resolve) => stops.watch(run.id, resolve, mark));
      expect(told?.type).toBe("CANCELLING");
    } finally {
      release();
    }
  });
});
