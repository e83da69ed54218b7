import { z } from "zod";

/** The kinds of state a flow run or task run can be in. Names such as Late or Cached ride on these. */
export const StateType = {
  SCHEDULED: "SCHEDULED",
  PENDING: "PENDING",
  RUNNING: "RUNNING",
  PAUSED: "PAUSED",
  CANCELLING: "CANCELLING",
  COMPLETED: "COMPLETED",
  FAILED: "FAILED",
  CANCELLED: "CANCELLED",
  CRASHED: "CRASHED",
} as const;
export type StateType = (typeof StateType)[keyof typeof StateType];
export const STATE_TYPES = Object.values(StateType);

export const TERMINAL_STATE_TYPES: readonly StateType[] = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"];

export function isTerminal(type: StateType | null | undefined): boolean {
  return type != null && TERMINAL_STATE_TYPES.includes(type);
}

/** Named states and the type each one rides on. */
export const StateName = {
  Scheduled: "SCHEDULED",
  Late: "SCHEDULED",
  AwaitingRetry: "SCHEDULED",
  Pending: "PENDING",
  Running: "RUNNING",
  Retrying: "RUNNING",
  Completed: "COMPLETED",
  Cached: "COMPLETED",
  Failed: "FAILED",
  TimedOut: "FAILED",
  Crashed: "CRASHED",
  Cancelling: "CANCELLING",
  Cancelled: "CANCELLED",
  Paused: "PAUSED",
  Suspended: "PAUSED",
} as const satisfies Record<string, StateType>;
export type StateName = keyof typeof StateName;

/** Where a run's result lives: inline JSON for small values, or a key in result storage. */
export const ResultReferenceSchema = z.union([
  z.strictObject({
    kind: z.literal("inline"),
    serializer: z.string(),
    value: z.json(),
    /** The value's type where JSON alone does not say it (a protobuf message's full name, say). */
    typeName: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal("stored"),
    serializer: z.string(),
    storage: z.string(),
    key: z.string(),
    typeName: z.string().optional(),
  }),
]);
export type ResultReference = z.infer<typeof ResultReferenceSchema>;

const isoTime = z.iso.datetime({ offset: true });

/** What a PAUSED flow run waits for: a person (or an automation) to resume it, with input or not. */
export const PauseSchema = z.strictObject({
  /** Names the pause within its run (`pause-1`, `suspend-2`, or the flow's own): its input is kept by it. */
  key: z.string().min(1).max(200),
  /** When the pause gives up: the run fails then. */
  timeout: isoTime.nullable(),
  /** Suspended: the run's process has ended, and the resumed run starts again from a worker. */
  reschedule: z.boolean(),
  /** JSON Schema of the input it waits for; null when it waits for a go-ahead only. */
  inputSchema: z.record(z.string(), z.json()).nullable(),
  /** What the person is asked, shown on the dashboard. */
  description: z.string().max(2000).nullable(),
});
export type Pause = z.infer<typeof PauseSchema>;

export const StateSchema = z.strictObject({
  type: z.enum(STATE_TYPES),
  name: z.string().min(1).max(64),
  message: z.string().max(20_000).nullish(),
  timestamp: isoTime,
  /** For SCHEDULED states: when the run should start. */
  scheduledTime: isoTime.nullish(),
  /** A result or, for failures, a serialized error. */
  data: ResultReferenceSchema.nullish(),
  /** Task runs: the cache key a COMPLETED state is stored under, and until when it is valid. */
  cacheKey: z.string().max(500).nullish(),
  cacheExpiration: isoTime.nullish(),
  /** PAUSED states: what the run waits for, and until when. */
  pause: PauseSchema.nullish(),
});
export type State = z.infer<typeof StateSchema>;

/** A state proposed by a client; the server fills in the timestamp and default name. */
export const StateInputSchema = StateSchema.extend({
  name: StateSchema.shape.name.optional(),
  timestamp: isoTime.optional(),
});
export type StateInput = z.infer<typeof StateInputSchema>;

const DEFAULT_NAMES: Record<StateType, StateName> = {
  SCHEDULED: "Scheduled",
  PENDING: "Pending",
  RUNNING: "Running",
  PAUSED: "Paused",
  CANCELLING: "Cancelling",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
  CRASHED: "Crashed",
};

export function defaultStateName(type: StateType): StateName {
  return DEFAULT_NAMES[type];
}

/** Builds a complete state from a partial one, stamping it with `now`. */
export function makeState(input: StateInput, now: Date = new Date()): State {
  const state: State = {
    ...input,
    name: input.name ?? DEFAULT_NAMES[input.type],
    timestamp: input.timestamp ?? now.toISOString(),
  };
  if (state.type === "SCHEDULED" && !state.scheduledTime) state.scheduledTime = state.timestamp;
  return state;
}

/**
 * Why a flow run cannot be run again (a rerun: SCHEDULED again with all its retries), or null when it
 * can: it must have finished, and have a deployment whose worker or serve process will pick it up.
 */
export function whyNoRerun(run: {
  state: { type: StateType } | null;
  deploymentId: string | null;
}): string | null {
  if (!isTerminal(run.state?.type)) return "only a finished run can run again";
  if (!run.deploymentId) return "only a deployment's runs run again: nothing would pick this one up";
  return null;
}
