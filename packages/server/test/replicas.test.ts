import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, TEST_POSTGRES_URL, type TestServer } from "../../../test/helpers.js";

/** Runs one statement as the admin of the test PostgreSQL server. */
async function admin(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

// Replicas share events through PostgreSQL; SQLite has one server.
describe.skipIf(!TEST_POSTGRES_URL)("servers sharing one PostgreSQL database", () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startTestServer("postgres");
    b = await startTestServer("postgres", {}, a.database);
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it("wakes a claim waiting on one server when a run is created through another", async () => {
    await a.client.api.createWorkPool({ body: { name: "shared", type: "process" } });
    const deployment = await a.client.api.createDeployment({
      body: { name: "everywhere", flowName: "relayed", workPoolName: "shared" },
    });
    // A long poll on A, longer than the test lets it wait: only an event from B can answer it in time.
    const claim = a.client.api.claimFlowRuns({
      body: { workerName: "on-a", workPoolName: "shared", waitSeconds: 60 },
    });
    const created = await b.client.api.createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const { runs } = await claim;
    expect(runs.map((run) => run.flowRun.id)).toEqual([created.id]);
  });

  /** The state types B streams for a run while `act` sets states through A, until `last` arrives. */
  async function streamedThroughB(runId: string, last: string, act: () => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    const stop = new AbortController();
    let acting: Promise<void> = Promise.resolve();
    await b.client
      .events({ flowRunId: runId, signal: stop.signal, onOpen: () => void (acting = act()) }, (event) => {
        // The run's first state (PENDING) may still be on its way to B when the stream opens.
        if (event.name !== "flow-run.state-changed" || event.payload.previousType === null) return;
        seen.push((event.payload.state as { type: string }).type);
        if (seen.includes(last)) stop.abort();
      })
      .catch((error: unknown) => {
        if (!stop.signal.aborted) throw error;
      });
    await acting;
    return seen;
  }

  const setState = (id: string, type: "RUNNING" | "COMPLETED") =>
    a.client.api.setFlowRunState({ params: { id }, body: { state: { type } } });

  it("streams through one server the states set through another, in order", async () => {
    const run = await a.client.api.createFlowRun({
      body: { flowName: "relayed", state: { type: "PENDING" } },
    });
    const seen = await streamedThroughB(run.id, "COMPLETED", async () => {
      await setState(run.id, "RUNNING");
      await setState(run.id, "COMPLETED");
    });
    expect(seen).toEqual(["RUNNING", "COMPLETED"]);
  });

  it("delivers what a server missed while its listening connection was down", async () => {
    const run = await a.client.api.createFlowRun({
      body: { flowName: "relayed", state: { type: "PENDING" } },
    });
    const name = new URL(a.database.url).pathname.slice(1);
    const seen = await streamedThroughB(run.id, "COMPLETED", async () => {
      // The relays' LISTEN connections of this database are cut; the state changes made meanwhile
      // reach B live once it listens again, or by its catch-up from the stored events.
      const cut = await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
        [name],
      );
      expect(cut.rowCount).toBeGreaterThan(0);
      await setState(run.id, "RUNNING");
      await setState(run.id, "COMPLETED");
    });
    expect(seen).toEqual(["RUNNING", "COMPLETED"]);
  });

  it("streams through a third server each run's states in the order they were made, through either of two others", async () => {
    const c = await startTestServer("postgres", {}, a.database);
    try {
      const runs = await Promise.all(
        Array.from({ length: 20 }, () =>
          a.client.api.createFlowRun({ body: { flowName: "relayed", state: { type: "PENDING" } } }),
        ),
      );
      const ids = new Set(runs.map((run) => run.id));
      const seen = new Map<string, string[]>();
      let completed = 0;
      const stop = new AbortController();
      let acting: Promise<void> = Promise.resolve();
      const act = async () => {
        // Each run's next state is made through the other server the moment the first answers.
        await Promise.all(
          runs.map(async (run) => {
            await a.client.api.setFlowRunState({
              params: { id: run.id },
              body: { state: { type: "RUNNING" } },
            });
            await b.client.api.setFlowRunState({
              params: { id: run.id },
              body: { state: { type: "COMPLETED" } },
            });
          }),
        );
      };
      await c.client
        .events(
          { names: ["flow-run.state-changed"], signal: stop.signal, onOpen: () => void (acting = act()) },
          (event) => {
            if (!event.flowRunId || !ids.has(event.flowRunId) || event.payload.previousType === null) return;
            const type = (event.payload.state as { type: string }).type;
            seen.set(event.flowRunId, [...(seen.get(event.flowRunId) ?? []), type]);
            if (type === "COMPLETED" && ++completed === runs.length) stop.abort();
          },
        )
        .catch((error: unknown) => {
          if (!stop.signal.aborted) throw error;
        });
      await acting;
      for (const run of runs) expect(seen.get(run.id)).toEqual(["RUNNING", "COMPLETED"]);
    } finally {
      await c.stop();
    }
  });

  it("streams through one server every log line written through another, however big the batch", async () => {
    const run = await a.client.api.createFlowRun({
      body: { flowName: "relayed", state: { type: "PENDING" } },
    });
    // Far past NOTIFY's 8,000 bytes: 400 lines, one of them 20 KB on its own.
    const messages = Array.from({ length: 400 }, (_, i) => (i === 7 ? "x".repeat(20_000) : `line ${i}`));
    const heard: string[] = [];
    const stop = new AbortController();
    let writing: Promise<unknown> = Promise.resolve();
    await b.client
      .events(
        {
          flowRunId: run.id,
          names: ["log"],
          signal: stop.signal,
          onOpen: () =>
            void (writing = a.client.api.createLogs({
              body: messages.map((message) => ({
                flowRunId: run.id,
                level: 20,
                message,
                timestamp: new Date().toISOString(),
              })),
            })),
        },
        (event) => {
          expect(event.payload.truncated).toBeUndefined();
          for (const log of event.payload.logs as { message: string }[]) heard.push(log.message);
          if (heard.length >= messages.length) stop.abort();
        },
      )
      .catch((error: unknown) => {
        if (!stop.signal.aborted) throw error;
      });
    await writing;
    expect(heard).toEqual(messages);
  });

  it("runs each background service on one server, and another takes over when that one stops", async () => {
    const settings = { serviceLoopSeconds: 0.2 };
    const c = await startTestServer("postgres", settings);
    let d: TestServer | undefined;
    const scheduler = () =>
      (d ?? c).db.kysely
        .selectFrom("serviceLeases")
        .select("holder")
        .where("name", "=", "scheduler")
        .executeTakeFirst();
    const holderOtherThan = async (previous: string | undefined) => {
      for (let i = 0; i < 200; i++) {
        const row = await scheduler();
        if (row && row.holder !== previous) return row.holder;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the scheduler's lease is still ${previous ?? "not taken"}`);
    };
    try {
      const first = await holderOtherThan(undefined); // C's: it is alone
      d = await startTestServer("postgres", settings, c.database);
      // D's passes find the lease held: they skip, as long as C renews it.
      expect((await scheduler())?.holder).toBe(first);
      await c.close(); // C stops and gives its leases back; D runs the scheduler from its next pass
      expect(await holderOtherThan(first)).not.toBe(first);
    } finally {
      await d?.stop();
      await c.database.drop();
    }
  });
});
