// Three `baton server start` replicas on one PostgreSQL database behind Debian's haproxy, configured as
// docs/production.md says (test/haproxy.ts reads it from there), with the chaos suite's flow, ledger,
// worker and serve processes: runs created through one replica are carried out by runners on the
// others and watched through any; a replica killed under load loses no run and runs none twice.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BatonClient } from "@baton/client";
import type { FlowRun } from "@baton/core";
import { waitForFlowRun } from "@baton/sdk";
import { check, VIOLATIONS, type Limits } from "../chaos/checks.js";
import { readLedger } from "../chaos/ledger.js";
import {
  CLI,
  flowEnv,
  HEARTBEAT_TIMEOUT_SECONDS,
  kill,
  killAll,
  quiet,
  root,
  startServe,
  startServer,
  startWorker,
  type ChaosServer,
} from "../chaos/processes.js";
import { activeRuns, ENTRYPOINT, FLOW, type RunParameters } from "../chaos/stage.js";
import { HAPROXY, startHaproxy, type Haproxy } from "./haproxy.js";
import { TEST_POSTGRES_URL, throwawayDatabase, type ThrowawayDatabase } from "./helpers.js";
import { startProcess, type TestProcess } from "./processes.js";

const missing = !TEST_POSTGRES_URL
  ? "BATON_TEST_DATABASE_URL is not set (replicas share a PostgreSQL database)"
  : !HAPROXY
    ? "haproxy is not installed (Debian: apt-get install haproxy; .ci/run installs it)"
    : undefined;
if (missing) {
  console.warn(`\n${"!".repeat(100)}\nREPLICAS BEHIND HAPROXY SKIPPED: ${missing}\n${"!".repeat(100)}\n`);
}

/** Bounds of the waits: generous, since a busy 2-core machine starts Node processes slowly. */
const SECONDS = 180;
const POOL = "replicated";

/** Every figure of the chaos suite's checks that must be 0, as one object (a failure shows them all). */
const violations = async (client: BatonClient, ids: string[], ledger: string, limits: Limits) => {
  const runs = await Promise.all(ids.map((id) => client.api.readFlowRun({ params: { id } })));
  const figures = await check(client, runs, readLedger(ledger), limits, HEARTBEAT_TIMEOUT_SECONDS * 1000);
  return Object.fromEntries(VIOLATIONS.map((name) => [name, figures[name]]));
};
const NONE = Object.fromEntries(VIOLATIONS.map((name) => [name, 0]));

/** `baton deployment run FLOW/NAME --watch` against `apiUrl`: it creates the run and follows it there. */
function watchedRun(apiUrl: string, deployment: string, parameters: RunParameters): TestProcess {
  return startProcess(
    [CLI, "deployment", "run", `${FLOW}/${deployment}`, "--params", JSON.stringify(parameters), "--watch"],
    { cwd: root, env: { ...quiet, BATON_API_URL: apiUrl } },
  );
}

/** The run a `--watch` process created, from its `Id:` line. */
const createdId = async (watch: TestProcess) => /Id:\s+(\S+)/.exec(await watch.waitForLine(/^\s*Id:/))![1]!;

/** The run once it ended, followed through `client` (its event stream resumes through a lost replica). */
async function finished(client: BatonClient, id: string): Promise<FlowRun> {
  return waitForFlowRun(client, id, SECONDS);
}

describe.skipIf(missing !== undefined)("three replicas on one PostgreSQL database behind HAProxy", () => {
  let database: ThrowawayDatabase;
  let replicas: ChaosServer[] = [];
  let proxy: Haproxy | undefined;
  let client: BatonClient;
  const ledgers: string[] = [];
  const ledger = () => {
    ledgers.push(mkdtempSync(join(tmpdir(), "baton-replicas-ledger-")));
    return ledgers.at(-1)!;
  };

  beforeAll(async () => {
    database = await throwawayDatabase("postgres");
    // All three at once: their migrations race, as replicas started together do.
    replicas = await Promise.all([1, 2, 3].map(() => startServer(database.url)));
    proxy = await startHaproxy(replicas.map((replica) => new URL(replica.apiUrl).host));
    client = new BatonClient({ url: proxy.apiUrl });
    await client.api.createFlow({ body: { name: FLOW } });
    await client.api.createWorkPool({ body: { name: POOL, type: "process" } });
  }, SECONDS * 1000);

  afterAll(async () => {
    killAll();
    await proxy?.stop();
    await Promise.all(replicas.map((replica) => replica.stop()));
    await database?.drop();
    for (const folder of ledgers) rmSync(folder, { recursive: true, force: true });
  }, 60_000);

  it(
    "carries out runs created through one replica by a serve process on another and a worker on the third, watched through any",
    async () => {
      const [a, b, c] = replicas as [ChaosServer, ChaosServer, ChaosServer];
      const written = ledger();
      const serving = await startServe("served", flowEnv(a.apiUrl, written));
      const worker = await startWorker(POOL, "on-b", flowEnv(b.apiUrl, written));
      await client.api.createDeployment({
        body: { name: "pooled", flowName: FLOW, workPoolName: POOL, entrypoint: ENTRYPOINT, path: root },
      });
      const parameters = { steps: 3, stepMs: 20 };
      // Created and watched through C, whose runners are elsewhere: C hears of their states from A and B.
      const watches = ["served", "pooled"].flatMap((name) =>
        [1, 2, 3].map(() => watchedRun(c.apiUrl, name, parameters)),
      );
      const ids = await Promise.all(watches.map(createdId));
      // And followed through each of the other replicas and through HAProxy.
      const followers = [a.apiUrl, b.apiUrl, proxy!.apiUrl].map((url) => new BatonClient({ url }));
      const seen = await Promise.all(
        followers.map((follower) => Promise.all(ids.map((id) => finished(follower, id)))),
      );
      for (const runs of seen) expect(runs.map((run) => run.state?.type)).toEqual(ids.map(() => "COMPLETED"));
      expect(await Promise.all(watches.map((watch) => watch.exited))).toEqual(ids.map(() => 0));
      expect(await violations(client, ids, written, { deployments: new Map(), queues: new Map() })).toEqual(
        NONE,
      );
      await Promise.all([serving.stop(), worker.stop()]);
    },
    SECONDS * 1000,
  );

  it(
    "loses no run, runs none twice and keeps a deployment's limit when a replica is killed under load; its clients carry on through the others",
    async () => {
      const written = ledger();
      // The runners and their flows reach the servers through HAProxy, as in production.
      const env = flowEnv(proxy!.apiUrl, written);
      // Two at a time each, so that both kinds are under way at once when the replica dies (the serve
      // process would otherwise finish its runs before the worker's flow processes have started).
      await startServe("served-through-proxy", env, 2);
      await startWorker(POOL, "through-proxy", env);
      const limited = await client.api.createDeployment({
        body: {
          name: "limited",
          flowName: FLOW,
          workPoolName: POOL,
          entrypoint: ENTRYPOINT,
          path: root,
          concurrencyLimit: 2,
        },
      });
      const served = await client.api.readDeploymentByName({
        params: { flowName: FLOW, deploymentName: "served-through-proxy" },
      });
      const create = (deploymentId: string) =>
        client.api.createDeploymentRun({
          params: { id: deploymentId },
          body: { parameters: { steps: 40, stepMs: 100 } },
        });
      const byWorker = await Promise.all([1, 2, 3, 4, 5, 6].map(() => create(limited.id)));
      const byServe = await Promise.all([1, 2, 3, 4, 5, 6].map(() => create(served.id)));
      const ids = [...byWorker, ...byServe].map((run) => run.id);
      // Each run followed through HAProxy: the streams are spread over the replicas.
      const following = Promise.all(ids.map((id) => finished(client, id)));

      // Runs of both kinds under way, then the replica with the most open connections dies.
      await vi.waitFor(
        () => {
          const going = [...activeRuns(readLedger(written)).values()].filter((entry) => (entry.i ?? 0) >= 3);
          for (const runs of [byWorker, byServe]) {
            const mine = going.filter((entry) => runs.some((run) => run.id === entry.run));
            if (mine.length < 2)
              throw new Error("fewer than two runs of each deployment past their third step");
          }
        },
        { timeout: SECONDS * 1000, interval: 50 },
      );
      const servers = await proxy!.servers();
      const busiest = servers.reduce((most, server) => (server.sessions > most.sessions ? server : most));
      expect(busiest.sessions).toBeGreaterThan(0); // the kill cuts claims and streams in flight
      const victim = replicas[servers.indexOf(busiest)]!;
      kill(victim.process);
      await victim.process.exited;

      // New runs too, created and watched through HAProxy by the CLI.
      const watches = [1, 2].map(() => watchedRun(proxy!.apiUrl, "limited", { steps: 3, stepMs: 20 }));
      const later = await Promise.all(watches.map(createdId));
      const runs = await following;
      expect(runs.map((run) => run.state?.type)).toEqual(ids.map(() => "COMPLETED"));
      expect(await Promise.all(watches.map((watch) => watch.exited))).toEqual([0, 0]);
      const limits = { deployments: new Map([[limited.id, 2]]), queues: new Map() };
      expect(await violations(client, [...ids, ...later], written, limits)).toEqual(NONE);
      // HAProxy took the dead replica out by its readiness check.
      await vi.waitFor(
        async () => expect((await proxy!.servers())[servers.indexOf(busiest)]!.status).toBe("DOWN"),
        { timeout: 10_000, interval: 100 },
      );
    },
    SECONDS * 2 * 1000,
  );
});
