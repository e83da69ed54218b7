// The faults, one scenario each. A scenario sets up its stage, starts its runs, injects its fault at a
// moment it awaits (ledger entries, not sleeps), and answers what the checks need.
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { DatabaseKind } from "../test/databases.js";
import type { Limits } from "./checks.js";
import { SLOT_TAG } from "./flows.js";
import type { LedgerEntry } from "./ledger.js";
import { activeRuns, type Stage } from "./stage.js";
import { alive, kill, startServe, startWorker } from "./processes.js";

export interface Outcome {
  runs: string[];
  limits: Limits;
  /** When the fault began, by this machine's clock. */
  faultAt: number;
  /** Runs whose code was running when the fault began: recovery is when the last of them ended. */
  inFlight: string[];
  /** Anything else that went wrong (a process that died when it should not). */
  problems: string[];
}

export interface Scenario {
  name: string;
  /** What it injects, for the report. */
  fault: string;
  /** The databases it applies to. @default both */
  databases?: DatabaseKind[];
  /** A reason to skip it, if any. */
  skip?(): string | undefined;
  run(stage: Stage, full: boolean): Promise<Outcome>;
}

const noLimits = (): Limits => ({ deployments: new Map(), queues: new Map() });

/**
 * Bounds of the waits, generous because a busy machine starts Node processes slowly: how long the
 * runs may take to reach the moment of the fault, and to reach a final state after it.
 */
const START_SECONDS = 180;
const SETTLE_SECONDS = 180;

/** Kills the process groups of a worker (the worker and its flow processes) mid-run; another worker carries on. */
const workerKill: Scenario = {
  name: "worker-kill",
  fault: "SIGKILL of a worker and its flow processes mid-run",
  async run(stage, full) {
    await stage.pool("chaos", 3);
    const deployment = await stage.deployment("killed-worker", "chaos", 2);
    const first = await startWorker("chaos", "first", stage.env());
    const runs = await stage.runs(deployment, full ? 20 : 6, { steps: 20, stepMs: 100 });
    const entries = await stage.untilLedger(
      "two runs past their third step",
      START_SECONDS,
      (all) => [...activeRuns(all).values()].filter((entry) => (entry.i ?? 0) >= 3).length >= 2,
    );
    const faultAt = Date.now();
    kill(first);
    const inFlight = [...activeRuns(entries).keys()];
    await startWorker("chaos", "second", stage.env());
    await stage.final(runs, SETTLE_SECONDS);
    return {
      runs,
      limits: { deployments: new Map([[deployment, 2]]), queues: new Map([["default", 3]]) },
      faultAt,
      inFlight,
      problems: [],
    };
  },
};

/** Kills flow processes alone: their worker sees the job end and the run is carried out again. */
const flowKill: Scenario = {
  name: "flow-kill",
  fault: "SIGKILL of flow processes alone (their worker lives)",
  async run(stage, full) {
    await stage.pool("chaos");
    const deployment = await stage.deployment("killed-flow", "chaos", 3);
    await startWorker("chaos", "keeper", stage.env());
    const runs = await stage.runs(deployment, full ? 20 : 6, { steps: 20, stepMs: 100 });
    const entries = await stage.untilLedger(
      "two runs past their third step",
      START_SECONDS,
      (all) => [...activeRuns(all).values()].filter((entry) => (entry.i ?? 0) >= 3).length >= 2,
    );
    const faultAt = Date.now();
    const victims = [...activeRuns(entries).values()].filter((entry) => (entry.i ?? 0) >= 3);
    for (const victim of victims) process.kill(victim.pid, "SIGKILL");
    await stage.final(runs, SETTLE_SECONDS);
    return {
      runs,
      limits: { deployments: new Map([[deployment, 3]]), queues: new Map() },
      faultAt,
      inFlight: victims.map((victim) => victim.run),
      problems: [],
    };
  },
};

/** Whether two of `ids` are running past their third step by the ledger. */
function pastThirdStep(entries: LedgerEntry[], ids: string[]): boolean {
  return (
    [...activeRuns(entries).values()].filter((entry) => ids.includes(entry.run) && (entry.i ?? 0) >= 3)
      .length >= 2
  );
}

/** Kills the server with runs in flight (a worker's and a serve process's), restarts it a few seconds later. */
const serverKill: Scenario = {
  name: "server-kill",
  fault: "SIGKILL of the server with runs in flight, restart 3 s later",
  async run(stage, full) {
    await stage.pool("chaos");
    const pooled = await stage.deployment("pooled", "chaos");
    const served = await stage.deployment("served", null);
    await startWorker("chaos", "steady", stage.env());
    await startServe("served", stage.env());
    const count = full ? 20 : 5;
    // A process worker takes seconds to start its flow processes, a serve process none: the served
    // runs are created once the worker's are under way, and the worker's last long enough to still
    // be running then, so that runs of both kinds are in flight at the fault.
    const byWorker = await stage.runs(pooled, count, { steps: 100, stepMs: 100 });
    await stage.untilLedger("two of the worker's runs past their third step", START_SECONDS, (all) =>
      pastThirdStep(all, byWorker),
    );
    const byServe = await stage.runs(served, count, { steps: 30, stepMs: 100 });
    const runs = [...byWorker, ...byServe];
    const entries = await stage.untilLedger(
      "two runs of each deployment past their third step",
      START_SECONDS,
      (all) => pastThirdStep(all, byWorker) && pastThirdStep(all, byServe),
    );
    const faultAt = Date.now();
    kill(stage.server.process);
    await stage.server.process.exited;
    await sleep(3000); // the outage itself: the fault lasts this long
    await stage.server.restart();
    await stage.final(runs, SETTLE_SECONDS);
    return { runs, limits: noLimits(), faultAt, inFlight: [...activeRuns(entries).keys()], problems: [] };
  },
};

/** Freezes a flow process past the heartbeat timeout; it wakes once its run was carried out again. */
const freeze: Scenario = {
  name: "sigstop",
  fault: "SIGSTOP of a flow process past the heartbeat timeout, SIGCONT after the next attempt",
  async run(stage, full) {
    await stage.pool("chaos");
    const deployment = await stage.deployment("frozen", "chaos", 2);
    await startWorker("chaos", "thawing", stage.env());
    const runs = await stage.runs(deployment, full ? 10 : 4, { steps: 40, stepMs: 100 });
    const entries = await stage.untilLedger("a run past its third step", START_SECONDS, (all) =>
      [...activeRuns(all).values()].some((entry) => (entry.i ?? 0) >= 3),
    );
    const victim = [...activeRuns(entries).values()].find((entry) => (entry.i ?? 0) >= 3)!;
    const faultAt = Date.now();
    process.kill(victim.pid, "SIGSTOP");
    const problems: string[] = [];
    try {
      await stage.untilLedger("the frozen run's next attempt to start", START_SECONDS, (all) =>
        all.some((entry) => entry.run === victim.run && entry.exec !== victim.exec),
      );
      await stage.final(runs, SETTLE_SECONDS);
    } finally {
      process.kill(victim.pid, "SIGCONT");
    }
    // Woken, it must learn at its next heartbeat that its attempt is stale, and stop.
    try {
      await stage.until("the woken process to stop", 30, () => (alive(victim.pid) ? undefined : true));
    } catch {
      problems.push(`the woken flow process ${victim.pid} was still running 30 s after SIGCONT`);
    }
    return {
      runs,
      limits: { deployments: new Map([[deployment, 2]]), queues: new Map() },
      faultAt,
      inFlight: [victim.run],
      problems,
    };
  },
};

/** The server's handling of dropped PostgreSQL connections; the scenario waits for it to exist. */
const connectionLoss = fileURLToPath(
  new URL("../packages/server/src/db/connection-loss.ts", import.meta.url),
);

/** Terminates the server's backends of the throwaway database at ~10 Hz for a few seconds. */
const pgDrop: Scenario = {
  name: "pg-drop",
  fault: "pg_terminate_backend of the server's connections, 10 Hz for 3 s",
  databases: ["postgres"],
  skip: () =>
    existsSync(connectionLoss)
      ? undefined
      : "the server does not survive dropped PostgreSQL connections yet (no db/connection-loss.ts)",
  async run(stage, full) {
    await stage.pool("chaos");
    const deployment = await stage.deployment("dropped", "chaos", 3);
    await startWorker("chaos", "patient", stage.env());
    const runs = await stage.runs(deployment, full ? 15 : 6, { steps: 30, stepMs: 100 });
    const entries = await stage.untilLedger(
      "two runs past their third step",
      START_SECONDS,
      (all) => [...activeRuns(all).values()].filter((entry) => (entry.i ?? 0) >= 3).length >= 2,
    );
    const database = new URL(stage.database.url).pathname.slice(1);
    const admin = new URL(stage.database.url);
    admin.pathname = "/postgres";
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    const faultAt = Date.now();
    let terminated = 0;
    try {
      for (let i = 0; i < (full ? 100 : 30); i++) {
        // Only the backends of this scenario's own database, never another's.
        const result = await client.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [database],
        );
        terminated += result.rowCount ?? 0;
        await sleep(100); // the fault's own rhythm: ~10 Hz
      }
    } finally {
      await client.end();
    }
    const problems: string[] = [];
    if (terminated === 0)
      problems.push("no connection of the server was terminated: the fault did not happen");
    await stage.final(runs, SETTLE_SECONDS);
    if (stage.server.process.child.exitCode !== null || stage.server.process.child.signalCode !== null) {
      problems.push(`the server exited (${await stage.server.process.exited}) under dropped connections`);
    }
    return {
      runs,
      limits: { deployments: new Map([[deployment, 3]]), queues: new Map() },
      faultAt,
      inFlight: [...activeRuns(entries).keys()],
      problems,
    };
  },
};

/** Kills the worker whose flow holds a tag slot before the flow's first heartbeat: the slot must come back. */
const slotHolderKill: Scenario = {
  name: "slot-holder-kill",
  fault: "SIGKILL of a tag-slot holder (and its worker) before its first heartbeat",
  async run(stage, full) {
    await stage.pool("chaos");
    await stage.client.api.createConcurrencyLimit({ body: { tag: SLOT_TAG, limit: 1 } });
    const deployment = await stage.deployment("slotted", "chaos");
    // No flow heartbeat before the kill: entering RUNNING is the only sign of life the server gets.
    const first = await startWorker(
      "chaos",
      "holder",
      stage.env({ BATON_HEARTBEAT_INTERVAL_SECONDS: "600" }),
    );
    const runs = await stage.runs(deployment, full ? 6 : 3, { steps: 5, stepMs: 100, slotMs: 1500 });
    const entries = await stage.untilLedger("a flow to take the tag slot", START_SECONDS, (all) =>
      all.some((entry) => entry.event === "slot"),
    );
    const faultAt = Date.now();
    kill(first);
    const holder = entries.find((entry) => entry.event === "slot")!;
    await startWorker("chaos", "successor", stage.env());
    await stage.final(runs, SETTLE_SECONDS);
    return {
      runs,
      limits: { deployments: new Map(), queues: new Map(), slot: 1 },
      faultAt,
      inFlight: [holder.run],
      problems: [],
    };
  },
};

export const SCENARIOS: Scenario[] = [workerKill, flowKill, serverKill, freeze, pgDrop, slotHolderKill];
