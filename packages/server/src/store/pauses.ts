import {
  BatonError,
  makeState,
  notFound,
  type FlowRun,
  type FlowRunInput,
  type FlowRunResume,
  type JsonObject,
  type State,
} from "@baton/core";
import type { Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import { fromJson, nowIso, toJson, type StoreContext } from "./context.js";
import { readFlowRun } from "./flow-runs.js";
import { compileSchema, issuesText, schemaIssues } from "./parameters.js";
import { publishStateChange, transitionInTransaction } from "./set-state.js";

/**
 * Resumes a paused flow run with the input its pause asks for. The input is checked against the
 * pause's JSON Schema first: input that does not fit is refused naming each field, and the run keeps
 * waiting. A run paused in its process goes RUNNING ("Resumed") and its process goes on; a suspended
 * one is scheduled again ("Resuming") for a worker or serve process to start anew. The input is kept
 * by the pause's key, where the flow reads it; a second resume of the same pause is refused.
 */
export async function resumeFlowRun(ctx: StoreContext, id: string, body: FlowRunResume): Promise<FlowRun> {
  const applied = await ctx.db.kysely.transaction().execute(async (trx) => {
    // Locked first, so that two resumes (or a resume and the pause's timeout) go one at a time.
    const state = await lockedState(trx, id);
    if (state === undefined) throw notFound("flow run", id);
    const pause = state?.type === "PAUSED" ? state.pause : null;
    if (!state || !pause) {
      throw new BatonError(
        "conflict",
        `flow run ${id} is not waiting to be resumed: it is ${state ? `${state.name} (${state.type})` : "without a state"}`,
      );
    }
    const now = new Date();
    if (pause.timeout && Date.parse(pause.timeout) <= now.getTime()) {
      throw new BatonError("conflict", `the pause of flow run ${id} timed out at ${pause.timeout}`);
    }
    checkInput(pause.inputSchema, body.input, id);
    await trx
      .insertInto("flowRunInputs")
      .values({ flowRunId: id, key: pause.key, value: toJson(body.input ?? null), created: nowIso() })
      .execute();
    const next = pause.reschedule
      ? makeState({ type: "SCHEDULED", name: "Resuming", message: "resumed; it starts again" }, now)
      : makeState({ type: "RUNNING", name: "Resumed" }, now);
    const result = await transitionInTransaction(trx, "flow", id, next, { force: false });
    if (result.result.status !== "ACCEPT") {
      throw new BatonError("conflict", `flow run ${id} cannot be resumed: ${result.result.reason}`);
    }
    if (pause.reschedule) {
      await trx
        .updateTable("flowRuns")
        .set((eb) => ({ resumeCount: eb("resumeCount", "+", 1) }))
        .where("id", "=", id)
        .execute();
    }
    return result;
  });
  publishStateChange(ctx, applied);
  return readFlowRun(ctx, id);
}

/**
 * Suspends a running deployment run from outside (an automation's pause-flow-run): its process is
 * told to stop (it follows the run's events), its unfinished task runs end CANCELLED, and the run
 * waits PAUSED ("Suspended") until resumed, when it starts again reusing its completed tasks.
 */
export async function suspendFlowRun(
  ctx: StoreContext,
  id: string,
  options: { message: string; timeoutSeconds?: number },
): Promise<FlowRun> {
  const run = await readFlowRun(ctx, id);
  if (!run.deploymentId) {
    throw new BatonError(
      "invalid_argument",
      `flow run ${id} has no deployment: suspended, nothing would start it again`,
    );
  }
  const now = new Date();
  const timeout = options.timeoutSeconds ? new Date(now.getTime() + options.timeoutSeconds * 1000) : null;
  const suspended = makeState(
    {
      type: "PAUSED",
      name: "Suspended",
      message: options.message,
      pause: {
        key: `outside-${now.toISOString()}`,
        timeout: timeout?.toISOString() ?? null,
        reschedule: true,
        inputSchema: null,
        description: options.message,
      },
    },
    now,
  );
  const applied = await ctx.db.kysely
    .transaction()
    .execute((trx) => transitionInTransaction(trx, "flow", id, suspended, { force: false }));
  if (applied.result.status !== "ACCEPT") {
    throw new BatonError("conflict", `flow run ${id} cannot be suspended: ${applied.result.reason}`);
  }
  publishStateChange(ctx, applied);
  return readFlowRun(ctx, id);
}

/** Locks flow run `id` and reads its state (undefined: no such run), to decide on it in `trx`. */
export async function lockedState(trx: Transaction<Database>, id: string): Promise<State | null | undefined> {
  const locked = await trx
    .updateTable("flowRuns")
    .set((eb) => ({ updated: eb.ref("updated") }))
    .where("id", "=", id)
    .returning("state")
    .executeTakeFirst();
  return locked ? fromJson<State | null>(locked.state, null) : undefined;
}

function checkInput(schema: JsonObject | null, input: JsonObject | undefined, id: string): void {
  if (!schema) {
    if (input !== undefined && Object.keys(input).length > 0) {
      throw new BatonError(
        "invalid_argument",
        `flow run ${id} waits for a go-ahead only: its pause takes no input; resume it without one`,
      );
    }
    return;
  }
  const validate = compileSchema(schema, `the input schema of flow run ${id}'s pause`);
  const issues = schemaIssues(validate, input ?? {}, {
    whole: "(input)",
    notAField: "is not a field of the input this run waits for",
  });
  if (issues.length > 0) {
    throw new BatonError(
      "invalid_argument",
      `the input does not fit what flow run ${id} waits for: ${issuesText(issues)}; the run keeps waiting`,
      { issues },
    );
  }
}

/** The input a run was resumed with by its pause's key: 404 while that pause has not been resumed. */
export async function readFlowRunInput(ctx: StoreContext, id: string, key: string): Promise<FlowRunInput> {
  const row = await ctx.db.kysely
    .selectFrom("flowRunInputs")
    .selectAll()
    .where("flowRunId", "=", id)
    .where("key", "=", key)
    .executeTakeFirst();
  if (!row) throw notFound("input of flow run", `${id}/${key}`);
  return {
    flowRunId: row.flowRunId,
    key: row.key,
    value: fromJson<JsonObject | null>(row.value, null),
    created: row.created,
  };
}

/** The message of a run that waited past its pause's timeout. */
export const pauseTimedOut = (state: State): string =>
  `the run waited to be resumed (pause '${state.pause?.key ?? ""}') past its timeout at ${state.pause?.timeout ?? ""}`;
