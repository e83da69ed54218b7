import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BatonClient } from "@baton/client";
import { BatonError, parseJobVariables, type ClaimedRun } from "@baton/core";
import { parseEntrypoint } from "@baton/sdk";
import type { JobAdapter, JobContext, JobExit, JobHandle } from "./adapters.js";
import { GitCache } from "./git-cache.js";
import { defaultPullCacheDir, pullCode, type PulledCode } from "./pull-steps.js";
import { WarmRunners } from "./warm-runners.js";

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;

// From the sources (tests, development) the runner is TypeScript too; from dist it is JavaScript.
const runner = fileURLToPath(
  new URL(`./run-flow-run${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url),
);
const fromSources = runner.endsWith(".ts");

/** `node` with what it needs to import the entrypoint: a TypeScript loader for .ts modules. */
function defaultCommand(entrypoint: string): string[] {
  const loader = TYPESCRIPT.test(parseEntrypoint(entrypoint).file) || fromSources;
  return [
    process.execPath,
    ...(fromSources ? ["--conditions=source"] : []),
    ...(loader ? ["--import", import.meta.resolve("tsx")] : []),
    runner,
  ];
}

/**
 * Runs each flow run in a child process of its own. With the default command the process comes from
 * the runners started ahead (see WarmRunners), so a claimed run starts in milliseconds; a pool's own
 * `command` is started for each run, with the run's details in its environment.
 */
export class ProcessAdapter implements JobAdapter {
  readonly type = "process";
  readonly #runners: WarmRunners;
  readonly #clones: GitCache;

  /**
   * @param warmRunners runner processes kept started ahead (0: each starts when its run is claimed)
   * @param pullCacheDir where pull steps' clones are cached (default: BATON_PULL_CACHE_DIR, else
   *   `pull-cache` under BATON_HOME)
   */
  constructor(warmRunners = 1, pullCacheDir = defaultPullCacheDir()) {
    this.#runners = new WarmRunners(warmRunners);
    this.#clones = new GitCache(pullCacheDir);
  }

  /**
   * Starts the run's process, after its deployment's pull steps when it has some: they run in a
   * folder of the run's own, which the process runs in and which is removed when it exits.
   */
  async start(run: ClaimedRun, context: JobContext): Promise<JobHandle> {
    const steps = run.deployment?.pullSteps ?? [];
    if (steps.length === 0) return await this.#spawn(run, context);
    const client = new BatonClient({
      url: context.env.BATON_API_URL!,
      ...(context.env.BATON_API_KEY ? { apiKey: context.env.BATON_API_KEY } : {}),
    });
    const pulled = await pullCode(steps, this.#clones, {
      secret: async (name) => (await client.api.revealSecret({ params: { name } })).value,
      onOutput: (stream, line) => context.onOutput(stream, line),
    });
    let job: JobHandle;
    try {
      job = await this.#spawn(run, context, pulled);
    } catch (error) {
      await pulled.remove();
      throw error;
    }
    const exited = job.exited.then(async (exit) => {
      await pulled
        .remove()
        .catch((error: unknown) =>
          context.onOutput("stderr", `cannot remove ${pulled.workingDir}: ${BatonError.from(error).message}`),
        );
      return exit;
    });
    return { ...job, exited };
  }

  async #spawn(run: ClaimedRun, context: JobContext, pulled?: PulledCode): Promise<JobHandle> {
    const entrypoint = run.deployment?.entrypoint;
    if (!entrypoint) {
      throw new BatonError(
        "invalid_argument",
        `deployment '${run.flowRun.flowName}/${run.flowRun.deploymentName}' has no entrypoint: register it with flow.deploy() or 'baton deploy'`,
      );
    }
    const variables = parseJobVariables("process", run.jobVariables);
    const cwd = pulled?.workingDir ?? variables.workingDir ?? run.deployment?.path ?? process.cwd();
    if (variables.command) {
      const [command, ...args] = variables.command;
      const child = spawn(command!, args, {
        cwd,
        env: { ...process.env, ...variables.env, ...context.env, BATON_ENTRYPOINT: entrypoint },
        stdio: ["ignore", "pipe", "pipe"],
      });
      createInterface({ input: child.stdout }).on("line", (line) => context.onOutput("stdout", line));
      createInterface({ input: child.stderr }).on("line", (line) => context.onOutput("stderr", line));
      return handleOf(child, command!, context);
    }
    // What differs from run to run goes to the runner when its run begins; the rest (the pool's env
    // included, which Node may read at start, as NODE_OPTIONS) is how the runner was launched.
    const [command, ...args] = defaultCommand(entrypoint);
    const { BATON_FLOW_RUN_ID, BATON_FLOW_RUN_ATTEMPT, ...shared } = context.env;
    // A run in a folder of its own takes a runner started in the worker's, which moves to its folder:
    // runners started ahead in a folder that each run removes would serve no other run, and none can
    // have imported code its pull steps fetch only now.
    const runner = await this.#runners.take(
      {
        command: command!,
        args,
        cwd: pulled ? process.cwd() : cwd,
        env: { ...process.env, ...variables.env, ...shared },
      },
      pulled ? undefined : entrypoint,
    );
    runner.begin(
      {
        env: {
          BATON_ENTRYPOINT: entrypoint,
          ...(BATON_FLOW_RUN_ID ? { BATON_FLOW_RUN_ID } : {}),
          ...(BATON_FLOW_RUN_ATTEMPT ? { BATON_FLOW_RUN_ATTEMPT } : {}),
        },
        flowRun: run.flowRun,
        ...(pulled ? { cwd } : {}),
      },
      (stream, line) => context.onOutput(stream, line),
    );
    return handleOf(runner.child, command!, context);
  }

  /** Stops the runners started ahead that no run took. */
  close(): void {
    this.#runners.close();
  }
}

/** The job of a run's child process: its exit, and SIGTERM then SIGKILL to stop it. */
function handleOf(child: ChildProcess, command: string, context: JobContext): JobHandle {
  const exited = new Promise<JobExit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once("error", (error) => {
      context.onOutput("stderr", `cannot start ${command}: ${error.message}`);
      resolve({ code: null, signal: null });
    });
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return {
    id: `pid ${child.pid ?? "?"}`,
    exited,
    stop(graceSeconds) {
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), graceSeconds * 1000);
      void exited.then(() => clearTimeout(force));
    },
  };
}
