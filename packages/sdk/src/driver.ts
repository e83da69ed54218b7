import type { State } from "@baton/core";
import { runContext, type RunContext } from "./context.js";
import { CancelledError, runAttempts, StaleAttemptError, SuspendedError, type RunOutcome } from "./engine.js";
import type { RunLogger } from "./logger.js";
import type { Orchestrator } from "./orchestrator.js";
import type { ResultOptions } from "./results.js";

export type StateHook = (info: {
  name: string;
  runId: string | null;
  state: State | null;
  error?: unknown;
}) => void | Promise<void>;

/** Called when a run ends, by how it ended. Flows and tasks take the same ones. */
export interface StateHooks {
  onCompletion?: StateHook[];
  onFailure?: StateHook[];
  onCancellation?: StateHook[];
  /** Called when the run could not be carried through: the engine, not the run's code, failed. */
  onCrashed?: StateHook[];
}

/** One run of a flow or a task, as its declaration set it up. */
export interface Drive<R> {
  /** The flow's or task's name, as hooks are told. */
  name: string;
  /** The tracked run's id, or null for a run the server does not know of. */
  runId: string | null;
  /** How the run is named in messages: "flow run 'happy-condor'". */
  what: string;
  orchestrator: Orchestrator;
  /** The context the run's code sees; each attempt gets its own signal in it. */
  context: RunContext;
  timeoutSeconds?: number | undefined;
  /** Aborts on cancel (a CancelledError), on the caller's deadline, or when the attempt is stale. */
  signal: AbortSignal;
  body: (signal: AbortSignal) => Promise<R>;
  results: ResultOptions;
  hooks: StateHooks;
  logger: RunLogger;
  /** Awaited before a final state is proposed (children settled, records and logs sent). */
  beforeFinalState?: () => Promise<void>;
}

async function callHooks(hooks: StateHook[] | undefined, info: Parameters<StateHook>[0], logger: RunLogger) {
  for (const hook of hooks ?? []) {
    try {
      await hook(info);
    } catch (error) {
      logger.error(`a state hook failed: ${(error as Error).message}`);
    }
  }
}

/**
 * Carries one run of a flow or a task from its first proposal to its hooks: attempts and retries
 * (runAttempts), the run's context for its code, a crash when the engine itself fails (rejects then),
 * and the hooks for how it ended. Resolves with how it ended, for the caller to return or throw.
 */
export async function drive<R>(run: Drive<R>): Promise<RunOutcome<R>> {
  const { logger, hooks } = run;
  const info = { name: run.name, runId: run.runId };
  let outcome: Awaited<ReturnType<typeof runAttempts<R>>>;
  try {
    outcome = await runAttempts({
      what: run.what,
      orchestrator: run.orchestrator,
      timeoutSeconds: run.timeoutSeconds,
      signal: run.signal,
      body: (signal) => runContext.run({ ...run.context, signal }, () => run.body(signal)),
      results: run.results,
      ...(run.beforeFinalState ? { beforeFinalState: run.beforeFinalState } : {}),
      log: logger.info,
    });
  } catch (error) {
    // Not the run's code but the run itself broke (the server went away, say): a crash.
    const message = `the run crashed: ${(error as Error).message}`;
    logger.error(message);
    const state = await run.orchestrator.propose({ type: "CRASHED", message }).then(
      (verdict) => verdict.state,
      () => null, // the server may be what failed
    );
    await callHooks(hooks.onCrashed, { ...info, state, error }, logger);
    throw error;
  }
  if (outcome.ok) {
    await callHooks(hooks.onCompletion, { ...info, state: outcome.state }, logger);
    return outcome;
  }
  const { error, state } = outcome;
  if (error instanceof StaleAttemptError || error instanceof SuspendedError) {
    // Not this run's end: another attempt carries it on, and its hooks are that attempt's to call.
    logger.warning(error.message);
  } else {
    logger.error(`finished in state ${state?.name ?? "Failed"}: ${(error as Error).message}`);
    const ended = error instanceof CancelledError ? hooks.onCancellation : hooks.onFailure;
    await callHooks(ended, { ...info, state, error }, logger);
  }
  return outcome;
}
