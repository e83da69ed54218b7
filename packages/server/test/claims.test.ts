import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatonClient } from "@baton/client";
import {
  ClaimRequest as ClaimRequestSchema,
  DeploymentRunCreate,
  makeState,
  type ClaimRequest,
  type ClaimResult,
  type FlowRun,
  type State,
} from "@baton/core";
import { EventBus, openDatabase, setRunStates } from "../src/index.js";
import { claimFlowRuns } from "../src/store/claims.js";
import { createDeploymentRun } from "../src/store/deployments.js";
import { createTaskRun } from "../src/store/task-runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { limitSpans, mostAtOnce } from "../../../test/runs.js";
import { runUpdates, statementsSent } from "./fixtures/run-updates.js";

describe.each(DIALECTS)("claiming runs on %s", (dialect) => {
  let server: TestServer;
  /** A second server on the same database: claims race across servers, not only across requests. */
  let second: TestServer;
  beforeAll(async () => {
    // Runs due minutes ago would be marked Late meanwhile (a change of state: a claim deciding on the
    // state it read leaves such a run to its next pass), and the claims' order tested here would vary.
    const settings = { lateRunsAfterSeconds: 86_400 };
    server = await startTestServer(dialect, settings);
    second = dialect === "postgres" ? await startTestServer(dialect, settings, server.database) : server;
  });
  afterAll(async () => {
    if (second !== server) await second.stop();
    await server.stop();
  });
  const api = () => server.client.api;

  it("holds queue, pool and deployment limits exactly while eight claimers race", async () => {
    await api().createWorkPool({ body: { name: "race", type: "process", concurrencyLimit: 3 } });
    await api().createWorkQueue({ params: { pool: "race" }, body: { name: "one", concurrencyLimit: 1 } });
    const deployment = async (name: string, queue: string, concurrencyLimit?: number) =>
      api().createDeployment({
        body: { name, flowName: "raced", workPoolName: "race", workQueueName: queue, concurrencyLimit },
      });
    const single = await deployment("single", "one");
    const pair = await deployment("pair", "default", 2);
    const free = await deployment("free", "default");
    const runs: FlowRun[] = [];
    for (const d of [single, pair, free]) {
      for (let i = 0; i < 8; i++)
        runs.push(await api().createDeploymentRun({ params: { id: d.id }, body: {} }));
    }

    // Each claimer claims, runs and completes runs until none is left.
    const claimer = async (client: BatonClient, name: string) => {
      const request: ClaimRequest = { workerName: name, workPoolName: "race", limit: 2, waitSeconds: 0.2 };
      for (;;) {
        const { runs: claimed } = await client.api.claimFlowRuns({ body: request });
        if (claimed.length === 0) {
          const left = await client.api.listFlowRuns({
            query: { flowName: "raced", stateType: ["SCHEDULED", "PENDING", "RUNNING"] },
          });
          if (left.items.length === 0) return;
          continue;
        }
        await Promise.all(
          claimed.map(async ({ flowRun }) => {
            await client.api.setFlowRunState({
              params: { id: flowRun.id },
              body: { state: { type: "RUNNING" } },
            });
            await new Promise((resolve) => setImmediate(resolve));
            await client.api.setFlowRunState({
              params: { id: flowRun.id },
              body: { state: { type: "COMPLETED" } },
            });
          }),
        );
      }
    };
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => claimer((i % 2 ? second : server).client, `claimer-${i}`)),
    );

    const finished = await Promise.all(runs.map((run) => api().readFlowRun({ params: { id: run.id } })));
    expect(finished.every((run) => run.state?.type === "COMPLETED")).toBe(true);
    const of = async (deploymentId?: string) =>
      limitSpans(
        server.client,
        finished.filter((run) => !deploymentId || run.deploymentId === deploymentId),
      );
    expect(mostAtOnce(await of(single.id))).toBe(1); // queue 'one' is limited to 1
    expect(mostAtOnce(await of(pair.id))).toBeLessThanOrEqual(2);
    expect(mostAtOnce(await of())).toBeLessThanOrEqual(3);
  });

  it("claims each run once while serve processes race for the same deployments on two servers, limited or not", async () => {
    // Runs of a deployment without a limit are claimed without a lock on PostgreSQL (each written only
    // if still as read); a claim that meets a limited deployment's run decides under the lock.
    const free = await api().createDeployment({ body: { name: "free", flowName: "served-race" } });
    const pair = await api().createDeployment({
      body: { name: "pair", flowName: "served-race", concurrencyLimit: 2 },
    });
    const runs: FlowRun[] = [];
    for (const [deployment, count] of [
      [free, 30],
      [pair, 10],
    ] as const) {
      for (let i = 0; i < count; i++)
        runs.push(await api().createDeploymentRun({ params: { id: deployment.id }, body: {} }));
    }
    const claimedIds: string[] = [];
    const claimer = async (client: BatonClient, name: string, deploymentIds: string[]) => {
      const request: ClaimRequest = {
        workerName: name,
        deploymentIds,
        start: true,
        limit: 3,
        waitSeconds: 0.2,
      };
      for (;;) {
        const { runs: claimed } = await client.api.claimFlowRuns({ body: request });
        if (claimed.length === 0) {
          const left = await client.api.listFlowRuns({
            query: { flowName: "served-race", stateType: ["SCHEDULED", "PENDING", "RUNNING"] },
          });
          if (left.items.length === 0) return;
          continue;
        }
        claimedIds.push(...claimed.map(({ flowRun }) => flowRun.id));
        await Promise.all(
          claimed.map(({ flowRun }) =>
            client.api.setFlowRunState({
              params: { id: flowRun.id },
              body: { state: { type: "COMPLETED" }, attempt: flowRun.attempt },
            }),
          ),
        );
      }
    };
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimer((i % 2 ? second : server).client, `serve-${i}`, i % 4 < 2 ? [free.id] : [free.id, pair.id]),
      ),
    );

    expect(claimedIds.length).toBe(runs.length);
    expect(new Set(claimedIds)).toEqual(new Set(runs.map((run) => run.id)));
    const finished: FlowRun[] = [];
    for (const run of runs) {
      const history = await api().listFlowRunStates({ params: { id: run.id } });
      expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]);
      finished.push(await api().readFlowRun({ params: { id: run.id } }));
    }
    expect(finished.map((run) => run.attempt)).toEqual(runs.map(() => 1));
    const ofPair = finished.filter((run) => run.deploymentId === pair.id);
    expect(mostAtOnce(await limitSpans(server.client, ofPair))).toBeLessThanOrEqual(2);
  });

  it.skipIf(dialect !== "postgres")(
    "claims for deployments another transaction holds without waiting to mark them polled",
    async () => {
      // Marking waited for rows held elsewhere: two claims marking the same deployments in another
      // order deadlocked, and one answered 500.
      const held = await api().createDeployment({ body: { name: "held", flowName: "held-mark" } });
      const run = await api().createDeploymentRun({ params: { id: held.id }, body: {} });
      const holder = openDatabase(server.database.url);
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holds!: () => void;
      const holding = new Promise<void>((resolve) => (holds = resolve));
      const transaction = holder.kysely.transaction().execute(async (trx) => {
        await trx.updateTable("deployments").set({ description: "held" }).where("id", "=", held.id).execute();
        holds();
        await released;
      });
      try {
        await holding;
        const { runs } = await api().claimFlowRuns({
          body: { workerName: "held", deploymentIds: [held.id], start: true, limit: 1 },
        });
        expect(runs.map((claimed) => claimed.flowRun.id)).toEqual([run.id]);
      } finally {
        release();
        await transaction;
        await holder.close();
      }
    },
  );

  it("cancels a run due while its deployment is full when the deployment cancels new runs (CANCEL_NEW)", async () => {
    const deployment = await api().createDeployment({
      body: { name: "exclusive", flowName: "collide", concurrencyLimit: 1, collisionStrategy: "CANCEL_NEW" },
    });
    expect(deployment.collisionStrategy).toBe("CANCEL_NEW");
    const claim = (client: BatonClient) =>
      client.api.claimFlowRuns({ body: { workerName: "serve", deploymentIds: [deployment.id], limit: 5 } });
    const first = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const { runs: claimed } = await claim(server.client);
    expect(claimed.map((run) => run.flowRun.id)).toEqual([first.id]);

    // While the first one runs, two more come due: both are cancelled at the next claim, none waits.
    await api().setFlowRunState({ params: { id: first.id }, body: { state: { type: "RUNNING" } } });
    const late = [
      await api().createDeploymentRun({ params: { id: deployment.id }, body: {} }),
      await api().createDeploymentRun({ params: { id: deployment.id }, body: {} }),
    ];
    expect((await claim(second.client)).runs).toEqual([]);
    for (const run of late) {
      const after = await api().readFlowRun({ params: { id: run.id } });
      expect(after.state).toMatchObject({
        type: "CANCELLED",
        message:
          "its deployment had all 1 concurrency slot(s) in use when it was due, and cancels new runs then (collision strategy CANCEL_NEW)",
      });
    }

    // Once it has room again, a new run is claimed as usual; ENQUEUE (the default) keeps runs waiting.
    await api().setFlowRunState({ params: { id: first.id }, body: { state: { type: "COMPLETED" } } });
    const next = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    expect((await claim(server.client)).runs.map((run) => run.flowRun.id)).toEqual([next.id]);
    const queued = await api().updateDeployment({
      params: { id: deployment.id },
      body: { collisionStrategy: "ENQUEUE" },
    });
    expect(queued.collisionStrategy).toBe("ENQUEUE");
    const waiting = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    expect((await claim(server.client)).runs).toEqual([]);
    expect((await api().readFlowRun({ params: { id: waiting.id } })).state?.type).toBe("SCHEDULED");
  });

  it("answers a waiting claim as soon as a run is created, and serves paused queues only once resumed", async () => {
    await api().createWorkPool({ body: { name: "wait", type: "process" } });
    const deployment = await api().createDeployment({
      body: { name: "waited", flowName: "waited", workPoolName: "wait" },
    });
    const waiting = api().claimFlowRuns({ body: { workerName: "w", workPoolName: "wait", waitSeconds: 30 } });
    const created = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const { runs } = await waiting;
    expect(runs.map((run) => run.flowRun.id)).toEqual([created.id]);
    expect(runs[0]!.flowRun.state?.type).toBe("PENDING");
    expect(runs[0]!.deployment?.id).toBe(deployment.id);
    // The queue shows it is served.
    const polled = await api().readWorkQueue({ params: { pool: "wait", name: "default" } });
    expect(polled.lastPolled).not.toBeNull();

    await api().updateWorkQueue({ params: { pool: "wait", name: "default" }, body: { paused: true } });
    const paused = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    expect((await api().claimFlowRuns({ body: { workerName: "w", workPoolName: "wait" } })).runs).toEqual([]);
    const resumedClaim = api().claimFlowRuns({
      body: { workerName: "w", workPoolName: "wait", waitSeconds: 30 },
    });
    await api().updateWorkQueue({ params: { pool: "wait", name: "default" }, body: { paused: false } });
    expect((await resumedClaim).runs.map((run) => run.flowRun.id)).toEqual([paused.id]);
  });

  it("gives a freed slot to one waiting claim, not to all, and hands a raised limit on to as many", async () => {
    await api().createWorkPool({ body: { name: "line", type: "process" } });
    await api().updateWorkQueue({ params: { pool: "line", name: "default" }, body: { concurrencyLimit: 1 } });
    const deployment = await api().createDeployment({
      body: { name: "lined", flowName: "lined", workPoolName: "line" },
    });
    for (let i = 0; i < 5; i++) await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const request = (workerName: string) => ({ workerName, workPoolName: "line", waitSeconds: 30 });
    const [first] = (await api().claimFlowRuns({ body: request("first") })).runs;

    // Claim passes of this server, from its metrics: those that claimed runs and those that did not.
    const passes = async () => {
      const text = await (await fetch(`${server.apiUrl}/metrics`)).text();
      const count = (claimed: boolean) =>
        Number(
          new RegExp(`^baton_claim_duration_seconds_count{claimed="${claimed}"} (\\d+)$`, "m").exec(
            text,
          )?.[1] ?? 0,
        );
      return { claimed: count(true), empty: count(false) };
    };
    const start = await passes();
    const waiting = ["a", "b", "c", "d"].map((name) => api().claimFlowRuns({ body: request(name) }));
    // Each waiting claim has made its first pass, found the queue full, and waits.
    for (let tries = 0; (await passes()).empty < start.empty + 4; tries++) {
      expect(tries).toBeLessThan(500);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const before = await passes();

    // The run ends: one waiting claim takes its slot; it took all it asked for, so it hands the change
    // on to the next, which finds the queue full again. The other two are not woken.
    for (const type of ["RUNNING", "COMPLETED"] as const) {
      await api().setFlowRunState({ params: { id: first!.flowRun.id }, body: { state: { type } } });
    }
    const winner = await Promise.race(waiting.map((claim, i) => claim.then((answer) => ({ i, answer }))));
    expect(winner.answer.runs).toHaveLength(1);

    // Room for three more at once: the change is handed from claim to claim until each has its run.
    await api().updateWorkQueue({ params: { pool: "line", name: "default" }, body: { concurrencyLimit: 4 } });
    const others = await Promise.all(waiting.filter((_, i) => i !== winner.i));
    expect(others.map((answer) => answer.runs.length)).toEqual([1, 1, 1]);
    const after = await passes();
    expect(after.claimed - before.claimed).toBe(4);
    // Waking every waiting claim would have made three passes that found nothing.
    expect(after.empty - before.empty).toBeLessThanOrEqual(1);
  });

  it("starts the runs it claims when the caller runs them at once (serve), recording PENDING and RUNNING", async () => {
    const deployment = await api().createDeployment({ body: { name: "started", flowName: "started" } });
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const request = { workerName: "serve", deploymentIds: [deployment.id], start: true };
    const [claimed] = (await api().claimFlowRuns({ body: request })).runs;
    expect(claimed!.flowRun.state?.type).toBe("RUNNING");
    expect(claimed!.deployment?.id).toBe(deployment.id);
    expect(claimed!.flowRun.workerName).toBe("serve");
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING"]);
    // The attempt the claim gave it is the one its process speaks for.
    const done = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "COMPLETED" }, attempt: claimed!.flowRun.attempt },
    });
    expect(done.status).toBe("ACCEPT");

    // A serve process knows its deployments: asked without them, the claim does not read them.
    const next = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const bare = (await api().claimFlowRuns({ body: { ...request, withDeployments: false } })).runs;
    expect(bare.map((answer) => [answer.flowRun.id, answer.deployment])).toEqual([[next.id, null]]);
  });

  it("writes a new run's first state without locking it again, and a started claim's PENDING with its RUNNING, its runs locked together", async () => {
    const deployment = await api().createDeployment({ body: { name: "counted", flowName: "counted" } });
    // The store as the server calls it, over the same database, counting its updates of runs.
    const db = openDatabase(server.database.url);
    const updates: number[] = [];
    const ctx = { db: { ...db, kysely: db.kysely.withPlugin(runUpdates(updates)) }, events: new EventBus() };
    let run: FlowRun;
    let answered: FlowRun[];
    try {
      run = await createDeploymentRun(ctx, deployment.id, DeploymentRunCreate.parse({}));
      // PostgreSQL inserts the run with its first state in one statement; SQLite inserts it, reading
      // what the rules need, and one update writes the first state, with no lock before it.
      expect(updates).toEqual(dialect === "postgres" ? [] : [1]);
      for (const _ of [1, 2]) await createDeploymentRun(ctx, deployment.id, DeploymentRunCreate.parse({}));
      updates.length = 0;
      const request = ClaimRequestSchema.parse({
        workerName: "s",
        deploymentIds: [deployment.id],
        start: true,
        limit: 3,
      });
      answered = (await claimFlowRuns(ctx, request)).runs.map(({ flowRun }) => flowRun);
      expect(answered.map((claimed) => claimed.state?.type)).toEqual(["RUNNING", "RUNNING", "RUNNING"]);
      // PostgreSQL: the serve process's deployment has no concurrency limit, so nothing is locked: one
      // statement writes the three runs, each only if still as read, PENDING and RUNNING together.
      // SQLite: its transaction holds the write lock; one update each.
      expect(updates).toEqual(dialect === "postgres" ? [3] : [1, 1, 1]);
    } finally {
      await db.close();
    }
    expect(answered.map((claimed) => claimed.id)).toContain(run.id);
    for (const claimed of answered) {
      const history = await api().listFlowRunStates({ params: { id: claimed.id } });
      expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING"]);
      const stored = await api().readFlowRun({ params: { id: claimed.id } });
      expect(stored).toMatchObject({
        state: { type: "RUNNING" },
        workerName: "s",
        attempt: 1,
        runCount: 1,
        startTime: history[2]!.timestamp,
      });
      // The claim answered each run as it stored it.
      expect(claimed).toEqual(stored);
      const events = await api().listEvents({
        query: { resourceId: claimed.id, name: "flow-run.state-changed" },
      });
      // Stored in the order made (newest first): the order every reader and other server sees.
      expect(events.items.map((event) => (event.payload as { state: State }).state.type)).toEqual([
        "RUNNING",
        "PENDING",
        "SCHEDULED",
      ]);
    }
  });

  it("ends the runs it started without reading them again, and decides on the run as it is when it changed behind the server's back", async () => {
    const deployment = await api().createDeployment({ body: { name: "remembered", flowName: "remembered" } });
    // The store as the server calls it, over the same database, counting the statements it sends.
    const db = openDatabase(server.database.url);
    const sent = { count: 0 };
    const ctx = { db: { ...db, kysely: db.kysely.withPlugin(statementsSent(sent)) }, events: new EventBus() };
    let [ended, alsoEnded, fenced, reclaimed, shared]: (FlowRun | undefined)[] = [];
    try {
      for (const _ of [1, 2, 3, 4, 5]) {
        await createDeploymentRun(ctx, deployment.id, DeploymentRunCreate.parse({}));
      }
      const request = ClaimRequestSchema.parse({
        workerName: "s",
        deploymentIds: [deployment.id],
        start: true,
        limit: 5,
      });
      const claimed = (await claimFlowRuns(ctx, request)).runs.map(({ flowRun }) => flowRun);
      [ended, alsoEnded, fenced, reclaimed, shared] = claimed;
      const end = (run: FlowRun, attempt = run.attempt) => ({
        id: run.id,
        state: makeState({ type: "COMPLETED" }),
        options: { force: false, attempt },
      });
      sent.count = 0;
      const answers = await setRunStates(ctx, "flow", [end(ended!), end(alsoEnded!)]);
      expect(answers.map((answer) => "status" in answer && answer.status)).toEqual(["ACCEPT", "ACCEPT"]);
      // PostgreSQL: the runs as the claim wrote them, so their ends are one statement, no read before
      // it. SQLite: a transaction that locks and reads them.
      if (dialect === "postgres") expect(sent.count).toBe(1);

      // Claimed again since (a crash detector's new attempt on another server), not announced here yet.
      await db.kysely
        .updateTable("flowRuns")
        .set((eb) => ({ attempt: eb("attempt", "+", 1) }))
        .where("id", "in", [fenced!.id, reclaimed!.id])
        .execute();
      // The claim's process may not end its run any more, whatever this server remembers of it...
      const [refused] = await setRunStates(ctx, "flow", [end(fenced!)]);
      expect(refused).toMatchObject({ status: "ABORT" });
      expect((refused as { reason: string }).reason).toContain(`attempt ${fenced!.attempt} is stale`);
      // ...and the new attempt's process may, though what this server remembers says it is stale.
      const [accepted] = await setRunStates(ctx, "flow", [end(reclaimed!, reclaimed!.attempt + 1)]);
      expect(accepted).toMatchObject({ status: "ACCEPT" });

      // A task run may be given any id, a flow run's too: each is still decided on its own row.
      await createTaskRun(ctx, {
        id: shared!.id,
        name: "namesake",
        taskKey: "namesake",
        state: { type: "SCHEDULED" },
      });
      sent.count = 0;
      const [running] = await setRunStates(ctx, "flow", [end(shared!)]);
      expect(running).toMatchObject({ status: "ACCEPT" });
      // Still the flow run as the claim wrote it: one statement.
      if (dialect === "postgres") expect(sent.count).toBe(1);
    } finally {
      await db.close();
    }
    const states = await Promise.all(
      [ended, alsoEnded, fenced, reclaimed, shared].map(
        async (run) => (await api().readFlowRun({ params: { id: run!.id } })).state?.type,
      ),
    );
    expect(states).toEqual(["COMPLETED", "COMPLETED", "RUNNING", "COMPLETED", "COMPLETED"]);
  });

  it("answers a claim sent again under its name with the runs the first took, while they are still its worker's", async () => {
    await api().createWorkPool({ body: { name: "named", type: "process" } });
    const pooled = await api().createDeployment({
      body: { name: "named", flowName: "named", workPoolName: "named" },
    });
    const runs = await Promise.all(
      [0, 1, 2].map(() => api().createDeploymentRun({ params: { id: pooled.id }, body: {} })),
    );
    const claim = (workerName: string, claimId: string, limit = 2, resent = true) =>
      api().claimFlowRuns({ body: { workerName, workPoolName: "named", claimId, limit, resent } });
    const ids = (answer: ClaimResult) => answer.runs.map(({ flowRun }) => flowRun.id).sort();

    // The first answer is lost: the same claim sent again gets the same runs, and takes no others.
    const first = await claim("w", "claim-1", 2, false);
    expect(first.runs).toHaveLength(2);
    // Answered even though the pool was paused since: its runs were taken before.
    await api().updateWorkPool({ params: { name: "named" }, body: { paused: true } });
    const again = await claim("w", "claim-1", 3);
    await api().updateWorkPool({ params: { name: "named" }, body: { paused: false } });
    expect(ids(again)).toEqual(ids(first));
    expect(again.runs.map(({ flowRun }) => [flowRun.state?.type, flowRun.attempt])).toEqual([
      ["PENDING", 1],
      ["PENDING", 1],
    ]);
    expect(again.runs.every(({ deployment }) => deployment?.id === pooled.id)).toBe(true);
    // The name is the worker's own: another worker's claim of that name takes the third run.
    const other = await claim("v", "claim-1");
    expect(ids(other)).toEqual(runs.map((run) => run.id).filter((id) => !ids(first).includes(id)));

    // A run that has ended is not answered again; nor is anything once all of the claim's ended.
    const [ended, left] = first.runs.map(({ flowRun }) => flowRun);
    for (const type of ["RUNNING", "COMPLETED"] as const) {
      await api().setFlowRunState({ params: { id: ended!.id }, body: { state: { type }, attempt: 1 } });
    }
    expect(ids(await claim("w", "claim-1"))).toEqual([left!.id]);
    await api().setFlowRunState({ params: { id: left!.id }, body: { state: { type: "CANCELLED" } } });
    const rest = await api().createDeploymentRun({ params: { id: pooled.id }, body: {} });
    expect(ids(await claim("w", "claim-1"))).toEqual([rest.id]);

    // A serve process's claim, which starts its runs, and a task worker's, the same way.
    const served = await api().createDeployment({ body: { name: "named-served", flowName: "named" } });
    const run = await api().createDeploymentRun({ params: { id: served.id }, body: {} });
    const serve = { workerName: "s", deploymentIds: [served.id], start: true, claimId: "claim-2" };
    const taken = (await api().claimFlowRuns({ body: serve })).runs;
    expect(taken.map(({ flowRun }) => [flowRun.id, flowRun.state?.type])).toEqual([[run.id, "RUNNING"]]);
    const resent = (await api().claimFlowRuns({ body: { ...serve, resent: true } })).runs;
    expect(resent.map(({ flowRun }) => flowRun.id)).toEqual([run.id]);
    // Not resent, the same name is a new claim (the runs of the first are looked for only when resent).
    expect((await api().claimFlowRuns({ body: serve })).runs).toEqual([]);
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING"]);

    const task = await api().createTaskRun({
      body: { name: "named-task", taskKey: "named-task", parameters: {}, state: { type: "SCHEDULED" } },
    });
    const tasks = { workerName: "t", taskKeys: ["named-task"], claimId: "claim-3" };
    expect((await api().claimTaskRuns({ body: tasks })).runs.map((taskRun) => taskRun.id)).toEqual([task.id]);
    const repeated = (await api().claimTaskRuns({ body: { ...tasks, resent: true } })).runs;
    expect(repeated.map((taskRun) => [taskRun.id, taskRun.state?.type])).toEqual([[task.id, "RUNNING"]]);
  });

  it("takes nothing in a pass whose claimer went away before its answer", async () => {
    const deployment = await api().createDeployment({ body: { name: "gone", flowName: "gone" } });
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    // The store as the server calls it, over the same database, with the client's connection closed.
    const db = openDatabase(server.database.url);
    try {
      const request = ClaimRequestSchema.parse({
        workerName: "s",
        deploymentIds: [deployment.id],
        start: true,
      });
      const answer = await claimFlowRuns({ db, events: new EventBus() }, request, AbortSignal.abort());
      expect(answer.runs).toEqual([]);
    } finally {
      await db.close();
    }
    expect(await api().readFlowRun({ params: { id: run.id } })).toMatchObject({
      state: { type: "SCHEDULED" },
      attempt: 0,
      workerName: null,
    });
    const claimed = await api().claimFlowRuns({ body: { workerName: "s", deploymentIds: [deployment.id] } });
    expect(claimed.runs.map(({ flowRun }) => flowRun.id)).toEqual([run.id]);
  });

  it("claims by queue priority, then earliest due, across queues and served deployments, however many wait", async () => {
    const now = Date.now();
    const minutesAgo = (minutes: number) => new Date(now - minutes * 60_000).toISOString();
    const due = (deploymentId: string, minutes: number) =>
      api().createDeploymentRun({
        params: { id: deploymentId },
        body: { state: { type: "SCHEDULED", scheduledTime: minutesAgo(minutes) } },
      });
    await api().createWorkPool({ body: { name: "ordered", type: "process" } });
    // Priorities 1 (the default queue's), 2 and 10: lower first, in number order, not as text.
    await api().createWorkQueue({ params: { pool: "ordered" }, body: { name: "also", priority: 1 } });
    await api().createWorkQueue({ params: { pool: "ordered" }, body: { name: "mid", priority: 2 } });
    await api().createWorkQueue({ params: { pool: "ordered" }, body: { name: "low", priority: 10 } });
    const inQueue = (queue: string) =>
      api().createDeployment({
        body: { name: `in-${queue}`, flowName: "ordered", workPoolName: "ordered", workQueueName: queue },
      });
    const [standard, also, mid, low] = [
      await inQueue("default"),
      await inQueue("also"),
      await inQueue("mid"),
      await inQueue("low"),
    ];
    // The lower-priority queues' runs are due first, and wait for the others; queues of one priority
    // give their runs by due time, interleaved.
    const midRun = await due(mid.id, 50);
    const lowRun = await due(low.id, 40);
    const alsoRun = await due(also.id, 15);
    const standardRuns = [await due(standard.id, 20), await due(standard.id, 10)];
    const claim = async (body: ClaimRequest) =>
      (await api().claimFlowRuns({ body })).runs.map(({ flowRun }) => flowRun.id);
    expect(await claim({ workerName: "w", workPoolName: "ordered", limit: 5 })).toEqual([
      standardRuns[0]!.id,
      alsoRun.id,
      standardRuns[1]!.id,
      midRun.id,
      lowRun.id,
    ]);

    // Served deployments: the earliest due of all of them, among more than a pass reads of each.
    const served = [
      await api().createDeployment({ body: { name: "served-a", flowName: "ordered" } }),
      await api().createDeployment({ body: { name: "served-b", flowName: "ordered" } }),
    ];
    const waiting: FlowRun[] = [];
    for (let i = 0; i < 210; i++) waiting.push(await due(served[0]!.id, 10 + i / 100));
    const earliestOfB = await due(served[1]!.id, 11.005);
    const request = { workerName: "serve", deploymentIds: served.map((d) => d.id), limit: 3 };
    expect(await claim(request)).toEqual([waiting[209]!.id, waiting[208]!.id, waiting[207]!.id]);
    expect(await claim({ ...request, limit: 1 })).toEqual([waiting[206]!.id]);
    const rest = [...(await claim({ ...request, limit: 100 })), ...(await claim({ ...request, limit: 100 }))];
    // B's run, due 11.005 minutes ago, comes between the runs due at 11.01 and 11 (101 and 100).
    expect(rest.indexOf(earliestOfB.id)).toBe(rest.indexOf(waiting[101]!.id) + 1);
    expect(rest.indexOf(waiting[100]!.id)).toBe(rest.indexOf(earliestOfB.id) + 1);
  });

  it("answers a waiting claim when a run scheduled later, in any of its queues, becomes due", async () => {
    await api().createWorkPool({ body: { name: "later", type: "process" } });
    await api().createWorkQueue({ params: { pool: "later" }, body: { name: "second", priority: 3 } });
    const deployment = await api().createDeployment({
      body: { name: "later", flowName: "later", workPoolName: "later", workQueueName: "second" },
    });
    const scheduledTime = new Date(Date.now() + 1500).toISOString();
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { state: { type: "SCHEDULED", scheduledTime } },
    });
    const { runs } = await api().claimFlowRuns({
      body: { workerName: "w", workPoolName: "later", waitSeconds: 10 },
    });
    expect(runs.map(({ flowRun }) => flowRun.id)).toEqual([run.id]);
    // Claimed once due, not before: the claim slept until the run's time, then passed again.
    expect(runs[0]!.flowRun.state!.timestamp >= scheduledTime).toBe(true);
  });

  it("claims across more queues and served deployments than one statement reads (a serve process may name 1,000)", async () => {
    const now = Date.now();
    const at = (seconds: number) => new Date(now + seconds * 1000).toISOString();
    const due = (deploymentId: string, seconds: number) =>
      api().createDeploymentRun({
        params: { id: deploymentId },
        body: { state: { type: "SCHEDULED", scheduledTime: at(seconds) } },
      });
    // 600 served deployments: more parts than SQLite allows in one UNION ALL (500).
    const served = [];
    for (let i = 0; i < 600; i++)
      served.push(await api().createDeployment({ body: { name: `many-${i}`, flowName: "many" } }));
    const last = await due(served[599]!.id, -60);
    const middle = await due(served[250]!.id, -30);
    const first = await due(served[0]!.id, -10);
    const later = await api().createDeploymentRun({
      params: { id: served[450]!.id },
      body: { state: { type: "SCHEDULED", scheduledTime: new Date(Date.now() + 1500).toISOString() } },
    });
    const request = { workerName: "serve", deploymentIds: served.map((d) => d.id), withDeployments: false };
    const claimed = await api().claimFlowRuns({ body: { ...request, limit: 10 } });
    expect(claimed.runs.map(({ flowRun }) => flowRun.id)).toEqual([last.id, middle.id, first.id]);
    // Nothing due: the claim waits for the later run of a later group, and takes it once due.
    const waited = await api().claimFlowRuns({ body: { ...request, limit: 10, waitSeconds: 10 } });
    expect(waited.runs.map(({ flowRun }) => flowRun.id)).toEqual([later.id]);

    // A pool of 120 queues, limited to 2 runs: the run it holds counts, whichever group it is in.
    await api().createWorkPool({ body: { name: "wide", type: "process", concurrencyLimit: 2 } });
    const inQueue = [];
    for (let i = 0; i < 119; i++) {
      await api().createWorkQueue({ params: { pool: "wide" }, body: { name: `q${i}`, priority: i + 2 } });
      inQueue.push(
        await api().createDeployment({
          body: { name: `wide-${i}`, flowName: "many", workPoolName: "wide", workQueueName: `q${i}` },
        }),
      );
    }
    const held = await due(inQueue[118]!.id, -50);
    const pool = { workerName: "w", workPoolName: "wide" };
    expect((await api().claimFlowRuns({ body: { ...pool, limit: 1 } })).runs[0]!.flowRun.id).toBe(held.id);
    const lowest = await due(inQueue[110]!.id, -40);
    const highest = await due(inQueue[5]!.id, -20);
    const next = await api().claimFlowRuns({ body: { ...pool, limit: 5 } });
    expect(next.runs.map(({ flowRun }) => flowRun.id)).toEqual([highest.id]);
    expect((await api().readFlowRun({ params: { id: lowest.id } })).state?.type).toBe("SCHEDULED");
    // About 750 requests in a row: 4–10 s on this machine, 30 s once under a busy one.
  }, 90_000);

  it("gives the pool's job template defaults under the deployment's job variables", async () => {
    await api().createWorkPool({
      body: {
        name: "templated",
        type: "process",
        baseJobTemplate: {
          variables: { properties: { env: { default: { A: "pool" } }, workingDir: { default: "/srv" } } },
        },
      },
    });
    const deployment = await api().createDeployment({
      body: {
        name: "t",
        flowName: "templated",
        workPoolName: "templated",
        jobVariables: { workingDir: "/app" },
      },
    });
    await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const { runs } = await api().claimFlowRuns({ body: { workerName: "w", workPoolName: "templated" } });
    expect(runs[0]!.jobVariables).toEqual({ env: { A: "pool" }, workingDir: "/app" });
  });

  it("refuses a claim that names neither a pool nor deployments, or an unknown queue", async () => {
    await expect(api().claimFlowRuns({ body: { workerName: "w" } })).rejects.toThrow(/workPoolName/);
    await expect(
      api().claimFlowRuns({ body: { workerName: "w", workPoolName: "wait", workQueueNames: ["nope"] } }),
    ).rejects.toThrow(/work queue 'wait\/nope'/);
  });

  it("refuses a malformed claim name or resent flag with a 400 naming the field, taking nothing", async () => {
    const deployment = await api().createDeployment({ body: { name: "malformed", flowName: "malformed" } });
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const claim = { workerName: "w", deploymentIds: [deployment.id] };
    for (const [bad, field] of [
      [{ claimId: "" }, "claimId"],
      [{ claimId: "x".repeat(201) }, "claimId"],
      [{ claimId: "a\u0000b" }, "claimId"],
      [{ claimId: 7 }, "claimId"],
      [{ claimId: "c", resent: "yes" }, "resent"],
    ] as const) {
      const response = await fetch(`${server.apiUrl}/flow-runs/claim`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...claim, ...bad }),
      });
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(field);
    }
    expect(await api().readFlowRun({ params: { id: run.id } })).toMatchObject({
      state: { type: "SCHEDULED" },
      attempt: 0,
    });
  });
});
