/**
 * Artifacts through the real API: each type created for a flow run and a task run, listed by what
 * they belong to; a key's versions across runs (the newest per key, the history); progress changed in
 * place and held to its type; bad bodies refused with a 4xx naming the field; deleted with their run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FlowRun } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { failure } from "../../../test/runs.js";

const KiB = 1024;
const MISSING_ID = "01900000-0000-7000-8000-000000000001";

interface Answer {
  status: number;
  detail: string;
}

describe.each(DIALECTS)("artifacts on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const api = () => server.client.api;

  /** Real HTTP, so that what the typed client would not send can be. */
  async function send(method: string, path: string, body: unknown): Promise<Answer> {
    const response = await fetch(`${server.apiUrl}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const problem = (await response.json()) as { detail?: string };
    return { status: response.status, detail: problem.detail ?? "" };
  }

  function expectProblem(answer: Answer, status: number, ...mentions: string[]): void {
    expect(answer.status).toBe(status);
    for (const text of mentions) expect(answer.detail).toContain(text);
  }

  const newRun = (): Promise<FlowRun> => api().createFlowRun({ body: { flowName: "reporter" } });

  it("creates each type for a flow run and its task run, and lists them by what they belong to", async () => {
    const run = await newRun();
    const task = await api().createTaskRun({ body: { flowRunId: run.id, name: "load-0", taskKey: "load" } });
    const markdown = await api().createArtifact({
      body: {
        type: "markdown",
        data: "# Report\n\n**42** rows",
        description: "the summary",
        flowRunId: run.id,
      },
    });
    expect(markdown).toMatchObject({
      type: "markdown",
      data: "# Report\n\n**42** rows",
      key: null,
      description: "the summary",
      flowRunId: run.id,
      flowRunName: run.name,
      taskRunId: null,
    });
    const table = await api().createArtifact({
      body: {
        type: "table",
        data: [
          { name: "a", count: 1 },
          { name: "b", count: null },
        ],
        flowRunId: run.id,
        taskRunId: task.id,
      },
    });
    const link = await api().createArtifact({
      body: {
        type: "link",
        data: { link: "https://example.com/r", linkText: "the report" },
        flowRunId: run.id,
      },
    });
    const progress = await api().createArtifact({
      body: { type: "progress", data: 0, flowRunId: run.id, taskRunId: task.id },
    });
    expect(await api().readArtifact({ params: { id: table.id } })).toEqual(table);
    expect(table.data).toEqual([
      { name: "a", count: 1 },
      { name: "b", count: null },
    ]);

    const ids = (items: { id: string }[]) => items.map((item) => item.id);
    const ofRun = await api().listArtifacts({ query: { flowRunId: run.id } });
    expect(ids(ofRun.items)).toEqual([progress.id, link.id, table.id, markdown.id]);
    const ofTask = await api().listArtifacts({ query: { taskRunId: task.id } });
    expect(ids(ofTask.items)).toEqual([progress.id, table.id]);
    const links = await api().listArtifacts({ query: { flowRunId: run.id, type: "link" } });
    expect(ids(links.items)).toEqual([link.id]);
    const paged = await api().listArtifacts({ query: { flowRunId: run.id, limit: 3 } });
    expect(paged.nextOffset).toBe(3);
    const rest = await api().listArtifacts({ query: { flowRunId: run.id, limit: 3, offset: 3 } });
    expect([ids(rest.items), rest.nextOffset]).toEqual([[markdown.id], null]);

    // Outside a run: attached to none.
    const unattached = await api().createArtifact({ body: { type: "markdown", data: "standalone" } });
    expect([unattached.flowRunId, unattached.flowRunName, unattached.taskRunId]).toEqual([null, null, null]);
  });

  it("versions a key across runs: the newest per key, and the key's history newest first", async () => {
    const [first, second] = [await newRun(), await newRun()];
    const version = (flowRunId: string, key: string, data: string) =>
      api().createArtifact({ body: { type: "markdown", key, data, flowRunId } });
    const v1 = await version(first.id, "sales-report", "v1");
    const other = await version(first.id, "stock-report", "stock");
    const v2 = await version(second.id, "sales-report", "v2");
    const v3 = await version(second.id, "sales-report", "v3");
    await api().createArtifact({ body: { type: "markdown", data: "no key", flowRunId: second.id } });

    const latest = await api().listArtifacts({ query: { latest: "true" } });
    const keyed = latest.items.filter((item) => ["sales-report", "stock-report"].includes(item.key ?? ""));
    expect(keyed.map((item) => item.id)).toEqual([v3.id, other.id]);
    expect(latest.items.every((item) => item.key !== null)).toBe(true);
    const one = await api().listArtifacts({ query: { latest: "true", key: "sales-report" } });
    expect(one.items.map((item) => item.data)).toEqual(["v3"]);

    const history = await api().listArtifactVersions({ params: { key: "sales-report" } });
    expect(history.items.map((item) => [item.data, item.flowRunId])).toEqual([
      ["v3", second.id],
      ["v2", second.id],
      ["v1", first.id],
    ]);
    const page = await api().listArtifactVersions({ params: { key: "sales-report" }, query: { limit: 2 } });
    expect([page.items.map((item) => item.id), page.nextOffset]).toEqual([[v3.id, v2.id], 2]);
    expect((await failure(api().listArtifactVersions({ params: { key: "no-such-key" } }))).code).toBe(
      "not_found",
    );

    // The newest version deleted: the one before it is the newest.
    await api().deleteArtifact({ params: { id: v3.id } });
    const after = await api().listArtifacts({ query: { latest: "true", key: "sales-report" } });
    expect(after.items.map((item) => item.id)).toEqual([v2.id]);
    expect(await api().deleteArtifactKey({ params: { key: "sales-report" } })).toEqual({ deleted: 2 });
    expect((await failure(api().readArtifact({ params: { id: v1.id } }))).code).toBe("not_found");
  });

  it("changes a progress artifact in place, held to what its type holds", async () => {
    const run = await newRun();
    const progress = await api().createArtifact({
      body: { type: "progress", key: "load-progress", data: 10, flowRunId: run.id },
    });
    const moved = await api().updateArtifact({ params: { id: progress.id }, body: { data: 62.5 } });
    expect(moved).toMatchObject({ id: progress.id, data: 62.5, key: "load-progress" });
    expect(moved.updated >= progress.updated).toBe(true);
    const history = await api().listArtifactVersions({ params: { key: "load-progress" } });
    expect(history.items.map((item) => item.data)).toEqual([62.5]);
    const described = await api().updateArtifact({
      params: { id: progress.id },
      body: { description: "rows loaded" },
    });
    expect(described).toMatchObject({ data: 62.5, description: "rows loaded" });

    expectProblem(
      await send("PATCH", `/artifacts/${progress.id}`, { data: 150 }),
      400,
      "body.data",
      "a percentage from 0 to 100",
    );
    expectProblem(await send("PATCH", `/artifacts/${progress.id}`, { data: "half" }), 400, "body.data");
    expectProblem(await send("PATCH", `/artifacts/${progress.id}`, { type: "markdown" }), 400, "'type'");
    expectProblem(await send("PATCH", `/artifacts/${MISSING_ID}`, { data: 1 }), 404, "artifact");
    expect((await api().readArtifact({ params: { id: progress.id } })).data).toBe(62.5);
  });

  it("refuses bad bodies with a 4xx naming what is wrong, and stores none of them", async () => {
    const run = await newRun();
    const count = async () => (await api().listArtifacts({ query: { flowRunId: run.id } })).items.length;
    const post = (body: object) => send("POST", "/artifacts", { flowRunId: run.id, ...body });
    expectProblem(
      await post({ type: "markdown", data: "x", key: "Sales Report" }),
      400,
      "body.key",
      "only lowercase letters, digits and dashes",
    );
    expectProblem(await post({ type: "markdown", data: "x", key: "" }), 400, "body.key");
    expectProblem(await post({ type: "chart", data: "x" }), 400, "body.type");
    expectProblem(await post({ type: "markdown", data: 3 }), 400, "body.data");
    expectProblem(await post({ type: "table", data: [1, 2] }), 400, "body.data");
    expectProblem(await post({ type: "link", data: { link: "not a url" } }), 400, "absolute URL");
    expectProblem(await post({ type: "progress", data: -1 }), 400, "a percentage from 0 to 100");
    expectProblem(await post({ type: "markdown", data: "x", surprise: true }), 400, "'surprise'");
    expectProblem(
      await post({ type: "markdown", data: "x".repeat(1100 * KiB) }),
      413,
      "body.data",
      "BATON_MAX_ARTIFACT_BYTES",
    );
    expectProblem(
      await send("POST", "/artifacts", { type: "markdown", data: "x", flowRunId: MISSING_ID }),
      404,
      `flow run '${MISSING_ID}' does not exist`,
    );
    expect(await count()).toBe(0);
  });

  it("goes with its flow run", async () => {
    const run = await newRun();
    const artifact = await api().createArtifact({ body: { type: "progress", data: 5, flowRunId: run.id } });
    await api().deleteFlowRun({ params: { id: run.id } });
    expect((await failure(api().readArtifact({ params: { id: artifact.id } }))).code).toBe("not_found");
  });
});
