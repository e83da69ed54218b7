import { EventEmitter } from "node:events";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DIALECTS,
  TEST_POSTGRES_URL,
  startTestServer,
  throwawayDatabase,
  type TestServer,
  type ThrowawayDatabase,
} from "../../../test/helpers.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

interface Answer {
  request: string;
  status: number;
  body: string;
}

/** One API request by plain fetch, so that the exact status is seen; a failed fetch is status 0. */
async function send(apiUrl: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const request = `${method} ${path}`;
  try {
    const response = await fetch(apiUrl + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { request, status: response.status, body: await response.text() };
  } catch (error) {
    return { request, status: 0, body: String(error) };
  }
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe.skipIf(!TEST_POSTGRES_URL)("a server whose PostgreSQL connections are killed under writes", () => {
  let database: ThrowawayDatabase;
  let server: ServerProcess;
  let databaseName: string;

  beforeAll(async () => {
    database = await throwawayDatabase("postgres");
    databaseName = new URL(database.url).pathname.slice(1);
    server = await startServerProcess(database.url);
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  /** Terminates every connection to this suite's own database (never another's), ~10 times a second. */
  async function terminateBackends(rounds: number): Promise<number> {
    return withClient(TEST_POSTGRES_URL!, async (admin) => {
      let terminated = 0;
      for (let round = 0; round < rounds; round++) {
        const result = await admin.query<{ killed: boolean }>(
          "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [databaseName],
        );
        terminated += result.rows.filter((row) => row.killed).length;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return terminated;
    });
  }

  it(
    "stays up, answers 2xx or 503 (never 500), keeps what it confirmed, and is ready again afterwards",
    { timeout: 120_000 },
    async () => {
      const flow = await send(server.apiUrl, "POST", "/flows", { name: "under-fire" });
      expect(flow.status).toBe(200);
      const flowId = (JSON.parse(flow.body) as { id: string }).id;

      const answers: Answer[] = [];
      const created: string[] = [];
      const pending: string[] = [];
      const progress = new EventEmitter();
      const answered = (answer: Answer): Answer => {
        answers.push(answer);
        progress.emit("answer");
        return answer;
      };
      /** Resolves once `done` holds after some answer (or already does). */
      const until = (done: () => boolean) =>
        new Promise<void>((resolve) => {
          const check = () => {
            if (!done()) return;
            progress.off("answer", check);
            resolve();
          };
          progress.on("answer", check);
          check();
        });
      const running: string[] = [];
      /** What a call of several proposals answered for each, other than a verdict. */
      const proposalErrors: string[] = [];
      let writing = true;
      // Four writers, each creating a run and moving it to PENDING, over and over, and every two
      // runs moving both to RUNNING in one call of several proposals.
      const writer = async () => {
        const mine: string[] = [];
        while (writing) {
          const create = answered(await send(server.apiUrl, "POST", "/flow-runs", { flowId }));
          if (create.status !== 201) continue;
          const id = (JSON.parse(create.body) as { id: string }).id;
          created.push(id);
          const state = answered(
            await send(server.apiUrl, "POST", `/flow-runs/${id}/state`, { state: { type: "PENDING" } }),
          );
          if (state.status === 200 && (JSON.parse(state.body) as { status: string }).status === "ACCEPT") {
            pending.push(id);
            mine.push(id);
          }
          if (mine.length < 2) continue;
          const ids = mine.splice(0);
          const proposals = ids.map((run) => ({ id: run, state: { type: "RUNNING" } }));
          const call = answered(await send(server.apiUrl, "POST", "/flow-runs/states", { proposals }));
          if (call.status !== 200) continue;
          const { results } = JSON.parse(call.body) as {
            results: ({ status: string } | { error: { code: string } })[];
          };
          results.forEach((result, index) => {
            if ("error" in result) proposalErrors.push(result.error.code);
            else if (result.status === "ACCEPT") running.push(ids[index]!);
          });
        }
      };
      // And one process's heartbeats, which the server retries on a new connection (they are idempotent):
      // a run must not be taken for crashed because its database connections died.
      const beating = JSON.parse(
        (await send(server.apiUrl, "POST", "/flow-runs", { flowId, state: { type: "PENDING" } })).body,
      ) as { id: string };
      const heartbeats: number[] = [];
      const heartbeat = async () => {
        while (writing) {
          const answer = await send(server.apiUrl, "POST", `/flow-runs/${beating.id}/heartbeat`, {});
          heartbeats.push(answer.status);
        }
      };
      const writers = [...Array.from({ length: 4 }, writer), heartbeat()];
      // Writes flow before, during and after the terminations.
      await until(() => created.length >= 20);
      const terminated = await terminateBackends(40);
      const after = created.length;
      await until(() => created.length >= after + 20 || answers.at(-1)?.status === 0);
      writing = false;
      await Promise.all(writers);

      expect(server.alive(), server.process.lines.join("\n")).toBe(true);
      expect(server.process.lines.filter((line) => /Unhandled|uncaught/i.test(line))).toEqual([]);
      expect(terminated).toBeGreaterThan(0);
      expect(heartbeats.length).toBeGreaterThan(0);
      expect(heartbeats.filter((status) => status < 200 || status >= 300)).toEqual([]);
      const unexpected = answers.filter((answer) => ![200, 201, 503].includes(answer.status));
      expect(unexpected).toEqual([]);
      for (const answer of answers.filter((a) => a.status === 503)) {
        expect(JSON.parse(answer.body)).toMatchObject({ code: "unavailable", status: 503 });
      }

      // Every write the server confirmed is in the database.
      const stored = await withClient(database.url, async (client) => {
        const runs = await client.query<{ id: string }>("SELECT id FROM flow_runs");
        const states = await client.query<{ flow_run_id: string; type: string }>(
          "SELECT flow_run_id, type FROM states WHERE type IN ('PENDING', 'RUNNING')",
        );
        const ofType = (type: string) =>
          new Set(states.rows.filter((row) => row.type === type).map((row) => row.flow_run_id));
        return {
          runs: new Set(runs.rows.map((row) => row.id)),
          pending: ofType("PENDING"),
          running: ofType("RUNNING"),
        };
      });
      expect(created.filter((id) => !stored.runs.has(id))).toEqual([]);
      expect(pending.length).toBeGreaterThan(0);
      expect(pending.filter((id) => !stored.pending.has(id))).toEqual([]);
      // A call of several answers each proposal with its verdict, or "unavailable" when the database
      // went away under it; every RUNNING it accepted is stored.
      expect(running.length).toBeGreaterThan(0);
      expect(proposalErrors.filter((code) => code !== "unavailable")).toEqual([]);
      expect(running.filter((id) => !stored.running.has(id))).toEqual([]);

      const ready = await send(server.apiUrl, "GET", "/ready");
      expect(ready.status, ready.body).toBe(200);
      expect(JSON.parse(ready.body)).toEqual({ ready: true });
    },
  );

  it("answers /api/ready with 503 naming the database while it refuses connections, and 200 again after", async () => {
    const admin = (sql: string) => withClient(TEST_POSTGRES_URL!, (client) => client.query(sql));
    await admin(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS false`);
    try {
      await admin(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${databaseName}' AND pid <> pg_backend_pid()`,
      );
      const refused = await send(server.apiUrl, "GET", "/ready");
      expect(refused.status).toBe(503);
      const problem = JSON.parse(refused.body) as { code: string; detail: string };
      expect(problem.code).toBe("unavailable");
      expect(problem.detail).toContain(databaseName);
      const health = await send(server.apiUrl, "GET", "/health");
      expect(health.status).toBe(200);
      const write = await send(server.apiUrl, "POST", "/flows", { name: "refused" });
      expect(write.status).toBe(503);
    } finally {
      await admin(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS true`);
    }
    const ready = await send(server.apiUrl, "GET", "/ready");
    expect(ready.status, ready.body).toBe(200);
  });
});

describe.each(DIALECTS)("readiness (%s)", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
  });
  afterAll(async () => {
    await server.stop();
  });

  it("is ready on a migrated database, and names the migrations missing when one is not applied", async () => {
    expect(await server.client.api.ready()).toEqual({ ready: true });
    const { rows } = await sql<{ name: string }>`
      select name from kysely_migration order by name desc limit 1`.execute(server.db.kysely);
    const name = rows[0]!.name;
    await sql`delete from kysely_migration where name = ${name}`.execute(server.db.kysely);
    const answer = await fetch(`${server.apiUrl}/ready`);
    expect(answer.status).toBe(503);
    expect(answer.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await answer.json()) as { code: string; detail: string };
    expect(problem.code).toBe("unavailable");
    expect(problem.detail).toContain(name);
    expect(problem.detail).toContain("baton server database upgrade");
    expect((await fetch(`${server.apiUrl}/health`)).status).toBe(200);
  });
});

describe.skipIf(!TEST_POSTGRES_URL)(
  "prepared statements when a newer server's migration changes a table",
  () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer("postgres", { services: false });
    });
    afterAll(async () => {
      await server.stop();
    });

    it("carries on: statements whose plans went stale are carried out again, in and out of transactions", async () => {
      const api = server.client.api;
      const deployment = await api.createDeployment({ body: { name: "migrated", flowName: "migrated" } });
      // Each statement runs more than five times on the pool's connections: prepared, plans kept.
      const runs = [];
      for (let i = 0; i < 12; i++)
        runs.push(await api.createDeploymentRun({ params: { id: deployment.id }, body: {} }));
      for (const run of runs.slice(0, 6)) {
        await api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } });
        await api.readFlowRun({ params: { id: run.id } });
      }

      // What a newer server's migration does: the runs' table returns one more column.
      await withClient(server.database.url, (client) =>
        client.query("ALTER TABLE flow_runs ADD COLUMN added_by_a_newer_server integer"),
      );
      for (const [i, run] of runs.entries()) {
        // A transaction (the state change, RETURNING every column) and a lone read.
        const type = i < 6 ? "RUNNING" : "PENDING";
        const answer = await api.setFlowRunState({ params: { id: run.id }, body: { state: { type } } });
        expect(answer.status, answer.reason).toBe("ACCEPT");
        expect((await api.readFlowRun({ params: { id: run.id } })).state?.type).toBe(type);
      }
    });
  },
);
