// Serves the flow from this process: runs created through the API, CLI or dashboard start here.
//   npx tsx examples/deployments/serve.ts
//   npx baton deployment run weather-report/served --param cities='["Seoul"]' --param day=2026-11-23 --watch
import { weatherReport } from "./flows.js";

await weatherReport.serve({
  name: "served",
  // Defaults for every run; scheduled runs get exactly these.
  parameters: { unit: "celsius", cities: ["Seoul"] },
  // Every hour, on the hour, Seoul time.
  schedules: [{ cron: "0 * * * *", timezone: "Asia/Seoul" }],
  onReady: () => console.log("ready: waiting for runs of weather-report/served (Ctrl-C to stop)"),
});
