// A serve process for the chaos suite: `serve.ts <deployment name> <limit>` serves the chaos flow.
import { serve } from "@baton/sdk";
import { steps } from "./flows.js";

const [name, limit] = process.argv.slice(2);
if (!name) {
  console.error("usage: serve.ts <deployment name> [limit]");
  process.exit(2);
}
await serve([steps.toDeployment({ name })], { limit: Number(limit || 10) });
