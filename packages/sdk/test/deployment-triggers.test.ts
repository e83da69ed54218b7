import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import type { Deployment } from "@baton/core";
import { flow, serve } from "@baton/sdk";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { actionRunsOf, finishedActionRuns, isType, waitForRunState } from "../../../test/runs.js";

const shout = flow(
  { name: "shout-on-event", parameters: z.object({ word: z.string(), times: z.number().int() }) },
  async ({ word, times }) => word.toUpperCase().repeat(times),
);

describe.each(DIALECTS)("serve() with triggers on %s", (dialect) => {
  let server: TestServer;
  const stop = new AbortController();
  let serving: Promise<void>;
  let deployment: Deployment;
  beforeAll(async () => {
    server = await startTestServer(dialect, { serviceLoopSeconds: 0.1 });
    // The runs served here report to the server their process is configured with, as a served flow's do.
    process.env.BATON_API_URL = server.apiUrl;
    const ready = new Promise<Deployment[]>((resolve) => {
      serving = serve(
        [
          shout.toDeployment({
            name: "on-word",
            client: server.client,
            triggers: [
              {
                events: ["word.said"],
                parameters: { word: "{{ event.payload.word }}", times: "{{ event.payload.times }}" },
              },
            ],
          }),
        ],
        { signal: stop.signal, onReady: resolve },
      );
    });
    [deployment] = (await ready) as [Deployment];
  });
  afterAll(async () => {
    stop.abort();
    await serving;
    await server.stop();
  });

  it("registers the triggers with the deployment, and an event starts a run it serves", async () => {
    const [trigger] = await server.client.api.listDeploymentTriggers({ params: { id: deployment.id } });
    expect(trigger).toMatchObject({ deploymentId: deployment.id, trigger: { events: ["word.said"] } });

    await server.client.api.createEvent({ body: { event: "word.said", payload: { word: "hey", times: 2 } } });
    await actionRunsOf(server.client, trigger!.id, finishedActionRuns(1));
    const [created] = (await server.client.api.listFlowRuns({ query: { deploymentId: deployment.id } }))
      .items;
    const run = await waitForRunState(server.client, created!.id, isType("COMPLETED"));
    expect(run.parameters).toEqual({ word: "hey", times: 2 });
    expect(run.state?.data).toMatchObject({ value: "HEYHEY" });
  });
});
