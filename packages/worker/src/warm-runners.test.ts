import { spawn } from "node:child_process";
import { afterEach, expect, it, vi } from "vitest";
import { WarmRunners, type Runner } from "./warm-runners.js";

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
