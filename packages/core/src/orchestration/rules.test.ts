import { describe, it, expect } from "vitest";
import { makeState, STATE_TYPES, type State, type StateInput, type StateType } from "../states.js";
import { orchestrate } from "./orchestrate.js";
import { retryDelayFor } from "./rules.js";
import type { FromState, Rule, RunKind, TagLimitUsage, TransitionContext, Verdict } from "./types.js";

const NOW = new Date("2030-06-01T12:00:00.000Z");
const EARLIER = new Date(NOW.getTime() - 60_000);
const seconds = (n: number): string => new Date(NOW.getTime() + n * 1000).toISOString();

/** A current state, stamped a minute ago; a SCHEDULED one is due a minute ago. */
const current = (type: StateType, extra: Partial<StateInput> = {}): State =>
  makeState({ type, ...extra }, EARLIER);
const proposal = (type: StateType, extra: Partial<StateInput> = {}): State =>
  makeState({ type, ...extra }, NOW);

/** A neutral context: first attempt, no retries, no tag limits, no flow run state, no cache. */
function context(
  runKind: RunKind,
  from: FromState | State,
  to: StateType | State,
  overrides: Partial<TransitionContext> = {},
): TransitionContext {
  return {
    runKind,
    initial: typeof from === "string" ? current(from) : from,
    proposed: typeof to === "string" ? proposal(to) : to,
    now: NOW,
    runCount: 1,
    retries: 0,
    retryDelaySeconds: [],
    flowRunState: null,
    tagLimits: [],
    cachedState: null,
    ...overrides,
  };
}

/** Narrows a verdict to one status, failing the test with the reason when it is another. */
function expectStatus<S extends Verdict["status"]>(
  verdict: Verdict,
  status: S,
): Extract<Verdict, { status: S }> {
  expect(verdict.status, verdict.reason).toBe(status);
  return verdict as Extract<Verdict, { status: S }>;
}

const RULE_TAG = /\[[a-z-]+\]$/;

// ---------------------------------------------------------------------------------------------------------
// Every (from, to) pair, derived from the specification:
// - a terminal flow run may only be scheduled again (a rerun); a terminal task run never moves;
// - only one process can claim a run: PENDING, RUNNING, PAUSED or CANCELLING -> PENDING and
//   RUNNING -> RUNNING abort;
// - RUNNING needs PENDING first (resuming PAUSED -> RUNNING is the one other way in);
// - PAUSED is entered from RUNNING only;
// - cancelling a run that has not started (no state, SCHEDULED, PAUSED) cancels it at once;
// - a CANCELLING run goes nowhere but a terminal state;
// - where there is no current state to keep, a refusal is an ABORT.
//
// Expected values: ACCEPT | ABORT | WAIT | KEEP = REJECT keeping the current state |
//                  CANCELLED = REJECT into a new CANCELLED state.
// ---------------------------------------------------------------------------------------------------------
type Expected = "ACCEPT" | "ABORT" | "WAIT" | "KEEP" | "CANCELLED";
type Table = ReadonlyArray<readonly [FromState, readonly Expected[]]>;

const TO: readonly StateType[] = [
  "SCHEDULED",
  "PENDING",
  "RUNNING",
  "PAUSED",
  "CANCELLING",
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "CRASHED",
];

// prettier-ignore
const FLOW_TABLE: Table = [
  //  from ↓  to →   SCHEDULED   PENDING   RUNNING   PAUSED    CANCELLING   COMPLETED  FAILED    CANCELLED  CRASHED
  [null,           ["ACCEPT",   "ACCEPT", "ABORT",  "ABORT",  "CANCELLED", "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["SCHEDULED",    ["ACCEPT",   "ACCEPT", "KEEP",   "KEEP",   "CANCELLED", "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["PENDING",      ["ACCEPT",   "ABORT",  "ACCEPT", "KEEP",   "ACCEPT",    "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["RUNNING",      ["ACCEPT",   "ABORT",  "ABORT",  "ACCEPT", "ACCEPT",    "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["PAUSED",       ["ACCEPT",   "ABORT",  "ACCEPT", "KEEP",   "CANCELLED", "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["CANCELLING",   ["KEEP",     "ABORT",  "ABORT",  "KEEP",   "KEEP",      "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["COMPLETED",    ["ACCEPT",   "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
  ["FAILED",       ["ACCEPT",   "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
  ["CANCELLED",    ["ACCEPT",   "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
  ["CRASHED",      ["ACCEPT",   "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
];

// prettier-ignore
const TASK_TABLE: Table = [
  //  from ↓  to →   SCHEDULED   PENDING   RUNNING   PAUSED    CANCELLING   COMPLETED  FAILED    CANCELLED  CRASHED
  [null,           ["ACCEPT",   "ACCEPT", "ABORT",  "ABORT",  "CANCELLED", "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["SCHEDULED",    ["ACCEPT",   "ACCEPT", "KEEP",   "KEEP",   "CANCELLED", "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["PENDING",      ["ACCEPT",   "ABORT",  "ACCEPT", "KEEP",   "ACCEPT",    "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["RUNNING",      ["ACCEPT",   "ABORT",  "ABORT",  "ACCEPT", "ACCEPT",    "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["PAUSED",       ["ACCEPT",   "ABORT",  "ACCEPT", "KEEP",   "CANCELLED", "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["CANCELLING",   ["KEEP",     "ABORT",  "ABORT",  "KEEP",   "KEEP",      "ACCEPT",  "ACCEPT", "ACCEPT",  "ACCEPT"]],
  ["COMPLETED",    ["KEEP",     "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
  ["FAILED",       ["KEEP",     "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
  ["CANCELLED",    ["KEEP",     "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
  ["CRASHED",      ["KEEP",     "KEEP",   "KEEP",   "KEEP",   "KEEP",      "KEEP",    "KEEP",   "KEEP",    "KEEP"]],
];

interface Case {
  from: FromState;
  to: StateType;
  expected: Expected;
}

const cases = (table: Table): Case[] =>
  table.flatMap(([from, row]) => TO.map((to, i) => ({ from, to, expected: row[i] ?? "ACCEPT" })));

function checkPair(runKind: RunKind, { from, to, expected }: Case): void {
  const ctx = context(runKind, from, to);
  const verdict = orchestrate(ctx);
  switch (expected) {
    case "ACCEPT":
      expect(expectStatus(verdict, "ACCEPT").state).toBe(ctx.proposed);
      return;
    case "KEEP":
      expect(expectStatus(verdict, "REJECT").state).toBe(ctx.initial);
      break;
    case "CANCELLED": {
      const state = expectStatus(verdict, "REJECT").state;
      expect(state?.type).toBe("CANCELLED");
      expect(state?.name).toBe("Cancelled");
      break;
    }
    case "ABORT":
    case "WAIT":
      expectStatus(verdict, expected);
      break;
  }
  expect(verdict.reason).toMatch(RULE_TAG);
}

describe("transition table", () => {
  it("covers every state type and every (from, to) pair", () => {
    expect([...TO].sort()).toEqual([...STATE_TYPES].sort());
    for (const table of [FLOW_TABLE, TASK_TABLE]) {
      expect(table.map(([from]) => from)).toEqual([null, ...STATE_TYPES]);
      for (const [, row] of table) expect(row).toHaveLength(TO.length);
      expect(cases(table)).toHaveLength(90);
    }
  });

  describe("flow runs", () => {
    it.each(cases(FLOW_TABLE))("$from -> $to: $expected", (c) => checkPair("flow", c));
  });

  describe("task runs", () => {
    it.each(cases(TASK_TABLE))("$from -> $to: $expected", (c) => checkPair("task", c));
  });
});

describe("retries", () => {
  const failed = proposal("FAILED", {
    message: "boom",
    data: { kind: "inline", serializer: "json", value: { error: "boom" } },
  });

  it.each<[RunKind, number, number]>([
    ["flow", 1, 10],
    ["flow", 2, 20],
    ["flow", 3, 30],
    ["flow", 4, 30],
    ["task", 1, 10],
    ["task", 2, 20],
    ["task", 3, 30],
    ["task", 4, 30],
  ])(
    "%s run, attempt %i failing with retries left waits %is (the last delay repeats)",
    (runKind, runCount, delay) => {
      const ctx = context(runKind, "RUNNING", failed, {
        runCount,
        retries: 5,
        retryDelaySeconds: [10, 20, 30],
      });
      const verdict = expectStatus(orchestrate(ctx), "REJECT");
      expect(verdict.state).toMatchObject({
        type: "SCHEDULED",
        name: "AwaitingRetry",
        scheduledTime: seconds(delay),
        timestamp: NOW.toISOString(),
        data: failed.data,
      });
      expect(verdict.state?.message).toContain("boom");
      expect(verdict.reason).toMatch(/\[retry-failures\]$/);
    },
  );

  it("retryDelayFor: the delay after each failed attempt, the last one repeating, none meaning at once", () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelayFor([10, 20, 30], attempt))).toEqual([10, 20, 30, 30]);
    expect(retryDelayFor([], 1)).toBe(0);
  });

  it("retries at once when no delay is configured", () => {
    const ctx = context("task", "RUNNING", "FAILED", { retries: 1, retryDelaySeconds: [] });
    const verdict = expectStatus(orchestrate(ctx), "REJECT");
    expect(verdict.state).toMatchObject({
      type: "SCHEDULED",
      name: "AwaitingRetry",
      scheduledTime: seconds(0),
    });
  });

  it.each<[RunKind, number, number]>([
    ["flow", 1, 0],
    ["flow", 3, 2],
    ["flow", 4, 2],
    ["task", 1, 0],
    ["task", 3, 2],
  ])(
    "%s run: attempt %i with %i retries has none left, so FAILED is accepted",
    (runKind, runCount, retries) => {
      const ctx = context(runKind, "RUNNING", "FAILED", { runCount, retries, retryDelaySeconds: [5] });
      expect(expectStatus(orchestrate(ctx), "ACCEPT").state).toBe(ctx.proposed);
    },
  );

  it("the last retry is still granted: attempt 2 of retries 1", () => {
    const ctx = context("flow", "RUNNING", "FAILED", { runCount: 1, retries: 1, retryDelaySeconds: [5] });
    expect(expectStatus(orchestrate(ctx), "REJECT").state?.name).toBe("AwaitingRetry");
    const after = context("flow", "RUNNING", "FAILED", { runCount: 2, retries: 1, retryDelaySeconds: [5] });
    expectStatus(orchestrate(after), "ACCEPT");
  });

  it("a CRASHED flow run of a deployment with retries left is rescheduled, for a runner to claim again", () => {
    const ctx = context("flow", "RUNNING", "CRASHED", {
      retries: 2,
      retryDelaySeconds: [7],
      claimable: true,
    });
    const verdict = expectStatus(orchestrate(ctx), "REJECT");
    expect(verdict.state).toMatchObject({
      type: "SCHEDULED",
      name: "AwaitingRetry",
      scheduledTime: seconds(7),
    });
  });

  it("a deployment run paused in a process that died (PAUSED -> CRASHED) is retried as a running one", () => {
    const ctx = context("flow", "PAUSED", "CRASHED", { retries: 1, retryDelaySeconds: [7], claimable: true });
    const verdict = expectStatus(orchestrate(ctx), "REJECT");
    expect(verdict.state).toMatchObject({
      type: "SCHEDULED",
      name: "AwaitingRetry",
      scheduledTime: seconds(7),
    });
  });

  it("a pause that timed out (PAUSED -> FAILED) fails for good, retries left or not", () => {
    const ctx = context("flow", "PAUSED", "FAILED", { retries: 3, claimable: true });
    expect(expectStatus(orchestrate(ctx), "ACCEPT").state).toBe(ctx.proposed);
  });

  it("a CRASHED flow run that no runner would claim again (no deployment) is not retried", () => {
    const ctx = context("flow", "RUNNING", "CRASHED", { retries: 2, retryDelaySeconds: [7] });
    expect(expectStatus(orchestrate(ctx), "ACCEPT").state).toBe(ctx.proposed);
  });

  it("a CRASHED task run is not retried", () => {
    const ctx = context("task", "RUNNING", "CRASHED", { retries: 2, retryDelaySeconds: [7] });
    expect(expectStatus(orchestrate(ctx), "ACCEPT").state).toBe(ctx.proposed);
  });

  it.each<RunKind>(["flow", "task"])(
    "%s run: a failure before it ever ran (PENDING -> FAILED) uses no retry and is accepted",
    (runKind) => {
      const ctx = context(runKind, "PENDING", "FAILED", { runCount: 0, retries: 3, retryDelaySeconds: [5] });
      expectStatus(orchestrate(ctx), "ACCEPT");
    },
  );

  it.each<RunKind>(["flow", "task"])("%s run: a terminal run is not retried again", (runKind) => {
    const ctx = context(runKind, "COMPLETED", "FAILED", { retries: 3 });
    expect(expectStatus(orchestrate(ctx), "REJECT").state).toBe(ctx.initial);
  });
});

/** A PAUSED proposal of suspend(): the run's process ends, and a resume schedules it again. */
const suspension = (): State =>
  proposal("PAUSED", {
    name: "Suspended",
    pause: { key: "suspend-1", timeout: null, reschedule: true, inputSchema: null, description: null },
  });

describe("suspension", () => {
  it("a deployment's run may be suspended", () => {
    expectStatus(orchestrate(context("flow", "RUNNING", suspension(), { claimable: true })), "ACCEPT");
  });

  it("a run of no deployment is not suspended (nothing would start it again): it stays RUNNING", () => {
    const verdict = expectStatus(orchestrate(context("flow", "RUNNING", suspension())), "REJECT");
    expect(verdict.state?.type).toBe("RUNNING");
    expect(verdict.reason).toMatch(/no deployment.*pause\(\) it instead/);
  });

  it.each<StateType>(["COMPLETED", "FAILED", "CRASHED", "CANCELLED", "RUNNING"])(
    "its old process (an attempt) cannot move a suspended run to %s: it waits to be resumed",
    (type) => {
      const ctx = context("flow", suspension(), type, { claimable: true, attempt: 2, proposedAttempt: 2 });
      expect(expectStatus(orchestrate(ctx), "ABORT").reason).toMatch(/\[resume-suspended-by-schedule\]$/);
    },
  );

  it("a suspended run is resumed (SCHEDULED), cancelled or timed out (FAILED) by the server", () => {
    for (const type of ["SCHEDULED", "CANCELLED", "FAILED"] as const)
      expectStatus(orchestrate(context("flow", suspension(), type, { claimable: true })), "ACCEPT");
    const cancel = context("flow", suspension(), "CANCELLING", { claimable: true });
    expect(expectStatus(orchestrate(cancel), "REJECT").state?.type).toBe("CANCELLED");
  });

  it("a run of no deployment may still pause in its process", () => {
    const paused = proposal("PAUSED", {
      pause: { key: "pause-1", timeout: null, reschedule: false, inputSchema: null, description: null },
    });
    expectStatus(orchestrate(context("flow", "RUNNING", paused)), "ACCEPT");
  });
});

describe("tag concurrency", () => {
  const limit = (tag: string, limit: number, active: number, holdsSlot = false): TagLimitUsage => ({
    tag,
    limit,
    active,
    holdsSlot,
  });
  const starting = (tagLimits: TagLimitUsage[], extra: Partial<TransitionContext> = {}) =>
    orchestrate(context("task", "PENDING", "RUNNING", { tagLimits, ...extra }));

  it("a full limit makes the task wait for the configured delay", () => {
    const verdict = expectStatus(starting([limit("db", 2, 2)], { concurrencyRetryDelaySeconds: 15 }), "WAIT");
    expect(verdict.delaySeconds).toBe(15);
    expect(verdict.reason).toContain("'db'");
    expect(verdict.reason).toMatch(/\[tag-concurrency\]$/);
  });

  it("a full limit waits a positive default delay when none is configured", () => {
    const verdict = expectStatus(starting([limit("db", 1, 3)]), "WAIT");
    expect(verdict.delaySeconds).toBeGreaterThan(0);
  });

  it("a run that already holds a slot is accepted even when the limit is full", () => {
    expectStatus(starting([limit("db", 2, 2, true)]), "ACCEPT");
  });

  it("a free slot is accepted", () => {
    expectStatus(starting([limit("db", 2, 1), limit("api", 5, 0)]), "ACCEPT");
  });

  it("a limit of 0 aborts: it would never free up", () => {
    const verdict = expectStatus(starting([limit("frozen", 0, 0)]), "ABORT");
    expect(verdict.reason).toContain("'frozen'");
    expect(verdict.reason).toMatch(/\[tag-concurrency\]$/);
  });

  it("a limit of 0 aborts even when another tag is merely full", () => {
    expectStatus(starting([limit("db", 1, 1), limit("frozen", 0, 0)]), "ABORT");
  });

  it("any one full tag among several makes the task wait", () => {
    expectStatus(starting([limit("api", 5, 0), limit("db", 1, 1)]), "WAIT");
  });

  it("tag limits do not apply to flow runs", () => {
    expectStatus(
      orchestrate(context("flow", "PENDING", "RUNNING", { tagLimits: [limit("db", 0, 0)] })),
      "ACCEPT",
    );
  });
});

describe("tasks of a stopped flow run", () => {
  const stopped: StateType[] = ["CANCELLING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED"];
  const moves: Array<[FromState, StateType]> = [
    ["PENDING", "RUNNING"],
    ["SCHEDULED", "PENDING"],
    [null, "PENDING"],
  ];

  it.each(stopped.flatMap((flow) => moves.map(([from, to]) => ({ flow, from, to }))))(
    "flow run $flow: task $from -> $to aborts",
    ({ flow, from, to }) => {
      const verdict = expectStatus(
        orchestrate(context("task", from, to, { flowRunState: current(flow) })),
        "ABORT",
      );
      expect(verdict.reason).toMatch(/\[no-tasks-in-stopped-flow\]$/);
    },
  );

  it.each(moves.map(([from, to]) => ({ from, to })))(
    "suspended flow run: task $from -> $to aborts; paused in its process, it may go on",
    ({ from, to }) => {
      const pause = (reschedule: boolean) => ({
        pause: { key: "p", timeout: null, reschedule, inputSchema: null, description: null },
      });
      const suspended = current("PAUSED", { name: "Suspended", ...pause(true) });
      const verdict = expectStatus(
        orchestrate(context("task", from, to, { flowRunState: suspended })),
        "ABORT",
      );
      expect(verdict.reason).toMatch(/\[no-tasks-in-stopped-flow\]$/);
      const paused = current("PAUSED", pause(false));
      expectStatus(orchestrate(context("task", from, to, { flowRunState: paused })), "ACCEPT");
    },
  );

  it("a task of a RUNNING flow run may start", () => {
    expectStatus(
      orchestrate(context("task", "PENDING", "RUNNING", { flowRunState: current("RUNNING") })),
      "ACCEPT",
    );
  });

  it("a task of a cancelling flow run may still finish", () => {
    const ctx = context("task", "RUNNING", "COMPLETED", { flowRunState: current("CANCELLING") });
    expectStatus(orchestrate(ctx), "ACCEPT");
  });
});

describe("cache", () => {
  const cached = makeState(
    {
      type: "COMPLETED",
      cacheKey: "key-1",
      cacheExpiration: seconds(3600),
      data: { kind: "inline", serializer: "json", value: 42 },
    },
    new Date(NOW.getTime() - 3_600_000),
  );

  it("a valid cached state is used instead of running: REJECT into COMPLETED named Cached", () => {
    const verdict = expectStatus(
      orchestrate(context("task", "PENDING", "RUNNING", { cachedState: cached })),
      "REJECT",
    );
    expect(verdict.state).toMatchObject({
      type: "COMPLETED",
      name: "Cached",
      data: cached.data,
      cacheKey: "key-1",
      timestamp: NOW.toISOString(),
    });
    expect(verdict.reason).toContain("key-1");
    expect(verdict.reason).toMatch(/\[use-cached-result\]$/);
  });

  it("a cache hit does not wait for a concurrency slot it will not use", () => {
    const tagLimits = [{ tag: "db", limit: 1, active: 1, holdsSlot: false }];
    const verdict = orchestrate(context("task", "PENDING", "RUNNING", { cachedState: cached, tagLimits }));
    expect(expectStatus(verdict, "REJECT").state?.name).toBe("Cached");
  });
});

describe("scheduled time", () => {
  it("a SCHEDULED run proposing PENDING before its time waits the remaining seconds", () => {
    const initial = makeState({ type: "SCHEDULED", scheduledTime: seconds(90) }, EARLIER);
    for (const runKind of ["flow", "task"] as const) {
      const verdict = expectStatus(orchestrate(context(runKind, initial, "PENDING")), "WAIT");
      expect(verdict.delaySeconds).toBeCloseTo(90, 3);
      expect(verdict.reason).toMatch(/\[wait-for-scheduled-time\]$/);
    }
  });

  it("a run that is due (or late) is accepted", () => {
    const late = makeState({ type: "SCHEDULED", name: "Late", scheduledTime: seconds(-600) }, EARLIER);
    expectStatus(orchestrate(context("flow", late, "PENDING")), "ACCEPT");
    const due = makeState({ type: "SCHEDULED", scheduledTime: seconds(0) }, EARLIER);
    expectStatus(orchestrate(context("flow", due, "PENDING")), "ACCEPT");
  });
});

describe("force", () => {
  it.each<RunKind>(["flow", "task"])("%s run: force accepts every (from, to) pair", (runKind) => {
    for (const from of [null, ...STATE_TYPES]) {
      for (const to of STATE_TYPES) {
        const ctx = context(runKind, from, to, {
          retries: 3,
          flowRunState: current("CANCELLING"),
          tagLimits: [{ tag: "db", limit: 0, active: 0, holdsSlot: false }],
        });
        const verdict = orchestrate(ctx, { force: true });
        expect(verdict.status, `${String(from)} -> ${to}`).toBe("ACCEPT");
        expect(verdict.status === "ACCEPT" && verdict.state).toBe(ctx.proposed);
      }
    }
  });
});

describe("custom policies and reasons", () => {
  const rule = (name: string, apply: Rule["apply"]): Rule => ({
    name,
    runKinds: ["flow", "task"],
    from: "any",
    to: "any",
    apply,
  });

  it("a rule that throws becomes an ABORT naming the rule", () => {
    const policy = [
      rule("boom", () => {
        throw new Error("kaboom");
      }),
    ];
    const verdict = expectStatus(orchestrate(context("flow", "PENDING", "RUNNING"), { policy }), "ABORT");
    expect(verdict.reason).toContain("boom");
    expect(verdict.reason).toContain("kaboom");
  });

  it("a rule that throws something other than an Error also aborts", () => {
    const policy = [
      rule("odd", () => {
        throw "not an error"; // eslint-disable-line @typescript-eslint/only-throw-error
      }),
    ];
    const verdict = expectStatus(orchestrate(context("task", null, "PENDING"), { policy }), "ABORT");
    expect(verdict.reason).toContain("odd");
  });

  it("the first rule that answers decides; rules that pass let later ones decide", () => {
    const policy = [
      rule("pass", () => undefined),
      rule("first", () => ({ status: "ABORT", reason: "first said no" })),
      rule("second", () => ({ status: "WAIT", delaySeconds: 1, reason: "never asked" })),
    ];
    const verdict = orchestrate(context("flow", "PENDING", "RUNNING"), { policy });
    expect(verdict).toEqual({ status: "ABORT", reason: "first said no [first]" });
  });

  it("a rule that does not apply to the run kind or transition is skipped", () => {
    const policy: Rule[] = [
      { ...rule("tasks-only", () => ({ status: "ABORT", reason: "no" })), runKinds: ["task"] },
      { ...rule("from-running", () => ({ status: "ABORT", reason: "no" })), from: ["RUNNING"] },
      { ...rule("to-failed", () => ({ status: "ABORT", reason: "no" })), to: ["FAILED"] },
    ];
    expectStatus(orchestrate(context("flow", "PENDING", "RUNNING"), { policy }), "ACCEPT");
  });

  it.each<[string, string, TransitionContext]>([
    ["terminal run", "stay-terminal", context("task", "COMPLETED", "RUNNING")],
    ["second claim", "claim-pending-once", context("flow", "PENDING", "PENDING")],
    ["running without pending", "running-needs-pending", context("flow", "SCHEDULED", "RUNNING")],
    ["pausing a pending run", "pause-only-running", context("flow", "PENDING", "PAUSED")],
    [
      "suspending a run of no deployment",
      "suspend-only-deployment-runs",
      context("flow", "RUNNING", suspension()),
    ],
    [
      "running a suspended run",
      "resume-suspended-by-schedule",
      context(
        "flow",
        makeState({
          type: "PAUSED",
          name: "Suspended",
          pause: { key: "k", timeout: null, reschedule: true, inputSchema: null, description: null },
        }),
        "RUNNING",
      ),
    ],
    ["cancelling a scheduled run", "cancel-not-started-at-once", context("flow", "SCHEDULED", "CANCELLING")],
    ["cancelling twice", "cancelling-once", context("flow", "CANCELLING", "CANCELLING")],
    [
      "task of a stopped flow",
      "no-tasks-in-stopped-flow",
      context("task", "PENDING", "RUNNING", { flowRunState: current("CANCELLED") }),
    ],
    [
      "early start",
      "wait-for-scheduled-time",
      context("flow", makeState({ type: "SCHEDULED", scheduledTime: seconds(30) }, EARLIER), "PENDING"),
    ],
    ["retry", "retry-failures", context("flow", "RUNNING", "FAILED", { retries: 1 })],
  ])("%s: the reason ends with [%s]", (_, name, ctx) => {
    const verdict = orchestrate(ctx);
    expect(verdict.status).not.toBe("ACCEPT");
    expect(verdict.reason.endsWith(` [${name}]`), verdict.reason).toBe(true);
  });
});
