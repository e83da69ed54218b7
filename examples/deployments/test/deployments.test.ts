import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BATON, batonAt } from "../../../packages/cli/test/run-baton.js";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";

// The deployment guide (docs/deployments.md), step by step, as a user runs it from the repository root
// (`npx tsx …`: the built packages, TypeScript through tsx).
const root = fileURLToPath(new URL("../../..", import.meta.url));
const example = (name: string) => fileURLToPath(new URL(`../${name}`, import.meta.url));

describe("the deployment guide's examples", () => {
  let server: TestServer;
  let baton: ReturnType<typeof batonAt>;
  const processes: TestProcess[] = [];
  beforeAll(async () => {
    server = await startTestServer("sqlite");
    baton = batonAt(server.apiUrl);
  });
  afterAll(async () => {
    await Promise.all(processes.map((process) => process.stop()));
    await server.stop();
  });
  const env = () => ({ BATON_API_URL: server.apiUrl });

  it("serves a flow and runs it from the CLI, watching it to its result", async () => {
    const served = startProcess(["--import", "tsx", example("serve.ts")], {
      built: true,
      env: env(),
      cwd: root,
    });
    processes.push(served);
    await served.waitForLine(/^ready/);
    const run = await baton(
      "deployment",
      "run",
      "weather-report/served",
      "--param",
      'cities=["Seoul","Busan"]',
      "--param",
      "day=2026-11-23",
      "--watch",
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("report for 2026-11-23 in celsius");
    expect(run.stdout).toContain('Result: {"Seoul":17.5,"Busan":17.5}');

    const deployment = await server.client.api.readDeploymentByName({
      params: { flowName: "weather-report", deploymentName: "served" },
    });
    expect(deployment.schedules[0]?.schedule).toEqual({ cron: "0 * * * *", timezone: "Asia/Seoul" });
  });

  it("deploys a flow to a process pool and a worker runs it", async () => {
    expect((await baton("work-pool", "create", "local", "--type", "process")).code).toBe(0);
    const deploy = startProcess(["--import", "tsx", example("deploy.ts")], {
      built: true,
      env: env(),
      cwd: root,
    });
    expect(await deploy.exited).toBe(0);
    expect(deploy.lines).toContain(
      "registered weather-report/pooled: examples/deployments/flows.ts:weatherReport",
    );
    const worker = startProcess([BATON, "worker", "start", "--pool", "local"], {
      built: true,
      env: env(),
      cwd: root,
    });
    processes.push(worker);
    await worker.waitForLine(/^Worker '.*' started/);
    const run = await baton(
      "deployment",
      "run",
      "weather-report/pooled",
      "--param",
      'cities=["Jeju"]',
      "--param",
      "day=2026-11-24",
      "--watch",
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("report for 2026-11-24 in fahrenheit");
    expect(run.stdout).toContain('Result: {"Jeju":14}');
    const wrong = await baton("deployment", "run", "weather-report/pooled", "--param", "cities=[]");
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/cities/);
  });
});
