import {
  BatonError,
  EventName,
  makeState,
  parseDeploymentName,
  type ActionAttempt,
  type ActionRun,
  type JsonObject,
  type ResolvedAction,
} from "@baton/core";
import { toActionRun } from "../store/automations.js";
import { nowIso, toJson, type StoreContext } from "../store/context.js";
import { createDeploymentRun, readDeployment, updateDeployment } from "../store/deployments.js";
import { resumeFlowRun, suspendFlowRun } from "../store/pauses.js";
import { revealSecret } from "../store/secrets.js";
import { setRunState } from "../store/set-state.js";
import { updateWorkPool } from "../store/work-pools.js";
import type { ServiceFactory } from "./index.js";

/** Action runs attempted per pass (at the same time). */
const BATCH = 50;
/** How long a notification may take to answer. */
const HTTP_TIMEOUT_MS = 10_000;
/**
 * How long an attempt holds its action run: longer than any attempt takes, so another server never
 * repeats one under way; a server that stops mid-attempt leaves the action run due again after it.
 */
const LEASE_MS = 60_000;
const MAX_RETRY_DELAY_SECONDS = 3600;
/** How much of an answer's body is kept. */
const EXCERPT = 500;

type Outcome = Omit<ActionAttempt, "attempt" | "started"> & {
  /** Trying again cannot help (a 4xx answer, a deployment that does not exist). */
  final: boolean;
};

/**
 * Carries out the action runs the automations service enqueued: at least once, since an action run
 * stays PENDING until an attempt's outcome is stored. A failure is tried again after a delay that
 * doubles each time, until `actionMaxAttempts`; every attempt is recorded on the action run.
 */
export const actionsService: ServiceFactory = (ctx, settings) => ({
  name: "actions",
  wakeOn: [EventName.AutomationTriggered],
  async runOnce(now) {
    const due = await ctx.db.kysely
      .selectFrom("actionRuns")
      .select(["id", "nextAttemptAt"])
      .where("status", "=", "PENDING")
      .where("nextAttemptAt", "<=", now.toISOString())
      .orderBy("nextAttemptAt")
      .limit(BATCH)
      .execute();
    await Promise.all(
      due.map(async ({ id, nextAttemptAt }) => {
        const taken = await ctx.db.kysely
          .updateTable("actionRuns")
          .set({ nextAttemptAt: new Date(now.getTime() + LEASE_MS).toISOString() })
          .where("id", "=", id)
          .where("status", "=", "PENDING")
          .where("nextAttemptAt", "=", nextAttemptAt)
          .returningAll()
          .executeTakeFirst();
        if (!taken) return; // another server took it
        const run = toActionRun(taken);
        const started = nowIso();
        const outcome = await carryOut(ctx, run).catch(failure);
        const { final, ...result } = outcome;
        const attempts: ActionAttempt[] = [
          ...run.attempts,
          { attempt: run.attempts.length + 1, started, ...result },
        ];
        const done = outcome.ok || final || attempts.length >= settings.actionMaxAttempts;
        const delay = Math.min(
          settings.actionRetrySeconds * 2 ** (attempts.length - 1),
          MAX_RETRY_DELAY_SECONDS,
        );
        const updated = await ctx.db.kysely
          .updateTable("actionRuns")
          .set({
            attempts: toJson(attempts),
            status: outcome.ok ? "COMPLETED" : done ? "FAILED" : "PENDING",
            nextAttemptAt: done ? null : new Date(Date.now() + delay * 1000).toISOString(),
            updated: nowIso(),
          })
          .where("id", "=", id)
          .returningAll()
          .executeTakeFirstOrThrow();
        ctx.events.publish(EventName.ActionRunUpdated, { kind: "action-run", id }, null, {
          actionRun: toActionRun(updated),
        });
      }),
    );
  },
});

const success = (response: string | null, statusCode: number | null = null): Outcome => ({
  ok: true,
  statusCode,
  response,
  error: null,
  final: false,
});

/** An error of Baton's own with a 4xx status (not found, invalid) will not go away by trying again. */
function failure(error: unknown): Outcome {
  const final = error instanceof BatonError && error.httpStatus < 500;
  return { ok: false, statusCode: null, response: null, error: errorText(error), final };
}

const errorText = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error);
  // fetch says "fetch failed" and keeps the reason (refused, timed out, bad certificate) as the cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
};

async function carryOut(ctx: StoreContext, run: ActionRun): Promise<Outcome> {
  const action = run.resolved as unknown as ResolvedAction;
  const by = `by automation '${run.automationName}'`;
  switch (action.type) {
    case "test-sink":
      return success("recorded (test sink: nothing sent)");
    case "slack":
      return post(ctx, action.secret, { text: action.text });
    case "webhook":
      return post(ctx, action.secret, action.body);
    case "run-deployment": {
      const deployment = await readDeployment(ctx, parseDeploymentName(action.deployment));
      // Keyed by the action run: an attempt repeated after a crash finds the run it made.
      const flowRun = await createDeploymentRun(ctx, deployment.id, {
        parameters: action.parameters,
        idempotencyKey: `automation-action-run:${run.id}`,
      });
      return success(`created flow run '${flowRun.name}' (${flowRun.id}) of '${action.deployment}'`);
    }
    case "cancel-flow-run": {
      const state = makeState({ type: "CANCELLING", message: `Cancelled ${by}` });
      const result = await setRunState(ctx, "flow", action.flowRunId, state, { force: false });
      // A run that already ended is not cancelled, and never will be: that is an answer, not a failure.
      return success(
        `${result.status}: ${result.reason}; the run is ${result.state?.name ?? "without a state"}`,
      );
    }
    case "change-flow-run-state": {
      // Forced, as Prefect's is: the rules do not refuse it, but their side effects and the event happen.
      const state = makeState(action.state);
      const result = await setRunState(ctx, "flow", action.flowRunId, state, { force: true });
      return success(`${result.status}: the run is ${result.state?.name ?? "without a state"}`);
    }
    case "pause-flow-run": {
      const run = await suspendFlowRun(ctx, action.flowRunId, action);
      return success(`suspended flow run '${run.name}' until it is resumed`);
    }
    case "resume-flow-run": {
      const run = await resumeFlowRun(ctx, action.flowRunId, action.input ? { input: action.input } : {});
      return success(`resumed flow run '${run.name}': it is ${run.state?.name ?? "without a state"}`);
    }
    case "pause-deployment": {
      const deployment = await readDeployment(ctx, parseDeploymentName(action.deployment));
      await updateDeployment(ctx, deployment.id, { paused: true });
      return success(`paused deployment '${action.deployment}'`);
    }
    case "pause-work-pool":
      await updateWorkPool(ctx, action.workPool, { paused: true });
      return success(`paused work pool '${action.workPool}'`);
  }
}

/**
 * POSTs JSON to the URL a secret holds. The URL is a credential (Slack's carries its token), so it
 * and its parts are masked in everything recorded: the answer's body and the error.
 */
async function post(ctx: StoreContext, secret: string, body: JsonObject[string]): Promise<Outcome> {
  const url = await revealSecret(ctx, secret);
  const mask = masker(url);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    const excerpt = mask(await response.text()).slice(0, EXCERPT);
    if (response.ok) return success(excerpt, response.status);
    // Rate limits and server errors pass; any other refusal would be repeated.
    const passing = response.status >= 500 || response.status === 408 || response.status === 429;
    return {
      ok: false,
      statusCode: response.status,
      response: excerpt,
      error: `the endpoint answered ${response.status}`,
      final: !passing,
    };
  } catch (error) {
    return { ...failure(error), error: mask(errorText(error)), final: false };
  }
}

/** Replaces a secret, and the parts of a URL an error may quote on their own, with `***`. */
function masker(secret: string): (text: string) => string {
  const parts = [secret];
  try {
    const url = new URL(secret);
    parts.push(url.href, `${url.pathname}${url.search}`, url.username, url.password);
  } catch {
    // Not a URL: only the whole value can leak.
  }
  const hidden = parts.filter((part) => part.length >= 4).sort((a, b) => b.length - a.length);
  return (text) => hidden.reduce((masked, part) => masked.split(part).join("***"), text);
}
