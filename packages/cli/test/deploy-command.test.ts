import { createServer } from "node:net";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployment } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";
import { BATON, batonAt, json, oneLineError, type Result } from "./run-baton.js";

// The module is given as a user types it, relative to the directory `baton` runs in (the tests').
const FIXTURE = fileURLToPath(new URL("fixtures/flows.ts", import.meta.url));
const MODULE = relative(process.cwd(), FIXTURE);
const ENTRYPOINT = `${MODULE}:greet`;

describe.each(DIALECTS)("baton deploy and baton worker start on %s", (dialect) => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  const workers: TestProcess[] = [];

  beforeAll(async () => {
    server = await startTestServer(dialect);
    baton = batonAt(server.apiUrl);
    await server.client.api.createWorkPool({ body: { name: "lock-pool" } });
    await server.client.api.createWorkQueue({
      params: { pool: "lock-pool" },
      body: { name: "priority", priority: 2, concurrencyLimit: 1 },
    });
  });
  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await server.stop();
  });

  const stored = (name: string) =>
    server.client.api.readDeploymentByName({ params: { flowName: "greet", deploymentName: name } });

  it("registers a flow exported by a TypeScript module and says how to serve and run it", async () => {
    const result = await baton(
      "deploy",
      ENTRYPOINT,
      "--name",
      "nightly",
      "--pool",
      "lock-pool",
      "--work-queue",
      "priority",
      "--param",
      'names=["Ada"]',
      "--tag",
      "team-a",
      "--description",
      "says hello",
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(
      `Deployment 'greet/nightly' registered: ${ENTRYPOINT} in ${process.cwd()}, pool 'lock-pool', queue 'priority'.\n` +
        "Start a worker:  baton worker start --pool lock-pool\n" +
        "Run it:          baton deployment run 'greet/nightly'\n",
    );
    const deployment = await stored("nightly");
    expect(deployment).toMatchObject({
      entrypoint: ENTRYPOINT,
      path: process.cwd(),
      workPoolName: "lock-pool",
      workQueueName: "priority",
      parameters: { names: ["Ada"] },
      tags: ["team-a"],
      description: "says hello",
      schedules: [],
    });
    // The flow's zod schema, as JSON Schema, so the server checks each run's parameters.
    expect(deployment.parameterSchema).toMatchObject({
      properties: { names: { type: "array", minItems: 1 }, greeting: { default: "Hello" } },
      required: ["names"],
    });
  });

  it("stores a schedule's time zone as given, printing the deployment as JSON or the schedule for people", async () => {
    const [cron, interval] = await Promise.all([
      baton(
        ...["deploy", ENTRYPOINT, "-n", "morning", "-p", "lock-pool", "--param", 'names=["Ada"]'],
        ...["--cron", "0 9 * * *", "--timezone", "Asia/Seoul", "--json"],
        ...["--concurrency-limit", "1", "--collision-strategy", "cancel-new"],
      ),
      baton(
        ...["deploy", ENTRYPOINT, "-n", "hourly", "-p", "lock-pool", "--params", '{"names": ["Grace"]}'],
        ...["--interval", "3600", "--timezone", "Europe/Paris", "--retention-days", "14"],
      ),
    ]);
    const printed = json<Deployment>(cron);
    expect(printed).toMatchObject({
      flowName: "greet",
      name: "morning",
      workPoolName: "lock-pool",
      workQueueName: null, // the pool's default queue
      schedules: [{ schedule: { cron: "0 9 * * *", timezone: "Asia/Seoul" }, active: true }],
      concurrencyLimit: 1,
      collisionStrategy: "CANCEL_NEW",
    });
    expect(await stored("hourly")).toMatchObject({ collisionStrategy: "ENQUEUE", runRetentionDays: 14 });
    expect((await stored("morning")).runRetentionDays).toBeNull();
    expect((await stored("morning")).schedules).toEqual(printed.schedules);
    expect(interval.stdout).toContain("\nSchedule:        every 3600 s Europe/Paris\n");
    expect((await stored("hourly")).schedules[0]?.schedule).toEqual({
      interval: 3600,
      timezone: "Europe/Paris",
    });
  });

  it("refuses a missing module, a missing export, an unknown pool or queue and clashing schedules, in one line", async () => {
    const deploy = (entrypoint: string, ...args: string[]) =>
      baton("deploy", entrypoint, "--name", "bad", "--pool", "lock-pool", ...args);
    const [noFile, noExport, notAFlow, noPool, noQueue, twoSchedules, zoneAlone] = await Promise.all([
      deploy(`${MODULE.replace(/flows\.ts$/, "missing.ts")}:greet`),
      deploy(`${MODULE}:farewell`),
      deploy(`${MODULE}:defaultGreeting`),
      baton("deploy", ENTRYPOINT, "--name", "bad", "--pool", "nope"),
      deploy(ENTRYPOINT, "--work-queue", "later"),
      deploy(ENTRYPOINT, "--cron", "0 9 * * *", "--interval", "60"),
      deploy(ENTRYPOINT, "--timezone", "Asia/Seoul"),
    ]);
    expect(oneLineError(noFile)).toBe(
      `error: entrypoint '${MODULE.replace(/flows\.ts$/, "missing.ts")}:greet': no file ${FIXTURE.replace(/flows\.ts$/, "missing.ts")}`,
    );
    expect(oneLineError(noExport)).toBe(
      `error: entrypoint '${MODULE}:farewell': ${FIXTURE} exports no flow named 'farewell'; it exports 'greet'`,
    );
    expect(oneLineError(notAFlow)).toContain("exports no flow named 'defaultGreeting'; it exports 'greet'");
    expect(oneLineError(noPool)).toBe(
      "error: work pool 'nope' does not exist; create it with 'baton work-pool create nope --type process'",
    );
    expect(oneLineError(noQueue)).toBe(
      "error: work queue 'later' does not exist in pool 'lock-pool'; create it with 'baton work-queue create later --pool lock-pool'",
    );
    expect(oneLineError(twoSchedules)).toBe("error: give one of --cron, --interval and --rrule");
    expect(oneLineError(zoneAlone)).toBe("error: --timezone only applies with --cron, --interval or --rrule");
    const names = (await server.client.api.listDeployments()).items.map((deployment) => deployment.name);
    expect(names).not.toContain("bad");
  });

  it("runs the deployed flow on a worker started from the CLI, watched to its result", async () => {
    const worker = startProcess(
      [BATON, "worker", "start", "--name", "hard-worker", "--pool", "lock-pool", "--work-queue", "priority"],
      { built: true, env: { BATON_API_URL: server.apiUrl } },
    );
    workers.push(worker);
    await worker.waitForLine(
      /^Worker 'hard-worker' started on process pool 'lock-pool' \(queues priority\)$/,
    );
    const run = await baton(
      ...["deployment", "run", "greet/nightly", "--param", 'names=["Ada","Grace"]', "--param", "greeting=Hi"],
      "--watch",
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\| INFO {5}\| .* - greeting 2 people\n/);
    expect(run.stdout).toContain('Result: ["Hi, Ada!","Hi, Grace!"]\n');
    expect(await worker.stop()).toBe(0);
    expect(worker.lines).toContain("Worker 'hard-worker' stopped");
  });

  it("will not start a worker on an unknown pool or queue: one line, how to create it, exit 1", async () => {
    const [noPool, noQueue] = await Promise.all([
      baton("worker", "start", "--pool", "nope"),
      baton("worker", "start", "--pool", "lock-pool", "--work-queue", "priority", "--work-queue", "later"),
    ]);
    expect(oneLineError(noPool)).toBe(
      "error: work pool 'nope' does not exist; create it with 'baton work-pool create nope --type process'",
    );
    expect(oneLineError(noQueue)).toBe(
      "error: work queue 'later' does not exist in pool 'lock-pool'; create it with 'baton work-queue create later --pool lock-pool'",
    );
    expect(noPool.code).toBe(1);
    expect(noQueue.code).toBe(1);
  });
});

/** An API URL where nothing listens: a port that was free a moment ago. */
async function closedApiUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}/api`;
}

describe("baton worker start and baton deploy with the server down", () => {
  it("fail at once, in one line naming the URL tried and how to set it", async () => {
    const apiUrl = await closedApiUrl();
    const offline = batonAt(apiUrl);
    const started = Date.now();
    const results = await Promise.all([
      offline("worker", "start", "--pool", "lock-pool"),
      offline("deploy", ENTRYPOINT, "--name", "nightly", "--pool", "lock-pool"),
    ]);
    // The worker does not go on retrying: reading its pool is the first call, and it fails.
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const result of results) {
      expect(oneLineError(result)).toMatch(
        new RegExp(`^error: cannot reach the Baton API at ${apiUrl}: .*set BATON_API_URL\\.$`),
      );
      expect(result.code).toBe(1);
    }
  });
});
