import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { flow } from "@baton/sdk";
import { startTestServer, type TestServer } from "../../../test/helpers.js";

type Properties = Record<string, Record<string, unknown>>;
const propertiesOf = (schema: Record<string, unknown>) => schema.properties as Properties;

let counter = 0;
const shapes = {
  since: z.date().default(() => new Date()),
  day: z.string().default(() => new Date().toISOString().slice(0, 10)),
  batch: z.number().default(() => ++counter),
  depth: z.number().int().default(1),
  urls: z.array(z.string()).default([]),
  epoch: z.date().default(new Date(0)),
};

describe("a parameter's default that is a function", () => {
  it.each([
    ["a map of zod schemas", shapes],
    ["a zod object", z.object(shapes)],
  ])("is left out of the JSON Schema of %s, and values stay in it", (_, parameters) => {
    const declared = flow({ name: "defaults", parameters }, async (values) => values);
    const properties = propertiesOf(declared.parameterSchema());
    for (const name of ["since", "day", "batch"]) expect(properties[name]).not.toHaveProperty("default");
    expect(properties.depth!.default).toBe(1);
    expect(properties.urls!.default).toEqual([]);
    expect(properties.epoch!.default).toBe("1970-01-01T00:00:00.000Z");
    expect(declared.parameterSchema().required ?? []).toEqual([]);
  });

  describe("on a server", () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer("sqlite");
      process.env.BATON_API_URL = server.apiUrl;
      await server.client.api.createWorkPool({ body: { name: "pool" } });
    });
    afterAll(async () => {
      delete process.env.BATON_API_URL;
      await server.stop();
    });

    it("gives each schedule of a deployment made in code its own parameters, active or not", async () => {
      const report = flow({ name: "report", parameters: { format: z.enum(["pdf", "csv"]) } }, async (p) => p);
      const deployment = await report.deploy({
        name: "twice",
        workPool: "pool",
        entrypoint: "x.ts:report",
        schedules: [
          { cron: "0 * * * *", parameters: { format: "csv" } },
          { interval: 86_400, timezone: "Asia/Seoul", parameters: { format: "pdf" }, active: false },
        ],
      });
      expect(
        deployment.schedules.map(({ schedule, active, parameters }) => ({ schedule, active, parameters })),
      ).toEqual([
        { schedule: { cron: "0 * * * *", timezone: "UTC" }, active: true, parameters: { format: "csv" } },
        {
          schedule: { interval: 86_400, timezone: "Asia/Seoul" },
          active: false,
          parameters: { format: "pdf" },
        },
      ]);
    });

    it("is not frozen into the deployment: each run computes it when it decodes its parameters", async () => {
      const stamped = flow(
        { name: "stamped", parameters: { since: shapes.since, batch: shapes.batch } },
        async ({ since, batch }) => ({ since: since.toISOString(), isDate: since instanceof Date, batch }),
      );
      const deployment = await stamped.deploy({
        name: "daily",
        workPool: "pool",
        entrypoint: "x.ts:stamped",
      });
      const stored = propertiesOf(deployment.parameterSchema);
      expect(stored.since).not.toHaveProperty("default");
      expect(stored.batch).not.toHaveProperty("default");

      const results = [];
      for (let i = 0; i < 2; i++) {
        const run = await server.client.api.createDeploymentRun({ params: { id: deployment.id }, body: {} });
        expect(run.parameters).toEqual({});
        // As a worker's claim would.
        await server.client.api.setFlowRunState({
          params: { id: run.id },
          body: { state: { type: "PENDING" } },
        });
        results.push(await stamped.runFromJson(undefined, { flowRunId: run.id }));
      }
      expect(results.map((result) => result.isDate)).toEqual([true, true]);
      expect(results[1]!.batch).toBeGreaterThan(results[0]!.batch);
    });
  });
});
