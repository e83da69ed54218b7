import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { acquireConcurrency, concurrency, flow, rateLimit, task } from "@baton/sdk";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess } from "../../../test/processes.js";
import { failure } from "../../../test/runs.js";

const HOLDER = fileURLToPath(new URL("./fixtures/hold-slot.ts", import.meta.url));
const RACER = fileURLToPath(new URL("./fixtures/race-slots.ts", import.meta.url));

/**
 * Runs the racers, all told to go at once when every one is ready; answers what each saw. Racer `i`
 * takes the limits `names[i % names.length]` together.
 */
async function raceProcesses(
  apiUrl: string,
  names: string[][],
  processes: number,
  rounds: number,
): Promise<number[]> {
  const racers = Array.from({ length: processes }, (_, index) => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=source",
        "--import",
        "tsx",
        RACER,
        names[index % names.length]!.join(","),
        String(rounds),
      ],
      {
        env: { ...process.env, BATON_API_URL: apiUrl },
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const lines: string[] = [];
    const ready = new Promise<void>((resolve) =>
      createInterface({ input: child.stdout }).on("line", (line) =>
        line === "ready" ? resolve() : lines.push(line),
      ),
    );
    return { child, ready, lines, exited: once(child, "exit") };
  });
  await Promise.all(racers.map((racer) => racer.ready));
  for (const racer of racers) racer.child.stdin.end("go\n");
  const seen: number[] = [];
  for (const racer of racers) {
    const [code] = (await racer.exited) as [number];
    expect(code).toBe(0);
    seen.push(...(JSON.parse(racer.lines.join("")) as number[]));
  }
  return seen;
}

describe.each(DIALECTS)(
  "global concurrency and rate limits in the SDK on %s",
  { timeout: 60_000 },
  (dialect) => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer(dialect);
      process.env.BATON_API_URL = server.apiUrl;
    });
    afterAll(async () => {
      delete process.env.BATON_API_URL;
      await server.stop();
    });

    const limitNamed = (name: string) => server.client.api.readGlobalConcurrencyLimit({ params: { name } });

    it("lets a flow's parallel tasks hold at most the limit's slots, each given back as it ends", async () => {
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "warehouse", limit: 2 } });
      const inUse: number[] = [];
      const load = task({ name: "load" }, async (part: number) =>
        concurrency("warehouse", async () => {
          // What the store counts while this body holds its slot.
          const limit = await limitNamed("warehouse");
          inUse.push(limit.activeSlots);
          return part * 10;
        }),
      );
      const loader = flow({ name: "loader" }, async () =>
        Promise.all([1, 2, 3, 4, 5, 6].map((part) => load(part))),
      );
      expect(await loader()).toEqual([10, 20, 30, 40, 50, 60]);
      expect(inUse).toHaveLength(6);
      expect(inUse.every((count) => count >= 1 && count <= 2)).toBe(true);
      expect(await limitNamed("warehouse")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("never lets racing processes hold more slots than the limit has", async () => {
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "shared", limit: 2 } });
      const seen = await raceProcesses(server.apiUrl, [["shared"]], 4, 5);
      // Every body ran, and the store never counted more than 2 slots in use while one held its slot.
      expect(seen).toHaveLength(20);
      expect(Math.max(...seen)).toBeLessThanOrEqual(2);
      expect(Math.min(...seen)).toBeGreaterThanOrEqual(1);
      expect(await limitNamed("shared")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("never lets racing processes taking [a, b] and [b, a] deadlock or hold more than either limit", async () => {
      for (const name of ["disk", "network"]) {
        await server.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 1 } });
      }
      const seen = await raceProcesses(
        server.apiUrl,
        [
          ["disk", "network"],
          ["network", "disk"],
        ],
        4,
        5,
      );
      // Every body of every process ran (each counted both limits), one at a time on each limit.
      expect(seen).toHaveLength(4 * 5 * 2);
      expect(seen.every((count) => count === 1)).toBe(true);
      expect(await limitNamed("disk")).toMatchObject({ activeSlots: 0, leases: 0 });
      expect(await limitNamed("network")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("takes several limits together in a flow's tasks, and names them all when it times out", async () => {
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "db", limit: 3 } });
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "api", limit: 2 } });
      const inUse: number[][] = [];
      const sync = task({ name: "sync" }, async (part: number) =>
        concurrency(["db", "api"], async () => {
          inUse.push([(await limitNamed("db")).activeSlots, (await limitNamed("api")).activeSlots]);
          return part;
        }),
      );
      const syncer = flow({ name: "syncer" }, async () =>
        Promise.all([1, 2, 3, 4, 5].map((part) => sync(part))),
      );
      expect(await syncer()).toEqual([1, 2, 3, 4, 5]);
      // "api" lets 2 in at once, so "db" never counts more than those 2 either.
      expect(inUse).toHaveLength(5);
      expect(inUse.flat().every((count) => count >= 1 && count <= 2)).toBe(true);
      const held = await acquireConcurrency(["api", "db"], { occupy: 2 });
      expect(held.lease).toMatchObject({ slots: 2 });
      const timedOut = await failure(concurrency(["db", "api"], () => "never", { timeoutSeconds: 0.2 }));
      expect(timedOut).toMatchObject({ code: "timeout" });
      expect(timedOut.message).toBe(
        "waited 0.2 s for 1 slot(s) of global concurrency limits 'db', 'api' ('db': 2 of 3 in use, 'api': 2 of 2 in use): give them more slots or a longer timeoutSeconds",
      );
      await held.release();
      expect(await limitNamed("db")).toMatchObject({ activeSlots: 0, leases: 0 });
      expect(await limitNamed("api")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("rateLimit over several limits takes a slot of each", async () => {
      await server.client.api.createGlobalConcurrencyLimit({
        body: { name: "per-org", limit: 10, slotDecayPerSecond: 0.1 },
      });
      await server.client.api.createGlobalConcurrencyLimit({
        body: { name: "per-token", limit: 2, slotDecayPerSecond: 0.1 },
      });
      await rateLimit(["per-org", "per-token"]);
      await rateLimit(["per-token", "per-org"]);
      expect((await limitNamed("per-org")).activeSlots).toBeGreaterThan(1.9);
      // "per-token" is full: nothing more of "per-org" is taken while waiting for it.
      const timedOut = await failure(rateLimit(["per-org", "per-token"], { timeoutSeconds: 0.2 }));
      expect(timedOut).toMatchObject({ code: "timeout" });
      expect((await limitNamed("per-org")).activeSlots).toBeLessThan(2.1);
    });

    it("gives the slots back when the body throws, and passes the error on", async () => {
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "thrower", limit: 1 } });
      const thrown = await failure(
        concurrency("thrower", async () => {
          expect((await limitNamed("thrower")).activeSlots).toBe(1);
          throw new Error("the body failed");
        }),
      );
      expect(thrown.message).toBe("the body failed");
      expect(await limitNamed("thrower")).toMatchObject({ activeSlots: 0, leases: 0 });
      // The slot is free at once for the next holder.
      expect(await concurrency("thrower", () => "next", { timeoutSeconds: 0 })).toBe("next");
    });

    it("releases without an error slots that an operator's reset freed already", async () => {
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "reset-me", limit: 1 } });
      expect(
        await concurrency("reset-me", async () => {
          await server.client.api.resetGlobalConcurrencyLimit({ params: { name: "reset-me" } });
          return "done";
        }),
      ).toBe("done");
      expect(await limitNamed("reset-me")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("rateLimit takes slots that only decay frees, and times out when none is free", async () => {
      // One slot back every 10 s: the test ends long before one decays.
      await server.client.api.createGlobalConcurrencyLimit({
        body: { name: "api-calls", limit: 3, slotDecayPerSecond: 0.1 },
      });
      const caller = flow({ name: "caller" }, async () => {
        for (let call = 0; call < 3; call++) await rateLimit("api-calls");
        return (await limitNamed("api-calls")).activeSlots;
      });
      expect(await caller()).toBeGreaterThan(2.9);
      const timedOut = await failure(rateLimit("api-calls", { timeoutSeconds: 0.2 }));
      expect(timedOut).toBeInstanceOf(BatonError);
      expect(timedOut.code).toBe("timeout");
      expect(timedOut.message).toMatch(
        /waited 0.2 s for 1 slot\(s\) of global concurrency limit 'api-calls'/,
      );
    });

    it("stops waiting with a cancelled error when its signal aborts", async () => {
      await server.client.api.createGlobalConcurrencyLimit({ body: { name: "busy", limit: 1 } });
      const held = await acquireConcurrency("busy");
      const controller = new AbortController();
      const waiting = failure(concurrency("busy", () => "never", { signal: controller.signal }));
      controller.abort();
      expect(await waiting).toMatchObject({
        code: "cancelled",
        message: "stopped waiting for global concurrency limit 'busy'",
      });
      await held.release();
      expect(await limitNamed("busy")).toMatchObject({ activeSlots: 0 });
    });

    it("keeps a living holder's slots by renewing its lease, and frees all of a killed holder's when the lease runs out", async () => {
      for (const name of ["crashy", "crashy-too"]) {
        await server.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 1 } });
      }
      const holder = startProcess([HOLDER, "crashy,crashy-too", "1"], {
        env: { BATON_API_URL: server.apiUrl },
      });
      try {
        await holder.waitForLine(/^holding /);
        // Twice the lease: the holder renews it meanwhile, so the slots of both limits stay taken.
        const whileAlive = await Promise.all(
          ["crashy", "crashy-too"].map((name) =>
            server.client.api.acquireGlobalConcurrencySlots({ params: { name }, body: { waitSeconds: 2 } }),
          ),
        );
        expect(whileAlive.map((answer) => answer.granted)).toEqual([false, false]);
        holder.child.kill("SIGKILL");
        await holder.exited;
        const afterCrash = await server.client.api.acquireGlobalConcurrencySlotsTogether({
          body: { names: ["crashy-too", "crashy"], waitSeconds: 30 },
        });
        expect(afterCrash.granted).toBe(true);
        expect(afterCrash.limits.map((limit) => limit.leases)).toEqual([1, 1]);
      } finally {
        holder.child.kill("SIGKILL");
      }
    });
  },
);
