import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { FlowRun } from "@baton/core";
import { changedSince, type LoadedFiles } from "./loaded-files.js";

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
  child: ChildProcess;
  /** Hands the runner its run; from then on its output is the run's. */
  begin(job: RunnerJob, onLine: (stream: "stdout" | "stderr", line: string) => void): void;
}

/** Tells a runner that it was started ahead: it waits for its run on stdin. */
export const WARM_RUNNER_ENV = "BATON_WARM_RUNNER";
/**
 * Tells a runner started ahead which entrypoint to import while it waits. It reports on file
 * descriptor LOADED_FILES_FD, one line of JSON each: `{"importing":true}` as the import begins, then
 * `{"loaded":LoadedFiles}`, the project files the import read, once it has ended (even in failure).
 */
export const RUNNER_ENTRYPOINT_ENV = "BATON_RUNNER_ENTRYPOINT";
export const LOADED_FILES_FD = 3;

/** A runner started ahead that imports an entrypoint while it waits. */
interface ImportingRunner extends Runner {
  /** Whether its import has begun (Node and its loader have started). */
  importing: boolean;
  /** The files its import read, once it has ended; undefined if the runner failed to say. */
  loaded: Promise<LoadedFiles | undefined>;
}

/**
 * Runner processes started ahead, so that a claimed run does not wait for Node and the TypeScript
 * loader to start (hundreds of milliseconds) nor for its deployment's code to be imported (tens): each
 * is handed to exactly one run, which it carries out alone and exits, so runs stay isolated as before.
 * Shortly after a runner is handed out, another one like it is started for the next run, and one that
 * imports the run's entrypoint while it waits. A run takes a runner that imported (or is importing) its
 * entrypoint when none of the files that import read has changed since, so code edited between runs
 * is never stale; else one that imported nothing. A runner that loses its worker (its stdin closes)
 * exits by itself.
 */
export class WarmRunners {
  /** Runners that imported nothing, by launch, the launch used last at the end. */
  readonly #idle = new Map<string, Runner[]>();
  /** Runners that import an entrypoint, by launch and entrypoint, likewise. */
  readonly #importing = new Map<string, ImportingRunner[]>();
  /** Replacements not started yet (see REFILL_DELAY_MS). */
  readonly #refills = new Set<NodeJS.Timeout>();

  /** Keeps this many runners of each kind ready; 0 starts every runner on demand. */
  constructor(readonly ahead: number) {}

  /**
   * A runner for `launch`: one started ahead when there is one, with `entrypoint` imported when one
   * has begun importing it and what it read is current, else started now. Replacements start a little
   * later, once the run has had its start (see REFILL_DELAY_MS).
   */
  async take(launch: RunnerLaunch, entrypoint?: string): Promise<Runner> {
    const generic = keyOf(launch);
    const imported = entrypoint === undefined ? undefined : keyOf(launch, entrypoint);
    const runner =
      (imported === undefined ? undefined : await this.#withCurrentImport(imported)) ??
      this.#idleOne(generic) ??
      start(launch);
    if (this.ahead > 0) {
      const refill = setTimeout(() => {
        this.#refills.delete(refill);
        // Unless its kind was dropped since (keptUsedLast) for newer ones.
        const idle = this.#idle.get(generic);
        while (idle && idle.length < this.ahead) idle.push(start(launch));
        const importing = imported === undefined ? undefined : this.#importing.get(imported);
        while (importing && importing.length < this.ahead)
          importing.push(startImporting(launch, entrypoint!));
      }, REFILL_DELAY_MS);
      this.#refills.add(refill);
    }
    return runner;
  }

  #idleOne(key: string): Runner | undefined {
    const ready = keptUsedLast(this.#idle, key, this.ahead);
    let runner = ready.shift();
    while (runner && !alive(runner)) runner = ready.shift();
    return runner;
  }

  /**
   * A runner that has begun importing the kind's entrypoint (waiting for the import to end, which is
   * sooner than importing it afresh, for IMPORT_WAIT_MS at most), if nothing it read has changed
   * since; one that has changed, or is still importing, is stopped. Runners still starting are left
   * for later runs.
   */
  async #withCurrentImport(key: string): Promise<Runner | undefined> {
    const ready = keptUsedLast(this.#importing, key, this.ahead);
    for (let runner; (runner = ready.find((one) => !alive(one) || one.importing));) {
      ready.splice(ready.indexOf(runner), 1);
      const loaded = alive(runner) ? await within(runner.loaded, IMPORT_WAIT_MS) : undefined;
      if (loaded && !changedSince(loaded) && alive(runner)) return runner;
      runner.child.kill("SIGKILL");
    }
    return undefined;
  }

  /** Stops the runners nobody took. */
  close(): void {
    for (const refill of this.#refills) clearTimeout(refill);
    this.#refills.clear();
    for (const kinds of [this.#idle, this.#importing]) {
      for (const ready of kinds.values()) for (const runner of ready) runner.child.kill("SIGKILL");
      kinds.clear();
    }
  }
}

/**
 * How long after a runner is handed to its run its replacement starts. Starting a Node process with
 * its loader takes a core for most of a second: started at once, it slowed the run's own start (taking
 * its job, importing its entrypoint, proposing RUNNING) by tens of milliseconds on a 2-core machine.
 */
const REFILL_DELAY_MS = 250;

/**
 * How long a run waits for the import of a runner that began importing its entrypoint. A module whose
 * import never ends would otherwise hold its run before it has a job that a cancel could stop.
 */
const IMPORT_WAIT_MS = 5_000;

/** What the promise gives within `ms`, else undefined. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Kinds of runners kept ready at once, of each map: the ones used last. */
const MAX_KINDS = 4;

/**
 * The runners of the kind, marked used last (when runners are kept). Runs launched unlike the others
 * (their own env, say) must not leave runners waiting forever: the kinds used longest ago are stopped.
 */
function keptUsedLast<R extends Runner>(kinds: Map<string, R[]>, key: string, ahead: number): R[] {
  const ready = kinds.get(key) ?? [];
  kinds.delete(key);
  if (ahead === 0) return ready;
  kinds.set(key, ready);
  for (const [oldest, unused] of kinds) {
    if (kinds.size <= MAX_KINDS) break;
    for (const runner of unused) runner.child.kill("SIGKILL");
    kinds.delete(oldest);
  }
  return ready;
}

const alive = (runner: Runner) => runner.child.exitCode === null && runner.child.signalCode === null;

const keyOf = (launch: RunnerLaunch, entrypoint?: string) =>
  JSON.stringify([
    launch.command,
    launch.args,
    launch.cwd,
    Object.entries(launch.env).sort(),
    entrypoint ?? null,
  ]);

function start(launch: RunnerLaunch, env: Record<string, string> = {}, report = false): Runner {
  const child = spawn(launch.command, launch.args, {
    cwd: launch.cwd,
    env: { ...launch.env, ...env, [WARM_RUNNER_ENV]: "1" },
    stdio: ["pipe", "pipe", "pipe", report ? "pipe" : "ignore"],
  });
  const { stdin, stdout, stderr } = child as ChildProcessByStdio<Writable, Readable, Readable>;
  stdin.on("error", () => {}); // a runner that died before its run: its exit says so
  // What it prints before its run begins (a loader warning, its module's own lines) is that run's.
  const early: ["stdout" | "stderr", string][] = [];
  let sink = (stream: "stdout" | "stderr", line: string): void => void early.push([stream, line]);
  createInterface({ input: stdout }).on("line", (line) => sink("stdout", line));
  createInterface({ input: stderr }).on("line", (line) => sink("stderr", line));
  child.on("error", () => {}); // reported through the run's exit
  return {
    child,
    begin(job, onLine) {
      for (const [stream, line] of early.splice(0)) onLine(stream, line);
      sink = onLine;
      stdin.end(`${JSON.stringify(job)}\n`);
    },
  };
}

function startImporting(launch: RunnerLaunch, entrypoint: string): ImportingRunner {
  const runner = start(launch, { [RUNNER_ENTRYPOINT_ENV]: entrypoint }, true);
  const report = runner.child.stdio[LOADED_FILES_FD] as Readable;
  report.on("error", () => {});
  const importing: ImportingRunner = {
    ...runner,
    importing: false,
    loaded: new Promise((resolve) => {
      runner.child.once("exit", () => resolve(undefined));
      createInterface({ input: report }).on("line", (line) => {
        let said: { importing?: true; loaded?: LoadedFiles } | null;
        try {
          said = JSON.parse(line) as typeof said;
        } catch {
          said = null;
        }
        if (said?.importing) importing.importing = true;
        else if (said?.loaded) resolve(said.loaded);
        else {
          runner.child.kill("SIGKILL"); // not what it owes: a runner not to be trusted with a run
          resolve(undefined);
        }
      });
    }),
  };
  return importing;
}
