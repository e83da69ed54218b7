import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateInput } from "@baton/core";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, oneLineError, spawnBaton } from "./run-baton.js";

// Nothing executes deployment runs in this tree yet, so each test plays the runner through the API
// while `baton deployment run --watch` watches as a real child process.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer("sqlite");
  await server.client.api.createDeployment({ body: { flowName: "watched", name: "dep" } });
});
afterAll(() => server.stop());

/** Starts `baton deployment run watched/dep --watch …` and collects what it prints. */
function watch(...args: string[]) {
  const child = spawnBaton(server.apiUrl, "deployment", "run", "watched/dep", "--watch", ...args);
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    stdout += chunk;
    for (const check of waiters) check();
  });
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const exited = once(child, "exit").then(([code]) => code as number);
  /** Resolves with the first match of `pattern` in stdout; rejects if the CLI exits first. */
  const printed = (pattern: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stdout);
        if (!match) return;
        waiters.delete(check);
        resolve(match);
      };
      waiters.add(check);
      check();
      void exited.then(() =>
        reject(new Error(`baton exited before printing ${pattern}:\n${stdout}\n${stderr}`)),
      );
    });
  return {
    child,
    printed,
    exited,
    /** The run's id, from the CLI's own output. */
    runId: async () => (await printed(/Id:\s+(\S+)/))[1]!,
    output: () => ({ stdout, stderr }),
  };
}

const move = (id: string, ...states: StateInput[]) =>
  states.reduce(
    (previous, state) =>
      previous.then(async () => {
        const result = await server.client.api.setFlowRunState({ params: { id }, body: { state } });
        expect(result.status).toBe("ACCEPT");
      }),
    Promise.resolve(),
  );

const log = (flowRunId: string, message: string, level = 20) =>
  server.client.api.createLogs({
    body: [{ flowRunId, level, message, name: "runner", timestamp: new Date().toISOString() }],
  });

/** Lines without their clock time. */
const untimed = (text: string) =>
  text.split("\n").map((line) => line.replace(/^\d\d:\d\d:\d\d\.\d{3} \| /, ""));

describe("baton deployment run --watch", () => {
  it("prints states and logs as they come, then the inline result, and exits 0 when the run completes", async () => {
    const watcher = watch("--param", "x=1");
    const id = await watcher.runId();
    await watcher.printed(/^Watching it until it ends/m);
    expect((await server.client.api.readFlowRun({ params: { id } })).parameters).toEqual({ x: 1 });
    await move(id, { type: "PENDING" }, { type: "RUNNING" });
    await log(id, "loading rows");
    await log(id, "a warning", 30);
    await watcher.printed(/a warning/);
    await move(id, {
      type: "COMPLETED",
      data: { kind: "inline", serializer: "json", value: { rows: 3, ok: true } },
    });
    expect(await watcher.exited).toBe(0);
    const { stdout, stderr } = watcher.output();
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^Created flow run '([\w-]+)' of watched\/dep\.\n/);
    const name = /^Created flow run '([\w-]+)'/.exec(stdout)![1]!;
    expect(stdout).toContain('  Parameters: {"x":1}\n');
    expect(stdout).toContain(`  Dashboard:  ${server.apiUrl.replace(/\/api$/, "")}/runs/${id}\n`);
    expect(stdout).not.toContain("Follow it with");
    const after = stdout.slice(stdout.indexOf("Watching it until it ends"));
    expect(untimed(after.trimEnd()).slice(1)).toEqual([
      "STATE    | flow run is Pending",
      "STATE    | flow run is Running",
      "INFO     | runner - loading rows",
      "WARNING  | runner - a warning",
      "STATE    | flow run is Completed",
      `Flow run '${name}' ended Completed.`,
      'Result: {"rows":3,"ok":true}',
    ]);
  });

  it("reports a run that ended before its events were followed, with where a stored result is", async () => {
    const watcher = watch();
    // Moved as soon as it exists, so it may well end before the CLI follows it.
    const id = await watcher.runId();
    await log(id, "early line");
    await move(
      id,
      { type: "PENDING" },
      { type: "RUNNING" },
      {
        type: "COMPLETED",
        data: { kind: "stored", serializer: "superjson", storage: "local", key: "abc.superjson" },
      },
    );
    expect(await watcher.exited).toBe(0);
    const { stdout } = watcher.output();
    expect(stdout).toContain("runner - early line\n");
    expect(stdout).toMatch(/\| STATE {4}\| flow run is Completed\n/);
    expect(stdout).toContain(
      "Result: stored in 'local' result storage under key 'abc.superjson' (serializer 'superjson'); " +
        `the result of flow run ${id} was written by the 'superjson' serializer, which the server does not know: ` +
        "load it in code with getFlowRunResult() where its storage and serializer are registered\n",
    );
  });

  it("exits 1 with the state's message when the run fails", async () => {
    const watcher = watch();
    const id = await watcher.runId();
    await watcher.printed(/^Watching it until it ends/m);
    await move(id, { type: "PENDING" }, { type: "RUNNING" });
    await log(id, "about to fail", 40);
    await move(id, { type: "FAILED", message: "Flow run encountered an exception: boom" });
    expect(await watcher.exited).toBe(1);
    const { stdout } = watcher.output();
    expect(stdout).toContain("ERROR    | runner - about to fail\n");
    expect(stdout).toMatch(/\| STATE {4}\| flow run is Failed: Flow run encountered an exception: boom\n/);
    expect(stdout).toMatch(/Flow run '[\w-]+' ended Failed: Flow run encountered an exception: boom\n$/);
    expect(stdout).not.toContain("Result:");
  });

  it("stops watching after --timeout and exits 2, leaving the run as it is", async () => {
    const watcher = watch("--timeout", "0.5");
    const id = await watcher.runId();
    expect(await watcher.exited).toBe(2);
    const { stdout } = watcher.output();
    expect(stdout).toMatch(
      /Stopped watching after 0\.5 s; flow run '[\w-]+' is Scheduled and keeps going\.\n/,
    );
    expect(stdout).toContain(`Follow it with: baton flow-run logs ${id} --follow\n`);
    expect((await server.client.api.readFlowRun({ params: { id } })).state?.type).toBe("SCHEDULED");
  });

  it("stops watching on Ctrl-C, saying the run keeps going", async () => {
    const watcher = watch();
    const id = await watcher.runId();
    await watcher.printed(/^Watching it until it ends/m);
    watcher.child.kill("SIGINT");
    expect(await watcher.exited).toBe(130);
    expect(watcher.output().stdout).toMatch(/Stopped watching on Ctrl-C; flow run '[\w-]+' is Scheduled/);
    expect((await server.client.api.readFlowRun({ params: { id } })).state?.type).toBe("SCHEDULED");
  });

  it("rejects a bad --timeout, --timeout without --watch and --json with --watch, creating no run", async () => {
    const baton = batonAt(server.apiUrl);
    const before = (await server.client.api.listFlowRuns()).items.length;
    const [zero, word, alone, json, help] = await Promise.all([
      baton("deployment", "run", "watched/dep", "--watch", "--timeout", "0"),
      baton("deployment", "run", "watched/dep", "--watch", "--timeout", "soon"),
      baton("deployment", "run", "watched/dep", "--timeout", "5"),
      baton("deployment", "run", "watched/dep", "--watch", "--json"),
      baton("deployment", "run", "--help"),
    ]);
    expect(oneLineError(zero)).toContain("'0' is not a number of seconds greater than 0");
    expect(oneLineError(word)).toContain("'soon' is not a number of seconds greater than 0");
    expect(oneLineError(alone)).toBe("error: --timeout only applies with --watch");
    expect(oneLineError(json)).toContain("'--json' cannot be used with option '--watch'");
    expect(help.stdout).toContain("--watch");
    expect(help.stdout).toContain("--timeout <seconds>");
    expect((await server.client.api.listFlowRuns()).items.length).toBe(before);
  });
});
