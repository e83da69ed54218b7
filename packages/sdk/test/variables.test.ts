import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { flow, variables } from "@baton/sdk";
import { failure } from "../../../test/runs.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("variables on a server on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    process.env.BATON_API_URL = server.apiUrl;
  });
  afterAll(async () => {
    delete process.env.BATON_API_URL;
    await server.stop();
  });

  it("sets, reads and unsets JSON values of every kind", async () => {
    const values = {
      text: "eu-west-1",
      count: 3,
      on: false,
      nothing: null,
      list: [1, "a"],
      object: { a: { b: 2 } },
    };
    for (const [name, value] of Object.entries(values)) {
      expect(await variables.set(`kind-${name}`, value, { tags: ["kinds"] })).toMatchObject({
        name: `kind-${name}`,
        value,
        tags: ["kinds"],
      });
    }
    for (const [name, value] of Object.entries(values)) {
      // A stored null is a value, not a missing variable: the default is not used.
      expect(await variables.get(`kind-${name}`, "default")).toEqual(value);
    }
    for (const name of Object.keys(values)) expect(await variables.unset(`kind-${name}`)).toBe(true);
    expect(await variables.unset("kind-text")).toBe(false);
    expect((await server.client.api.listVariables()).items).toEqual([]);
  });

  it("answers the default, or undefined, for a variable that does not exist", async () => {
    expect(await variables.get("missing")).toBeUndefined();
    expect(await variables.get("missing", { retries: 2 })).toEqual({ retries: 2 });
    expect(await variables.get("missing", null)).toBeNull();
  });

  it("refuses to replace a value without overwrite, naming the variable; overwrite keeps the tags unless given", async () => {
    await variables.set("region", "eu-west-1", { tags: ["infra"] });
    const refused = await failure(variables.set("region", "us-east-1"));
    expect(refused).toBeInstanceOf(BatonError);
    expect(refused.code).toBe("already_exists");
    expect(refused.message).toBe(
      "variable 'region' already exists: set it with overwrite to replace its value",
    );
    expect(await variables.get("region")).toBe("eu-west-1");

    expect(await variables.set("region", "us-east-1", { overwrite: true })).toMatchObject({
      value: "us-east-1",
      tags: ["infra"],
    });
    expect(await variables.set("region", ["a", "b"], { overwrite: true, tags: [] })).toMatchObject({
      value: ["a", "b"],
      tags: [],
    });
    // overwrite on a new name creates it.
    expect(await variables.set("zone", "b", { overwrite: true })).toMatchObject({ name: "zone", value: "b" });
  });

  it("is read by a flow while it runs", async () => {
    await variables.set("batch-size", 25);
    const sized = flow({ name: "sized" }, async () => (await variables.get("batch-size", 10)) as number);
    expect(await sized()).toBe(25);
  });

  it("passes on the server's refusal of a bad name", async () => {
    const refused = await failure(variables.set("a/b", 1));
    expect(refused.code).toBe("invalid_argument");
  });
});

describe("variables without a server", () => {
  it("say to set BATON_API_URL", async () => {
    const saved = process.env.BATON_API_URL;
    delete process.env.BATON_API_URL;
    try {
      const error = await failure(variables.get("region"));
      expect(error).toBeInstanceOf(BatonError);
      expect(error.message).toBe(
        "variable 'region' needs a Baton server: set BATON_API_URL (for example http://127.0.0.1:4200/api)",
      );
    } finally {
      if (saved !== undefined) process.env.BATON_API_URL = saved;
    }
  });
});
