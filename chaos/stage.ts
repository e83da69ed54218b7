// One scenario's world: a throwaway database, a real server over it, the ledger folder, and helpers to
// set up pools and deployments, start runs and wait (in bounded loops) for what the processes do.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatonClient } from "@baton/client";
import { isTerminal, type FlowRun } from "@baton/core";
import { throwawayDatabase, type DatabaseKind, type ThrowawayDatabase } from "../test/databases.js";
import { readLedger, type LedgerEntry } from "./ledger.js";
import { flowEnv, killAll, root, startServer, type ChaosServer } from "./processes.js";

export const FLOW = "chaos-steps";
export const ENTRYPOINT = "chaos/flows.ts:steps";

export interface RunParameters {
  steps: number;
  stepMs: number;
  slotMs?: number;
}

export class Stage {
  readonly ledger = mkdtempSync(join(tmpdir(), "baton-chaos-ledger-"));
  readonly client: BatonClient;

  private constructor(
    readonly kind: DatabaseKind,
    readonly database: ThrowawayDatabase,
    readonly server: ChaosServer,
  ) {
    this.client = new BatonClient({ url: server.apiUrl });
  }

  static async open(kind: DatabaseKind, postgresUrl: string | undefined): Promise<Stage> {
    const database = await throwawayDatabase(kind, { postgresUrl, prefix: "baton-chaos" });
    const server = await startServer(database.url);
    const stage = new Stage(kind, database, server);
    await stage.client.api.createFlow({ body: { name: FLOW } });
    return stage;
  }

  async close(): Promise<void> {
    killAll();
    await this.server.stop().catch(() => undefined);
    await this.database.drop().catch(() => undefined);
    rmSync(this.ledger, { recursive: true, force: true });
  }

  /** The environment of a worker or serve process (and so of its flows). */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return flowEnv(this.server.apiUrl, this.ledger, extra);
  }

  async pool(name: string, queueLimit?: number): Promise<void> {
    await this.client.api.createWorkPool({ body: { name, type: "process" } });
    if (queueLimit !== undefined) {
      await this.client.api.updateWorkQueue({
        params: { pool: name, name: "default" },
        body: { concurrencyLimit: queueLimit },
      });
    }
  }

  /** A deployment of the chaos flow on a pool (or for a serve process when `pool` is null). */
  async deployment(name: string, pool: string | null, concurrencyLimit?: number): Promise<string> {
    const deployment = await this.client.api.createDeployment({
      body: {
        name,
        flowName: FLOW,
        ...(pool ? { workPoolName: pool, entrypoint: ENTRYPOINT, path: root } : {}),
        ...(concurrencyLimit !== undefined ? { concurrencyLimit } : {}),
      },
    });
    return deployment.id;
  }

  async runs(deploymentId: string, count: number, parameters: RunParameters): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const run = await this.client.api.createDeploymentRun({
        params: { id: deploymentId },
        body: { parameters: { ...parameters } },
      });
      ids.push(run.id);
    }
    return ids;
  }

  entries(): LedgerEntry[] {
    return readLedger(this.ledger);
  }

  /** Polls `probe` every 50 ms until it answers something, for at most `seconds`. */
  async until<T>(
    what: string,
    seconds: number,
    probe: () => T | undefined | Promise<T | undefined>,
  ): Promise<T> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      const found = await probe();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`gave up after ${seconds} s waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Resolves with the ledger entries once one matches `matches`. */
  untilLedger(
    what: string,
    seconds: number,
    matches: (entries: LedgerEntry[]) => boolean,
  ): Promise<LedgerEntry[]> {
    return this.until(what, seconds, () => {
      const entries = this.entries();
      return matches(entries) ? entries : undefined;
    });
  }

  /** Reads the runs until every one is in a final state (the server may be away meanwhile); answers them as last read. */
  async final(ids: string[], seconds: number): Promise<FlowRun[]> {
    let last: FlowRun[] = [];
    try {
      await this.until("every run to reach a final state", seconds, async () => {
        try {
          last = await Promise.all(ids.map((id) => this.client.api.readFlowRun({ params: { id } })));
        } catch {
          return undefined; // the server is restarting
        }
        return last.every((run) => isTerminal(run.state?.type)) ? last : undefined;
      });
    } catch {
      // the check counts the runs not final
    }
    return last;
  }
}

/** Runs whose code is running now by the ledger: started, not ended, no newer execution of the run. */
export function activeRuns(entries: LedgerEntry[]): Map<string, LedgerEntry> {
  const latest = new Map<string, LedgerEntry>();
  for (const entry of entries) latest.set(entry.run, entry);
  return new Map([...latest].filter(([, entry]) => entry.event !== "end"));
}
