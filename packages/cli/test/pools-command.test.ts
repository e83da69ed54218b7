import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultBaseJobTemplate, type ConcurrencyLimit, type WorkPool, type WorkQueue } from "@baton/core";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

let server: TestServer;
let baton: (...args: string[]) => Promise<Result>;

beforeAll(async () => {
  server = await startTestServer("sqlite");
  baton = batonAt(server.apiUrl);
});
afterAll(() => server.stop());

describe("baton work-pool and work-queue", () => {
  it("creates the seed's pool and queues, lists and inspects them as tables and JSON", async () => {
    const created = await baton("work-pool", "create", "lock-pool", "--type", "process");
    expect(created.stdout).toContain("Created work pool 'lock-pool' (type process");
    const [priority, minority, limited] = await Promise.all([
      baton("work-queue", "create", "priority", "--pool", "lock-pool", "--priority", "2", "--limit", "1"),
      baton("work-queue", "create", "minority", "--pool", "lock-pool", "--priority", "3"),
      baton("work-pool", "create", "capped", "--concurrency-limit", "4"),
    ]);
    expect(priority.stdout).toContain(
      "Created work queue 'priority' in pool 'lock-pool' (priority 2, limit 1)",
    );
    expect(minority.stdout).toContain("(priority 3, limit none)");
    expect(limited.code).toBe(0);

    const [poolTable, poolJson, queueTable, queueJson, inspect, inspectJson, queueInspect, queueInspectJson] =
      await Promise.all([
        baton("work-pool", "ls"),
        baton("work-pool", "ls", "--json"),
        baton("work-queue", "ls", "--pool", "lock-pool"),
        baton("work-queue", "ls", "--pool", "lock-pool", "--json"),
        baton("work-pool", "inspect", "lock-pool"),
        baton("work-pool", "inspect", "lock-pool", "--json"),
        baton("work-queue", "inspect", "priority", "--pool", "lock-pool"),
        baton("work-queue", "inspect", "priority", "--pool", "lock-pool", "--json"),
      ]);
    const poolLines = poolTable.stdout.trimEnd().split("\n");
    expect(poolLines[0]).toMatch(/^NAME\s+TYPE\s+CONCURRENCY LIMIT\s+STATUS\s+CREATED$/);
    const lockLine = poolLines.find((line) => line.startsWith("lock-pool"))!;
    const cappedLine = poolLines.find((line) => line.startsWith("capped"))!;
    expect(lockLine).toMatch(
      /^lock-pool\s+process\s+none\s+ready\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ s ago)\)$/,
    );
    expect(cappedLine).toMatch(/^capped\s+process\s+4\s+ready/);
    // Columns are aligned: every row's TYPE starts where the header's does.
    expect(lockLine.indexOf("process")).toBe(poolLines[0]!.indexOf("TYPE"));
    expect(cappedLine.indexOf("process")).toBe(poolLines[0]!.indexOf("TYPE"));
    expect(poolTable.stdout).not.toContain("\x1b[");
    expect(
      json<WorkPool[]>(poolJson)
        .map((pool) => [pool.name, pool.concurrencyLimit])
        .sort(),
    ).toEqual([
      ["capped", 4],
      ["lock-pool", null],
    ]);

    expect(
      queueTable.stdout
        .split("\n")
        .slice(1, 4)
        .map((line) => line.split(/\s+/).slice(0, 3)),
    ).toEqual([
      ["default", "1", "none"],
      ["priority", "2", "1"],
      ["minority", "3", "none"],
    ]);
    expect(json<WorkQueue[]>(queueJson).map((queue) => queue.name)).toEqual([
      "default",
      "priority",
      "minority",
    ]);
    expect(inspect.stdout).toMatch(/Name:\s+lock-pool/);
    expect(inspect.stdout).toMatch(
      /Queues:\s+default \(priority 1\), priority \(priority 2\), minority \(priority 3\)/,
    );
    expect(json<WorkPool & { queues: WorkQueue[] }>(inspectJson)).toMatchObject({
      name: "lock-pool",
      type: "process",
      paused: false,
      queues: [{ name: "default" }, { name: "priority" }, { name: "minority" }],
    });
    expect(queueInspect.stdout).toMatch(/Priority:\s+2\n/);
    expect(queueInspect.stdout).toMatch(/Concurrency limit:\s+1\n/);
    expect(json<WorkQueue>(queueInspectJson)).toMatchObject({
      name: "priority",
      workPoolName: "lock-pool",
      priority: 2,
      concurrencyLimit: 1,
    });
  });

  it("pauses, resumes, limits, clears and deletes pools and queues", async () => {
    await server.client.api.createWorkPool({ body: { name: "edit-pool" } });
    await server.client.api.createWorkQueue({ params: { pool: "edit-pool" }, body: { name: "q" } });
    const outputs = await Promise.all([
      baton("work-pool", "pause", "edit-pool"),
      baton("work-pool", "set-concurrency-limit", "edit-pool", "3"),
      baton("work-queue", "pause", "q", "--pool", "edit-pool"),
      baton("work-queue", "set-concurrency-limit", "q", "5", "--pool", "edit-pool"),
    ]);
    expect(outputs.map((output) => output.stdout.trim())).toEqual([
      "Paused work pool 'edit-pool'.",
      "Set the concurrency limit of work pool 'edit-pool' to 3.",
      "Paused work queue 'q' in pool 'edit-pool'.",
      "Set the concurrency limit to 5 of work queue 'q' in pool 'edit-pool'.",
    ]);
    expect(await server.client.api.readWorkPool({ params: { name: "edit-pool" } })).toMatchObject({
      paused: true,
      concurrencyLimit: 3,
    });
    expect(await server.client.api.readWorkQueue({ params: { pool: "edit-pool", name: "q" } })).toMatchObject(
      {
        paused: true,
        concurrencyLimit: 5,
      },
    );
    const [paused] = await Promise.all([
      baton("work-queue", "ls", "--pool", "edit-pool"),
      baton("work-pool", "resume", "edit-pool"),
      baton("work-pool", "clear-concurrency-limit", "edit-pool"),
    ]);
    expect(paused.stdout).toMatch(/^q\s+\d+\s+5\s+paused\s+-$/m);
    await Promise.all([
      baton("work-queue", "resume", "q", "--pool", "edit-pool"),
      baton("work-queue", "clear-concurrency-limit", "q", "--pool", "edit-pool"),
    ]);
    expect(await server.client.api.readWorkPool({ params: { name: "edit-pool" } })).toMatchObject({
      paused: false,
      concurrencyLimit: null,
    });
    expect(await server.client.api.readWorkQueue({ params: { pool: "edit-pool", name: "q" } })).toMatchObject(
      {
        paused: false,
        concurrencyLimit: null,
      },
    );
    const [deletedQueue, deletedPool] = await Promise.all([
      baton("work-queue", "delete", "default", "--pool", "edit-pool"),
      baton("work-pool", "delete", "capped"),
    ]);
    expect(deletedQueue.stdout.trim()).toBe("Deleted work queue 'default' from pool 'edit-pool'.");
    expect(deletedPool.stdout.trim()).toBe("Deleted work pool 'capped'.");
    const queues = await server.client.api.listWorkQueues({ params: { pool: "edit-pool" } });
    expect(queues.items.map((queue) => queue.name)).toEqual(["q"]);
    const pools = await server.client.api.listWorkPools();
    expect(pools.items.map((pool) => pool.name)).not.toContain("capped");
  });

  it("names an unknown pool or queue and rejects bad numbers and missing --pool, in one line", async () => {
    const [inspect, queues, create, queue, limit, noPool, help] = await Promise.all([
      baton("work-pool", "inspect", "nope"),
      baton("work-queue", "ls", "--pool", "nope"),
      baton("work-queue", "create", "q", "--pool", "nope"),
      baton("work-queue", "inspect", "nope", "--pool", "lock-pool"),
      baton("work-pool", "set-concurrency-limit", "lock-pool", "many"),
      baton("work-queue", "ls"),
      baton("work-queue", "create", "--help"),
    ]);
    expect(oneLineError(inspect)).toBe("error: work pool 'nope' does not exist");
    expect(oneLineError(queues)).toBe("error: work pool 'nope' does not exist");
    expect(oneLineError(create)).toBe("error: work pool 'nope' does not exist");
    expect(oneLineError(queue)).toBe("error: work queue 'lock-pool/nope' does not exist");
    expect(oneLineError(limit)).toBe("error: 'many' is not a whole number");
    expect(oneLineError(noPool)).toContain("--pool <pool>' not specified");
    expect(help.stdout).toContain("Usage: baton work-queue create [options] <name>");
    expect(help.stdout).toContain("--priority <p>");
    expect(help.stdout).toContain("--limit <n>");
  });
});

describe("baton work-pool and base job templates", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "baton-template-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints a type's default template, fills a new pool's with it and shows its job variables", async () => {
    const printed = await baton("work-pool", "get-default-base-job-template", "--type", "docker");
    expect(json(printed)).toEqual(defaultBaseJobTemplate("docker"));
    const created = await baton("work-pool", "create", "containers", "--type", "docker");
    expect(created.code).toBe(0);
    const [inspect, inspectJson] = await Promise.all([
      baton("work-pool", "inspect", "containers"),
      baton("work-pool", "inspect", "containers", "--json"),
    ]);
    expect(json<WorkPool>(inspectJson).baseJobTemplate).toEqual(defaultBaseJobTemplate("docker"));
    const lines = inspect.stdout.split("\n");
    expect(lines).toContainEqual(expect.stringMatching(/^JOB VARIABLE\s+TYPE\s+DEFAULT$/));
    expect(lines).toContainEqual(expect.stringMatching(/^image\s+string\s+- \(required\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^pullPolicy\s+string\s+"if-not-present"$/));
    expect(lines).toContainEqual(expect.stringMatching(/^autoRemove\s+boolean\s+true$/));
  });

  it("creates a pool from a customised template file, with --job-variable defaults set in it", async () => {
    const template = defaultBaseJobTemplate("docker") as {
      variables: { properties: Record<string, object> };
    };
    template.variables.properties.image = { type: "string", default: "registry.example/flows:1" };
    const file = join(dir, "template.json");
    writeFileSync(file, JSON.stringify(template));
    const created = await baton(
      "work-pool",
      "create",
      "tuned",
      "--type",
      "docker",
      "--base-job-template",
      file,
      "--job-variable",
      "memory=1g",
    );
    expect(created.code).toBe(0);
    const pool = await server.client.api.readWorkPool({ params: { name: "tuned" } });
    const properties = (pool.baseJobTemplate.variables as typeof template.variables).properties;
    expect(properties.image).toEqual({ type: "string", default: "registry.example/flows:1" });
    expect(properties.memory).toMatchObject({ default: "1g" });
  });

  it("names what is wrong with a template file or a type without job variables, in one line", async () => {
    const notTemplate = join(dir, "not-template.json");
    writeFileSync(notTemplate, JSON.stringify({ job_configuration: {} }));
    const notJson = join(dir, "not-json.json");
    writeFileSync(notJson, "{ variables");
    const [shape, parse, missing, type] = await Promise.all([
      baton("work-pool", "create", "bad", "--type", "docker", "--base-job-template", notTemplate),
      baton("work-pool", "create", "bad", "--base-job-template", notJson),
      baton("work-pool", "create", "bad", "--base-job-template", join(dir, "nope.json")),
      baton("work-pool", "get-default-base-job-template", "--type", "kubernetes"),
    ]);
    expect(oneLineError(shape)).toContain(
      "error: the base job template holds 'job_configuration', which Baton does not read",
    );
    expect(oneLineError(parse)).toContain("is not JSON");
    expect(oneLineError(missing)).toContain("nope.json': no such file");
    expect(oneLineError(type)).toBe(
      "error: Baton knows the job variables of process and docker pools, not of 'kubernetes' pools",
    );
  });
});

describe("baton concurrency-limit", () => {
  it("creates, lists, inspects, resets and deletes a tag limit", async () => {
    const created = await baton("concurrency-limit", "create", "db-lock", "1");
    expect(created.stdout.trim()).toBe("Limited tag 'db-lock' to 1 running task run(s).");
    const [table, list, inspect, inspectJson, reset] = await Promise.all([
      baton("concurrency-limit", "ls"),
      baton("concurrency-limit", "ls", "--json"),
      baton("concurrency-limit", "inspect", "db-lock"),
      baton("concurrency-limit", "inspect", "db-lock", "--json"),
      baton("concurrency-limit", "reset", "db-lock"),
    ]);
    expect(table.stdout).toMatch(/^TAG\s+LIMIT\s+ACTIVE SLOTS\s+CREATED\ndb-lock\s+1\s+0\/1\s+\d{4}-/);
    expect(json<ConcurrencyLimit[]>(list)).toMatchObject([{ tag: "db-lock", limit: 1, activeSlots: [] }]);
    expect(inspect.stdout).toMatch(/Tag:\s+db-lock\n/);
    expect(inspect.stdout).toMatch(/Active slots:\s+0\/1\n/);
    expect(json<ConcurrencyLimit>(inspectJson)).toMatchObject({ tag: "db-lock", limit: 1 });
    expect(reset.stdout.trim()).toBe("Released every slot of tag 'db-lock' (0/1).");
    expect((await baton("concurrency-limit", "delete", "db-lock")).stdout.trim()).toBe(
      "Deleted the concurrency limit of tag 'db-lock'.",
    );
    const [gone, empty, badLimit] = await Promise.all([
      baton("concurrency-limit", "inspect", "db-lock"),
      baton("concurrency-limit", "ls"),
      baton("concurrency-limit", "create", "x", "-1"),
    ]);
    expect(oneLineError(gone)).toBe("error: concurrency limit for tag 'db-lock' does not exist");
    expect(empty.stdout).toContain("No concurrency limits");
    expect(badLimit.code).not.toBe(0);
  });
});
