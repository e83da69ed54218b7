import { AsyncLocalStorage } from "node:async_hooks";
import type { BatonClient } from "@baton/client";
import type { State } from "@baton/core";
import type { RunLogger } from "./logger.js";

/** What code inside a run can reach: its ids, logger and cancellation signal. */
export interface RunContext {
  client: BatonClient | null;
  flowRunId: string | null;
  flowRunName: string;
  /** The flow run's attempt this process carries out; its task runs' proposals carry it too. */
  attempt?: number;
  taskRunId: string | null;
  logger: RunLogger;
  signal: AbortSignal;
  /** Task runs started in this flow run and not settled yet: the flow run waits for them before it ends. */
  children: Set<Promise<unknown>>;
  /** Console output inside the run goes to its logs. */
  logPrints: boolean;
  /** How many times each task was called in this flow run, for dynamic keys. */
  taskCalls: Map<string, number>;
  /**
   * A flow run resumed after suspend() starts again: the states of its task runs that completed
   * before, by taskCallKey, whose results its task calls take instead of running again.
   */
  completedTasks?: Map<string, State>;
}

/** One call of a task in a flow run: its task key and call number (dynamic key). */
export const taskCallKey = (taskKey: string, dynamicKey: string): string => `${taskKey}\u0000${dynamicKey}`;

export const runContext = new AsyncLocalStorage<RunContext>();

/** Waits until every task run started in the flow run has settled, including ones they started. */
export async function settleChildren(context: RunContext): Promise<void> {
  while (context.children.size > 0) await Promise.allSettled([...context.children]);
}

/** The context of the run this code is in, if any. */
export function currentRun(): RunContext | undefined {
  return runContext.getStore();
}

/** The logger of the current run; outside a run, a console logger. */
export function getRunLogger(): RunLogger | undefined {
  return runContext.getStore()?.logger;
}
