import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ActionRun, Automation, Secret } from "@baton/core";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { actionRunsOf } from "../../../test/runs.js";
import { batonAt, json, oneLineError, spawnBaton, type Result } from "./run-baton.js";

let server: TestServer;
let baton: (...args: string[]) => Promise<Result>;
let dir: string;

beforeAll(async () => {
  server = await startTestServer("sqlite", { serviceLoopSeconds: 0.1 });
  baton = batonAt(server.apiUrl);
  dir = mkdtempSync(join(tmpdir(), "baton-automation-"));
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a file in the suite's directory and answers its path. */
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/** `baton secret set NAME` with the value piped in, as `echo VALUE | baton secret set NAME` does. */
function setFromStdin(name: string, input: string): Promise<Result> {
  const child = spawnBaton(server.apiUrl, "secret", "set", name);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  return new Promise((resolve) => child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr })));
}

/** Follows the event stream until an action run of the automation completes; answers once it is open. */
async function watchCompletion(automationId: string): Promise<{ completed: Promise<void> }> {
  const controller = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  let done!: () => void;
  const completed = new Promise<void>((resolve) => (done = resolve));
  const stream = server.client.events(
    { names: ["action-run.updated"], signal: controller.signal, onOpen: opened },
    (event) => {
      const run = event.payload.actionRun as unknown as ActionRun;
      if (run.automationId === automationId && run.status === "COMPLETED") done();
    },
  );
  await Promise.race([open, stream]);
  return {
    completed: completed.finally(() => {
      controller.abort();
      return stream;
    }),
  };
}

describe("baton secret", () => {
  it("sets secrets from --value or stdin and never prints their values", async () => {
    const set = await baton(
      "secret",
      "set",
      "slack-url",
      "--value",
      "https://hooks.example/T0/B0/cli-token-1",
    );
    expect(set).toMatchObject({ code: 0, stdout: "Set secret 'slack-url' (39 characters).\n" });
    const piped = await setFromStdin("api-token", "cli-token-2\n");
    expect(piped).toMatchObject({ code: 0, stdout: "Set secret 'api-token' (11 characters).\n" });

    const [listed, listedJson] = await Promise.all([baton("secret", "ls"), baton("secret", "ls", "--json")]);
    const lines = listed.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+LENGTH\s+UPDATED$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 2))).toEqual([
      ["api-token", "11"],
      ["slack-url", "39"],
    ]);
    expect(json<Secret[]>(listedJson).map((secret) => secret.name)).toEqual(["api-token", "slack-url"]);
    for (const result of [set, piped, listed, listedJson]) expect(result.stdout).not.toMatch(/cli-token/);

    expect(oneLineError(await setFromStdin("empty", "\n"))).toBe(
      "error: the value of secret 'empty' is empty",
    );
    expect((await baton("secret", "delete", "api-token")).stdout).toBe("Deleted secret 'api-token'.\n");
    expect(oneLineError(await baton("secret", "delete", "api-token"))).toBe(
      "error: secret 'api-token' does not exist",
    );
  });
});

describe("baton automation", () => {
  const automation = {
    name: "etl failures",
    description: "Tell #data when the nightly ETL fails",
    trigger: {
      events: ["flow-run.state-changed"],
      flows: ["nightly-etl"],
      stateTypes: ["FAILED", "CRASHED"],
      threshold: 2,
      withinSeconds: 600,
    },
    actions: [{ type: "test-sink", text: "{{ flow_run.name }} is {{ state.name }}" }],
  };

  it("creates an automation from a file, lists, inspects, pauses, resumes and deletes it", async () => {
    const created = await baton("automation", "create", "--file", file("etl.json", automation));
    expect(created.stdout).toMatch(/^Created automation 'etl failures' \(id [0-9a-f-]{36}\)\.\n$/);

    const [listed, listedJson] = await Promise.all([
      baton("automation", "ls"),
      baton("automation", "ls", "--json"),
    ]);
    const [header, row] = listed.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^NAME\s+ID\s+STATUS\s+TRIGGER\s+ACTIONS\s+CREATED$/);
    expect(row).toMatch(
      /^etl failures\s+[0-9a-f-]{36}\s+enabled\s+flow-run\.state-changed flows=nightly-etl stateTypes=FAILED,CRASHED 2 within 600 s\s+test-sink\s+\d{4}-/,
    );
    const [stored] = json<Automation[]>(listedJson);
    expect(stored).toMatchObject({
      ...automation,
      enabled: true,
      trigger: { ...automation.trigger, posture: "reactive" },
    });

    // It fires on the second failure: inspect shows what its action did.
    const { completed } = await watchCompletion(stored!.id);
    for (let i = 0; i < 2; i++) {
      const run = await server.client.api.createFlowRun({ body: { flowName: "nightly-etl" } });
      await server.client.api.setFlowRunState({
        params: { id: run.id },
        body: { state: { type: "FAILED" } },
      });
    }
    await completed;
    const inspected = json<Automation & { actionRuns: ActionRun[] }>(
      await baton("automation", "inspect", stored!.id, "--json"),
    );
    expect(inspected).toMatchObject({ name: "etl failures" });
    expect(inspected.actionRuns).toMatchObject([{ status: "COMPLETED", action: { type: "test-sink" } }]);
    const shown = await baton("automation", "inspect", "etl failures");
    expect(shown.stdout).toMatch(/Name:\s+etl failures/);
    expect(shown.stdout).toMatch(/Status:\s+enabled/);
    expect(shown.stdout).toMatch(
      /Action 1:\s+\{"type":"test-sink","text":"\{\{ flow_run.name \}\} is \{\{ state.name \}\}"\}/,
    );
    expect(shown.stdout).toMatch(/^FIRED\s+ACTION\s+STATUS\s+ATTEMPTS\s+LAST ANSWER$/m);
    expect(shown.stdout).toMatch(/1 test-sink\s+COMPLETED\s+1\s+recorded \(test sink: nothing sent\)/);

    expect((await baton("automation", "pause", "etl failures")).stdout).toBe(
      "Paused automation 'etl failures'.\n",
    );
    expect((await baton("automation", "ls")).stdout).toMatch(/etl failures\s+\S+\s+paused/);
    expect((await baton("automation", "resume", stored!.id)).stdout).toBe(
      "Resumed automation 'etl failures'.\n",
    );
    expect((await baton("automation", "delete", "etl failures")).stdout).toBe(
      "Deleted automation 'etl failures'.\n",
    );
    expect(oneLineError(await baton("automation", "inspect", "etl failures"))).toBe(
      "error: automation 'etl failures' does not exist",
    );
  });

  it("shows compound and sequence triggers in a line, and names what is wrong with one", async () => {
    const paid = { events: ["shop.order-paid"] };
    const shipped = { events: ["shop.order-shipped"], tags: ["express"] };
    const combined = (name: string, trigger: unknown) =>
      baton(
        "automation",
        "create",
        "--file",
        file(`${name}.json`, { name, trigger, actions: [{ type: "test-sink" }] }),
      );
    await combined("paid and shipped", {
      type: "compound",
      require: "all",
      triggers: [paid, shipped],
      within: 3600,
    });
    await combined("paid then shipped", { type: "sequence", triggers: [paid, shipped], within: 600 });
    const rows = (await baton("automation", "ls")).stdout.trimEnd().split("\n").slice(1);
    expect(rows[0]).toMatch(
      /^paid and shipped\s+\S+\s+enabled\s+all of \[shop\.order-paid; shop\.order-shipped tags=express\] within 3600 s\s+test-sink/,
    );
    expect(rows[1]).toMatch(
      /^paid then shipped\s+\S+\s+enabled\s+shop\.order-paid then shop\.order-shipped tags=express within 600 s\s+test-sink/,
    );
    expect((await baton("automation", "inspect", "paid then shipped")).stdout).toMatch(
      /Trigger:\s+shop\.order-paid then shop\.order-shipped tags=express within 600 s/,
    );
    expect(oneLineError(await combined("empty", { type: "sequence", triggers: [], within: 600 }))).toContain(
      "trigger.triggers: triggers is empty",
    );
    for (const name of ["paid and shipped", "paid then shipped"]) await baton("automation", "delete", name);
  });

  it("shows a metric trigger and the newer actions in a line, and each notification's destination", async () => {
    await server.client.api.setSecret({ body: { name: "team-hook", value: "http://127.0.0.1:9/team" } });
    const created = await baton(
      "automation",
      "create",
      "--file",
      file("metric.json", {
        name: "etl failing",
        trigger: {
          type: "metric",
          metric: "failure-ratio",
          operator: ">=",
          threshold: 0.25,
          rangeSeconds: 600,
          firingForSeconds: 120,
          deployments: ["etl/prod"],
        },
        actions: [
          { type: "send-notification", destinations: [{ type: "webhook", secret: "team-hook" }] },
          {
            type: "change-flow-run-state",
            state: "CANCELLED",
            flowRunId: "0190f0f0-0000-7000-8000-000000000000",
          },
        ],
      }),
    );
    expect(created.stderr).toBe("");
    const [row] = (await baton("automation", "ls")).stdout.trimEnd().split("\n").slice(1);
    expect(row).toMatch(
      /^etl failing\s+\S+\s+enabled\s+failure-ratio >= 0\.25 over 600 s deployments=etl\/prod for 120 s\s+send-notification, change-flow-run-state/,
    );
    // A notification's action run names its destination.
    const automation = (await server.client.api.listAutomations({})).items.find(
      (a) => a.name === "etl failing",
    )!;
    const notify = await server.client.api.createAutomation({
      body: {
        name: "notify on ping",
        trigger: { events: ["cli.ping"] },
        actions: [{ type: "send-notification", destinations: [{ type: "webhook", secret: "team-hook" }] }],
      },
    });
    await server.client.api.createEvent({ body: { event: "cli.ping" } });
    await actionRunsOf(server.client, notify.id, (runs) => runs.length > 0);
    expect((await baton("automation", "inspect", "notify on ping")).stdout).toContain(
      "1 send-notification → webhook team-hook",
    );
    for (const id of [automation.id, notify.id]) await baton("automation", "delete", id);
  });

  it("says in one line what is wrong with a bad --file", async () => {
    const missing = join(dir, "missing.json");
    const broken = file("broken.json", '{"name": ');
    const list = file("list.json", [automation]);
    const invalid = file("invalid.json", {
      ...automation,
      trigger: { events: ["flow-run.state-changed"], posture: "proactive" },
      actions: [{ type: "slack" }],
    });
    const create = (...args: string[]) => baton("automation", "create", ...args).then(oneLineError);
    const errors = await Promise.all([
      create("--file", missing),
      create("--file", broken),
      create("--file", list),
      create("--file", invalid),
      create(),
    ]);
    expect(errors[0]).toBe(`error: cannot read '${missing}': no such file`);
    expect(errors[1]).toMatch(new RegExp(`^error: '${broken}' is not JSON: `));
    expect(errors[2]).toBe(`error: '${list}' must hold one JSON object: an automation`);
    expect(errors[3]).toMatch(new RegExp(`^error: '${invalid}' is not a valid automation: `));
    expect(errors[3]).toContain("trigger.withinSeconds: a proactive trigger needs withinSeconds");
    expect(errors[3]).toContain("actions.0.secret");
    expect(errors[4]).toBe("error: required option '-f, --file <path>' not specified");
    expect(json<Automation[]>(await baton("automation", "ls", "--json"))).toEqual([]);
  });
});
