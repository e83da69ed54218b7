import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import type { TestProcess } from "../../../test/processes.js";
import { isType, waitForRunState } from "../../../test/runs.js";
import { deploy, startWorker } from "./workers.js";

describe("a process pool and the job variable 'command'", () => {
  let server: TestServer;
  let worker: TestProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), "baton-command-"));
  const file = join(dir, "id.txt");
  const command = ["sh", "-c", `id > ${file}`];
  const api = () => server.client.api;

  beforeAll(async () => {
    server = await startTestServer("sqlite", { serviceLoopSeconds: 0.2 });
  });
  afterAll(async () => {
    await worker?.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs a deployment's own command only once the pool allows it", async () => {
    await api().createWorkPool({ body: { name: "guarded", type: "process" } });
    const deployment = await deploy(server.apiUrl, "add", "sum", "guarded");
    await expect(
      api().updateDeployment({ params: { id: deployment.id }, body: { jobVariables: { command } } }),
    ).rejects.toThrow(/work pool 'guarded' does not allow/);
    worker = await startWorker(server.apiUrl, "guarded");

    const flow = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { a: 1, b: 2 } },
    });
    const added = await waitForRunState(server.client, flow.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(added.state).toMatchObject({ type: "COMPLETED", data: { value: 3 } });
    expect(existsSync(file)).toBe(false);

    await api().updateWorkPool({ params: { name: "guarded" }, body: { allowCommandOverride: true } });
    await api().updateDeployment({ params: { id: deployment.id }, body: { jobVariables: { command } } });
    const commanded = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { a: 1, b: 2 } },
    });
    // The command ran instead of the flow, which therefore never reported an end.
    const ended = await waitForRunState(
      server.client,
      commanded.id,
      isType("COMPLETED", "FAILED", "CRASHED"),
    );
    expect(ended.state?.type).toBe("CRASHED");
    expect(readFileSync(file, "utf8")).toMatch(/^uid=\d+/);
  });
});
