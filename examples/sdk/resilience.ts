// npx tsx examples/sdk/resilience.ts  — retries with backoff, timeouts, caching, hooks, logPrints.
import { exponentialBackoff, flow, task, TimeoutError } from "@baton/sdk";

let attempts = 0;
const flaky = task(
  { name: "flaky", retries: 3, retryDelaySeconds: exponentialBackoff(0.05, 3) },
  async () => {
    attempts++;
    if (attempts < 3) throw new Error(`transient failure ${attempts}`);
    return "recovered";
  },
);

const lookup = task(
  { name: "lookup", cacheKey: (key: string) => `lookup-${key}`, cacheExpirationSeconds: 3600 },
  async (key: string) => key.toUpperCase(),
);

const slow = flow({ name: "slow", timeoutSeconds: 0.2 }, async (_, { signal }) => {
  await new Promise((resolve) => setTimeout(resolve, 5_000, signal).unref());
});

export const resilient = flow(
  {
    name: "resilient",
    logPrints: true, // console.log inside the run goes to its logs
    onCompletion: [({ state }) => console.log(`finished: ${state?.name}`)],
    onFailure: [({ error }) => console.error(`failed: ${String(error)}`)],
  },
  async () => {
    console.log("starting");
    return { flaky: await flaky(), cached: await lookup("k"), again: await lookup("k") };
  },
);

console.log(await resilient());
try {
  await slow();
} catch (error) {
  console.log(error instanceof TimeoutError ? `timed out as expected: ${error.message}` : error);
}
