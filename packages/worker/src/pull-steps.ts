import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { BatonError, describePullStep, type PullStep } from "@baton/core";
import { GitCache, repoName } from "./git-cache.js";

/** Where clones are cached: BATON_PULL_CACHE_DIR, else `pull-cache` under BATON_HOME (~/.baton). */
export const defaultPullCacheDir = (): string =>
  process.env.BATON_PULL_CACHE_DIR || join(process.env.BATON_HOME || join(homedir(), ".baton"), "pull-cache");

/** A run's own folder, where its pull steps left the code; removed when the run is done with it. */
export interface PulledCode {
  /** Where the steps left the working directory: the entrypoint is resolved there. */
  workingDir: string;
  remove(): Promise<void>;
}

export interface PullContext {
  /** A secret's value, for git_clone's credentials. */
  secret(name: string): Promise<string>;
  /** Each line the steps print, and a line announcing each step. */
  onOutput(stream: "stdout" | "stderr", line: string): void;
}

/**
 * Takes a deployment's pull steps, in order, in a fresh folder of the run's own. A step that fails
 * removes the folder and throws an error naming it (`pull step 2 of 3 (run_shell_script 'npm ci')
 * failed: …`), which fails the run with that message.
 */
export async function pullCode(
  steps: PullStep[],
  cache: GitCache,
  context: PullContext,
): Promise<PulledCode> {
  const root = await mkdtemp(join(tmpdir(), "baton-run-"));
  const repositories = new Set<string>();
  const remove = async () => {
    await rm(root, { recursive: true, force: true });
    await Promise.all([...repositories].map((repository) => cache.prune(repository).catch(() => undefined)));
  };
  let workingDir = root;
  for (const [index, step] of steps.entries()) {
    const name = `pull step ${index + 1} of ${steps.length} (${describePullStep(step)})`;
    context.onOutput("stdout", name);
    try {
      if (step.step === "git_clone") repositories.add(step.repository);
      workingDir = await take(step, { root, workingDir, cache, context });
    } catch (error) {
      await remove();
      throw new BatonError("invalid_argument", `${name} failed: ${BatonError.from(error).message}`, {
        cause: error,
      });
    }
  }
  return { workingDir, remove };
}

interface StepPlace {
  root: string;
  workingDir: string;
  cache: GitCache;
  context: PullContext;
}

/** Takes one step; resolves with the working directory it leaves. */
async function take(step: PullStep, { root, workingDir, cache, context }: StepPlace): Promise<string> {
  const say = (line: string) => context.onOutput("stdout", line);
  switch (step.step) {
    case "git_clone": {
      const into = join(workingDir, repoName(step.repository));
      const auth = step.credentialsSecret ? authEnv(await context.secret(step.credentialsSecret)) : {};
      await cache.checkout(
        step.repository,
        { ...(step.branch ? { branch: step.branch } : {}), ...(step.commit ? { commit: step.commit } : {}) },
        into,
        say,
        auth,
      );
      return into;
    }
    case "set_working_directory": {
      const to = resolve(workingDir, step.directory);
      if (relative(root, to).startsWith("..")) {
        throw new BatonError("invalid_argument", `'${step.directory}' is outside the run's folder`);
      }
      const found = await stat(to).catch(() => undefined);
      if (!found?.isDirectory()) {
        throw new BatonError("not_found", `no folder '${step.directory}' in ${workingDir}`);
      }
      return to;
    }
    case "run_shell_script":
      await runScript(step.script, workingDir, step.env ?? {}, context);
      return workingDir;
  }
}

/**
 * The environment that gives git the credentials as an HTTP header (git 2.31 and later read config
 * from the environment): neither the command line, which other users of the machine can read, nor
 * the clone's stored URL hold them, and nothing prints them.
 */
function authEnv(credentials: string): Record<string, string> {
  const pair = credentials.includes(":") ? credentials : `x-access-token:${credentials}`;
  return {
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "http.extraHeader",
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(pair).toString("base64")}`,
  };
}

/** `sh -c script` in `cwd`; its output goes to the run's logs as it comes. */
function runScript(
  script: string,
  cwd: string,
  env: Record<string, string>,
  context: PullContext,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("sh", ["-c", script], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    createInterface({ input: child.stdout }).on("line", (line) => context.onOutput("stdout", line));
    createInterface({ input: child.stderr }).on("line", (line) => context.onOutput("stderr", line));
    child.once("error", (error) => reject(new BatonError("internal", `cannot start sh: ${error.message}`)));
    child.once("close", (code, signal) => {
      if (code === 0) resolvePromise();
      else
        reject(
          new BatonError(
            "invalid_argument",
            signal
              ? `the script was killed by ${signal}`
              : `the script exited with code ${code ?? "unknown"}`,
          ),
        );
    });
  });
}
