import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess } from "../../../test/processes.js";
import { BATON, batonAt, oneLineError, type Result } from "./run-baton.js";

// The `prefect …` commands of the seed (a Korean Prefect tutorial), with `prefect` replaced by
// `baton` and nothing else changed, and Prefect's short flags.

let server: TestServer;
let baton: (...args: string[]) => Promise<Result>;

beforeAll(async () => {
  server = await startTestServer("sqlite");
  baton = batonAt(server.apiUrl);
  for (const [flowName, name] of [
    ["server-a-flow", "PrefectDeployerA"],
    ["server-b-flow", "PrefectDeployerB"],
  ] as const) {
    await server.client.api.createDeployment({ body: { flowName, name } });
  }
});
afterAll(() => server.stop());

const ok = (result: Result) => {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout.trim();
};

describe("the seed's commands, spelled as in Prefect", () => {
  it("create the pool, its queues and a tag limit", async () => {
    expect(ok(await baton("work-pool", "create", "lock-pool", "--type", "process"))).toMatch(
      /^Created work pool 'lock-pool' \(type process, id \S+\)\.$/,
    );
    const queues = await Promise.all([
      baton("work-queue", "create", "priority", "--pool", "lock-pool", "--priority", "2", "--limit", "1"),
      baton("work-queue", "create", "minority", "--pool", "lock-pool", "--priority", "3"),
      baton("work-queue", "create", "shorthand", "-p", "lock-pool", "-q", "4", "-l", "2"),
      baton("concurrency-limit", "create", "db-lock", "1"),
    ]);
    expect(queues.map(ok)).toEqual([
      "Created work queue 'priority' in pool 'lock-pool' (priority 2, limit 1).",
      "Created work queue 'minority' in pool 'lock-pool' (priority 3, limit none).",
      "Created work queue 'shorthand' in pool 'lock-pool' (priority 4, limit 2).",
      "Limited tag 'db-lock' to 1 running task run(s).",
    ]);
  });

  it("start a worker on one queue of the pool, long flags or short", async () => {
    for (const args of [
      ["--name", "hard-worker", "--pool", "lock-pool", "--work-queue", "priority"],
      ["-n", "hard-worker", "-p", "lock-pool", "-q", "priority", "-l", "1"],
    ]) {
      const worker = startProcess([BATON, "worker", "start", ...args], {
        built: true,
        env: { BATON_API_URL: server.apiUrl },
      });
      await worker.waitForLine(
        /^Worker 'hard-worker' started on process pool 'lock-pool' \(queues priority\)$/,
      );
      expect(await worker.stop()).toBe(0);
    }
  });

  it("run deployments with --param JSON values (-p for short), and watch with --watch-timeout", async () => {
    const [a, b, short] = await Promise.all([
      baton("deployment", "run", "server-a-flow/PrefectDeployerA", "--param", 'urls=["a", "b", "c"]'),
      baton(
        ...["deployment", "run", "server-b-flow/PrefectDeployerB"],
        ...["--param", 'data_info={"object_storage_urls": ["a"], "dataset": "b"}'],
      ),
      baton("deployment", "run", "server-a-flow/PrefectDeployerA", "-p", "urls=[]"),
    ]);
    expect(ok(a)).toContain('Parameters: {"urls":["a","b","c"]}');
    expect(ok(b)).toContain('Parameters: {"data_info":{"object_storage_urls":["a"],"dataset":"b"}}');
    expect(ok(short)).toContain('Parameters: {"urls":[]}');
    // Nothing serves these deployments, so watching stops at the timeout (exit 2).
    const watched = await baton(
      ...["deployment", "run", "server-a-flow/PrefectDeployerA", "-p", 'urls=["a"]'],
      ...["--watch", "--watch-timeout", "0.5"],
    );
    expect(watched.code).toBe(2);
    expect(watched.stdout).toContain("Stopped watching after 0.5 s");
  });

  it("create a docker pool; a worker that cannot reach its engine says so in one line", async () => {
    ok(await baton("work-pool", "create", "lock-container-pool", "--type", "docker"));
    const worker = await batonAt(server.apiUrl, { DOCKER_HOST: "unix:///nonexistent/docker.sock" })(
      "worker",
      "start",
      "--name",
      "hard-worker",
      "--pool",
      "lock-container-pool",
    );
    expect(oneLineError(worker)).toBe(
      "error: cannot reach the Docker engine at unix:///nonexistent/docker.sock (ENOENT): start it, or set DOCKER_HOST",
    );
  });
});
