// Runs the whole suite with Vitest and ends with one plain line: "N passed, N failed[, N skipped]".
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";

const report = "test-results/vitest.json";
rmSync(report, { force: true });
mkdirSync("test-results", { recursive: true });
if (!process.env.BATON_TEST_DATABASE_URL) {
  console.log("BATON_TEST_DATABASE_URL is not set: the PostgreSQL runs are SKIPPED (see README).");
}
const vitest = spawn(
  process.execPath,
  [
    "node_modules/vitest/vitest.mjs",
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: "inherit", env: { ...process.env, BATON_TEST_QUIET: "1" } },
);
const code = await new Promise((resolve) =>
  vitest.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))),
);
let summary;
try {
  summary = JSON.parse(readFileSync(report, "utf8"));
} catch {
  console.log("0 passed, 1 failed");
  process.exit(code || 1);
}
const skipped = summary.numPendingTests + summary.numTodoTests;
if (code !== 0 && summary.numFailedTests === 0) {
  console.log(`vitest exited with code ${code}: errors outside the tests (see "Unhandled Errors" above)`);
}
console.log(
  `${summary.numPassedTests} passed, ${summary.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`,
);
process.exit(summary.numTotalTests === 0 ? 1 : code);
