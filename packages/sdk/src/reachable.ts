import { BatonError } from "@baton/core";

/** How long reports wait for the server to come back: `BATON_REPORT_RETRY_SECONDS`, 5 minutes by default. */
const patienceMs = () => Number(process.env.BATON_REPORT_RETRY_SECONDS || 300) * 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls `send` until the server answers: while it is unreachable or unavailable (restarting, its
 * database away, a replica gone behind the load balancer), it waits with doubling backoff and tries
 * again, for at most BATON_REPORT_RETRY_SECONDS. Any answer, error or not, ends the wait.
 */
export async function untilReachable<T>(what: string, send: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + patienceMs();
  let delay = 200;
  let warned = false;
  for (;;) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof BatonError) || error.code !== "unavailable" || Date.now() + delay > deadline) {
        throw error;
      }
      if (!warned) {
        process.stderr.write(`baton: cannot send ${what} yet (${error.message}); trying again\n`);
        warned = true;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
