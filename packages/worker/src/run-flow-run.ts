// The process a worker starts for one flow run: loads the flow from the deployment's entrypoint
// and carries out the run; its exit code tells the worker whether it completed.
import { closeSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { BatonError, type FlowRun } from "@baton/core";
import {
  CancelledError,
  defaultClient,
  loadFlow,
  parseEntrypoint,
  shipperFor,
  untilReachable,
} from "@baton/sdk";
import { modifiedAt, trackLoadedFiles } from "./loaded-files.js";
import { LOADED_FILES_FD, RUNNER_ENTRYPOINT_ENV, WARM_RUNNER_ENV, type RunnerJob } from "./warm-runners.js";

// Started ahead of its run (see WarmRunners): the run comes as one line on stdin; stdin closing first
// means the worker is gone or did not need this runner. Meanwhile it does once what the run would do
// first (each costs a fresh process tens of milliseconds the first time): a GET and a POST (the health
// check, and a heartbeat of no run, which the server answers 404 without writing anything), and an
// event stream opened and closed (the run follows its own through fetch, which Node loads on first use).
const NO_RUN = "00000000-0000-0000-0000-000000000000";
const ignore = () => undefined;
let claimed: FlowRun | undefined;
/** The flow of the entrypoint this runner imported while it waited (see WarmRunners). */
let imported: { entrypoint: string; flow: ReturnType<typeof loadFlow> } | undefined;
if (process.env[WARM_RUNNER_ENV]) {
  const client = defaultClient();
  const opened = new AbortController();
  const ahead = process.env[RUNNER_ENTRYPOINT_ENV];
  if (ahead) imported = { entrypoint: ahead, flow: importAhead(ahead) };
  if (client) {
    void (async () => {
      await client.api.health().catch(ignore);
      await client.api.heartbeatFlowRun({ params: { id: NO_RUN }, body: {} }).catch(ignore);
      await client.events({ flowRunId: NO_RUN, signal: opened.signal, onOpen: () => opened.abort() }, ignore);
    })().catch(ignore);
  }
  const line = await new Promise<string | undefined>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once("line", (first) => {
      resolve(first);
      lines.close();
    });
    lines.once("close", () => resolve(undefined));
  });
  if (line === undefined) process.exit(0);
  const job = JSON.parse(line) as RunnerJob;
  Object.assign(process.env, job.env);
  delete process.env[WARM_RUNNER_ENV];
  delete process.env[RUNNER_ENTRYPOINT_ENV];
  // A run whose code its pull steps fetched runs from their folder: the entrypoint is relative to it.
  if (job.cwd) process.chdir(job.cwd);
  claimed = job.flowRun;
}

const flowRunId = process.env.BATON_FLOW_RUN_ID;
const attempt = process.env.BATON_FLOW_RUN_ATTEMPT ? Number(process.env.BATON_FLOW_RUN_ATTEMPT) : undefined;
const entrypoint = process.env.BATON_ENTRYPOINT;
const client = defaultClient();
if (!flowRunId || !entrypoint || !client) {
  console.error("run-flow-run: BATON_FLOW_RUN_ID, BATON_ENTRYPOINT and BATON_API_URL must be set");
  process.exit(2);
}

let flow;
try {
  // The worker hands a runner that imported an entrypoint only runs of it, with their code unchanged.
  flow = await (imported?.entrypoint === entrypoint ? imported.flow : loadFlow(entrypoint));
} catch (error) {
  const message = `cannot load the flow from entrypoint '${entrypoint}' in ${process.cwd()}: ${BatonError.from(error).message}`;
  console.error(message);
  await untilReachable(`the failure of flow run ${flowRunId}`, () =>
    client.api.setFlowRunState({
      params: { id: flowRunId },
      body: {
        state: { type: "FAILED", name: "EntrypointError", message },
        ...(attempt !== undefined ? { attempt } : {}),
      },
    }),
  );
  process.exit(1);
}

// The worker asks the run to stop with SIGTERM (a cancel, or the worker shutting down): the flow is
// cancelled as from the API, so its hooks run and its task runs end CANCELLED before the process exits.
const stop = new AbortController();
process.once("SIGTERM", () =>
  stop.abort(new CancelledError("the flow run", "its worker stopped the job (SIGTERM)")),
);

let code = 0;
try {
  await flow.runFromJson(undefined, {
    flowRunId,
    ...(claimed?.id === flowRunId ? { flowRun: claimed } : {}),
    signal: stop.signal,
    ...(attempt !== undefined ? { attempt } : {}),
  });
} catch {
  // The run's state and logs already say what happened.
  code = 1;
}
await shipperFor(client).flush();
process.exit(code);

/**
 * Imports the entrypoint's flow ahead of the run (a failure is the run's, when it comes), telling the
 * worker as it begins and, at its end, which project files it read, so that the worker hands this
 * runner no run once one of them has changed.
 */
function importAhead(entrypoint: string): ReturnType<typeof loadFlow> {
  const tell = (said: object) => writeSync(LOADED_FILES_FD, `${JSON.stringify(said)}\n`);
  const loadedFiles = trackLoadedFiles();
  tell({ importing: true });
  const flow = loadFlow(entrypoint);
  void flow.then(ignore, ignore).then(() => {
    // The entrypoint's own file counts even when there was none to import (null: it may appear).
    const file = resolve(parseEntrypoint(entrypoint).file);
    tell({ loaded: { [file]: modifiedAt(file), ...loadedFiles() } });
    closeSync(LOADED_FILES_FD);
  });
  return flow;
}
