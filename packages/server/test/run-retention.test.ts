import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FlowRun, StateType } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { failure } from "../../../test/runs.js";
import { CLIENT_HEADER } from "../src/api/guard.js";
import { runRetentionService } from "../src/services/run-retention.js";

const DAY_MS = 86_400_000;
/** What the Baton client sends with a request that has no body. */
const asClient = { [CLIENT_HEADER]: "test" };

describe.each(DIALECTS)("run retention on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    // Services off: the test runs the retention pass itself, at a "now" of its choosing.
    server = await startTestServer(dialect, { services: false });
  });
  afterAll(async () => {
    await server.stop();
  });
  const api = () => server.client.api;

  /** A tagged flow run with a task run, log lines and artifacts of both, left in `end` (or in flight). */
  async function runWithEverything(end: StateType | "RUNNING"): Promise<FlowRun> {
    const run = await api().createFlowRun({
      body: { flowName: "kept-or-not", tags: ["nightly"], state: { type: "PENDING" } },
    });
    const id = { params: { id: run.id } };
    await api().setFlowRunState({ ...id, body: { state: { type: "RUNNING" } } });
    const task = await api().createTaskRun({
      body: { flowRunId: run.id, name: "step-0", taskKey: "step", tags: ["nightly"] },
    });
    await api().setTaskRunState({ params: { id: task.id }, body: { state: { type: "RUNNING" } } });
    await api().setTaskRunState({ params: { id: task.id }, body: { state: { type: "COMPLETED" } } });
    const timestamp = new Date().toISOString();
    await api().createLogs({
      body: [
        { flowRunId: run.id, level: 20, message: "flow line", timestamp },
        { flowRunId: run.id, taskRunId: task.id, level: 20, message: "task line", timestamp },
      ],
    });
    await api().createArtifact({
      body: { type: "markdown", key: "run-report", data: "# kept or not", flowRunId: run.id },
    });
    await api().createArtifact({
      body: { type: "progress", data: 100, flowRunId: run.id, taskRunId: task.id },
    });
    if (end !== "RUNNING") await api().setFlowRunState({ ...id, body: { state: { type: end } } });
    return api().readFlowRun(id);
  }

  /** Rows anywhere in the store that belong to these flow runs or their task runs. */
  async function rowsOf(runIds: string[]): Promise<Record<string, number>> {
    const db = server.ctx.db.kysely;
    const count = async (query: Promise<{ count: number | string | bigint }>) => Number((await query).count);
    const tasks = (
      await db.selectFrom("taskRuns").select("id").where("flowRunId", "in", runIds).execute()
    ).map((row) => row.id);
    return {
      flowRuns: await count(
        db
          .selectFrom("flowRuns")
          .select((eb) => eb.fn.countAll().as("count"))
          .where("id", "in", runIds)
          .executeTakeFirstOrThrow(),
      ),
      taskRuns: tasks.length,
      states: await count(
        db
          .selectFrom("states")
          .select((eb) => eb.fn.countAll().as("count"))
          .where((eb) =>
            eb.or([
              eb("flowRunId", "in", runIds),
              ...(tasks.length > 0 ? [eb("taskRunId", "in", tasks)] : []),
            ]),
          )
          .executeTakeFirstOrThrow(),
      ),
      logs: await count(
        db
          .selectFrom("logs")
          .select((eb) => eb.fn.countAll().as("count"))
          .where("flowRunId", "in", runIds)
          .executeTakeFirstOrThrow(),
      ),
      tags: await count(
        db
          .selectFrom("flowRunTags")
          .select((eb) => eb.fn.countAll().as("count"))
          .where("flowRunId", "in", runIds)
          .executeTakeFirstOrThrow(),
      ),
      artifacts: await count(
        db
          .selectFrom("artifacts")
          .select((eb) => eb.fn.countAll().as("count"))
          .where("flowRunId", "in", runIds)
          .executeTakeFirstOrThrow(),
      ),
    };
  }

  /** Returns once the clock has moved past `time`, so that what ends from now on ends after it. */
  async function pastTime(time: number): Promise<void> {
    while (Date.now() <= time) await new Promise((resolve) => setImmediate(resolve));
  }

  it("deletes exactly the runs that ended before the retention period, with all they hold", async () => {
    const old = [
      await runWithEverything("COMPLETED"),
      await runWithEverything("FAILED"),
      await runWithEverything("CANCELLED"),
    ];
    const stillRunning = await runWithEverything("RUNNING");
    const scheduled = await api().createFlowRun({
      body: { flowName: "kept-or-not", state: { type: "SCHEDULED" } },
    });
    const cutoff = Math.max(...old.map((run) => Date.parse(run.endTime!))) + 1;
    await pastTime(cutoff);
    const recent = await runWithEverything("COMPLETED");
    const kept = [stillRunning.id, scheduled.id, recent.id];
    const keptBefore = await rowsOf(kept);
    expect(await rowsOf(old.map((run) => run.id))).toEqual({
      flowRuns: 3,
      taskRuns: 3,
      states: 18,
      logs: 6,
      tags: 3,
      artifacts: 6,
    });

    // A pass one day after the cutoff, with a retention of one day.
    const service = runRetentionService(server.ctx, { ...server.settings, runRetentionDays: 1 });
    await service.runOnce(new Date(cutoff + DAY_MS));

    expect(await rowsOf(old.map((run) => run.id))).toEqual({
      flowRuns: 0,
      taskRuns: 0,
      states: 0,
      logs: 0,
      tags: 0,
      artifacts: 0,
    });
    expect(await rowsOf(kept)).toEqual(keptBefore);
    // The key's newest version went with its run: the newest left is a kept run's.
    const [newest] = (await api().listArtifacts({ query: { key: "run-report", latest: "true" } })).items;
    expect(newest?.flowRunId).toBe(recent.id);
    for (const run of old) {
      expect((await failure(api().readFlowRun({ params: { id: run.id } }))).code).toBe("not_found");
    }

    // Retention off (0, the default) deletes nothing, however old.
    const off = runRetentionService(server.ctx, { ...server.settings, runRetentionDays: 0 });
    await off.runOnce(new Date(Date.now() + 1000 * DAY_MS));
    expect(await rowsOf(kept)).toEqual(keptBefore);
  });

  it("keeps a deployment's runs as long as the deployment says, the others as the server says", async () => {
    const finishedRunOf = async (deploymentId: string) => {
      const run = await api().createDeploymentRun({ params: { id: deploymentId }, body: {} });
      for (const type of ["PENDING", "RUNNING", "COMPLETED"] as const) {
        await api().setFlowRunState({ params: { id: run.id }, body: { state: { type } } });
      }
      return (await api().readFlowRun({ params: { id: run.id } })).id;
    };
    const short = await api().createDeployment({
      body: { name: "short", flowName: "retained", runRetentionDays: 2 },
    });
    expect(short.runRetentionDays).toBe(2);
    const long = await api().createDeployment({
      body: { name: "long", flowName: "retained", runRetentionDays: 60 },
    });
    const usual = await api().createDeployment({ body: { name: "usual", flowName: "retained" } });
    expect(usual.runRetentionDays).toBeNull();
    const [inShort, inLong, inUsual] = [
      await finishedRunOf(short.id),
      await finishedRunOf(long.id),
      await finishedRunOf(usual.id),
    ];
    const exists = async (id: string) => (await rowsOf([id])).flowRuns === 1;
    const pass = (serverDays: number, daysLater: number) =>
      runRetentionService(server.ctx, { ...server.settings, runRetentionDays: serverDays }).runOnce(
        new Date(Date.now() + daysLater * DAY_MS),
      );

    // The server keeps runs for ever (0): only a deployment's own retention deletes.
    await pass(0, 3);
    expect([await exists(inShort), await exists(inLong), await exists(inUsual)]).toEqual([false, true, true]);
    // The server's 30 days apply to the deployment without its own; the 60-day one keeps its runs.
    await pass(30, 31);
    expect([await exists(inLong), await exists(inUsual)]).toEqual([true, false]);
    await pass(30, 61);
    expect(await exists(inLong)).toBe(false);
  });

  it("deletes through the API by end time and final state, and refuses a request without a time", async () => {
    const completed = await runWithEverything("COMPLETED");
    const failed = await runWithEverything("FAILED");
    const before = new Date(Date.now() + 60_000).toISOString();

    expect(await api().deleteFlowRuns({ query: { before, stateType: ["FAILED"] } })).toEqual({ deleted: 1 });
    expect((await failure(api().readFlowRun({ params: { id: failed.id } }))).code).toBe("not_found");
    expect((await api().readFlowRun({ params: { id: completed.id } })).id).toBe(completed.id);

    const noTime = await fetch(`${server.apiUrl}/flow-runs`, { method: "DELETE", headers: asClient });
    expect(noTime.status).toBe(400);
    expect(((await noTime.json()) as { detail: string }).detail).toMatch(/before/);
    const notFinal = await fetch(`${server.apiUrl}/flow-runs?before=${before}&stateType=RUNNING`, {
      method: "DELETE",
      headers: asClient,
    });
    expect(notFinal.status).toBe(400);
    expect((await api().readFlowRun({ params: { id: completed.id } })).id).toBe(completed.id);
  });

  it.runIf(dialect === "sqlite")("gives the space of deleted runs back to the SQLite file", async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, () => runWithEverything("COMPLETED")));
    const lines = runs.flatMap((run) =>
      Array.from({ length: 50 }, () => ({
        flowRunId: run.id,
        level: 20,
        message: "x".repeat(4000),
        timestamp: new Date().toISOString(),
      })),
    );
    await api().createLogs({ body: lines });
    const size = async () => {
      const result = await sql<{
        pages: number;
      }>`SELECT page_count AS pages FROM pragma_page_count()`.execute(server.ctx.db.kysely);
      return result.rows[0]!.pages;
    };
    const full = await size();
    const { deleted } = await api().deleteFlowRuns({
      query: { before: new Date(Date.now() + 60_000).toISOString() },
    });
    expect(deleted).toBeGreaterThanOrEqual(20);
    // 1,000 lines of 4 KB were about 1,000 pages of 4 KB: most of them are given back.
    expect(full - (await size())).toBeGreaterThan(500);
  });
});
