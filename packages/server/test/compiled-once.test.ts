import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TableNode, type KyselyPlugin } from "kysely";
import { openDatabase, type Db } from "@baton/server";
import { compiledOnce } from "../src/db/compiled-once.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

describe.each(DIALECTS)("a query compiled once on %s", (dialect) => {
  let server: TestServer;
  let db: Db;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    db = openDatabase(server.database.url);
    for (const name of ["first", "second"]) {
      await server.client.api.createFlowRun({
        body: { flowName: "compiled", name, state: { type: "PENDING" } },
      });
    }
  });
  afterAll(async () => {
    await db?.close();
    await server?.stop();
  });

  it("is built once per database and plugin set, and sent with each call's values, in transactions too", async () => {
    let builds = 0;
    const byName = compiledOnce((kysely, name: string, flowName: string) => {
      builds++;
      return kysely
        .selectFrom("flowRuns")
        .innerJoin("flows", "flows.id", "flowRuns.flowId")
        .select(["flowRuns.name", "flows.name as flowName"])
        .where("flowRuns.name", "=", name)
        .where("flows.name", "=", flowName);
    });
    const names = async (kysely: Parameters<typeof byName>[0], name: string) =>
      (await byName(kysely, name, "compiled")).rows;
    expect(await names(db.kysely, "first")).toEqual([{ name: "first", flowName: "compiled" }]);
    expect(await names(db.kysely, "second")).toEqual([{ name: "second", flowName: "compiled" }]);
    await db.kysely.transaction().execute(async (trx) => {
      expect(await names(trx, "second")).toEqual([{ name: "second", flowName: "compiled" }]);
    });
    expect(await names(db.kysely, "none")).toEqual([]);
    expect(builds).toBe(1);

    // Another plugin set sees the query compiled through it (a plugin may rewrite or count it).
    const seen: string[] = [];
    const noting: KyselyPlugin = {
      transformQuery: ({ node }) => {
        const from = node.kind === "SelectQueryNode" ? node.from?.froms[0] : undefined;
        if (from && TableNode.is(from)) seen.push(from.table.identifier.name);
        return node;
      },
      transformResult: ({ result }) => Promise.resolve(result),
    };
    expect(await names(db.kysely.withPlugin(noting), "first")).toEqual([
      { name: "first", flowName: "compiled" },
    ]);
    expect([builds, seen]).toEqual([2, ["flow_runs"]]);
  });

  it("refuses a query whose value does not reach its parameters as it was given", async () => {
    const changed = compiledOnce((kysely, name: string) =>
      kysely.selectFrom("flowRuns").select("name").where("name", "=", name.toUpperCase()),
    );
    await expect(changed(db.kysely, "first")).rejects.toThrow(/a value does not reach the parameters/);
    // Also when another value reaches two parameters: each value is counted once.
    const twiceAndLost = compiledOnce((kysely, name: string, flowName: string) =>
      kysely
        .selectFrom("flowRuns")
        .select("name")
        .where("name", "=", name)
        .where("workerName", "=", name)
        .where("id", "=", flowName.toUpperCase()),
    );
    await expect(twiceAndLost(db.kysely, "first", "compiled")).rejects.toThrow(
      /a value does not reach the parameters/,
    );
  });
});
