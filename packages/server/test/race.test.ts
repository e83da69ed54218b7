import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeState, newId, type State, type StateType, type VerdictStatus } from "@baton/core";
import {
  EventBus,
  migrateToLatest,
  openDatabase,
  setRunState,
  setRunStates,
  type Db,
  type StoreContext,
} from "@baton/server";
import { DIALECTS, throwawayDatabase, type ThrowawayDatabase } from "../../../test/helpers.js";
import { createFlowRun } from "../src/store/flow-runs.js";
import { createTaskRun, recordTaskRuns } from "../src/store/task-runs.js";
import { upsertConcurrencyLimit } from "../src/store/concurrency-limits.js";
import { pauseAfterHold, pauseAfterSlotTaken } from "./fixtures/pause-after.js";
import { runUpdates } from "./fixtures/run-updates.js";

const PROCESSES = 4;
const RACER = fileURLToPath(new URL("./fixtures/propose.ts", import.meta.url));

/**
 * Races proposals from several processes, each with its own database connection: all connect,
 * then all are released at once. Returns every verdict.
 */
async function race(
  url: string,
  kind: "flow" | "task",
  stateType: StateType,
  idsPerProcess: string[][],
  { together = false } = {},
): Promise<VerdictStatus[]> {
  const children = idsPerProcess.map((ids) => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        RACER,
        url,
        kind,
        stateType,
        ids.join(","),
        ...(together ? ["together"] : []),
      ],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const lines = createInterface({ input: child.stdout });
    const output: string[] = [];
    const ready = new Promise<void>((resolve) =>
      lines.on("line", (line) => (line === "ready" ? resolve() : output.push(line))),
    );
    return { child, ready, output, exited: once(child, "exit") };
  });
  await Promise.all(children.map((racer) => racer.ready));
  for (const racer of children) racer.child.stdin.end("go\n");
  const verdicts: VerdictStatus[] = [];
  for (const racer of children) {
    const [code] = (await racer.exited) as [number];
    expect(code).toBe(0);
    verdicts.push(...(JSON.parse(racer.output.join("")) as VerdictStatus[]));
  }
  return verdicts;
}

/** Every process proposes for every run, twice over. */
const everyRunTwiceInEachProcess = (ids: string[]) =>
  Array.from({ length: PROCESSES }, () => [...ids, ...ids]);

const count = (verdicts: VerdictStatus[], status: VerdictStatus) =>
  verdicts.filter((verdict) => verdict === status).length;

// Each race starts its racers as Node processes with tsx: seconds apiece on a busy 2-core machine.
describe.each(DIALECTS)(
  "racing state proposals from many connections on %s",
  { timeout: 120_000 },
  (dialect) => {
    let database: ThrowawayDatabase;
    let db: Db;
    let ctx: StoreContext;

    beforeAll(async () => {
      database = await throwawayDatabase(dialect);
      db = openDatabase(database.url);
      await migrateToLatest(db);
      ctx = { db, events: new EventBus() };
    });

    afterAll(async () => {
      await db.close();
      await database.drop();
    });

    /** Until `statements` wait for a lock (bounded: those waiting show in pg_stat_activity). */
    const waitedFor = async (never: string, statements = 1) => {
      for (let tries = 0; ; tries++) {
        const { rows } = await sql<{ waiting: number }>`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(db.kysely);
        if (rows[0]!.waiting >= statements) return;
        if (tries > 500) throw new Error(never);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    /**
     * Writes a flow run's end in a transaction of another connection, which holds the run's row until
     * released and then commits.
     */
    const endHeld = async (flowRunId: string) => {
      const end = makeState({ type: "COMPLETED" });
      const holder = openDatabase(database.url);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let held!: () => void;
      const holds = new Promise<void>((resolve) => (held = resolve));
      const holding = holder.kysely.transaction().execute(async (trx) => {
        await trx
          .updateTable("flowRuns")
          .set({
            state: JSON.stringify(end),
            stateType: end.type,
            stateName: end.name,
            endTime: end.timestamp,
          })
          .where("id", "=", flowRunId)
          .execute();
        held();
        await released;
      });
      await Promise.race([holds, holding]);
      return {
        async release() {
          release();
          await holding;
        },
        async close() {
          release();
          await holding.catch(() => undefined);
          await holder.close();
        },
      };
    };
    const runningFlowRun = async () => {
      const flowRun = await createFlowRun(ctx, { flowName: "race-flow", state: { type: "PENDING" } });
      await setRunState(ctx, "flow", flowRun.id, makeState({ type: "RUNNING" }), { force: false });
      return flowRun;
    };

    /** The state types a run went through, as its history records them. */
    const historyOf = async (run: "flowRunId" | "taskRunId", id: string) =>
      (
        await db.kysely
          .selectFrom("states")
          .select("type")
          .where(run, "=", id)
          .orderBy("timestamp")
          .orderBy("id")
          .execute()
      ).map((row) => row.type);

    it("lets exactly one of many racing proposals claim each scheduled flow run", async () => {
      const runs = await Promise.all(
        Array.from({ length: 4 }, () => createFlowRun(ctx, { flowName: "race-flow" })),
      );
      const ids = runs.map((run) => run.id);
      const verdicts = await race(database.url, "flow", "PENDING", everyRunTwiceInEachProcess(ids));
      expect(count(verdicts, "ACCEPT")).toBe(runs.length);
      expect(count(verdicts, "ABORT")).toBe(verdicts.length - runs.length);
      for (const run of runs) {
        expect(await historyOf("flowRunId", run.id)).toEqual(["SCHEDULED", "PENDING"]);
      }
    });

    it("ends each flow run once when many processes propose its end to all the runs in one call", async () => {
      const runs = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const run = await createFlowRun(ctx, { flowName: "race-flow", state: { type: "PENDING" } });
          await setRunState(ctx, "flow", run.id, makeState({ type: "RUNNING" }), { force: false });
          return run;
        }),
      );
      const ids = runs.map((run) => run.id);
      // Each process's one call holds every run twice, in an order of its own.
      const calls = everyRunTwiceInEachProcess(ids).map((each, index) => (index % 2 ? each.reverse() : each));
      const verdicts = await race(database.url, "flow", "COMPLETED", calls, { together: true });
      expect(verdicts).toHaveLength(PROCESSES * ids.length * 2);
      expect(count(verdicts, "ACCEPT")).toBe(runs.length);
      expect(count(verdicts, "REJECT")).toBe(verdicts.length - runs.length);
      for (const run of runs) {
        expect(await historyOf("flowRunId", run.id)).toEqual(["PENDING", "RUNNING", "COMPLETED"]);
      }
    });

    it("starts each task run once when many racing proposals start it, and records one start", async () => {
      const flowRun = await runningFlowRun();
      const tasks = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          createTaskRun(ctx, {
            flowRunId: flowRun.id,
            name: `t-${i}`,
            taskKey: "t",
            state: { type: "PENDING" },
          }),
        ),
      );
      const ids = tasks.map((task) => task.id);
      const verdicts = await race(database.url, "task", "RUNNING", everyRunTwiceInEachProcess(ids));
      expect(count(verdicts, "ACCEPT")).toBe(tasks.length);
      for (const task of tasks) {
        expect(await historyOf("taskRunId", task.id)).toEqual(["PENDING", "RUNNING"]);
        const events = await db.kysely
          .selectFrom("events")
          .select("payload")
          .where("resourceId", "=", task.id)
          .orderBy("seq")
          .execute();
        expect(
          events.map((event) => (JSON.parse(event.payload) as { state: { type: string } }).state.type),
        ).toEqual(["PENDING", "RUNNING"]);
      }
    });

    it("never gives a tag's single slot to two racing task runs", async () => {
      await upsertConcurrencyLimit(ctx, { tag: "db-lock", limit: 1 });
      const flowRun = await runningFlowRun();
      const tasks = await Promise.all(
        Array.from({ length: PROCESSES * 3 }, (_, i) =>
          createTaskRun(ctx, {
            flowRunId: flowRun.id,
            name: `db-write-${i}`,
            taskKey: "db-write",
            tags: ["db-lock"],
          }),
        ),
      );
      const ids = tasks.map((task) => task.id);
      const split = Array.from({ length: PROCESSES }, (_, p) => ids.filter((_, i) => i % PROCESSES === p));
      const verdicts = await race(database.url, "task", "RUNNING", split);
      expect(count(verdicts, "ACCEPT")).toBe(1);
      expect(count(verdicts, "WAIT")).toBe(tasks.length - 1);
      const slots = await db.kysely
        .selectFrom("concurrencySlots")
        .selectAll()
        .where("tag", "=", "db-lock")
        .execute();
      expect(slots).toHaveLength(1);

      // The holder finishing frees the slot for exactly one of the others.
      const holder = slots[0]!.taskRunId;
      await setRunState(ctx, "task", holder, makeState({ type: "COMPLETED" }), { force: false });
      const others = ids.filter((id) => id !== holder);
      const second = await race(
        database.url,
        "task",
        "RUNNING",
        Array.from({ length: PROCESSES }, (_, p) => others.filter((_, i) => i % PROCESSES === p)),
      );
      expect(count(second, "ACCEPT")).toBe(1);
    });

    /** A running flow run and a PENDING task run of it with `tag`, whose limit is one slot. */
    const taskWithSingleSlot = async (tag: string) => {
      await upsertConcurrencyLimit(ctx, { tag, limit: 1 });
      const flowRun = await runningFlowRun();
      const task = await createTaskRun(ctx, { flowRunId: flowRun.id, name: "t", taskKey: "t", tags: [tag] });
      const slots = () =>
        db.kysely.selectFrom("concurrencySlots").selectAll().where("tag", "=", tag).execute();
      return { flowRun, task, slots };
    };

    it("releases every slot of a flow run's tasks when the flow run crashes", async () => {
      const { flowRun, task, slots } = await taskWithSingleSlot("crash-lock");
      expect(
        (await setRunState(ctx, "task", task.id, makeState({ type: "RUNNING" }), { force: false })).status,
      ).toBe("ACCEPT");
      await setRunState(ctx, "flow", flowRun.id, makeState({ type: "CRASHED", message: "heartbeat lost" }), {
        force: false,
      });
      expect(await slots()).toEqual([]);
    });

    it.skipIf(dialect !== "postgres")(
      "gives back the slot a task run's start took while its flow run's end waited for it",
      async () => {
        const { flowRun, task, slots } = await taskWithSingleSlot("late-lock");
        // The start stops after writing its RUNNING and its slot, uncommitted.
        const pause = pauseAfterSlotTaken();
        const held = { ...ctx, db: { ...db, kysely: db.kysely.withPlugin(pause.plugin) } };
        const start = setRunState(held, "task", task.id, makeState({ type: "RUNNING" }), { force: false });
        try {
          await Promise.race([pause.paused, start]);
          const ending = setRunState(ctx, "flow", flowRun.id, makeState({ type: "COMPLETED" }), {
            force: false,
          });
          // The end's statement, which read the slots before the start committed, waits for the task run.
          await waitedFor("the end never waited for the task run's start");
          pause.release();
          expect((await start).status).toBe("ACCEPT");
          expect((await ending).status).toBe("ACCEPT");
        } finally {
          pause.release();
        }
        expect(await historyOf("taskRunId", task.id)).toEqual(["PENDING", "RUNNING", "CRASHED"]);
        expect(await slots()).toEqual([]);
      },
    );

    /**
     * Starts a task run of the flow run whose creation stops once it holds the flow run (holdFlowRun),
     * its transaction open, until released.
     */
    const creationHolding = async (flowRunId: string) => {
      const pause = pauseAfterHold();
      const held = { ...ctx, db: { ...db, kysely: db.kysely.withPlugin(pause.plugin) } };
      const created = createTaskRun(held, { flowRunId, name: "late", taskKey: "late", start: true });
      await Promise.race([pause.paused, created]);
      return { created, release: pause.release };
    };

    it.skipIf(dialect !== "postgres")(
      "ends with its flow run a task run whose creation held the flow run as the end came",
      async () => {
        const flowRun = await runningFlowRun();
        const creation = await creationHolding(flowRun.id);
        try {
          const ending = setRunState(ctx, "flow", flowRun.id, makeState({ type: "COMPLETED" }), {
            force: false,
          });
          // The task run is not committed yet: an end not waiting for it would leave it open.
          await waitedFor("the end never waited for the task run's creation");
          creation.release();
          const task = await creation.created;
          expect(task.state?.type).toBe("RUNNING");
          expect((await ending).status).toBe("ACCEPT");
          expect(await historyOf("taskRunId", task.id)).toEqual(["PENDING", "RUNNING", "CRASHED"]);
        } finally {
          creation.release();
        }
      },
    );

    it.skipIf(dialect !== "postgres")(
      "ends the runs of a call at once but one a task run's creation holds, which ends once free with that task run",
      async () => {
        const runs = [await runningFlowRun(), await runningFlowRun(), await runningFlowRun()];
        // The held run is the first in id order: a statement writing the three ends that waited for it
        // would read the others' task runs as they were before the wait.
        const [heldRun, ...others] = runs.sort((a, b) => (a.id < b.id ? -1 : 1));
        const creation = await creationHolding(heldRun!.id);
        try {
          const ending = setRunStates(
            ctx,
            "flow",
            runs.map(({ id }) => ({
              id,
              state: makeState({ type: "COMPLETED" }),
              options: { force: false },
            })),
          );
          await waitedFor("no end waited for the held run's task run");
          // The others did not wait for it.
          for (const { id } of others) expect(await historyOf("flowRunId", id)).toContain("COMPLETED");
          creation.release();
          const task = await creation.created;
          expect(task.state?.type).toBe("RUNNING");
          expect((await ending).map((answer) => ("status" in answer ? answer.status : answer))).toEqual([
            "ACCEPT",
            "ACCEPT",
            "ACCEPT",
          ]);
          expect(await historyOf("taskRunId", task.id)).toEqual(["PENDING", "RUNNING", "CRASHED"]);
        } finally {
          creation.release();
        }
      },
    );

    it.skipIf(dialect !== "postgres")(
      "refuses task runs created while their flow run's end is written, and ends one recorded then",
      async () => {
        const flowRun = await runningFlowRun();
        const lock = await endHeld(flowRun.id);
        try {
          const task = { flowRunId: flowRun.id, name: "late", taskKey: "late" };
          // Created in one statement; in a transaction, started; recorded by the process that ran it.
          const created = createTaskRun(ctx, task).catch((error: Error) => error);
          const started = createTaskRun(ctx, { ...task, start: true }).catch((error: Error) => error);
          // Made in their order: the history is read back by timestamp, and a RUNNING made first would
          // come before its PENDING whenever the clock ticked between the two.
          const states = [makeState({ type: "PENDING" }), makeState({ type: "RUNNING" })];
          const record = { ...task, id: newId(), dynamicKey: "0", tags: [], runCount: 1, retries: 0 };
          const recorded = recordTaskRuns(ctx, [
            {
              ...record,
              retryDelaySeconds: [],
              timeoutSeconds: null,
              states,
            },
          ]);
          await waitedFor("no creation waited for the end", 3);
          await lock.release();
          for (const refused of [await created, await started]) {
            expect(refused).toBeInstanceOf(Error);
            expect((refused as Error).message).toMatch(/no new task may start/);
          }
          expect(await recorded).toEqual({ count: 1 });
          expect(await historyOf("taskRunId", record.id)).toEqual(["PENDING", "RUNNING", "CRASHED"]);
          const open = await db.kysely
            .selectFrom("taskRuns")
            .select("id")
            .where("flowRunId", "=", flowRun.id)
            .where("endTime", "is", null)
            .execute();
          expect(open).toEqual([]);
        } finally {
          await lock.close();
        }
      },
    );

    it("writes a call of many proposals in statements of at most 8 runs, each run's history and events in order", async () => {
      const runs = [];
      for (let index = 0; index < 19; index++) {
        runs.push(await createFlowRun(ctx, { flowName: "race-flow", state: { type: "PENDING" } }));
      }
      const updates: number[] = [];
      const counted = { ...ctx, db: { ...db, kysely: db.kysely.withPlugin(runUpdates(updates)) } };
      // On PostgreSQL one name with a lone surrogate: the statement's JSON must still be what
      // PostgreSQL accepts, and it stores U+FFFD as it would from a bound value.
      const surrogate = dialect === "postgres" ? 11 : -1;
      const nameOf = (index: number) => (index === surrogate ? "odd\ud800" : `running ${index}`);
      const answers = await setRunStates(
        counted,
        "flow",
        runs.map(({ id }, index) => ({
          id,
          state: makeState({ type: "RUNNING", name: nameOf(index) }),
          options: { force: false },
        })),
      );
      expect(answers.map((answer) => ("status" in answer ? answer.status : answer))).toEqual(
        runs.map(() => "ACCEPT"),
      );
      // PostgreSQL: read together, written 8 runs a statement; SQLite: one update each, locked.
      expect(updates).toEqual(dialect === "postgres" ? [8, 8, 3] : runs.map(() => 1));
      const stored = await db.kysely
        .selectFrom("flowRuns")
        .select(["id", "stateName"])
        .where(
          "id",
          "in",
          runs.map(({ id }) => id),
        )
        .execute();
      const names = new Map(stored.map(({ id, stateName }) => [id, stateName]));
      for (const [index, { id }] of runs.entries()) {
        expect(await historyOf("flowRunId", id)).toEqual(["PENDING", "RUNNING"]);
        expect(names.get(id)).toBe(index === surrogate ? "odd\ufffd" : nameOf(index));
        const events = await db.kysely
          .selectFrom("events")
          .select("payload")
          .where("resourceId", "=", id)
          .orderBy("seq")
          .execute();
        const types = events.map(({ payload }) => (JSON.parse(payload) as { state: State }).state.type);
        expect(types).toEqual(["PENDING", "RUNNING"]);
      }
    });

    it("answers each proposal of a call when one of them cannot be stored", async () => {
      const [good, bad, odd] = [
        await createFlowRun(ctx, { flowName: "race-flow", state: { type: "PENDING" } }),
        await createFlowRun(ctx, { flowName: "race-flow", state: { type: "PENDING" } }),
        await createFlowRun(ctx, { flowName: "race-flow", state: { type: "PENDING" } }),
      ];
      // PostgreSQL refuses a NUL character in text (the HTTP API refuses it before it gets here); a
      // lone surrogate is stored as U+FFFD.
      const answers = await setRunStates(ctx, "flow", [
        { id: good.id, state: makeState({ type: "RUNNING" }), options: { force: false } },
        {
          id: bad.id,
          state: makeState({ type: "RUNNING", name: "bad\u0000name" }),
          options: { force: false },
        },
        { id: odd.id, state: makeState({ type: "RUNNING", name: "odd\ud800" }), options: { force: false } },
      ]);
      expect(answers[0]).toMatchObject({ status: "ACCEPT", state: { type: "RUNNING" } });
      expect(await historyOf("flowRunId", good.id)).toEqual(["PENDING", "RUNNING"]);
      expect(answers[2]).toMatchObject({ status: "ACCEPT", state: { type: "RUNNING" } });
      if (dialect === "postgres") {
        expect(answers[1]).toMatchObject({ error: { code: "internal" } });
        expect(await historyOf("flowRunId", bad.id)).toEqual(["PENDING"]);
        const stored = await db.kysely
          .selectFrom("flowRuns")
          .select("stateName")
          .where("id", "=", odd.id)
          .executeTakeFirstOrThrow();
        expect(stored.stateName).toBe("odd\ufffd");
      }
    });
  },
);
