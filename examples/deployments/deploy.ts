// Registers a deployment for a work pool's workers; each run starts in a process of its own.
//   npx baton work-pool create local --type process
//   npx tsx examples/deployments/deploy.ts
//   npx baton worker start --pool local
//   npx baton deployment run weather-report/pooled --param cities='["Busan"]' --param day=2026-11-23 --watch
import { weatherReport } from "./flows.js";

const deployment = await weatherReport.deploy({
  name: "pooled",
  workPool: "local",
  parameters: { unit: "fahrenheit" },
  concurrencyLimit: 2,
});
console.log(`registered ${deployment.flowName}/${deployment.name}: ${deployment.entrypoint}`);
