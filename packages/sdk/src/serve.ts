import { hostname } from "node:os";
import type { Deployment } from "@baton/core";
import { claimLoop } from "./claim-loop.js";
import { register, type DeploymentSpec } from "./deployments.js";
import { runStopsOf } from "./follow-run.js";
import { defaultClient } from "./settings.js";

export interface ServeOptions {
  /** Runs carried out at once in this process, at most. @default 10 */
  limit?: number;
  /** Stops serving when it aborts; SIGINT and SIGTERM stop it too. */
  signal?: AbortSignal;
  /** Called once the deployments are registered and runs may come. */
  onReady?: (deployments: Deployment[]) => void;
  /** The name the runs record as the process that ran them. @default serve-<host>-<pid> */
  name?: string;
}

/**
 * Registers the deployments and carries out their runs in this process until stopped; then it takes
 * no new run and resolves once the runs in flight have finished. It only awaits, so the process can
 * do other work beside it (a gRPC server, say).
 */
export async function serve(specs: DeploymentSpec[], options: ServeOptions = {}): Promise<void> {
  if (specs.length === 0) throw new TypeError("serve() needs at least one deployment");
  const client = specs[0]!.client;
  const deployments = await Promise.all(specs.map(register));
  const flows = new Map(deployments.map((deployment, index) => [deployment.id, specs[index]!.flow]));

  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130); // a second Ctrl-C does not wait
    console.error("Stopping: no new runs; waiting for the runs in flight (Ctrl-C again to exit now)");
    stop.abort();
  };
  options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);

  const names = deployments.map((deployment) => `'${deployment.flowName}/${deployment.name}'`);
  console.error(`Serving ${names.join(", ")}. Start a run with: baton deployment run ${names[0]}`);
  options.onReady?.(deployments);
  // One stream for the stops of all the runs to come (see runStopsOf), on the client they run with.
  const stops = runStopsOf(defaultClient() ?? client);
  const releaseStops = stops.hold();
  try {
    await claimLoop({
      client,
      signal: stop.signal,
      capacity: options.limit ?? 10,
      request: {
        workerName: options.name ?? `serve-${hostname()}-${process.pid}`,
        deploymentIds: [...flows.keys()],
        // Each run starts here at once: the claim makes it RUNNING too, one round trip fewer; and
        // the deployments are this process's own, so the claim need not read them.
        start: true,
        withDeployments: false,
      },
      start: async ({ flowRun }) => {
        // The run's outcome is in its state and logs; a failure here is not the server's concern.
        await flows
          .get(flowRun.deploymentId!)!
          .runFromJson(undefined, {
            flowRunId: flowRun.id,
            flowRun,
            startedByClaim: flowRun.state?.type === "RUNNING",
            stopsMark: stops.mark(),
          })
          .catch(() => undefined);
      },
      onError: (error) => console.error(`serve: ${(error as Error).message}`),
    });
  } finally {
    releaseStops();
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}
