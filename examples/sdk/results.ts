// npx tsx examples/sdk/results.ts  — a persisted result, read back by id (from any process with the
// same BATON_HOME and a server: BATON_API_URL must be set).
import { currentRun, flow, getFlowRunResult } from "@baton/sdk";

let runId: string | null = null;
export const report = flow({ name: "report", persistResult: true }, async () => {
  runId = currentRun()?.flowRunId ?? null;
  return { rows: 1200, generated: new Date(0).toISOString() };
});

console.log(await report());
if (runId && process.env.BATON_API_URL) console.log("read back:", await getFlowRunResult(runId));
