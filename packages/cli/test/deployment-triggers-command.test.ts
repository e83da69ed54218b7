import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Automation } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

const FIXTURE = fileURLToPath(new URL("fixtures/flows.ts", import.meta.url));

describe.each(DIALECTS)("deployment triggers from baton.yaml and --trigger, on %s", (dialect) => {
  let server: TestServer;
  let project: string;
  let baton: (...args: string[]) => Promise<Result>;
  const write = (yaml: string) => writeFileSync(join(project, "baton.yaml"), yaml);
  const deployment = (triggers: string) => `deployments:
  - name: on-order
    entrypoint: ${relative(project, FIXTURE)}:greet
    workPool: trigger-pool
${triggers}`;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    await server.client.api.createWorkPool({ body: { name: "trigger-pool" } });
    project = mkdtempSync(join(tmpdir(), "baton-project-"));
    baton = batonAt(server.apiUrl, {}, project);
  });
  afterAll(async () => {
    rmSync(project, { recursive: true, force: true });
    await server.stop();
  });

  it("deploys baton.yaml's triggers, lists them, and removes one taken out of the file", async () => {
    write(
      deployment(`    triggers:
      - events: [shop.order-placed]
        parameters: { names: "{{ event.payload.customers }}" }
      - name: by hand
        events: [greet.wanted]
        enabled: false
`),
    );
    expect((await baton("deploy", "--all")).stderr).toBe("");
    const listed = json<Automation[]>(await baton("deployment", "triggers", "greet/on-order", "--json"));
    expect(listed.map(({ name, enabled }) => ({ name, enabled }))).toEqual([
      { name: "by hand", enabled: false },
      { name: "deployment greet:on-order on shop.order-placed", enabled: true },
    ]);
    expect(listed[1]!.actions).toEqual([
      {
        type: "run-deployment",
        deployment: "greet/on-order",
        parameters: { names: "{{ event.payload.customers }}" },
      },
    ]);
    const table = await baton("deployment", "triggers", "greet/on-order");
    expect(table.stdout).toContain('shop.order-placed  {"names":"{{ event.payload.customers }}"}');

    write(deployment(""));
    await baton("deploy", "on-order");
    expect((await baton("deployment", "triggers", "greet/on-order")).stdout).toContain(
      "'greet/on-order' has no triggers.",
    );
  });

  it("names the line and field of a trigger baton.yaml gets wrong", async () => {
    write(
      deployment(`    triggers:
      - events: [shop.order-placed]
        posture: proactive
`),
    );
    expect(oneLineError(await baton("deploy", "--all"))).toBe(
      "error: baton.yaml:6: deployments[0].triggers[0].withinSeconds: a proactive trigger needs withinSeconds: how long without a matching event before it fires",
    );
  });

  it("takes --trigger as an event's name or as JSON, and says what is wrong with one", async () => {
    const entrypoint = `${relative(project, FIXTURE)}:greet`;
    const deployed = await baton(
      "deploy",
      entrypoint,
      ...["--name", "adhoc", "--pool", "trigger-pool"],
      ...["--trigger", "shop.order-paid"],
      ...[
        "--trigger",
        '{"events": ["shop.order-refunded"], "parameters": {"names": ["{{ event.payload.by }}"]}}',
      ],
    );
    expect(deployed.stderr).toBe("");
    const listed = json<Automation[]>(await baton("deployment", "triggers", "greet/adhoc", "--json"));
    expect(listed.map((automation) => automation.trigger)).toMatchObject([
      { events: ["shop.order-paid"] },
      { events: ["shop.order-refunded"] },
    ]);
    expect(
      oneLineError(await baton("deploy", entrypoint, "-n", "x", "-p", "trigger-pool", "--trigger", "{nope")),
    ).toMatch(/argument '{nope' is invalid\. it is not valid JSON/);
    expect(
      oneLineError(
        await baton("deploy", entrypoint, "-n", "x", "-p", "trigger-pool", "--trigger", "flow-run.nope"),
      ),
    ).toContain("argument 'flow-run.nope' is invalid. events.0: 'flow-run.nope' is not one of them");
  });
});
