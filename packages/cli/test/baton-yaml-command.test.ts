import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployment } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, type Result } from "./run-baton.js";

const FIXTURE = fileURLToPath(new URL("fixtures/flows.ts", import.meta.url));

describe.each(DIALECTS)("baton deploy --all and baton deploy NAME, from baton.yaml, on %s", (dialect) => {
  let server: TestServer;
  let project: string;
  let baton: (...args: string[]) => Promise<Result>;

  beforeAll(async () => {
    server = await startTestServer(dialect);
    await server.client.api.createWorkPool({ body: { name: "yaml-pool" } });
    project = mkdtempSync(join(tmpdir(), "baton-project-"));
    // Entrypoints are relative to baton.yaml's folder, whatever folder baton runs in.
    const entrypoint = `${relative(project, FIXTURE)}:greet`;
    writeFileSync(
      join(project, "baton.yaml"),
      `deployments:
  - name: weekly
    entrypoint: ${entrypoint}
    workPool: yaml-pool
    parameters: { names: [Ada] }
    jobVariables: { env: { GREETING_STYLE: plain } }
    tags: [from-yaml]
    concurrencyLimit: 1
    collisionStrategy: CANCEL_NEW
    runRetentionDays: 7
    schedules:
      - cron: "0 9 * * 1"
        timezone: Asia/Seoul
        parameters: { greeting: Hi }
      - interval: 3600
        active: false
  - name: once
    entrypoint: ${entrypoint}
    workPool: yaml-pool
    description: run by hand
`,
    );
    baton = batonAt(server.apiUrl, {}, project);
  });
  afterAll(async () => {
    rmSync(project, { recursive: true, force: true });
    await server.stop();
  });

  const stored = (name: string) =>
    server.client.api.readDeploymentByName({ params: { flowName: "greet", deploymentName: name } });

  it("deploys the one named, then every one, each with its settings and schedules", async () => {
    const one = await baton("deploy", "once");
    expect(one.stderr).toBe("");
    expect(one.stdout).toContain(
      `Deployment 'greet/once' registered: ${relative(project, FIXTURE)}:greet in ${project}`,
    );
    expect(await stored("once")).toMatchObject({ description: "run by hand", path: project });
    await expect(stored("weekly")).rejects.toThrow(/does not exist/);

    const all = json<Deployment[]>(await baton("deploy", "--all", "--json"));
    expect(all.map((deployment) => deployment.name)).toEqual(["weekly", "once"]);
    expect(await stored("weekly")).toMatchObject({
      workPoolName: "yaml-pool",
      parameters: { names: ["Ada"] },
      jobVariables: { env: { GREETING_STYLE: "plain" } },
      tags: ["from-yaml"],
      concurrencyLimit: 1,
      collisionStrategy: "CANCEL_NEW",
      runRetentionDays: 7,
      schedules: [
        {
          schedule: { cron: "0 9 * * 1", timezone: "Asia/Seoul" },
          parameters: { greeting: "Hi" },
          active: true,
        },
        { schedule: { interval: 3600, timezone: "UTC" }, parameters: {}, active: false },
      ],
    });
  });

  it("refuses a name baton.yaml lacks, flags beside --all, and a malformed file naming its line and field", async () => {
    const broken = join(project, "broken.yaml");
    writeFileSync(
      broken,
      "deployments:\n  - name: a\n    entrypoint: flows.ts:a\n    workPool: yaml-pool\n    schedules:\n      - cron: every day\n",
    );
    const [unknown, flags, malformed] = await Promise.all([
      baton("deploy", "daily"),
      baton("deploy", "--all", "--tag", "x"),
      baton("deploy", "--all", "--file", "broken.yaml"),
    ]);
    expect(oneLineError(unknown)).toBe(
      "error: baton.yaml has no deployment 'daily'; it has 'weekly', 'once'. To deploy an entrypoint instead, give --name and --pool",
    );
    expect(oneLineError(flags)).toBe(
      "error: baton.yaml gives the deployment's settings: --tag only apply with an ENTRYPOINT",
    );
    expect(oneLineError(malformed)).toMatch(
      /^error: broken\.yaml:6: deployments\[0\]\.schedules\[0\]\.cron: invalid cron expression 'every day'/,
    );
  });
});
