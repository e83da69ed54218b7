import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GlobalConcurrencyLimit } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

// Each command is a Node process of its own: a second or more apiece on a busy machine.
describe.each(DIALECTS)("baton global-concurrency-limit on %s", { timeout: 120_000 }, (dialect) => {
  let server: TestServer;
  let baton: (...args: string[]) => Promise<Result>;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    baton = batonAt(server.apiUrl);
  });
  afterAll(() => server.stop());

  it("creates, lists, inspects, changes, disables and deletes limits", async () => {
    expect(await baton("global-concurrency-limit", "create", "warehouse", "--limit", "2")).toMatchObject({
      code: 0,
      stdout: "Created global concurrency limit 'warehouse' of 2 slot(s).\n",
    });
    expect(
      (
        await baton(
          "gcl",
          "create",
          "github-api",
          "--limit",
          "5",
          "--slot-decay-per-second",
          "0.5",
          "--disable",
        )
      ).stdout,
    ).toBe("Created global concurrency limit 'github-api' of 5 slot(s), freeing 0.5/s (inactive).\n");
    await server.client.api.acquireGlobalConcurrencySlots({ params: { name: "warehouse" }, body: {} });

    const listed = await baton("gcl", "ls");
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+SLOTS IN USE\s+DECAY\s+STATUS\s+CREATED$/);
    expect(lines.slice(1).map((line) => line.split(/\s{2,}/).slice(0, 4))).toEqual([
      ["github-api", "0/5", "0.5/s", "inactive"],
      ["warehouse", "1/2", "-", "active"],
    ]);
    expect(
      json<GlobalConcurrencyLimit[]>(await baton("gcl", "ls", "--json")).map((limit) => limit.name),
    ).toEqual(["github-api", "warehouse"]);
    const inspected = await baton("gcl", "inspect", "warehouse");
    expect(inspected.stdout).toMatch(/^Slots in use:\s+1\/2$/m);
    expect(inspected.stdout).toMatch(/^Leases:\s+1$/m);
    expect(json<GlobalConcurrencyLimit>(await baton("gcl", "inspect", "warehouse", "--json"))).toMatchObject({
      name: "warehouse",
      limit: 2,
      activeSlots: 1,
      active: true,
    });

    expect(
      (await baton("gcl", "update", "warehouse", "--limit", "4", "--slot-decay-per-second", "2")).stdout,
    ).toBe("Global concurrency limit 'warehouse': 1/4 slot(s) in use, decay 2/s, active.\n");
    expect((await baton("gcl", "update", "warehouse", "--no-slot-decay")).stdout).toContain(
      "decay -, active",
    );
    expect((await baton("gcl", "disable", "warehouse")).stdout).toContain("inactive");
    expect(
      (await server.client.api.readGlobalConcurrencyLimit({ params: { name: "warehouse" } })).active,
    ).toBe(false);
    expect((await baton("gcl", "enable", "warehouse")).stdout).toContain(", active.");
    expect((await baton("gcl", "reset", "warehouse")).stdout).toBe(
      "Freed every slot of global concurrency limit 'warehouse' (0/4).\n",
    );
    expect((await baton("gcl", "delete", "warehouse")).stdout).toBe(
      "Deleted global concurrency limit 'warehouse'.\n",
    );
    expect(json<GlobalConcurrencyLimit[]>(await baton("gcl", "ls", "--json"))).toHaveLength(1);
  });

  it("says what is wrong with bad input and unknown limits", async () => {
    const missing = await baton("gcl", "inspect", "nowhere");
    expect(missing.code).not.toBe(0);
    expect(oneLineError(missing)).toContain("global concurrency limit 'nowhere' does not exist");
    expect(oneLineError(await baton("gcl", "create", "x", "--limit", "two"))).toContain(
      "'two' is not a whole number",
    );
    expect(oneLineError(await baton("gcl", "create", "x"))).toContain("--limit");
    expect(
      oneLineError(await baton("gcl", "create", "x", "--limit", "1", "--slot-decay-per-second", "0")),
    ).toContain("'0' is not a number of slots per second greater than 0");
    await baton("gcl", "create", "y", "--limit", "1");
    expect(oneLineError(await baton("gcl", "update", "y"))).toContain("nothing to change");
    expect(oneLineError(await baton("gcl", "update", "y", "--enable", "--disable"))).toContain(
      "give --enable or --disable, not both",
    );
    expect(oneLineError(await baton("gcl", "create", "y", "--limit", "1"))).toContain("already exists");
  });
});
