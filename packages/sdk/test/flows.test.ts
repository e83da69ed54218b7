import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { BatonError } from "@baton/core";
import { CancelledError, defaultClient, flow, getFlowRunResult, serve, task, TimeoutError } from "@baton/sdk";
import { Point, pointSerializer } from "./fixtures/point.js";
import { failure, isType, waitForRunState } from "../../../test/runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("flows and tasks tracked by a server on %s", (dialect) => {
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

  it("runs a flow with typed parameters and tasks, recording runs, states, result and logs", async () => {
    const double = task({ name: "double" }, async (n: number) => n * 2);
    const pipeline = flow(
      { name: "pipeline", parameters: { numbers: z.array(z.number()), label: z.string().default("sum") } },
      async ({ numbers, label }, { logger }) => {
        logger.info(`summing ${numbers.length} numbers`);
        const doubled = await Promise.all(numbers.map((n) => double(n)));
        return { [label]: doubled.reduce((a, b) => a + b, 0) };
      },
    );
    expect(await pipeline({ numbers: [1, 2, 3], label: "total" })).toEqual({ total: 12 });

    const [run] = (await api().listFlowRuns({ query: { flowName: "pipeline" } })).items;
    expect(run?.state).toMatchObject({ type: "COMPLETED", data: { kind: "inline", value: { total: 12 } } });
    expect(run?.parameters).toEqual({ numbers: [1, 2, 3], label: "total" });
    const tasks = (await api().listTaskRuns({ query: { flowRunId: run!.id } })).items;
    expect(tasks.map((t) => [t.name, t.state?.type]).sort()).toEqual([
      ["double-0", "COMPLETED"],
      ["double-1", "COMPLETED"],
      ["double-2", "COMPLETED"],
    ]);
    const logs = (await api().listLogs({ query: { flowRunId: run!.id } })).items;
    expect(logs.map((log) => log.message)).toContain("summing 3 numbers");
  });

  it("rejects JSON parameters that do not match the schema, naming the field", async () => {
    const typed = flow(
      { name: "typed", parameters: { count: z.number().int(), tags: z.array(z.string()) } },
      async ({ count }) => count,
    );
    const error = await failure(typed.runFromJson({ count: "three", tags: ["a", 1], extra: true }));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain("count");
    expect(error.message).toContain("tags.1");
    expect(error.message).toContain("extra");
    expect(await typed.runFromJson({ count: 3, tags: [] })).toBe(3);
    expect(typed.parameterSchema()).toMatchObject({ type: "object", required: ["count", "tags"] });
  });

  it("retries a failing task with its delays and records each attempt", async () => {
    let attempts = 0;
    const flaky = task({ name: "flaky", retries: 2, retryDelaySeconds: [0.05, 0.1] }, async () => {
      attempts++;
      if (attempts < 3) throw new Error(`attempt ${attempts} failed`);
      return "ok";
    });
    const retrying = flow({ name: "retrying" }, async () => flaky());
    expect(await retrying()).toBe("ok");
    const [run] = (await api().listFlowRuns({ query: { flowName: "retrying" } })).items;
    const [taskRun] = (await api().listTaskRuns({ query: { flowRunId: run!.id } })).items;
    expect(taskRun?.runCount).toBe(3);
    const history = await api().listTaskRunStates({ params: { id: taskRun!.id } });
    expect(history.map((state) => state.name)).toEqual([
      "Pending",
      "Running",
      "AwaitingRetry",
      "Pending",
      "Running",
      "AwaitingRetry",
      "Pending",
      "Running",
      "Completed",
    ]);
  });

  it("retries a failing flow and ends FAILED when retries run out, with every log line kept", async () => {
    let calls = 0;
    const doomed = flow({ name: "doomed", retries: 1 }, async (_, { logger }) => {
      calls++;
      logger.info(`attempt ${calls}`);
      throw new Error("always fails");
    });
    const error = await failure(doomed());
    expect(error.message).toBe("always fails");
    expect(calls).toBe(2);
    const [run] = (await api().listFlowRuns({ query: { flowName: "doomed" } })).items;
    expect(run?.state?.type).toBe("FAILED");
    const messages = (await api().listLogs({ query: { flowRunId: run!.id } })).items.map(
      (log) => log.message,
    );
    expect(messages).toEqual(expect.arrayContaining(["attempt 1", "attempt 2"]));
  });

  it("fails a run that exceeds its timeout with a TimeoutError", async () => {
    const slow = flow({ name: "slow", timeoutSeconds: 0.1 }, async (_, { signal }) => {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 10_000);
        signal.addEventListener("abort", () => (clearTimeout(timer), reject(signal.reason as Error)));
      });
    });
    const error = await failure(slow());
    expect(error).toBeInstanceOf(TimeoutError);
    const [run] = (await api().listFlowRuns({ query: { flowName: "slow" } })).items;
    expect(run?.state).toMatchObject({ type: "FAILED", name: "TimedOut" });
    expect(run?.state?.message).toContain("timed out after 0.1s");
  });

  it("links subflows to their parent and runs submitted and mapped tasks concurrently", async () => {
    let running = 0;
    let peak = 0;
    const work = task({ name: "work" }, async (n: number) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 30));
      running--;
      return n + 1;
    });
    const child = flow({ name: "child-flow", parameters: { n: z.number() } }, async ({ n }) => work(n));
    const parent = flow({ name: "parent-flow" }, async () => {
      const futures = work.map([1, 2, 3, 4]);
      const submitted = work.submit(10);
      const results = await Promise.all(futures);
      return { results, submitted: await submitted, child: await child({ n: 100 }) };
    });
    expect(await parent()).toEqual({ results: [2, 3, 4, 5], submitted: 11, child: 101 });
    expect(peak).toBeGreaterThan(1);
    const [parentRun] = (await api().listFlowRuns({ query: { flowName: "parent-flow" } })).items;
    const children = (await api().listFlowRuns({ query: { parentFlowRunId: parentRun!.id } })).items;
    expect(children.map((run) => [run.flowName, run.state?.type])).toEqual([["child-flow", "COMPLETED"]]);
  });

  it("runs tasks tagged with a limited tag one at a time", async () => {
    await api().createConcurrencyLimit({ body: { tag: "db-lock", limit: 1 } });
    let running = 0;
    let peak = 0;
    const write = task({ name: "db-write", tags: ["db-lock"] }, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
    });
    const writer = flow({ name: "writer" }, async () => Promise.all([write(), write(), write()]));
    await writer();
    expect(peak).toBe(1);
    expect((await api().readConcurrencyLimit({ params: { tag: "db-lock" } })).activeSlots).toEqual([]);
  });

  it("stops a running flow and its task when the flow run is cancelled through the API, and calls its hooks", async () => {
    const hookCalls: string[] = [];
    // The task ignores its signal on purpose: cancellation must not depend on its cooperation.
    const stubborn = task(
      { name: "stubborn" },
      () => new Promise<void>((resolve) => setTimeout(resolve, 60_000).unref()),
    );
    const cancellable = flow(
      {
        name: "cancellable",
        onCancellation: [({ state }) => void hookCalls.push(`cancelled:${state?.type}`)],
        onFailure: [() => void hookCalls.push("failure")],
      },
      async () => stubborn(),
    );
    const controller = new AbortController();
    const taskStarted = new Promise<string>((resolve) => {
      void server.client.events({ names: ["task-run.state-changed"], signal: controller.signal }, (event) => {
        if ((event.payload.state as { type: string }).type === "RUNNING" && event.flowRunId)
          resolve(event.flowRunId);
      });
    });
    const running = cancellable();
    const flowRunId = await taskStarted;
    controller.abort();
    await api().setFlowRunState({ params: { id: flowRunId }, body: { state: { type: "CANCELLING" } } });
    const error = await failure(running);
    expect(error).toBeInstanceOf(CancelledError);
    expect((await api().readFlowRun({ params: { id: flowRunId } })).state?.type).toBe("CANCELLED");
    const [taskRun] = (await api().listTaskRuns({ query: { flowRunId } })).items;
    expect(taskRun?.state?.type).toBe("CANCELLED");
    expect(hookCalls).toEqual(["cancelled:CANCELLED"]);
  });

  it("serve() follows the stops of all its runs on one event stream, and a cancel stops only its run", async () => {
    const client = defaultClient()!;
    const events = client.events.bind(client);
    let streams = 0;
    client.events = (options, onEvent) => (streams++, events(options, onEvent));
    const sleeper = flow(
      { name: "sleeper", parameters: z.object({ ms: z.number() }) },
      async ({ ms }, { signal }) => sleep(ms, ms, { signal }),
    );
    const stop = new AbortController();
    let ready!: (id: string) => void;
    const deployed = new Promise<string>((resolve) => (ready = resolve));
    const serving = serve([sleeper.toDeployment({ name: "shared-stops" })], {
      limit: 4,
      signal: stop.signal,
      onReady: ([deployment]) => ready(deployment!.id),
    });
    try {
      const id = await deployed;
      const start = (ms: number) =>
        api().createDeploymentRun({ params: { id }, body: { parameters: { ms } } });
      const long = await Promise.all([1, 2, 3].map(() => start(60_000)));
      await Promise.all(long.map((run) => waitForRunState(server.client, run.id, isType("RUNNING"))));
      const cancel = (run: { id: string }) =>
        api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "CANCELLING" } } });
      await cancel(long[1]!);
      await waitForRunState(server.client, long[1]!.id, isType("CANCELLED"));
      const short = await Promise.all([1, 2].map(() => start(1)));
      for (const run of short) await waitForRunState(server.client, run.id, isType("COMPLETED"));
      for (const run of [long[0]!, long[2]!]) {
        expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("RUNNING");
        await cancel(run);
        await waitForRunState(server.client, run.id, isType("CANCELLED"));
      }
      // Five runs, one stream: opened by serve() for them all (it was one per run).
      expect(streams).toBe(1);
    } finally {
      stop.abort();
      await serving;
      client.events = events;
    }
  });

  it("calls completion and failure hooks with the final state", async () => {
    const seen: string[] = [];
    const record = (label: string) => [
      ({ state }: { state: { type: string } | null }) => void seen.push(`${label}:${state?.type}`),
    ];
    const ok = flow(
      { name: "hooked-ok", onCompletion: record("completed"), onFailure: record("failed") },
      async () => 1,
    );
    const bad = flow(
      { name: "hooked-bad", onCompletion: record("completed"), onFailure: record("failed") },
      async () => {
        throw new Error("nope");
      },
    );
    await ok();
    await failure(bad());
    expect(seen).toEqual(["completed:COMPLETED", "failed:FAILED"]);
  });

  it("persists a typed result that another process fetches and decodes into its type", async () => {
    process.env.BATON_HOME = mkdtempSync(join(tmpdir(), "baton-results-"));
    const locate = flow(
      { name: "locate", persistResult: true, resultSerializer: pointSerializer },
      async () => new Point(3, 4),
    );
    await locate();
    const [run] = (await api().listFlowRuns({ query: { flowName: "locate" } })).items;
    expect(run?.state?.data).toMatchObject({
      kind: "stored",
      serializer: "point",
      storage: "local",
      typeName: "test.Point",
    });
    expect(await getFlowRunResult(run!.id)).toBeInstanceOf(Point);
    const reader = fileURLToPath(new URL("./fixtures/read-result.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", reader, run!.id],
      {
        env: process.env,
      },
    );
    expect(JSON.parse(stdout)).toEqual({ isPoint: true, norm: 5 });
  });

  it("holds a tag limit across processes: two processes' tagged tasks never overlap", async () => {
    await api().createConcurrencyLimit({ body: { tag: "xproc-lock", limit: 1 } });
    const writer = fileURLToPath(new URL("./fixtures/db-writer.ts", import.meta.url));
    const run = () =>
      promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", writer], {
        env: process.env,
      });
    const outputs = await Promise.all([run(), run()]);
    expect(outputs.map(({ stdout }) => JSON.parse(stdout) as number[])).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    const runs = (await api().listTaskRuns({ query: { tag: "xproc-lock", limit: 100 } })).items;
    expect(runs).toHaveLength(6);
    const intervals = runs
      .map((r) => [Date.parse(r.startTime!), Date.parse(r.endTime!)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i++)
      expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    expect((await api().readConcurrencyLimit({ params: { tag: "xproc-lock" } })).activeSlots).toEqual([]);
  });

  it("captures console output of a run with logPrints, tasks included", async () => {
    const shout = task({ name: "shout" }, async () => console.warn("from a task"));
    const printing = flow({ name: "printing", logPrints: true }, async () => {
      console.log("hello %s", "world");
      await shout();
    });
    await printing();
    const [run] = (await api().listFlowRuns({ query: { flowName: "printing" } })).items;
    const logs = (await api().listLogs({ query: { flowRunId: run!.id } })).items.map((log) => [
      log.level,
      log.message,
    ]);
    expect(logs).toEqual(
      expect.arrayContaining([
        [20, "hello world"],
        [30, "from a task"],
      ]),
    );
  });

  it("reuses a cached task result across flow runs", async () => {
    let computed = 0;
    const expensive = task(
      { name: "expensive", cacheKey: (n: number) => `expensive-${n}`, cacheExpirationSeconds: 60 },
      async (n: number) => {
        computed++;
        return n * 10;
      },
    );
    const cached = flow({ name: "cached" }, async () => expensive(7));
    expect(await cached()).toBe(70);
    expect(await cached()).toBe(70);
    expect(computed).toBe(1);
  });

  it("takes a cached result its own process has not recorded yet, and records both task runs", async () => {
    let computed = 0;
    const square = task({ name: "square", cacheKey: (n: number) => `square-${n}` }, async (n: number) => {
      computed++;
      return n * n;
    });
    // The second call comes before the first one's batch of states is sent (20 ms later).
    const twice = flow({ name: "twice-cached" }, async () => [await square(3), await square(3)]);
    expect(await twice()).toEqual([9, 9]);
    expect(computed).toBe(1);
    const [run] = (await api().listFlowRuns({ query: { flowName: "twice-cached" } })).items;
    const tasks = (await api().listTaskRuns({ query: { flowRunId: run!.id } })).items;
    expect(tasks.map((taskRun) => taskRun.state?.name).sort()).toEqual(["Cached", "Completed"]);
    expect(tasks.map((taskRun) => taskRun.cacheKey)).toEqual(["square-3", "square-3"]);
    // What it recorded is what other processes find.
    const found = await api().readCachedTaskRunState({ query: { cacheKey: "square-3" } });
    expect(found.state).toMatchObject({ type: "COMPLETED", data: { value: 9 } });
  });
});

describe("flows without a server", () => {
  it("run untracked, with the same retry rules", async () => {
    delete process.env.BATON_API_URL;
    let attempts = 0;
    const local = flow({ name: "local", retries: 1 }, async () => {
      attempts++;
      if (attempts === 1) throw new Error("first attempt fails");
      return "done";
    });
    expect(await local()).toBe("done");
    expect(attempts).toBe(2);
  });
});

describe("a flow whose server goes away mid-run", () => {
  it("ends crashed: the call fails with a clear error and the crash hooks run", async () => {
    const server = await startTestServer("sqlite");
    process.env.BATON_API_URL = server.apiUrl;
    // Reports wait for a server that went away (5 minutes by default): a second here, then it gives up.
    process.env.BATON_REPORT_RETRY_SECONDS = "1";
    const crashes: string[] = [];
    const orphaned = flow(
      { name: "orphaned", onCrashed: [({ error }) => void crashes.push((error as BatonError).code)] },
      async () => {
        await server.stop(); // the server dies while the flow runs
        return "done";
      },
    );
    const error = await failure(orphaned());
    delete process.env.BATON_API_URL;
    delete process.env.BATON_REPORT_RETRY_SECONDS;
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain(server.apiUrl);
    expect(crashes).toEqual(["unavailable"]);
  });
});
