// `npm run chaos [-- --full] [--database sqlite|postgres] [--scenario <name>]`: runs each fault
// scenario against a real server, workers and serve processes, on SQLite and (with
// BATON_TEST_DATABASE_URL) a throwaway PostgreSQL database, checks the ledger and the store, prints
// the figures, and exits non-zero on any violation.
import { parseArgs } from "node:util";
import type { DatabaseKind } from "../test/databases.js";
import type { FlowRun } from "@baton/core";
import { check, VIOLATIONS, type Figures } from "./checks.js";
import { executions } from "./ledger.js";
import { HEARTBEAT_TIMEOUT_SECONDS, killAll } from "./processes.js";
import { SCENARIOS, type Outcome } from "./scenarios.js";
import { Stage } from "./stage.js";

const { values } = parseArgs({
  options: {
    full: { type: "boolean", default: false },
    database: { type: "string", multiple: true },
    scenario: { type: "string", multiple: true },
    /** Print each run's states and the ledger's executions, in seconds from the fault. */
    verbose: { type: "boolean", default: false },
  },
});
const postgresUrl = process.env.BATON_TEST_DATABASE_URL;
const databases: DatabaseKind[] = (values.database as DatabaseKind[] | undefined) ?? ["sqlite", "postgres"];
const chosen = SCENARIOS.filter((scenario) => !values.scenario || values.scenario.includes(scenario.name));
if (chosen.length === 0) {
  console.error(`no such scenario; there are: ${SCENARIOS.map((scenario) => scenario.name).join(", ")}`);
  process.exit(2);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * How long the runs in flight at the fault took to recover, in seconds from the fault: until the server
 * recorded a change of each (a crash declared, or the report that waited out an outage), and until
 * the last of them ended.
 */
async function recovery(stage: Stage, outcome: Outcome, runs: FlowRun[]): Promise<[number, number] | null> {
  const hit = runs.filter((run) => outcome.inFlight.includes(run.id));
  if (hit.length === 0 || hit.some((run) => !run.endTime)) return null;
  const changes = await Promise.all(
    hit.map(async (run) => {
      const states = await stage.client.api.listFlowRunStates({ params: { id: run.id } });
      const next = states.find((state) => Date.parse(state.timestamp) > outcome.faultAt);
      return next ? Date.parse(next.timestamp) : NaN;
    }),
  );
  const ended = Math.max(...hit.map((run) => Date.parse(run.endTime!)));
  return [(Math.max(...changes) - outcome.faultAt) / 1000, (ended - outcome.faultAt) / 1000];
}

const line = (kind: string, name: string, text: string) => `${kind.padEnd(8)} ${name.padEnd(17)} ${text}`;

function describe(figures: Figures, recovered: [number, number] | null, seconds: number): string {
  return [
    `runs ${figures.runs}`,
    `duplicates ${figures.duplicates}`,
    `lost ${figures.lost}`,
    `not final ${figures.notFinal}`,
    `lost logs ${figures.lostLogs}`,
    `leaked slots ${figures.leakedSlots}`,
    `limit violations ${figures.limitViolations}`,
    `stale steps ${figures.staleSteps}`,
    `repeated logs ${figures.duplicateLogs}`,
    recovered
      ? `runs in flight changed after ${recovered[0].toFixed(1)} s, ended after ${recovered[1].toFixed(1)} s`
      : "runs in flight: -",
    `(${seconds.toFixed(0)} s)`,
  ].join(", ");
}

/** Each run's states and executions, in seconds from the fault: what to read when a scenario fails. */
async function timeline(stage: Stage, runs: FlowRun[], faultAt: number): Promise<void> {
  const at = (t: number) => ((t - faultAt) / 1000).toFixed(2);
  const byRun = executions(stage.entries());
  for (const run of runs) {
    const states = await stage.client.api.listFlowRunStates({ params: { id: run.id } });
    console.log(`  run ${run.name} (${run.id}), attempt ${run.attempt}:`);
    for (const state of states) {
      console.log(`    ${at(Date.parse(state.timestamp))} ${state.name} ${state.message ?? ""}`);
    }
    for (const execution of byRun.filter((one) => one.run === run.id)) {
      const first = execution.entries[0]!;
      const last = execution.entries.at(-1)!;
      console.log(
        `    exec ${execution.exec} attempt ${execution.attempt}: ${at(first.t)} to ${at(last.t)} (${last.event}${last.i ?? ""})`,
      );
    }
  }
}

let failed = 0;
const started = Date.now();
console.log(
  `chaos ${values.full ? "full" : "quick"} pass: heartbeat timeout ${HEARTBEAT_TIMEOUT_SECONDS} s; times from the fault`,
);
for (const kind of databases) {
  if (kind === "postgres" && !postgresUrl) {
    console.log(line(kind, "*", "SKIPPED: set BATON_TEST_DATABASE_URL to run the scenarios on PostgreSQL"));
    continue;
  }
  for (const scenario of chosen) {
    if (scenario.databases && !scenario.databases.includes(kind)) continue;
    const skip = scenario.skip?.();
    if (skip) {
      console.log(line(kind, scenario.name, `SKIPPED: ${skip}`));
      continue;
    }
    const began = Date.now();
    const stage = await Stage.open(kind, postgresUrl);
    try {
      const outcome = await scenario.run(stage, values.full);
      const runs = await Promise.all(
        outcome.runs.map((id) => stage.client.api.readFlowRun({ params: { id } })),
      );
      const figures = await check(
        stage.client,
        runs,
        stage.entries(),
        outcome.limits,
        HEARTBEAT_TIMEOUT_SECONDS * 1000,
      );
      const violations = VIOLATIONS.filter((name) => figures[name] > 0);
      const bad = violations.length > 0 || outcome.problems.length > 0;
      if (bad) failed++;
      const verdict = bad ? `FAILED (${[...violations, ...outcome.problems].join("; ")})` : "ok";
      console.log(
        line(
          kind,
          scenario.name,
          `${describe(figures, await recovery(stage, outcome, runs), (Date.now() - began) / 1000)}: ${verdict}`,
        ),
      );
      if (bad || values.verbose) await timeline(stage, runs, outcome.faultAt);
    } catch (error) {
      failed++;
      console.log(line(kind, scenario.name, `FAILED: ${(error as Error).message}`));
    } finally {
      await stage.close();
    }
  }
}
console.log(
  `chaos: ${failed === 0 ? "no violations" : `${failed} scenario(s) failed`} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
process.exit(failed === 0 ? 0 : 1);
