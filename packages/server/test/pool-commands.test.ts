import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";

const COMMAND = ["sh", "-c", "id > /tmp/pwned"];

/** The BatonError a call was refused with. */
async function refusal(call: Promise<unknown>): Promise<BatonError> {
  const error = await call.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof BatonError)) throw new Error(`expected a refusal, got ${String(error)}`);
  return error;
}

describe.each(DIALECTS)("the job variable 'command' on %s", (dialect: TestDialect) => {
  let server: TestServer;
  const api = () => server.client.api;
  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
    await api().createWorkPool({
      body: {
        name: "locked",
        baseJobTemplate: { variables: { properties: { command: { default: ["node", "pool-runner.js"] } } } },
      },
    });
    await api().createWorkPool({ body: { name: "open", allowCommandOverride: true } });
  });
  afterAll(() => server.stop());

  it("is not allowed in new pools, and the pool's owner can allow it and take it back", async () => {
    expect((await api().readWorkPool({ params: { name: "locked" } })).allowCommandOverride).toBe(false);
    expect((await api().readWorkPool({ params: { name: "open" } })).allowCommandOverride).toBe(true);
    await api().createWorkPool({ body: { name: "toggled" } });
    const allowed = await api().updateWorkPool({
      params: { name: "toggled" },
      body: { allowCommandOverride: true },
    });
    expect(allowed.allowCommandOverride).toBe(true);
    const paused = await api().updateWorkPool({ params: { name: "toggled" }, body: { paused: true } });
    expect(paused.allowCommandOverride).toBe(true);
    const back = await api().updateWorkPool({
      params: { name: "toggled" },
      body: { allowCommandOverride: false },
    });
    expect(back.allowCommandOverride).toBe(false);
  });

  it("refuses a deployment that sets it in a pool that does not allow it, with 403 naming the pool and the fix", async () => {
    const error = await refusal(
      api().createDeployment({
        body: { flowName: "f", name: "sneaky", workPoolName: "locked", jobVariables: { command: COMMAND } },
      }),
    );
    expect(error.code).toBe("permission_denied");
    const answer = await fetch(`${server.apiUrl}/deployments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        flowName: "f",
        name: "raw",
        workPoolName: "locked",
        jobVariables: { command: COMMAND },
      }),
    });
    expect(answer.status).toBe(403);
    expect(answer.headers.get("content-type")).toContain("application/problem+json");
    expect(error.message).toContain(
      "deployment 'f/sneaky' sets the job variable 'command', which work pool 'locked' does not allow",
    );
    expect(error.message).toContain("baton work-pool update locked --allow-command-override");
    await expect(
      api().readDeploymentByName({ params: { flowName: "f", deploymentName: "sneaky" } }),
    ).rejects.toThrow(/does not exist|not found/i);
  });

  it("refuses an update that adds it, or that moves a deployment with one into such a pool", async () => {
    const plain = await api().createDeployment({
      body: { flowName: "f", name: "plain", workPoolName: "locked", jobVariables: { env: { A: "1" } } },
    });
    const added = await refusal(
      api().updateDeployment({ params: { id: plain.id }, body: { jobVariables: { command: COMMAND } } }),
    );
    expect(added.code).toBe("permission_denied");
    expect((await api().readDeployment({ params: { id: plain.id } })).jobVariables).toEqual({
      env: { A: "1" },
    });

    const allowed = await api().createDeployment({
      body: { flowName: "f", name: "allowed", workPoolName: "open", jobVariables: { command: COMMAND } },
    });
    expect(allowed.jobVariables).toEqual({ command: COMMAND });
    const moved = await refusal(
      api().updateDeployment({ params: { id: allowed.id }, body: { workPoolName: "locked" } }),
    );
    expect(moved.message).toContain("work pool 'locked' does not allow");
    expect((await api().readDeployment({ params: { id: allowed.id } })).workPoolName).toBe("open");
    // Changing something else leaves it be.
    expect(
      (await api().updateDeployment({ params: { id: allowed.id }, body: { description: "ok" } })).description,
    ).toBe("ok");
  });

  it("refuses a run that sets it, unless the pool allows it", async () => {
    const locked = await api().createDeployment({
      body: { flowName: "f", name: "run-locked", workPoolName: "locked" },
    });
    const error = await refusal(
      api().createDeploymentRun({ params: { id: locked.id }, body: { jobVariables: { command: COMMAND } } }),
    );
    expect(error.code).toBe("permission_denied");
    expect(error.message).toContain(
      "the new run of deployment 'f/run-locked' sets the job variable 'command'",
    );
    const open = await api().createDeployment({
      body: { flowName: "f", name: "run-open", workPoolName: "open" },
    });
    const run = await api().createDeploymentRun({
      params: { id: open.id },
      body: { jobVariables: { command: COMMAND } },
    });
    expect(run.jobVariables).toEqual({ command: COMMAND });
  });

  it("keeps only the pool's own command when a claimed run's comes from elsewhere and the pool does not allow it", async () => {
    await api().createWorkPool({
      body: {
        name: "closing",
        allowCommandOverride: true,
        baseJobTemplate: { variables: { properties: { command: { default: ["node", "pool-runner.js"] } } } },
      },
    });
    const deployment = await api().createDeployment({
      body: {
        flowName: "f",
        name: "before",
        workPoolName: "closing",
        jobVariables: { command: COMMAND, env: { B: "2" } },
      },
    });
    const written = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    // The pool closes after the run was written: the claim drops the run's command.
    await api().updateWorkPool({ params: { name: "closing" }, body: { allowCommandOverride: false } });
    const { runs } = await api().claimFlowRuns({ body: { workerName: "w", workPoolName: "closing" } });
    expect(runs.map((run) => run.flowRun.id)).toEqual([written.id]);
    expect(runs[0]!.jobVariables).toEqual({ command: ["node", "pool-runner.js"], env: { B: "2" } });

    await api().updateWorkPool({ params: { name: "closing" }, body: { allowCommandOverride: true } });
    const again = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const claimed = await api().claimFlowRuns({ body: { workerName: "w", workPoolName: "closing" } });
    expect(claimed.runs.map((run) => run.flowRun.id)).toEqual([again.id]);
    expect(claimed.runs[0]!.jobVariables).toEqual({ command: COMMAND, env: { B: "2" } });
  });

  it("gives the pool's own default command to runs of a pool that does not allow overrides", async () => {
    const deployment = await api().createDeployment({
      body: { flowName: "f", name: "default", workPoolName: "locked" },
    });
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const { runs } = await api().claimFlowRuns({ body: { workerName: "w", workPoolName: "locked" } });
    expect(runs.map((claimed) => claimed.flowRun.id)).toEqual([run.id]);
    expect(runs[0]!.jobVariables).toEqual({ command: ["node", "pool-runner.js"] });
  });
});
