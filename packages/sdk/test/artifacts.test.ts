import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { BatonError } from "@baton/core";
import {
  createLinkArtifact,
  createMarkdownArtifact,
  createProgressArtifact,
  createTableArtifact,
  currentRun,
  flow,
  task,
  updateProgressArtifact,
} from "@baton/sdk";
import { failure } from "../../../test/runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("artifacts from flows on a server on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    process.env.BATON_API_URL = server.apiUrl;
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    await server.stop();
  });
  const api = () => server.client.api;

  /** A flow whose task moves a progress bar and whose body reports what the task did, under `key`. */
  const report = flow({ name: "nightly-report", parameters: { key: z.string() } }, async ({ key }) => {
    const load = task({ name: "load" }, async () => {
      const progress = await createProgressArtifact({ progress: 0, description: "rows loaded" });
      await updateProgressArtifact(progress, 50);
      await updateProgressArtifact(progress, 100);
      await createTableArtifact({
        table: [
          { region: "eu", rows: 3 },
          { region: "us", rows: 4 },
        ],
      });
      return { progress, taskRunId: currentRun()!.taskRunId! };
    });
    const loaded = await load();
    await createMarkdownArtifact({ markdown: "# Nightly\n\n7 rows", key, description: "the summary" });
    await createLinkArtifact({ link: "https://example.com/nightly", linkText: "the full report" });
    return { ...loaded, flowRunId: currentRun()!.flowRunId! };
  });

  it("attaches the artifacts a flow and its task create to their runs", async () => {
    const { progress, flowRunId, taskRunId } = await report({ key: "nightly-summary" });
    // The task run the artifacts name is the one recorded for the flow run.
    expect((await api().readTaskRun({ params: { id: taskRunId } })).flowRunId).toBe(flowRunId);
    const ofRun = (await api().listArtifacts({ query: { flowRunId } })).items;
    expect(ofRun.map((artifact) => [artifact.type, artifact.taskRunId])).toEqual([
      ["link", null],
      ["markdown", null],
      ["table", taskRunId],
      ["progress", taskRunId],
    ]);
    expect(ofRun.find((artifact) => artifact.type === "link")?.data).toEqual({
      link: "https://example.com/nightly",
      linkText: "the full report",
    });
    expect(ofRun.find((artifact) => artifact.type === "markdown")).toMatchObject({
      key: "nightly-summary",
      data: "# Nightly\n\n7 rows",
      description: "the summary",
    });
    expect(await api().readArtifact({ params: { id: progress } })).toMatchObject({
      type: "progress",
      data: 100,
      description: "rows loaded",
      flowRunId,
      taskRunId,
    });
  });

  it("makes each run's artifact of a key its newest version", async () => {
    const first = await report({ key: "versioned-summary" });
    const second = await report({ key: "versioned-summary" });
    const versions = await api().listArtifactVersions({ params: { key: "versioned-summary" } });
    expect(versions.items.map((artifact) => artifact.flowRunId)).toEqual([second.flowRunId, first.flowRunId]);
    const latest = await api().listArtifacts({ query: { key: "versioned-summary", latest: "true" } });
    expect(latest.items.map((artifact) => artifact.flowRunId)).toEqual([second.flowRunId]);
  });

  it("creates an artifact of no run outside a run, and refuses a bad key before sending it", async () => {
    const id = await createMarkdownArtifact({ markdown: "made by a script", key: "script-note" });
    expect(await api().readArtifact({ params: { id } })).toMatchObject({ flowRunId: null, taskRunId: null });

    const refused = await failure(createMarkdownArtifact({ markdown: "x", key: "Script Note" }));
    expect(refused).toBeInstanceOf(BatonError);
    expect(refused.message).toBe(
      "artifact key 'Script Note' may hold only lowercase letters, digits and dashes (at most 200)",
    );
    const tooFar = await failure(updateProgressArtifact(id, 50));
    expect(tooFar.code).toBe("invalid_argument");
    expect(tooFar.message).toContain("markdown artifact");
    expect((await failure(createProgressArtifact({ progress: 101 }))).message).toContain("0 to 100");
  });

  it("says that an artifact needs a server when none is set", async () => {
    delete process.env.BATON_API_URL;
    try {
      const refused = await failure(createMarkdownArtifact({ markdown: "nowhere to go" }));
      expect(refused.message).toBe(
        "a markdown artifact needs a Baton server: set BATON_API_URL (for example http://127.0.0.1:4200/api)",
      );
    } finally {
      process.env.BATON_API_URL = server.apiUrl;
    }
  });
});
