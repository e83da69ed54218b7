import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { flow, secret, task } from "@baton/sdk";
import { failure } from "../../../test/runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

const API_KEY = `key-${randomBytes(12).toString("hex")}`;

describe.each(DIALECTS)("secrets read by flows from a server on %s that needs an API key", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { apiKey: API_KEY });
    process.env.BATON_API_URL = server.apiUrl;
    process.env.BATON_API_KEY = API_KEY;
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    delete process.env.BATON_API_KEY;
    await server.stop();
  });
  const api = () => server.client.api;

  it("answers a secret's value to a flow", async () => {
    const token = `tok-${randomBytes(8).toString("hex")}`;
    await api().setSecret({ body: { name: "warehouse-token", value: token } });
    const connects = flow(
      { name: "connects" },
      async () => `connected with ${await secret("warehouse-token")}`,
    );
    expect(await connects()).toBe(`connected with ${token}`);
    // A new value is read at the next call: nothing is cached.
    await api().setSecret({ body: { name: "warehouse-token", value: `${token}-rotated` } });
    expect(await secret("warehouse-token")).toBe(`${token}-rotated`);
  });

  it("answers the value only with the API key; listings and reads still show no value", async () => {
    const value = `hidden-${randomBytes(8).toString("hex")}`;
    await api().setSecret({ body: { name: "guarded", value } });
    const url = `${server.apiUrl}/secrets/guarded/value`;

    const without = await fetch(url);
    expect(without.status).toBe(401);
    expect(await without.text()).not.toContain(value);
    const wrong = await fetch(url, { headers: { authorization: "Bearer not-the-key" } });
    expect(wrong.status).toBe(401);
    const withKey = await fetch(url, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(withKey.status).toBe(200);
    expect(await withKey.json()).toEqual({ name: "guarded", value });

    for (const path of ["/secrets", "/secrets/guarded"]) {
      const answer = await fetch(server.apiUrl + path, { headers: { authorization: `Bearer ${API_KEY}` } });
      expect(answer.status).toBe(200);
      expect(await answer.text()).not.toContain(value);
    }
  });

  /** The messages of the logs stored for the last run of flow `name`, and that run's state message. */
  async function stored(name: string): Promise<{ logs: string[]; stateMessage: string | null | undefined }> {
    const [run] = (await api().listFlowRuns({ query: { flowName: name } })).items;
    const logs = (await api().listLogs({ query: { flowRunId: run!.id } })).items.map((log) => log.message);
    return { logs, stateMessage: run!.state?.message };
  }

  it("ships *** in place of a value handed out, from the logger and from console output", async () => {
    const value = `pw-${randomBytes(8).toString("hex")}`;
    await api().setSecret({ body: { name: "db-password", value } });
    const leaky = flow({ name: "leaky", logPrints: true }, async (_: Record<string, never>, { logger }) => {
      const password = await secret("db-password");
      logger.info(`connecting with ${password}`);
      console.log("printed: %s, twice: %s", password, password);
      console.warn({ password });
    });
    await leaky({});
    const { logs } = await stored("leaky");
    expect(logs).toEqual(
      expect.arrayContaining(["connecting with ***", "printed: ***, twice: ***", "{ password: '***' }"]),
    );
    expect(logs.join("\n")).not.toContain(value);
  });

  it("masks the value in the message of a failed run and in the log line saying so", async () => {
    const value = `api-${randomBytes(8).toString("hex")}`;
    await api().setSecret({ body: { name: "api-token", value } });
    const failing = flow({ name: "failing" }, async () => {
      throw new Error(`the API refused token ${await secret("api-token")}`);
    });
    // The caller gets the error as thrown; only what leaves the process is masked.
    expect((await failure(failing())).message).toBe(`the API refused token ${value}`);
    const { logs, stateMessage } = await stored("failing");
    expect(stateMessage).toBe("Error: the API refused token ***");
    expect(logs.some((log) => log.includes("the API refused token ***"))).toBe(true);
    expect(logs.join("\n")).not.toContain(value);
  });

  it("masks the value in the message of a failed task run, recorded in a batch", async () => {
    const value = `tk-${randomBytes(8).toString("hex")}`;
    await api().setSecret({ body: { name: "task-token", value } });
    const call = task({ name: "call-api" }, async () => {
      throw new Error(`refused ${await secret("task-token")}`);
    });
    const caller = flow({ name: "calls-a-task" }, async () => {
      await call().catch(() => undefined);
    });
    await caller();
    const [run] = (await api().listFlowRuns({ query: { flowName: "calls-a-task" } })).items;
    const [taskRun] = (await api().listTaskRuns({ query: { flowRunId: run!.id } })).items;
    expect(taskRun?.state).toMatchObject({ type: "FAILED", message: "Error: refused ***" });
    const history = await api().listTaskRunStates({ params: { id: taskRun!.id } });
    expect(JSON.stringify(history)).not.toContain(value);
  });

  it("leaves values shorter than 4 characters unmasked, which would mangle the logs", async () => {
    await api().setSecret({ body: { name: "short", value: "abc" } });
    const short = flow({ name: "short", logPrints: true }, async () => {
      console.log(`value ${await secret("short")}`);
    });
    await short();
    expect((await stored("short")).logs).toContain("value abc");
  });

  it("names a missing secret and says how to set it", async () => {
    const missing = await failure(secret("no-such-secret"));
    expect(missing).toBeInstanceOf(BatonError);
    expect(missing.code).toBe("not_found");
    expect(missing.message).toBe(
      "secret 'no-such-secret' does not exist: set it with 'baton secret set no-such-secret'",
    );
    const answer = await fetch(`${server.apiUrl}/secrets/no-such-secret/value`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(answer.status).toBe(404);
  });
});

describe("secrets without a server", () => {
  it("say to set BATON_API_URL", async () => {
    const saved = process.env.BATON_API_URL;
    delete process.env.BATON_API_URL;
    try {
      const error = await failure(secret("warehouse-token"));
      expect(error).toBeInstanceOf(BatonError);
      expect(error.message).toBe(
        "secret 'warehouse-token' needs a Baton server: set BATON_API_URL (for example http://127.0.0.1:4200/api)",
      );
    } finally {
      if (saved !== undefined) process.env.BATON_API_URL = saved;
    }
  });
});
