import { spawn, type ChildProcessByStdio } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { FlowRun } from "@baton/core";

/** How a runner process is started; runners started alike are interchangeable. */
export interface RunnerLaunch {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** What a runner is told when its run begins: one line of JSON on its stdin. */
export interface RunnerJob {
  /** The run's own environment (its id, attempt and entrypoint), added to the runner's. */
  env: Record<string, string>;
  /** The run as its claim returned it, so the runner need not read it again. */
  flowRun: FlowRun;
  /** The run's own working directory (where its pull steps left the code), when not the runner's. */
  cwd?: string;
}

/** A runner process, started ahead or just now, handed to one run. */
export interface Runner {
  child: ChildProcessByStdio<Writable, Readable, Readable>;
  /** Hands the runner its run; from then on its output is the run's. */
  begin(job: RunnerJob, onLine: (stream: "stdout" | "stderr", line: string) => void): void;
}

/** Tells a runner that it was started ahead: it waits for its run on stdin. */
export const WARM_RUNNER_ENV = "BATON_WARM_RUNNER";

/**
 * Runner processes started ahead, so that a claimed run does not wait for Node and the TypeScript
 * loader to start (hundreds of milliseconds): each is handed to exactly one run, which it carries out
 * alone and exits, so runs stay isolated as before. Shortly after a runner is handed out, another one
 * like it is started for the next run. A runner that loses its worker (its stdin closes) exits by itself.
 */
export class WarmRunners {
  /** Runners ready, by launch, the launch used last at the end. */
  readonly #idle = new Map<string, Runner[]>();
  /** Replacements not started yet (see REFILL_DELAY_MS). */
  readonly #refills = new Set<NodeJS.Timeout>();

  /** Keeps this many runners of each launch ready; 0 starts every runner on demand. */
  constructor(readonly ahead: number) {}

  /**
   * A runner for `launch`: one started ahead when there is one, else started now. Its replacement
   * starts a little later, once the run has had its start (see REFILL_DELAY_MS).
   */
  take(launch: RunnerLaunch): Runner {
    const key = keyOf(launch);
    const ready = this.#idle.get(key) ?? [];
    this.#idle.delete(key);
    let runner = ready.shift();
    while (runner && !alive(runner)) runner = ready.shift();
    runner ??= start(launch);
    if (this.ahead > 0) {
      this.#idle.set(key, ready);
      // Runs launched unlike the others (their own env, say) must not leave runners waiting forever.
      for (const [oldest, unused] of this.#idle) {
        if (this.#idle.size <= MAX_LAUNCHES) break;
        for (const idle of unused) idle.child.kill("SIGKILL");
        this.#idle.delete(oldest);
      }
      const refill = setTimeout(() => {
        this.#refills.delete(refill);
        // Unless its launch was dropped since (above) for newer ones.
        const now = this.#idle.get(key);
        while (now && now.length < this.ahead) now.push(start(launch));
      }, REFILL_DELAY_MS);
      this.#refills.add(refill);
    }
    return runner;
  }

  /** Stops the runners nobody took. */
  close(): void {
    for (const refill of this.#refills) clearTimeout(refill);
    this.#refills.clear();
    for (const ready of this.#idle.values()) for (const runner of ready) runner.child.kill("SIGKILL");
    this.#idle.clear();
  }
}

/**
 * How long after a runner is handed to its run its replacement starts. Starting a Node process with
 * its loader takes a core for most of a second: started at once, it slowed the run's own start (taking
 * its job, importing its entrypoint, proposing RUNNING) by tens of milliseconds on a 2-core machine.
 */
const REFILL_DELAY_MS = 250;

/** Launches kept ready at once: the ones used last. */
const MAX_LAUNCHES = 4;

const alive = (runner: Runner) => runner.child.exitCode === null && runner.child.signalCode === null;

const keyOf = (launch: RunnerLaunch) =>
  JSON.stringify([launch.command, launch.args, launch.cwd, Object.entries(launch.env).sort()]);

function start(launch: RunnerLaunch): Runner {
  const child = spawn(launch.command, launch.args, {
    cwd: launch.cwd,
    env: { ...launch.env, [WARM_RUNNER_ENV]: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin.on("error", () => {}); // a runner that died before its run: its exit says so
  // What it prints before its run begins (a loader warning) belongs to that run's output.
  const early: ["stdout" | "stderr", string][] = [];
  let sink = (stream: "stdout" | "stderr", line: string): void => void early.push([stream, line]);
  createInterface({ input: child.stdout }).on("line", (line) => sink("stdout", line));
  createInterface({ input: child.stderr }).on("line", (line) => sink("stderr", line));
  child.on("error", () => {}); // reported through the run's exit
  return {
    child,
    begin(job, onLine) {
      for (const [stream, line] of early.splice(0)) onLine(stream, line);
      sink = onLine;
      child.stdin.end(`${JSON.stringify(job)}\n`);
    },
  };
}
