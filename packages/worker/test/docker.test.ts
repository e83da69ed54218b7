import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { FlowRun, JsonObject } from "@baton/core";
import { batonAt, json } from "../../cli/test/run-baton.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import type { TestProcess } from "../../../test/processes.js";
import {
  historyLine,
  isType,
  limitSpans,
  mostAtOnce,
  waitForLog,
  waitForRunState,
} from "../../../test/runs.js";
import { containersOf, Docker, ensureNodeImage, findDockerEngine, NODE_IMAGE } from "./docker-engine.js";
import { deploy as deployFlow, root, startWorker as startWorkerProcess } from "./workers.js";

// A container takes seconds from claim to RUNNING under Podman (2–3 s on an idle 2-core machine, several
// times that when the machine is busy): these tests get more time than the suite's default.
vi.setConfig({ testTimeout: 120_000 });

const noEngine = findDockerEngine();
if (noEngine) {
  console.warn(`\n${"!".repeat(100)}\nDOCKER WORK POOL TESTS SKIPPED: ${noEngine}\n${"!".repeat(100)}\n`);
}

const ended = isType("COMPLETED", "FAILED", "CRASHED", "CANCELLED");

describe.skipIf(noEngine !== undefined).each(DIALECTS)("docker workers on %s", (dialect) => {
  let server: TestServer;
  let baton: ReturnType<typeof batonAt>;
  let docker: Docker;
  /** A directory mounted read-write into every container at the same path: the tests' gates. */
  let shared: string;
  const workers: TestProcess[] = [];
  const workerNames = new Set<string>();
  const api = () => server.client.api;

  /** A docker pool from the CLI; its job variables: the node image, the project mounted at its own path. */
  async function createPool(name: string): Promise<void> {
    const defaults = {
      image: NODE_IMAGE,
      volumes: [`${root}:${root}:ro`, `${shared}:${shared}`],
      workingDir: root,
      env: { BATON_HEARTBEAT_INTERVAL_SECONDS: "0.5" },
      stopGracePeriodSeconds: 2,
    };
    const variables = Object.entries(defaults).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
    const created = await baton(
      "work-pool",
      "create",
      name,
      "--type",
      "docker",
      ...variables.flatMap((v) => ["--job-variable", v]),
    );
    expect(created.code, created.stderr).toBe(0);
  }

  /** A worker with a name of its own: the containers it starts are found by it (they outlive a killed worker). */
  const startWorker = async (pool: string, name: string, ...args: string[]) => {
    workerNames.add(name);
    const worker = await startWorkerProcess(server.apiUrl, pool, ["--name", name, ...args]);
    workers.push(worker);
    return worker;
  };
  const deploy = (entrypoint: string, name: string, pool: string, ...args: string[]) =>
    deployFlow(server.apiUrl, entrypoint, name, pool, ...args);

  const run = (deploymentId: string, parameters: JsonObject, jobVariables?: JsonObject) =>
    api().createDeploymentRun({
      params: { id: deploymentId },
      body: { parameters, ...(jobVariables ? { jobVariables } : {}) },
    });

  beforeAll(async () => {
    docker = new Docker();
    await docker.ping(); // an engine that is configured but does not answer fails the suite
    ensureNodeImage();
    shared = mkdtempSync(join(tmpdir(), "baton-docker-"));
    server = await startTestServer(dialect, { flowRunHeartbeatTimeoutSeconds: 10, serviceLoopSeconds: 0.2 });
    baton = batonAt(server.apiUrl);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });
  afterAll(async () => {
    // Whatever a failed test left behind.
    for (const container of await containersOf(docker, ...workerNames)) {
      await docker.getContainer(container.Id).remove({ force: true });
    }
    await server?.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  it("runs a deployment run started from the CLI with JSON parameters in a container, with its logs and typed result", async () => {
    await createPool("docker-pool");
    await deploy("add", "sum", "docker-pool");
    const worker = await startWorker("docker-pool", `adder-${dialect}`);

    const created = json<FlowRun>(
      await baton("deployment", "run", "add/sum", "--params", '{"a": 20, "b": 22}', "--json"),
    );
    const done = await waitForRunState(server.client, created.id, ended);
    expect(done.state, await historyLine(server.client, created.id)).toMatchObject({
      type: "COMPLETED",
      data: { value: 42 },
    });
    expect(done.workerName).toBe(`adder-${dialect}`);
    // The container's console output, shipped by the worker; the worker's line names the container.
    await waitForLog(server.client, created.id, "adding 20 and 22");
    await waitForLog(server.client, created.id, "started the job (container ");
    await worker.waitForLine(new RegExp(`'${done.name}' job exited with code 0`));

    const states = await api().listFlowRunStates({ params: { id: created.id } });
    const at = (type: string) => Date.parse(states.find((s) => s.type === type)!.timestamp);
    console.log(`claim to RUNNING in a container: ${at("RUNNING") - at("PENDING")} ms`);
    expect(await containersOf(docker, `adder-${dialect}`)).toEqual([]); // removed once it exited
  });

  it("scenario 3 on a docker pool: lock-pool's priority queue runs one run at a time, in hard-worker", async () => {
    await createPool("lock-pool");
    await api().createWorkQueue({
      params: { pool: "lock-pool" },
      body: { name: "priority", priority: 2, concurrencyLimit: 1 },
    });
    await api().createWorkQueue({ params: { pool: "lock-pool" }, body: { name: "minority", priority: 3 } });
    const deployment = await deploy("nap", "locked", "lock-pool", "--work-queue", "priority");
    const worker = await startWorker("lock-pool", "hard-worker", "--work-queue", "priority");

    const runs = await Promise.all([1, 2, 3].map(() => run(deployment.id, { ms: 50 })));
    const finished = await Promise.all(
      runs.map((created) => waitForRunState(server.client, created.id, ended)),
    );
    expect(
      finished.map((done) => done.state?.type),
      (await Promise.all(finished.map((done) => historyLine(server.client, done.id)))).join(" | "),
    ).toEqual(["COMPLETED", "COMPLETED", "COMPLETED"]);
    expect(finished.map((done) => done.workerName)).toEqual(["hard-worker", "hard-worker", "hard-worker"]);
    expect(mostAtOnce(await limitSpans(server.client, finished))).toBe(1);
    for (const done of finished)
      await worker.waitForLine(new RegExp(`'${done.name}' job exited with code 0`));
    expect(await containersOf(docker, "hard-worker")).toEqual([]);
  });

  it("stops the container of a cancelled run and ends it CANCELLED", async () => {
    await createPool("cancels");
    const deployment = await deploy("nap", "long", "cancels");
    const worker = await startWorker("cancels", `canceller-${dialect}`);
    const created = await run(deployment.id, { ms: 600_000 });
    await waitForRunState(server.client, created.id, isType("RUNNING"));
    expect(await containersOf(docker, `canceller-${dialect}`)).toHaveLength(1);

    expect((await baton("flow-run", "cancel", created.id)).code).toBe(0);
    const cancelled = await waitForRunState(server.client, created.id, ended);
    expect(cancelled.state?.type).toBe("CANCELLED");
    await worker.waitForLine(/is being cancelled: its job has \d+ s to stop/);
    await worker.waitForLine(/job (exited with code|was killed by)/);
    expect(await containersOf(docker, `canceller-${dialect}`)).toEqual([]);
  });

  it("a worker killed mid-run and restarted under its name follows its running container again and settles the one that ended", async () => {
    const name = `phoenix-${dialect}`;
    await createPool("fragile");
    const deployment = await deploy("gated", "gated", "fragile");
    const first = await startWorker("fragile", name);
    const gates = { followed: join(shared, `followed-${dialect}`), ended: join(shared, `ended-${dialect}`) };
    const followed = await run(deployment.id, { gate: gates.followed });
    const endedAway = await run(deployment.id, { gate: gates.ended });
    await first.waitForLine(new RegExp(`waiting at the gate ${gates.followed}`));
    await first.waitForLine(new RegExp(`waiting at the gate ${gates.ended}`));
    process.kill(-first.child.pid!, "SIGKILL"); // the worker; its containers are the engine's, and run on
    await first.exited;

    // One run ends while no worker watches it: its container exits and stays, until a worker settles it.
    writeFileSync(gates.ended, "open");
    const [away] = (await containersOf(docker, name)).filter(
      (container) => container.Labels["baton.flow-run-id"] === endedAway.id,
    );
    await docker.getContainer(away!.Id).wait({ condition: "not-running" });

    const second = await startWorker("fragile", name);
    await second.waitForLine(/found its job \(container .*\), still running: following it again/);
    await second.waitForLine(/found its job \(container .*\), ended while no worker watched it/);
    writeFileSync(gates.followed, "open");

    const [one, two] = await Promise.all(
      [followed, endedAway].map((created) => waitForRunState(server.client, created.id, ended)),
    );
    expect(one!.state, one!.state?.message ?? "").toMatchObject({
      type: "COMPLETED",
      data: { value: gates.followed },
    });
    expect(two!.state, two!.state?.message ?? "").toMatchObject({
      type: "COMPLETED",
      data: { value: gates.ended },
    });
    // The followed container's output after the restart is in the run's logs.
    await waitForLog(server.client, followed.id, `through the gate ${gates.followed}`);
    for (const done of [one!, two!]) {
      expect(done.runCount).toBe(1);
      const history = await api().listFlowRunStates({ params: { id: done.id } });
      expect(history.filter((state) => state.type === "COMPLETED")).toHaveLength(1);
    }
    const all = await api().listFlowRuns({ query: { deploymentId: deployment.id } });
    expect(all.items).toHaveLength(2); // no duplicate run
    await second.waitForLine(new RegExp(`'${one!.name}' job exited with code 0`));
    expect(await containersOf(docker, name)).toEqual([]); // no orphan container
  });

  it("gives the container the job variables, and ends a run whose container exits without reporting CRASHED with the exit code", async () => {
    const name = `variables-${dialect}`;
    await createPool("variables");
    // The run replaces the container's command, which the pool must allow.
    await api().updateWorkPool({ params: { name: "variables" }, body: { allowCommandOverride: true } });
    const deployment = await deploy(
      "add",
      "variables",
      "variables",
      "--job-variable",
      'labels={"team": "gps"}',
      "--job-variable",
      'memory="256m"',
      "--job-variable",
      "cpus=0.5",
    );
    const worker = await startWorker("variables", name);
    const created = await run(
      deployment.id,
      { a: 1, b: 2 },
      {
        command: ["node", "-e", "console.log(process.env.GREETING); process.exit(3)"],
        env: { GREETING: "hello from the run's job variables" },
        autoRemove: false,
      },
    );
    const crashed = await waitForRunState(server.client, created.id, ended);
    expect(crashed.state?.type).toBe("CRASHED");
    expect(crashed.state?.message).toMatch(/exited with code 3 before the run reported a final state/);
    await waitForLog(server.client, created.id, "hello from the run's job variables");
    await worker.waitForLine(new RegExp(`'${crashed.name}' job exited with code 3`));

    const [kept] = await containersOf(docker, name); // autoRemove: false
    const container = docker.getContainer(kept!.Id);
    const info = await container.inspect();
    expect(info.Config.Labels).toMatchObject({
      team: "gps",
      "baton.flow-run-id": created.id,
      "baton.worker": name,
    });
    expect(info.HostConfig).toMatchObject({ Memory: 256 * 1024 ** 2, NanoCpus: 0.5e9, NetworkMode: "host" });
    expect(info.State.ExitCode).toBe(3);
    await container.remove();
  });

  it("fails a run at once when its image is missing, naming the image and the pull policy", async () => {
    await createPool("imageless");
    const deployment = await deploy(
      "add",
      "imageless",
      "imageless",
      "--job-variable",
      'image="baton-missing:nope"',
    );
    await startWorker("imageless", `imageless-${dialect}`);
    const never = await run(deployment.id, { a: 1, b: 2 }, { pullPolicy: "never" });
    const pulled = await run(deployment.id, { a: 1, b: 2 });
    const [failed, unpulled] = await Promise.all(
      [never, pulled].map((created) => waitForRunState(server.client, created.id, ended)),
    );
    expect(failed!.state?.type).toBe("FAILED");
    expect(failed!.state?.message).toMatch(
      /image 'baton-missing:nope' is not on the Docker engine at .*, and the pull policy is 'never'/,
    );
    expect(unpulled!.state?.type).toBe("FAILED");
    expect(unpulled!.state?.message).toMatch(
      /image 'baton-missing:nope' is not on the Docker engine and could not be pulled \(pull policy 'if-not-present'\)/,
    );
  });
});
