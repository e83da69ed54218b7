import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { flow, secret } from "@baton/sdk";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

async function failure(promise: Promise<unknown>): Promise<BatonError> {
  try {
    await promise;
  } catch (error) {
    return error as BatonError;
  }
  throw new Error("expected a failure");
}

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
