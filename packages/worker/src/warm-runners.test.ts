import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, expect, it, vi } from "vitest";
import { LOADED_FILES_FD, RUNNER_ENTRYPOINT_ENV, WarmRunners, type Runner } from "./warm-runners.js";

// Real processes, counted as they are spawned.
vi.mock("node:child_process", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:child_process")>();
  return { ...actual, spawn: vi.fn(actual.spawn) };
});

const launch = {
  command: process.execPath,
  args: ["-e", "process.stdin.resume()"],
  cwd: process.cwd(),
  env: {},
};
const taken: Runner[] = [];

afterEach(() => {
  vi.useRealTimers();
  vi.mocked(spawn).mockClear();
  for (const runner of taken.splice(0)) runner.child.kill("SIGKILL");
});

it("starts the next runner once the run handed its runner has had its start, and none once closed", async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  const runners = new WarmRunners(1);
  try {
    taken.push(await runners.take(launch)); // none ready yet: started now
    expect(spawn).toHaveBeenCalledTimes(1);
    vi.runOnlyPendingTimers();
    expect(spawn).toHaveBeenCalledTimes(2); // the next one, ahead of its run

    taken.push(await runners.take(launch)); // that one: nothing is spawned for this run
    expect(spawn).toHaveBeenCalledTimes(2);
    runners.close(); // before its replacement was due
    vi.runOnlyPendingTimers();
    expect(spawn).toHaveBeenCalledTimes(2);
  } finally {
    runners.close();
  }
});

it.each(["null", '"loaded"', "{not json"])(
  "stops a runner started ahead that reports %s instead of what it imported, and gives the run another",
  async (report) => {
    const entrypoint = "/nowhere/flows.ts";
    const reporting = {
      ...launch,
      args: [
        "-e",
        `if (process.env.${RUNNER_ENTRYPOINT_ENV}) require("node:fs").writeSync(${LOADED_FILES_FD}, ${JSON.stringify(`${report}\n`)}); process.stdin.resume()`,
      ],
    };
    const runners = new WarmRunners(1);
    try {
      taken.push(await runners.take(reporting, entrypoint)); // none ready yet: started now
      // The runner started ahead to import the entrypoint, once the run has had its start.
      const importer = await vi.waitFor(() => {
        const index = vi
          .mocked(spawn)
          .mock.calls.findIndex(([, , options]) => options?.env?.[RUNNER_ENTRYPOINT_ENV] === entrypoint);
        expect(index).toBeGreaterThanOrEqual(0);
        return vi.mocked(spawn).mock.results[index]!.value as ChildProcess;
      });
      await vi.waitFor(() => expect(importer.signalCode).toBe("SIGKILL"));

      const next = await runners.take(reporting, entrypoint);
      taken.push(next);
      expect(next.child).not.toBe(importer);
      expect(next.child.exitCode).toBeNull();
      expect(next.child.signalCode).toBeNull();
    } finally {
      runners.close();
    }
  },
);
