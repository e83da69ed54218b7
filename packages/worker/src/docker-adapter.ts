import { randomBytes } from "node:crypto";
import { constants } from "node:os";
import { PassThrough } from "node:stream";
import { createInterface } from "node:readline";
import type Docker from "dockerode";
import { BatonError, parseJobVariables, type ClaimedRun, type PullPolicy } from "@baton/core";
import { parseEntrypoint } from "@baton/sdk";
import type { JobAdapter, JobContext, JobExit, JobHandle, RecoveredJob } from "./adapters.js";

/** Labels on every container a docker worker starts; a restarted worker finds its containers by them. */
export const LABELS = {
  flowRunId: "baton.flow-run-id",
  flowRunName: "baton.flow-run-name",
  worker: "baton.worker",
  autoRemove: "baton.auto-remove",
  stopGracePeriod: "baton.stop-grace-period",
  attempt: "baton.attempt",
} as const;

/** What the engine answers to a wait. */
interface ContainerExit {
  StatusCode?: number;
}

const TYPESCRIPT = /\.(ts|mts|cts|tsx)$/;

const MEMORY_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A memory limit in bytes; the job variables' schema has checked its form. */
function memoryBytes(memory: number | string): number {
  if (typeof memory === "number") return memory;
  const [, amount, unit] = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(memory.trim())!;
  return Math.round(Number(amount) * MEMORY_UNITS[unit!.toLowerCase()]!);
}

/** Where the Docker API is, for messages. */
const engineAddress = () => process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";

const statusOf = (error: unknown): number | undefined => (error as { statusCode?: number }).statusCode;

/** An engine error as one line, saying where the engine is when it cannot be reached. */
function engineError(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === "ENOENT" || code === "ECONNREFUSED" || code === "EACCES") {
    return `cannot reach the Docker engine at ${engineAddress()} (${code}): start it, or set DOCKER_HOST`;
  }
  return (message ?? String(error)).replace(/^\(HTTP code \d+\) [\w ]+ - /, "").trim();
}

const isLoopback = (url: string): boolean => {
  try {
    const host = new URL(url).hostname;
    return host === "localhost" || host.startsWith("127.") || host === "[::1]";
  } catch {
    return false;
  }
};

/** The exit of a container as the worker reports it: exit codes above 128 are deaths by a signal. */
function exitOf(code: number | null, oomKilled = false): JobExit {
  if (code === null) return { code, signal: null };
  const signal =
    code > 128
      ? Object.entries(constants.signals).find(([, number]) => number === code - 128)?.[0]
      : undefined;
  if (oomKilled) return { code, signal: `${signal ?? "SIGKILL"} (out of memory)` };
  return { code, signal: signal ?? null };
}

/**
 * Runs each flow run in a container of its own through the Docker Engine API (Docker, or Podman's
 * compatible service) at DOCKER_HOST or the default socket.
 */
export class DockerAdapter implements JobAdapter {
  readonly type = "docker";
  #docker: Promise<Docker> | undefined;

  constructor(docker?: Docker) {
    if (docker) this.#docker = Promise.resolve(docker);
  }

  /** The engine's client, made on first use (DOCKER_HOST is read then; dockerode loads only for docker pools). */
  engine(): Promise<Docker> {
    return (this.#docker ??= import("dockerode").then(({ default: Dockerode }) => new Dockerode()));
  }

  async check(): Promise<void> {
    try {
      await (await this.engine()).ping();
    } catch (error) {
      throw new BatonError("unavailable", engineError(error));
    }
  }

  async start(run: ClaimedRun, context: JobContext): Promise<JobHandle> {
    const { flowRun } = run;
    const entrypoint = run.deployment?.entrypoint;
    if (!entrypoint) {
      throw new BatonError(
        "invalid_argument",
        `deployment '${flowRun.flowName}/${flowRun.deploymentName}' has no entrypoint: register it with flow.deploy() or 'baton deploy'`,
      );
    }
    // A container runs the code its image holds: taking the steps on the worker's machine would get it
    // nowhere the container sees. Refused rather than ignored, so that the run says why.
    if ((run.deployment?.pullSteps.length ?? 0) > 0) {
      throw new BatonError(
        "invalid_argument",
        `deployment '${flowRun.flowName}/${flowRun.deploymentName}' has pull steps, which process pools take; a docker pool runs the code of its image: build it in, or deploy it without pull steps`,
      );
    }
    const variables = parseJobVariables("docker", run.jobVariables);
    const docker = await this.engine();
    const image = variables.image;
    await this.#ensureImage(image, variables.pullPolicy);

    const loader = TYPESCRIPT.test(parseEntrypoint(entrypoint).file);
    const command = variables.command ?? [
      "node",
      ...(loader ? ["--import", "tsx"] : []),
      "--input-type=module",
      "-e",
      'await import("@baton/worker/run-flow-run")',
    ];
    const env = { ...variables.env, ...context.env, BATON_ENTRYPOINT: entrypoint };
    const networkMode =
      variables.networkMode ?? (isLoopback(context.env.BATON_API_URL ?? "") ? "host" : undefined);
    const autoRemove = variables.autoRemove;
    const memory = variables.memory === undefined ? undefined : memoryBytes(variables.memory);
    const slug = flowRun.name.replace(/[^a-zA-Z0-9_.-]/g, "-");
    let container: Docker.Container;
    try {
      container = await docker.createContainer({
        name: `baton-${slug}-${randomBytes(4).toString("hex")}`,
        Image: image,
        Cmd: command,
        Env: Object.entries(env).map(([name, value]) => `${name}=${value}`),
        ...(variables.workingDir ? { WorkingDir: variables.workingDir } : {}),
        Labels: {
          ...variables.labels,
          [LABELS.flowRunId]: flowRun.id,
          [LABELS.flowRunName]: flowRun.name,
          [LABELS.worker]: context.workerName,
          [LABELS.autoRemove]: String(autoRemove),
          [LABELS.stopGracePeriod]: String(variables.stopGracePeriodSeconds),
          [LABELS.attempt]: String(flowRun.attempt),
        },
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        OpenStdin: false,
        StopTimeout: variables.stopGracePeriodSeconds,
        HostConfig: {
          // An init process as PID 1 passes SIGTERM on to node, which a PID 1 would ignore.
          Init: true,
          ...(variables.volumes ? { Binds: variables.volumes } : {}),
          ...(networkMode ? { NetworkMode: networkMode } : {}),
          ...(variables.cpus ? { NanoCpus: Math.round(variables.cpus * 1e9) } : {}),
          ...(memory ? { Memory: memory } : {}),
        },
      });
    } catch (error) {
      throw new BatonError(
        "internal",
        `cannot create a container of image '${image}': ${engineError(error)}`,
      );
    }
    try {
      // Attached before the start, so no line is missed; waiting for "not running" after it, so a
      // container that has already exited answers at once.
      const output = await this.#stream(container, context);
      await container.start();
      const waiting = container.wait({ condition: "not-running" }) as Promise<ContainerExit>;
      return this.#handle(container, context, output, waiting, autoRemove);
    } catch (error) {
      await container.remove({ force: true }).catch(() => undefined);
      throw new BatonError("internal", `cannot start a container of image '${image}': ${engineError(error)}`);
    }
  }

  /**
   * The containers this worker (by name) left behind when it stopped: those still running are
   * followed again (their output from now on), those that ended give their exit code.
   */
  async recover(workerName: string, contextFor: (flowRunId: string) => JobContext): Promise<RecoveredJob[]> {
    const docker = await this.engine();
    const found = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.worker}=${workerName}`] },
    });
    const recovered: RecoveredJob[] = [];
    for (const summary of found) {
      const flowRunId = summary.Labels[LABELS.flowRunId];
      if (!flowRunId) continue;
      const container = docker.getContainer(summary.Id);
      const context = contextFor(flowRunId);
      const autoRemove = summary.Labels[LABELS.autoRemove] !== "false";
      const grace = Number(summary.Labels[LABELS.stopGracePeriod] ?? 10);
      const jobVariables = { stopGracePeriodSeconds: Number.isFinite(grace) ? grace : 10 };
      const attemptLabel = Number(summary.Labels[LABELS.attempt]);
      const attempt = Number.isInteger(attemptLabel) ? { attempt: attemptLabel } : {};
      if (summary.State === "running") {
        // Attached again: its output from now on (what it printed meanwhile is in the engine's log).
        const output = await this.#stream(container, context).catch(() => ({ done: Promise.resolve() }));
        const waiting = container.wait({ condition: "not-running" }) as Promise<ContainerExit>;
        const job = this.#handle(container, context, output, waiting, autoRemove);
        recovered.push({ flowRunId, job, jobVariables, running: true, ...attempt });
      } else {
        // Ended (or never started) while no worker watched it.
        const info = await container.inspect();
        const exit = info.State.Running
          ? exitOf(null)
          : exitOf(
              info.State.StartedAt.startsWith("0001") ? null : info.State.ExitCode,
              info.State.OOMKilled,
            );
        if (autoRemove) await container.remove({ force: true }).catch(() => undefined);
        const job: JobHandle = {
          id: this.#id(container, summary.Names[0]),
          exited: Promise.resolve(exit),
          stop() {},
        };
        recovered.push({ flowRunId, job, jobVariables, running: false, ...attempt });
      }
    }
    return recovered;
  }

  #id(container: Docker.Container, name?: string): string {
    return `container ${container.id.slice(0, 12)}${name ? ` ${name.replace(/^\//, "")}` : ""}`;
  }

  async #ensureImage(image: string, policy: PullPolicy): Promise<void> {
    if (policy !== "always") {
      try {
        await (await this.engine()).getImage(image).inspect();
        return;
      } catch (error) {
        if (statusOf(error) !== 404) {
          throw new BatonError("internal", `cannot look up image '${image}': ${engineError(error)}`);
        }
        if (policy === "never") {
          throw new BatonError(
            "not_found",
            `image '${image}' is not on the Docker engine at ${engineAddress()}, and the pull policy is 'never': build or load it there, or change the job variable pullPolicy`,
          );
        }
      }
    }
    try {
      await this.#pull(image);
    } catch (error) {
      const missing = policy === "always" ? "" : " is not on the Docker engine and";
      throw new BatonError(
        "not_found",
        `image '${image}'${missing} could not be pulled (pull policy '${policy}'): ${engineError(error)}`,
      );
    }
  }

  async #pull(image: string): Promise<void> {
    const docker = await this.engine();
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error: Error | null) => (error ? reject(error) : resolve()),
        // The engine reports a failed pull as a progress event, not an HTTP error.
        (event: { error?: string; errorDetail?: { message?: string } }) => {
          if (event.error) reject(new Error(event.errorDetail?.message ?? event.error));
        },
      );
    });
  }

  /**
   * The container's stdout and stderr (docker's multiplexed format, no TTY) as lines, from an attach:
   * it answers at once, where a followed log answers only with the first line (on Podman).
   */
  async #stream(container: Docker.Container, context: JobContext): Promise<{ done: Promise<void> }> {
    const docker = await this.engine();
    const source = await container.attach({ stream: true, stdout: true, stderr: true });
    const streams = { stdout: new PassThrough(), stderr: new PassThrough() };
    docker.modem.demuxStream(source, streams.stdout, streams.stderr);
    const closed = Object.entries(streams).map(([name, stream]) => {
      const lines = createInterface({ input: stream });
      lines.on("line", (line) => context.onOutput(name as "stdout" | "stderr", line));
      return new Promise<void>((resolve) => lines.once("close", resolve));
    });
    const end = () => {
      streams.stdout.end();
      streams.stderr.end();
    };
    source.once("end", end);
    source.once("close", end);
    source.once("error", end);
    return { done: Promise.all(closed).then(() => undefined) };
  }

  #handle(
    container: Docker.Container,
    context: JobContext,
    output: { done: Promise<void> },
    waiting: Promise<ContainerExit>,
    autoRemove: boolean,
  ): JobHandle {
    const exited = (async (): Promise<JobExit> => {
      let code: number | null = null;
      try {
        code = (await waiting).StatusCode ?? null;
      } catch (error) {
        context.onOutput("stderr", `lost the container: ${engineError(error)}`);
      }
      // Every line out before the exit is reported; a stream the engine keeps open is not waited on for long.
      await Promise.race([output.done, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      const info = await container.inspect().catch(() => undefined);
      if (autoRemove) {
        await container.remove({ force: true }).catch((error: unknown) => {
          if (statusOf(error) !== 404) {
            context.onOutput("stderr", `cannot remove the container: ${engineError(error)}`);
          }
        });
      }
      return exitOf(code ?? info?.State.ExitCode ?? null, info?.State.OOMKilled);
    })();
    return {
      id: this.#id(container),
      exited,
      stop: (graceSeconds) => {
        // SIGTERM, then SIGKILL once the grace period is over.
        container.stop({ t: Math.ceil(graceSeconds) }).catch((error: unknown) => {
          const status = statusOf(error);
          if (status !== 304 && status !== 404) {
            context.onOutput("stderr", `cannot stop the container: ${engineError(error)}`);
          }
        });
      },
    };
  }
}

/** The docker adapter the worker uses, talking to DOCKER_HOST or the default socket. */
export const dockerAdapter = new DockerAdapter();
