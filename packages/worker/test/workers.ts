import { fileURLToPath } from "node:url";
import { BATON, batonAt, json } from "../../cli/test/run-baton.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";

/** The repository root: workers and `baton deploy` run from there, as from a user's project. */
export const root = fileURLToPath(new URL("../../..", import.meta.url));
/** The folder of the workers' flow modules, relative to the root. */
export const fixtures = "packages/worker/test/fixtures";
/** The module most of the workers' flows come from. */
export const flows = `${fixtures}/flows.ts`;

/**
 * `baton worker start` as a real process on the built CLI, detached so a test can kill it with its
 * children; resolves once it polls.
 */
export async function startWorker(
  apiUrl: string,
  pool: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<TestProcess> {
  const worker = startProcess(
    [BATON, "worker", "start", "--pool", pool, "--heartbeat-interval", "1", ...args],
    {
      built: true,
      detached: true,
      cwd: root,
      env: { BATON_API_URL: apiUrl, ...env },
    },
  );
  await worker.waitForLine(/^Worker '.*' started/);
  return worker;
}

/** `baton deploy` of one of the fixture flows to a pool; answers the deployment's id. */
export async function deploy(
  apiUrl: string,
  entrypoint: string,
  name: string,
  pool: string,
  ...args: string[]
): Promise<{ id: string }> {
  const result = await batonAt(apiUrl)(
    "deploy",
    `${flows}:${entrypoint}`,
    "--name",
    name,
    "--pool",
    pool,
    "--json",
    ...args,
  );
  return json<{ id: string }>(result);
}
